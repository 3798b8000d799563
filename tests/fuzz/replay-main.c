/* SPDX-License-Identifier: MIT */
/* Runs a libFuzzer target over every file of a corpus directory, for builds
 * without libFuzzer: the seeds become regression tests. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
        FILE *f = fopen(path, "rb");
        uint8_t *buf;
        long n;
        if (!f)
                return -1;
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = malloc(n > 0 ? (size_t) n : 1);
        if (!buf || (n > 0 && fread(buf, 1, (size_t) n, f) != (size_t) n)) {
                fclose(f);
                free(buf);
                return -1;
        }
        fclose(f);
        LLVMFuzzerTestOneInput(buf, (size_t) n);
        free(buf);
        return 0;
}

int main(int argc, char *argv[]) {
        int n = 0;
        for (int i = 1; i < argc; i++) {
                struct stat st;
                if (stat(argv[i], &st) < 0) {
                        perror(argv[i]);
                        return 1;
                }
                if (S_ISDIR(st.st_mode)) {
                        struct dirent **names;
                        int k = scandir(argv[i], &names, NULL, alphasort);
                        for (int j = 0; j < k; j++) {
                                char p[4096];
                                if (names[j]->d_name[0] != '.') {
                                        snprintf(p, sizeof p, "%s/%s", argv[i], names[j]->d_name);
                                        if (run_file(p) == 0)
                                                n++;
                                }
                                free(names[j]);
                        }
                        free(names);
                } else if (run_file(argv[i]) == 0)
                        n++;
        }
        printf("replayed %d inputs\n", n);
        return n > 0 ? 0 : 1;
}
