/*
 * pipeline.h -- running a whole folder through migc's checks.
 *
 * Every command that reads a folder (compile, check, list; later the
 * database commands) goes through the same steps: scan the folder, then load
 * and check each migration in order, chaining their hashes.  The pipeline
 * hands each successfully loaded migration to a visitor and releases it
 * before loading the next, so memory holds one migration at a time.
 * Errors do not stop the run: every migration is checked, and all problems
 * are reported in one go.
 */
#ifndef MIGC_PIPELINE_H
#define MIGC_PIPELINE_H

#include <stdbool.h>

#include "diag.h"
#include "folder.h"
#include "migration.h"

/* Called for each migration, in order, while no error has been reported.
 * The migration is released after the call returns. */
typedef void (*mc_visit_fn)(void *ctx, const mc_migration *m);

typedef struct mc_pipeline_result {
    bool io_error;                           /* a file could not be read */
    unsigned char chain[MIGC_SHA256_SIZE];   /* chain hash of the last */
} mc_pipeline_result;

/* Scans `dir` into *folder (the caller frees it with mc_folder_free).
 * Returns true when no error was reported. */
bool mc_pipeline_scan(const char *dir, mc_folder *folder, mc_diag *d,
                      mc_pipeline_result *r);

/* Loads and checks every migration of a scanned folder, calling visit (may
 * be NULL) for each.  Returns true when no error was reported, here or by
 * the scan. */
bool mc_pipeline_load(const mc_folder *folder, mc_diag *d, mc_visit_fn visit,
                      void *ctx, mc_pipeline_result *r);

#endif /* MIGC_PIPELINE_H */
