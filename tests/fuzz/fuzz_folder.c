/*
 * fuzz_folder.c -- libFuzzer target for the folder loader and the whole
 * compile pipeline (scan, format detection, name parsing, pairing, loading,
 * emitting).
 *
 * The input is a small archive: records "name\n" followed by content up to
 * a "\0" byte.  The files are written into a private temporary folder, which
 * is compiled to C in memory and thrown away; the folder is removed at exit.
 */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emit.h"
#include "pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char folder[64];

static void clear_folder(void)
{
    DIR *dp = opendir(folder);
    if (!dp)
        return;
    struct dirent *de;
    char path[512];
    while ((de = readdir(dp)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", folder, de->d_name);
        unlink(path);
    }
    closedir(dp);
}

/* At exit (libFuzzer exits when its runs are done): the folder goes too. */
static void remove_folder(void)
{
    clear_folder();
    rmdir(folder);
}

static void emit_visit(void *ctx, const mc_migration *m)
{
    mc_emit_migration(ctx, m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!folder[0]) {
        snprintf(folder, sizeof folder, "/tmp/migc-fuzz-folder.XXXXXX");
        if (!mkdtemp(folder))
            abort();
        atexit(remove_folder);
    }
    clear_folder();
    size_t at = 0;
    for (int files = 0; files < 8 && at < size; files++) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        if (!nl)
            break;
        char name[96];
        size_t n = 0;
        for (const uint8_t *p = data + at; p < nl && n < sizeof name - 1; p++)
            if (*p != '/' && *p != '\0')
                name[n++] = (char)*p;
        name[n] = '\0';
        at = (size_t)(nl - data) + 1;
        const uint8_t *end = memchr(data + at, '\0', size - at);
        size_t clen = end ? (size_t)(end - (data + at)) : size - at;
        if (n == 0 || name[0] == '.') {
            at += clen + 1;
            continue;
        }
        char path[256];
        snprintf(path, sizeof path, "%s/%s", folder, name);
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(data + at, 1, clen, f);
            fclose(f);
        }
        at += clen + 1;
    }

    FILE *devnull = fopen("/dev/null", "w");
    mc_diag d;
    memset(&d, 0, sizeof d);
    d.out = devnull;
    mc_folder f;
    mc_pipeline_result r;
    mc_pipeline_scan(folder, &f, &d, &r);
    mc_emitter em;
    bool emitting = d.errors == 0 &&
                    mc_emit_begin(&em, devnull, "fuzz_catalog", &f, &d);
    mc_pipeline_load(&f, &d, emitting ? emit_visit : NULL, &em, &r);
    if (emitting) {
        if (d.errors == 0)
            mc_emit_end(&em, &f, r.chain, &d);
        else
            mc_emit_abort(&em);
    }
    mc_folder_free(&f);
    fclose(devnull);
    return 0;
}
