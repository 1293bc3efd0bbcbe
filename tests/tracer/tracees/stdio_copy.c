/* C stdio: fopen/fgets to read, fopen/fputs and freopen to write. */
#include <stdio.h>

int main(void) {
    char line[64];
    FILE *in = fopen("in.txt", "r");
    if (!in || !fgets(line, sizeof line, in)) return 1;
    fclose(in);
    FILE *out = fopen("out.txt", "w");
    if (!out) return 2;
    fputs(line, out);
    fclose(out);
    if (!freopen("log.txt", "a", stdout)) return 3;
    printf("copied %s", line);
    return 0;
}
