/*
 * classify.h -- what kind of statement is this, as far as migrations care?
 *
 * Some statements cannot run inside a transaction block (CREATE INDEX
 * CONCURRENTLY, VACUUM, ALTER SYSTEM, ...), some control transactions
 * themselves (BEGIN, COMMIT, ROLLBACK), and some only psql can run (COPY ...
 * FROM stdin with inline data).  The validator decides each script's
 * transaction mode from these classes, so they follow PostgreSQL's own rules
 * (PreventInTransactionBlock callers in the server source).
 */
#ifndef MIGC_CLASSIFY_H
#define MIGC_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Classes beyond the catalog's MIGC_STMT_* flags, used only by migc. */
enum {
    MC_CLASS_ROLLBACK = 1u << 16,    /* ROLLBACK / ABORT (not TO SAVEPOINT) */
    MC_CLASS_COPY_STDIN = 1u << 17,  /* COPY ... FROM STDIN */
    MC_CLASS_COPY_STDOUT = 1u << 18, /* COPY ... TO STDOUT */
    MC_CLASS_PREPARE_TXN = 1u << 19  /* PREPARE TRANSACTION */
};

/* Mask of the bits that go into migc_statement.flags. */
#define MC_CLASS_CATALOG_MASK 0xFFFFu

/* Classifies the statement occupying bytes [start, end) of `text`, a
 * text of text_len bytes followed by a NUL byte (see mc_lexer_init).  Returns MIGC_STMT_*
 * and MC_CLASS_* bits; *what is set to a static, human-readable name of the
 * construct that caused the most significant bit ("CREATE INDEX
 * CONCURRENTLY", "COMMIT", ...) or to NULL. */
uint32_t mc_classify(const char *text, size_t text_len, size_t start,
                     size_t end, const char **what);

/* True when the BEGIN / START TRANSACTION statement at text[start, end)
 * has no transaction options (isolation level, READ ONLY, DEFERRABLE):
 * only such a wrapper can be replaced by migc's own transaction. */
bool mc_is_bare_begin(const char *text, size_t text_len, size_t start,
                      size_t end);

#endif /* MIGC_CLASSIFY_H */
