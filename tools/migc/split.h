/*
 * split.h -- cutting a migration file into sections and statements.
 *
 * A file is cut into its up and down sections (by the format's annotations:
 * `-- +goose Up`, `-- +migrate Down`, `-- migrate:up`, ...; a golang-migrate
 * file is one section) and each section into statements, ending a statement
 * where psql would: at a ';' outside parentheses and outside a BEGIN ATOMIC
 * body, never inside a string, quoted identifier, dollar quote or comment.
 * StatementBegin/StatementEnd blocks (goose, sql-migrate) exist because
 * those tools split on lines ending in ';'; migc splits the block with the
 * same psql rules as everything else (so every statement in it is
 * classified and sent on its own), and StatementEnd ends a statement that
 * has no ';'.
 *
 * Statements keep their exact byte range: the statements and the text
 * between them (whitespace, comments, annotations) concatenate back to the
 * file exactly.  Problems found here (unterminated constructs, psql
 * meta-commands, COPY FROM stdin, misplaced or unknown annotations) are
 * reported at the line and column where they open.
 */
#ifndef MIGC_SPLIT_H
#define MIGC_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <migc/catalog.h>

#include "diag.h"

typedef struct mc_stmt {
    size_t start;        /* byte offset in the file text */
    size_t end;          /* one past the last byte (after ';' if any) */
    uint32_t line;
    uint32_t column;
    uint32_t flags;      /* MIGC_STMT_* and MC_CLASS_* bits */
    const char *what;    /* static name of the classified construct */
} mc_stmt;

typedef struct mc_section {
    bool present;
    size_t start;        /* byte range of the section in the file */
    size_t end;
    uint32_t first_line;
    mc_stmt *stmts;
    size_t count;
    size_t cap;
    /* An explicit no-transaction annotation, with its offset. */
    bool no_transaction;
    size_t no_transaction_at;
    /* An explicit transaction:true (dbmate), with its offset. */
    bool transaction_on;
    size_t transaction_on_at;
} mc_section;

typedef struct mc_split {
    mc_section up;       /* a golang-migrate file is all "up" here */
    mc_section down;
} mc_split;

/* Splits the normalized `text` (len bytes, NUL-terminated) of the file at
 * `path`, written in `format`.  Reports problems to d.  The result owns its
 * statement arrays: release with mc_split_free.  Returns false when an
 * error was reported. */
bool mc_split_file(const char *path, const char *text, size_t len,
                   migc_format format, mc_split *out, mc_diag *d);

/* Frees the statement arrays of a split (not the text it points into) and
 * zeroes it. */
void mc_split_free(mc_split *s);

/* The annotation that turns off transactions for a file of `format`, as a
 * user would write it ("-- +goose NO TRANSACTION"). */
const char *mc_no_transaction_directive(migc_format format, bool down);

#endif /* MIGC_SPLIT_H */
