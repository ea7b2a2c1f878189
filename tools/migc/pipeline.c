/*
 * pipeline.c -- scan, load, check and hash a folder, one migration at a
 * time.  See pipeline.h.
 */
#include "pipeline.h"

#include <string.h>

bool mc_pipeline_scan(const char *dir, mc_folder *folder, mc_diag *d,
                      mc_pipeline_result *r)
{
    memset(r, 0, sizeof *r);
    unsigned before = d->errors;
    mc_folder_scan(dir, folder, d, &r->io_error);
    return d->errors == before;
}

bool mc_pipeline_load(const mc_folder *folder, mc_diag *d, mc_visit_fn visit,
                      void *ctx, mc_pipeline_result *r)
{
    for (size_t i = 0; i < folder->count; i++) {
        mc_migration m;
        bool ok = mc_migration_load(folder, &folder->entries[i], r->chain, &m,
                                    d, &r->io_error);
        memcpy(r->chain, m.chain, sizeof r->chain);
        if (ok && visit && d->errors == 0)
            visit(ctx, &m);
        mc_migration_release(&m);
    }
    if (folder->count == 0 && d->errors == 0)
        mc_diag_file(d, MC_WARNING, folder->dir, "no migrations found");
    return d->errors == 0;
}
