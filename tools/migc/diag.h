/*
 * diag.h -- compiler-style diagnostics for migc.
 *
 * Every problem migc finds in a migrations folder is reported the way a C
 * compiler reports one, so that editors and CI annotate the right line:
 *
 *     migrations/000002_x.up.sql:5:21: error: unterminated dollar-quoted string $body$
 *         CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$
 *                                                             ^
 *
 * Diagnostics are collected for the whole run (each is printed when it is
 * found, and counted), so one run shows every error.  Columns count
 * characters (UTF-8 code points), starting at 1.
 */
#ifndef MIGC_DIAG_H
#define MIGC_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum mc_severity {
    MC_NOTE,
    MC_WARNING,
    MC_ERROR
} mc_severity;

/* An incremental line/column cursor over one text. */
typedef struct mc_position {
    const char *text;
    size_t offset;   /* byte offset the line/column below describe */
    uint32_t line;
    uint32_t column;
} mc_position;

/* A diagnostics sink.  Zero-initialize, then set `out` (usually stderr). */
typedef struct mc_diag {
    FILE *out;
    bool show_notes;    /* print MC_NOTE diagnostics (counted regardless) */
    unsigned errors;
    unsigned warnings;
    unsigned notes;
    /* Where the previous diagnostic was, and in which file: several in one
     * file cost one pass over it, not one pass each. */
    mc_position last;
    char last_path[512];
} mc_diag;

/* Reports a diagnostic about byte `offset` of `text` (the normalized content
 * of the file at `path`, `len` bytes): prints path:line:col, the message, the
 * source line and a caret under the column. */
void mc_diag_at(mc_diag *d, mc_severity sev, const char *path,
                const char *text, size_t len, size_t offset,
                const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 7, 8)))
#endif
    ;

/* Reports a diagnostic about a whole file ("path: error: message"), or about
 * no file at all when path is NULL ("migc: error: message"). */
void mc_diag_file(mc_diag *d, mc_severity sev, const char *path,
                  const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;


/* Starts a cursor at the beginning of text (line 1, column 1). */
void mc_position_init(mc_position *p, const char *text);
/* Moves the cursor forward to `offset` (>= its current offset). */
void mc_position_advance(mc_position *p, size_t offset);

#endif /* MIGC_DIAG_H */
