/*
 * memcat.h -- a catalog built in memory from a folder.
 *
 * `migc up|down|status|plan|force DIR` run the runtime's engine on a folder
 * during development, without generating and compiling C.  This module
 * builds the same migc_catalog the generated C would define, on the heap,
 * from the same pipeline, so both paths apply byte-identical statements
 * with identical hashes.
 */
#ifndef MIGC_MEMCAT_H
#define MIGC_MEMCAT_H

#include <migc/catalog.h>

#include "diag.h"

/* Compiles `dir` into a heap catalog.  Diagnostics go to d.  Returns NULL
 * when the folder has errors (*io_error tells an I/O failure apart); free
 * the result with mc_memcat_free. */
migc_catalog *mc_memcat_build(const char *dir, mc_diag *d, bool *io_error);

void mc_memcat_free(migc_catalog *cat);

#endif /* MIGC_MEMCAT_H */
