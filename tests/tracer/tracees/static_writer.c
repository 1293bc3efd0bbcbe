/* Built with -static: raw syscalls from a binary with no dynamic loader. */
#include <fcntl.h>
#include <unistd.h>

int main(void) {
    int fd = open("static_out.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return 1;
    if (write(fd, "static\n", 7) != 7) return 2;
    close(fd);
    char buf[16];
    fd = open("static_in.txt", O_RDONLY);
    if (fd < 0) return 3;
    if (read(fd, buf, sizeof buf) < 0) return 4;
    close(fd);
    return 0;
}
