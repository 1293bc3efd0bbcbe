/* fork, vfork+exec, posix_spawn and a final exec: each writes one file. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void write_file(const char *name) {
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) _exit(90);
    if (write(fd, name, strlen(name)) < 0) _exit(91);
    close(fd);
}

int main(void) {
    int st;
    pid_t p = fork();
    if (p == 0) { write_file("forked.txt"); _exit(0); }
    waitpid(p, &st, 0);

    p = vfork();
    if (p == 0) {
        execl("/bin/sh", "sh", "-c", "echo v > vforked.txt", (char *)0);
        _exit(92);
    }
    waitpid(p, &st, 0);

    char *argv[] = {"sh", "-c", "echo s > spawned.txt", 0};
    if (posix_spawn(&p, "/bin/sh", 0, 0, argv, environ) != 0) return 93;
    waitpid(p, &st, 0);

    execl("/bin/sh", "sh", "-c", "echo e > execd.txt; exit 5", (char *)0);
    return 94;
}
