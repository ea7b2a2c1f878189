/*
 * output.h -- writing an output file atomically, and only when it changes.
 *
 * Build systems and readers must never see a half-written file, and an
 * unchanged result must not touch the file (so nothing downstream rebuilds).
 * Output goes to a temporary file beside the target; on commit it replaces
 * the target by rename(2) if and only if the content differs.
 */
#ifndef MIGC_OUTPUT_H
#define MIGC_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

#include "diag.h"

typedef struct mc_output {
    char *path;      /* the target */
    char *tmp_path;  /* the temporary file being written */
    FILE *fp;        /* write here between open and commit */
} mc_output;

/* Creates the temporary file for target `path`.  Returns false (after
 * reporting to d) when it cannot be created. */
bool mc_output_open(mc_output *o, const char *path, mc_diag *d);

/* Closes the temporary file and checks that everything was written.
 * Returns false (after reporting) on a write error; the target is
 * untouched.  Lets several outputs be written completely before any of
 * them replaces its target. */
bool mc_output_finish(mc_output *o, mc_diag *d);

/* Finishes the file (if not done yet) and replaces the target with it,
 * unless the content is the same: returns false (after reporting) on an
 * error, in which case the target is untouched and the temporary file
 * removed.  On success *changed tells whether the target was replaced (it
 * may be NULL). */
bool mc_output_commit(mc_output *o, bool *changed, mc_diag *d);

/* Discards the temporary file; the target is untouched.  Safe after a
 * commit and on a zeroed mc_output. */
void mc_output_abort(mc_output *o);

#endif /* MIGC_OUTPUT_H */
