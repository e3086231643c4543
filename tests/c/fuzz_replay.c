/*
 * Replays fuzz inputs through the C ABI fuzz target (Fuzz/CABIFuzz.c) without libFuzzer:
 * every file named on the command line, or every file of the directories named. Run by ctest
 * over Fuzz/regressions/fuzz-capi (crashes found, and the crash classes of issue 15) and
 * Fuzz/seeds/fuzz-capi; a crash or abort fails the test.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return 1; }
    uint8_t *data = NULL;
    size_t size = 0, cap = 0;
    for (;;) {
        if (size == cap) {
            cap = cap ? 2 * cap : 4096;
            data = realloc(data, cap);
            if (!data) abort();
        }
        size_t got = fread(data + size, 1, cap - size, f);
        if (got == 0) break;
        size += got;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

int main(int argc, char **argv) {
    int files = 0, errors = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) { perror(argv[i]); errors++; continue; }
        if (!S_ISDIR(st.st_mode)) { errors += replay_file(argv[i]); files++; continue; }
        DIR *dir = opendir(argv[i]);
        if (!dir) { perror(argv[i]); errors++; continue; }
        struct dirent *e;
        while ((e = readdir(dir)) != NULL) {
            if (e->d_name[0] == '.') continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            errors += replay_file(path);
            files++;
        }
        closedir(dir);
    }
    printf("replayed %d input(s), %d unreadable\n", files, errors);
    return errors == 0 && files > 0 ? 0 : 1;
}
