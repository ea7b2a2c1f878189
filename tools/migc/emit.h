/*
 * emit.h -- writing the generated C catalog, its header and a depfile.
 *
 * The generated C is deterministic (same input, same bytes: no timestamps,
 * no absolute paths, migrations in their sorted order) and compiles
 * warning-free under -std=c11 -Wall -Wextra -Werror -pedantic.  Its tables
 * hold no pointers (see <migc/catalog.h>): every string -- ids, names,
 * file paths and the SQL -- goes into one text array, and every statement
 * into one statements array, which the tables index.  The text is
 * embedded as string literals, which compilers read far faster than
 * `xxd -i` byte lists.  ISO C only promises string literals of 4095
 * characters, so the text array is two-dimensional, of 4000-byte rows:
 * contiguous, each string in it ending with its own NUL.
 *
 * Migrations are emitted one at a time as they are loaded: their text is
 * written at once, their table rows and statements are spooled to
 * temporary files and appended at the end, so memory does not grow with
 * the folder.
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
    /* The text array, written as migrations come. */
    bool text_open;     /* its declaration is written */
    size_t text_length; /* bytes so far, NULs included */
    size_t row_fill;    /* bytes in its current row */
    bool piece_open;    /* a literal piece is open */
    size_t piece;       /* bytes in that piece */
    char prev;          /* the piece's previous byte ("??" trigraphs) */
    bool too_large;     /* the text outgrew 32-bit offsets */
    const char *last_file;     /* the up script's file, while its down is
                                  emitted (borrowed) */
    uint32_t last_file_offset; /* and its offset in the text */
} mc_emitter;

/* Starts a catalog named `symbol` for folder f, writing to out.  Returns
 * false (after reporting) when the spool file cannot be created. */
bool mc_emit_begin(mc_emitter *e, FILE *out, const char *symbol,
                   const mc_folder *f, mc_diag *d);

/* Emits the text of migration m and spools its table row and
 * statements. */
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
