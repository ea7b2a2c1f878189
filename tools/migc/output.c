/*
 * output.c -- atomic, change-only file output.  See output.h.
 */
#define _POSIX_C_SOURCE 200809L
#include "output.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

bool mc_output_open(mc_output *o, const char *path, mc_diag *d)
{
    memset(o, 0, sizeof *o);
    o->path = mc_xstrdup(path);
    o->tmp_path = mc_xasprintf("%s.tmp.XXXXXX", path);
    int fd = mkstemp(o->tmp_path);
    if (fd < 0) {
        mc_diag_file(d, MC_ERROR, path, "cannot create output: %s",
                     strerror(errno));
        free(o->path);
        free(o->tmp_path);
        memset(o, 0, sizeof *o);
        return false;
    }
    /* mkstemp creates 0600; give the file the mode a plain fopen would. */
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, (mode_t)(0666 & ~mask));
    o->fp = fdopen(fd, "wb");
    if (!o->fp) {
        mc_diag_file(d, MC_ERROR, path, "cannot create output: %s",
                     strerror(errno));
        close(fd);
        mc_output_abort(o);
        return false;
    }
    return true;
}

/* True when the files at a and b have identical content. */
static bool same_content(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb");
    if (!fa)
        return false;
    FILE *fb = fopen(b, "rb");
    if (!fb) {
        fclose(fa);
        return false;
    }
    bool same = true;
    static char ba[65536], bb[65536];
    for (;;) {
        size_t na = fread(ba, 1, sizeof ba, fa);
        size_t nb = fread(bb, 1, sizeof bb, fb);
        if (na != nb || memcmp(ba, bb, na) != 0) {
            same = false;
            break;
        }
        if (na < sizeof ba)
            break;
    }
    fclose(fa);
    fclose(fb);
    return same;
}

bool mc_output_finish(mc_output *o, mc_diag *d)
{
    if (!o->fp)
        return true;
    bool failed = ferror(o->fp) != 0;
    if (fclose(o->fp) != 0)
        failed = true;
    o->fp = NULL;
    if (failed) {
        mc_diag_file(d, MC_ERROR, o->path, "cannot write output: %s",
                     strerror(errno));
        mc_output_abort(o);
        return false;
    }
    return true;
}

bool mc_output_commit(mc_output *o, bool *changed, mc_diag *d)
{
    if (changed)
        *changed = false;
    if (!mc_output_finish(o, d))
        return false;
    if (same_content(o->tmp_path, o->path)) {
        mc_output_abort(o);
        return true;
    }
    if (rename(o->tmp_path, o->path) != 0) {
        mc_diag_file(d, MC_ERROR, o->path, "cannot replace output: %s",
                     strerror(errno));
        mc_output_abort(o);
        return false;
    }
    if (changed)
        *changed = true;
    free(o->tmp_path);
    o->tmp_path = NULL;
    mc_output_abort(o);
    return true;
}

void mc_output_abort(mc_output *o)
{
    if (o->fp)
        fclose(o->fp);
    if (o->tmp_path)
        unlink(o->tmp_path);
    free(o->tmp_path);
    free(o->path);
    memset(o, 0, sizeof *o);
}
