/* O_TMPFILE materialised by linkat(AT_EMPTY_PATH) and via /proc/self/fd. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    int fd = open(".", O_TMPFILE | O_WRONLY, 0644);
    if (fd < 0) return 1;
    if (write(fd, "tmp\n", 4) != 4) return 2;
    if (linkat(fd, "", AT_FDCWD, "named.txt", AT_EMPTY_PATH) != 0) return 3;
    close(fd);

    fd = open(".", O_TMPFILE | O_WRONLY, 0644);
    if (fd < 0) return 4;
    if (write(fd, "tmp2\n", 5) != 5) return 5;
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (linkat(AT_FDCWD, proc, AT_FDCWD, "named2.txt", AT_SYMLINK_FOLLOW) != 0) return 6;
    close(fd);
    return 0;
}
