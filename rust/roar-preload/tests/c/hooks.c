/* Exercises hooks the Python and shell tests do not reach: stdio opens,
 * creat, mkstemp, scandir, fortified opens, syscall(SYS_openat), execvp of a
 * script via PATH, posix_spawn of a static binary (argv[1]). */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    FILE *f = fopen("fw.txt", "w");
    if (!f) return 10;
    fputs("w\n", f);
    fclose(f);
    f = fopen("fa.txt", "a"); /* exists: read + write */
    if (!f) return 11;
    fputs("a\n", f);
    fclose(f);
    f = fopen("fr.txt", "re");
    if (!f) return 12;
    fclose(f);
    f = fopen("fx.txt", "wx");
    if (!f) return 13;
    f = freopen("fre.txt", "w", f);
    if (!f) return 14;
    fclose(f);
    int fd = creat("creat.txt", 0644);
    if (fd < 0) return 15;
    close(fd);
    char tmpl[] = "stemp.XXXXXX";
    fd = mkstemp(tmpl);
    if (fd < 0) return 16;
    close(fd);
    if (rename(tmpl, "stemp.out") != 0) return 17;
    struct dirent **list;
    int n = scandir("sdir", &list, NULL, alphasort);
    if (n < 0) return 18;
    while (n--) free(list[n]);
    free(list);
    fd = (int)syscall(SYS_openat, AT_FDCWD, "sys.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return 19;
    close(fd);
    if (argc > 1) {
        pid_t p;
        char *sargv[] = {argv[1], NULL};
        if (posix_spawn(&p, argv[1], NULL, NULL, sargv, environ) != 0) return 20;
        int st;
        waitpid(p, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return 21;
    }
    pid_t p = fork();
    if (p == 0) {
        char *const sargv[] = {"script.sh", NULL};
        execvp("script.sh", sargv); /* found through PATH */
        _exit(22);
    }
    int st;
    waitpid(p, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return 23;
    return 0;
}
