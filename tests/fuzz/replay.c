/*
 * replay.c -- runs a fuzz target over files, without libFuzzer.
 *
 * Built with any compiler, it replays the seed corpus and every input kept
 * in tests/fuzz/regressions/ (crashes found by fuzzing, kept forever) as an
 * ordinary test, under the same sanitizers as the rest of the suite.
 *
 * usage: replay FILE...
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    unsigned ran = 0, unreadable = 0;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            fprintf(stderr, "FAILED: cannot read %s\n", argv[i]);
            unreadable++;
            continue;
        }
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0, n;
        uint8_t chunk[65536];
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
            if (len + n > cap) {
                cap = (len + n) * 2;
                uint8_t *grown = realloc(buf, cap);
                if (!grown)
                    abort();
                buf = grown;
            }
            for (size_t k = 0; k < n; k++)
                buf[len + k] = chunk[k];
            len += n;
        }
        fclose(f);
        LLVMFuzzerTestOneInput(buf ? buf : (const uint8_t *)"", len);
        free(buf);
        ran++;
    }
    /* A crash aborts before this line; reaching it means every input ran. */
    printf("%u passed, %u failed\n", ran, unreadable);
    return unreadable || ran == 0 ? 1 : 0;
}
