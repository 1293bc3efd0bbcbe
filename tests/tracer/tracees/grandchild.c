/* The child exits at once; its child (the grandchild) writes later. */
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    pid_t p = fork();
    if (p == 0) {
        if (fork() == 0) {
            struct timespec ts = {0, 300 * 1000 * 1000};
            nanosleep(&ts, 0);
            int fd = open("late.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) { (void)!write(fd, "late\n", 5); close(fd); }
            _exit(0);
        }
        _exit(0);
    }
    int st;
    waitpid(p, &st, 0);
    return 0;
}
