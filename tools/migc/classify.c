/*
 * classify.c -- recognizing statements that constrain transaction handling.
 * See classify.h.  Works on the leading keywords of a statement, skipping
 * comments, as the server's grammar would read them.
 */
#include "classify.h"

#include <stdbool.h>
#include <string.h>

#include <migc/catalog.h>

#include "lexer.h"
#include "util.h"

#define MAX_WORDS 32

/* The significant tokens of a statement at parenthesis depth 0: words are
 * unquoted identifiers; anything else is kept as a non-word placeholder so
 * that positions stay meaningful ("CLUSTER t" vs "CLUSTER"). */
typedef struct words {
    const char *text;
    size_t count;
    size_t start[MAX_WORDS];
    size_t len[MAX_WORDS];
    bool is_word[MAX_WORDS];
    bool is_paren_group[MAX_WORDS];
} words;

static void collect_words(const char *text, size_t text_len, size_t start,
                          size_t end, words *w)
{
    mc_lexer lx;
    mc_lexer_init(&lx, text, text_len);
    mc_lexer_seek(&lx, start);
    w->text = text;
    w->count = 0;
    int depth = 0;
    for (;;) {
        mc_token t = mc_lexer_next(&lx);
        if (t.kind == MC_TOK_EOF || t.start >= end)
            break;
        if (t.kind == MC_TOK_SPACE || t.kind == MC_TOK_LINE_COMMENT ||
            t.kind == MC_TOK_BLOCK_COMMENT || t.kind == MC_TOK_SEMICOLON)
            continue;
        if (t.kind == MC_TOK_RPAREN) {
            if (depth > 0)
                depth--;
            continue;
        }
        if (depth > 0) {
            if (t.kind == MC_TOK_LPAREN)
                depth++;
            continue;
        }
        if (w->count == MAX_WORDS)
            break;
        w->start[w->count] = t.start;
        w->len[w->count] = t.end - t.start;
        w->is_word[w->count] = t.kind == MC_TOK_IDENT;
        w->is_paren_group[w->count] = t.kind == MC_TOK_LPAREN;
        w->count++;
        if (t.kind == MC_TOK_LPAREN)
            depth++;
    }
}

/* True when token i is the word `lower`. */
static bool is(const words *w, size_t i, const char *lower)
{
    return i < w->count && w->is_word[i] &&
           mc_word_eq(w->text + w->start[i], w->len[i], lower);
}

/* Index of the first word `lower` at or after `from`, or w->count. */
static size_t find(const words *w, size_t from, const char *lower)
{
    for (size_t i = from; i < w->count; i++)
        if (is(w, i, lower))
            return i;
    return w->count;
}

/* CREATE/DROP of objects that live outside the database's transaction:
 * databases and tablespaces.  (Subscriptions are left to the server: with
 * connect = false or slot_name = NONE they do run in a transaction.) */
static uint32_t classify_cluster_object(const words *w, bool create,
                                        const char **what)
{
    static const struct {
        const char *word;
        const char *create_name;
        const char *drop_name;
    } objects[] = {
        {"database", "CREATE DATABASE", "DROP DATABASE"},
        {"tablespace", "CREATE TABLESPACE", "DROP TABLESPACE"},
    };
    for (size_t k = 0; k < sizeof objects / sizeof objects[0]; k++) {
        if (is(w, 1, objects[k].word)) {
            *what = create ? objects[k].create_name : objects[k].drop_name;
            return MIGC_STMT_NO_TRANSACTION;
        }
    }
    return 0;
}

static uint32_t classify_create(const words *w, const char **what)
{
    size_t i = 1;
    if (is(w, i, "unique"))
        i++;
    if (is(w, i, "index") && is(w, i + 1, "concurrently")) {
        *what = "CREATE INDEX CONCURRENTLY";
        return MIGC_STMT_NO_TRANSACTION;
    }
    return classify_cluster_object(w, true, what);
}

static uint32_t classify_drop(const words *w, const char **what)
{
    if (is(w, 1, "index") && is(w, 2, "concurrently")) {
        *what = "DROP INDEX CONCURRENTLY";
        return MIGC_STMT_NO_TRANSACTION;
    }
    return classify_cluster_object(w, false, what);
}

static uint32_t classify_alter(const words *w, const char **what)
{
    if (is(w, 1, "system")) {
        *what = "ALTER SYSTEM";
        return MIGC_STMT_NO_TRANSACTION;
    }
    if (is(w, 1, "table")) {
        /* DETACH PARTITION as a pair: a table may be called "detach". */
        for (size_t d = 2; d + 1 < w->count; d++) {
            if (is(w, d, "detach") && is(w, d + 1, "partition") &&
                find(w, d + 2, "concurrently") < w->count) {
                *what = "ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY";
                return MIGC_STMT_NO_TRANSACTION;
            }
        }
    }
    if (is(w, 1, "database")) {
        size_t s = find(w, 2, "set");
        if (s < w->count && is(w, s + 1, "tablespace")) {
            *what = "ALTER DATABASE ... SET TABLESPACE";
            return MIGC_STMT_NO_TRANSACTION;
        }
    }
    return 0;
}

static uint32_t classify_begin(const words *w, const char **what)
{
    /* A top-level BEGIN always starts a transaction block: BEGIN ATOMIC
     * only occurs inside CREATE FUNCTION/PROCEDURE. */
    (void)w;
    *what = "BEGIN";
    return MIGC_STMT_BEGIN;
}

static uint32_t classify_rollback(const words *w, const char **what)
{
    size_t i = 1;
    if (is(w, i, "work") || is(w, i, "transaction"))
        i++;
    if (is(w, i, "to"))
        return 0; /* ROLLBACK TO SAVEPOINT stays inside the transaction */
    if (is(w, 1, "prepared")) {
        *what = "ROLLBACK PREPARED";
        return MIGC_STMT_NO_TRANSACTION;
    }
    *what = "ROLLBACK";
    return MC_CLASS_ROLLBACK;
}

static uint32_t classify_copy(const words *w, const char **what)
{
    for (size_t i = 1; i + 1 < w->count; i++) {
        if (is(w, i, "from") &&
            (is(w, i + 1, "stdin") || is(w, i + 1, "pstdin"))) {
            *what = "COPY ... FROM STDIN";
            return MC_CLASS_COPY_STDIN;
        }
        if (is(w, i, "to") &&
            (is(w, i + 1, "stdout") || is(w, i + 1, "pstdout"))) {
            *what = "COPY ... TO STDOUT";
            return MC_CLASS_COPY_STDOUT;
        }
    }
    return 0;
}

/* True when the identifier `lower` occurs anywhere in text[start, end),
 * inside parentheses too (REINDEX (CONCURRENTLY) TABLE t). */
static bool mentions(const char *text, size_t text_len, size_t start,
                     size_t end, const char *lower)
{
    mc_lexer lx;
    mc_lexer_init(&lx, text, text_len);
    mc_lexer_seek(&lx, start);
    for (;;) {
        mc_token t = mc_lexer_next(&lx);
        if (t.kind == MC_TOK_EOF || t.start >= end)
            return false;
        if (t.kind == MC_TOK_IDENT &&
            mc_word_eq(text + t.start, t.end - t.start, lower))
            return true;
    }
}

static uint32_t classify_reindex(const words *w, bool concurrently,
                                 const char **what)
{
    size_t i = 1;
    if (i < w->count && w->is_paren_group[i])
        i++;
    if (is(w, i, "database") || is(w, i, "system") || is(w, i, "schema")) {
        *what = is(w, i, "system")   ? "REINDEX SYSTEM"
                : is(w, i, "schema") ? "REINDEX SCHEMA"
                                     : "REINDEX DATABASE";
        return MIGC_STMT_NO_TRANSACTION;
    }
    if (concurrently) {
        *what = "REINDEX ... CONCURRENTLY";
        return MIGC_STMT_NO_TRANSACTION;
    }
    return 0;
}

static uint32_t classify_cluster(const words *w, const char **what)
{
    /* CLUSTER without a table name reclusters the whole database, which
     * cannot run inside a transaction block. */
    size_t i = 1;
    while (i < w->count && (w->is_paren_group[i] || is(w, i, "verbose")))
        i++;
    if (i >= w->count) {
        *what = "CLUSTER (without a table)";
        return MIGC_STMT_NO_TRANSACTION;
    }
    return 0;
}

uint32_t mc_classify(const char *text, size_t text_len, size_t start,
                     size_t end, const char **what)
{
    words w;
    collect_words(text, text_len, start, end, &w);
    *what = NULL;
    if (w.count == 0 || !w.is_word[0])
        return 0;
    if (is(&w, 0, "create"))
        return classify_create(&w, what);
    if (is(&w, 0, "drop"))
        return classify_drop(&w, what);
    if (is(&w, 0, "alter"))
        return classify_alter(&w, what);
    if (is(&w, 0, "begin"))
        return classify_begin(&w, what);
    if (is(&w, 0, "start") && is(&w, 1, "transaction")) {
        *what = "START TRANSACTION";
        return MIGC_STMT_BEGIN;
    }
    if (is(&w, 0, "commit") || is(&w, 0, "end")) {
        if (is(&w, 1, "prepared")) {
            *what = "COMMIT PREPARED";
            return MIGC_STMT_NO_TRANSACTION;
        }
        *what = is(&w, 0, "end") ? "END" : "COMMIT";
        return MIGC_STMT_COMMIT;
    }
    if (is(&w, 0, "rollback"))
        return classify_rollback(&w, what);
    if (is(&w, 0, "abort")) {
        *what = "ABORT";
        return MC_CLASS_ROLLBACK;
    }
    if (is(&w, 0, "prepare") && is(&w, 1, "transaction")) {
        *what = "PREPARE TRANSACTION";
        return MC_CLASS_PREPARE_TXN;
    }
    if (is(&w, 0, "vacuum")) {
        *what = "VACUUM";
        return MIGC_STMT_NO_TRANSACTION;
    }
    if (is(&w, 0, "reindex"))
        return classify_reindex(&w,
                                mentions(text, text_len, start, end,
                                         "concurrently"),
                                what);
    if (is(&w, 0, "cluster"))
        return classify_cluster(&w, what);
    if (is(&w, 0, "discard") && is(&w, 1, "all")) {
        *what = "DISCARD ALL";
        return MIGC_STMT_NO_TRANSACTION;
    }
    if (is(&w, 0, "copy"))
        return classify_copy(&w, what);
    return 0;
}

bool mc_is_bare_begin(const char *text, size_t text_len, size_t start,
                      size_t end)
{
    words w;
    collect_words(text, text_len, start, end, &w);
    size_t i = is(&w, 0, "start") ? 2 : 1;
    if (is(&w, i, "work") || is(&w, i, "transaction"))
        i++;
    return i >= w.count;
}
