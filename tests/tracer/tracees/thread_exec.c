/* execve from a non-leader thread: the thread takes over the leader's pid. */
#include <pthread.h>
#include <unistd.h>

static void *run(void *arg) {
    (void)arg;
    execl("/bin/sh", "sh", "-c", "echo t > thread_exec.txt; exit 4", (char *)0);
    return 0;
}

int main(void) {
    pthread_t t;
    pthread_create(&t, 0, run, 0);
    pthread_join(t, 0);
    return 99;
}
