/*
 * emit.h -- writing the generated C catalog, its header and a depfile.
 *
 * The generated C is deterministic (same input, same bytes: no timestamps,
 * no absolute paths, migrations in their sorted order) and compiles
 * warning-free under -std=c11 -Wall -Wextra -Werror -pedantic.  SQL is
 * embedded as string literals, one source line per literal piece, which
 * compilers read far faster than `xxd -i` byte lists.  ISO C only promises
 * string literals of 4095 characters, so a larger script becomes a
 * two-dimensional char array of 4000-byte rows: contiguous, NUL-terminated
 * by the zero padding of its last row, and passed to libpq as one string.
 *
 * Migrations are emitted one at a time as they are loaded; their table rows
 * are spooled to a temporary file and appended at the end, so memory does
 * not grow with the folder.
 */
#ifndef MIGC_EMIT_H
#define MIGC_EMIT_H

#include <stdbool.h>
#include <stdio.h>

#include "folder.h"
#include "migration.h"

typedef struct mc_emitter {
    FILE *out;          /* the generated .c */
    FILE *rows;         /* spooled migc_migration initializers */
    FILE *statements;   /* spooled rows of the one migc_statement array */
    size_t statement_count; /* rows spooled so far */
    const char *symbol; /* C name of the catalog */
    size_t index;       /* migrations emitted so far */
    mc_buf image;       /* scratch: one script's image */
    mc_buf text;        /* scratch: its escaped C text */
} mc_emitter;

/* Starts a catalog named `symbol` for folder f, writing to out.  Returns
 * false (after reporting) when the spool file cannot be created. */
bool mc_emit_begin(mc_emitter *e, FILE *out, const char *symbol,
                   const mc_folder *f, mc_diag *d);

/* Emits the arrays of migration m and spools its table row. */
void mc_emit_migration(mc_emitter *e, const mc_migration *m);

/* Writes the migration table and the catalog; `chain` is the chain hash of
 * the last migration.  Frees the emitter's resources.  Returns false (after
 * reporting) on an I/O error. */
bool mc_emit_end(mc_emitter *e, const mc_folder *f,
                 const unsigned char chain[MIGC_SHA256_SIZE], mc_diag *d);

/* Frees the emitter's resources without finishing (after an error). */
void mc_emit_abort(mc_emitter *e);

/* Writes the header declaring the catalog `symbol`. */
void mc_emit_header(FILE *out, const char *symbol);

/* Writes a Make-syntax depfile: `target` depends on the folder itself (so
 * added and removed files are noticed) and on every migration file. */
void mc_emit_depfile(FILE *out, const char *target, const mc_folder *f);

/* True when s is a valid C identifier that the public headers do not
 * already declare. */
bool mc_is_c_identifier(const char *s);

#endif /* MIGC_EMIT_H */
