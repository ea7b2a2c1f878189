/*
 * internal.h -- what the runtime's modules share, and nothing else sees.
 *
 * The runtime is split by concern: errors.c (result codes, error details,
 * mapping server positions back to files), catalog.c (lookups),
 * history.c (the history table), lock.c (the advisory lock between
 * replicas), apply.c (running migrations' scripts), engine.c (up, down,
 * force: verification and orchestration), report.c (status and plan) and
 * service.c (the standard flags).  Internal symbols are prefixed migc__.
 */
#ifndef MIGC_RUNTIME_INTERNAL_H
#define MIGC_RUNTIME_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <migc/migc.h>

/* One call's context. */
typedef struct migc__ctx {
    PGconn *conn;
    const migc_catalog *cat;
    migc_options opt;      /* the caller's options, defaults filled in */
    migc_error *err;       /* never NULL (scratch when the caller gave none) */
    migc_error scratch;
    char *table;           /* quoted "schema"."table" of the history */
    char *schema;          /* quoted "schema" */
    char *head;            /* quoted "schema"."table_head": the head */
    int64_t lock_key;      /* advisory lock key of this history table */
    bool locked;
    bool session_prepared; /* the session's timeouts are set (apply.c) */
    size_t async_commits;  /* commits not yet known durable (apply.c) */
    bool raced;            /* another process claimed the migration first */
    bool waiting;          /* the last pass waited for another process */
    double busy_since;     /* when waiting for another process began */
    int64_t applied_rows;  /* history rows in state applied, as last read
                              and since counted: the next applied row's
                              applied_count is one more */
    /* A transactional migration whose statements and history row all
     * succeeded and whose COMMIT is still to be sent: at the head of the
     * next migration's pipeline, or alone (migc__commit_pending). */
    bool commit_pending;
    bool commit_failed; /* such a COMMIT failed during this apply_some
                           (engine.c): not a lock wait to retry */
    size_t pending;     /* its catalog index */
    double pending_ms;  /* its time up to the COMMIT, for the log */
    char pending_what[256];
} migc__ctx;

/* The catalog string at `offset` (an id, name, file or sql member). */
static inline const char *migc__text(const migc__ctx *ctx, uint32_t offset)
{
    return migc_catalog_text(ctx->cat, offset);
}

/* Statement i of script s. */
static inline const migc_statement *
migc__statement(const migc_catalog *cat, const migc_script *s, uint32_t i)
{
    return &cat->statements[s->first_statement + i];
}

/* The text of statement st of script s, a C string. */
static inline const char *migc__statement_sql(const migc_catalog *cat,
                                              const migc_script *s,
                                              const migc_statement *st)
{
    return cat->text + s->sql + st->offset;
}

/* One row of the history table. */
typedef struct migc__row {
    char *id;
    int64_t version;
    char *name;
    unsigned char up_sha256[MIGC_SHA256_SIZE];
    unsigned char chain_sha256[MIGC_SHA256_SIZE];
    char state[16];        /* applied, running, failed, reverting */
    uint32_t done;
    uint32_t total;
    char applied_at[40];
    int64_t duration_ms;   /* -1 when NULL */
    char *error;           /* may be NULL */
    int64_t applied_count; /* applied rows when it was recorded, itself
                              included */
} migc__row;

/* The history, sorted in catalog order (version, then id byte-wise). */
typedef struct migc__history {
    migc__row *rows;
    size_t count;
} migc__history;

/* ---- errors.c ---- */

/* Sets ctx->err to code and a printf-style message; returns code. */
migc_result migc__fail(migc__ctx *ctx, migc_result code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Like migc__fail, then copies SQLSTATE, message, detail and hint of a
 * failed result (res may be NULL: the connection's error is used). */
migc_result migc__fail_server(migc__ctx *ctx, migc_result code,
                              const PGresult *res, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* Records which migration, script and statement an error belongs to, and
 * maps the server's error position (res may be NULL) to its file line and
 * column. */
void migc__locate(migc__ctx *ctx, const migc_migration *m,
                  const migc_script *s, uint32_t statement,
                  const PGresult *res);
/* True when the connection is gone (or unusable). */
bool migc__connection_lost(PGconn *conn);

/* ---- catalog.c ---- */

/* The order of migrations: by version, then id byte-wise (<0, 0, >0). */
int migc__order(int64_t version_a, const char *id_a, int64_t version_b,
                const char *id_b);
/* The index of migration (version, id) in the catalog, or cat->count: a
 * binary search. */
size_t migc__catalog_index(const migc_catalog *cat, int64_t version,
                           const char *id);
/* 0 when the catalog has the current ABI and its arrays are present, in
 * constant time (migc_catalog_check reads every migration); -1 if not. */
int migc__catalog_shape(const migc_catalog *catalog);

/* ---- history.c ---- */

/* Prepares ctx: defaults, the quoted table name, the lock key.  Checks
 * the catalog's shape, and with whole_catalog every migration of it
 * (MIGC_ECATALOG); a start that may find nothing to do leaves that to
 * migc__check_catalog on its slow path, so that it stays constant-time. */
migc_result migc__ctx_init(migc__ctx *ctx, PGconn *conn,
                           const migc_catalog *cat,
                           const migc_options *options, bool whole_catalog,
                           migc_error *err);
/* migc_catalog_check, reported as MIGC_ECATALOG. */
migc_result migc__check_catalog(migc__ctx *ctx);
void migc__ctx_free(migc__ctx *ctx);

/* The check of a start with nothing to do: one round trip when the head
 * matches the catalog, two when it does not.  Returns true when the history
 * shows every catalog migration applied, unmodified, with nothing
 * unfinished; false when the full path must run (also when the table does
 * not exist yet). */
bool migc__up_to_date(migc__ctx *ctx);

/* Creates the history table if it does not exist, and its head (sequence,
 * function, triggers) when any of it is missing or a trigger disabled. */
migc_result migc__history_ensure(migc__ctx *ctx);
/* Sets the newest row's applied_count from a count of the applied rows,
 * in a transaction that writes (even when the count is right) and so
 * commits synchronously: every earlier asynchronous commit is durable when
 * it returns MIGC_OK (and async_commits is 0).  One round trip. */
migc_result migc__history_sync(migc__ctx *ctx);
/* Clears the head, then sets it to this catalog's value when the history
 * is exactly what the catalog expects, applied.  One round trip; a failure
 * leaves the head cleared (or, when even the clear failed, as it was). */
void migc__history_set_head(migc__ctx *ctx);
/* Reads the whole history; *missing_table is set when it does not exist
 * (then h is empty and the result MIGC_OK). */
migc_result migc__history_read(migc__ctx *ctx, migc__history *h,
                               bool *missing_table);
void migc__history_free(migc__history *h);
/* Refuses a history row whose id the catalog has at another version (the
 * row's version was edited by hand): MIGC_EHISTORY, or MIGC_OK. */
migc_result migc__history_check_versions(migc__ctx *ctx,
                                         const migc__history *h);
/* The row of migration (version, id), or NULL: a binary search (the rows
 * are in catalog order). */
migc__row *migc__history_find(migc__history *h, int64_t version,
                              const char *id);

/* Runs a command with text parameters; returns the result (caller
 * PQclear's) or NULL after setting the error (the result is cleared). */
PGresult *migc__exec(migc__ctx *ctx, const char *sql, int nparams,
                     const char *const *params, const char *what);

/* ---- lock.c ---- */

/* Takes the migration lock, polling pg_try_advisory_lock (a waiter never
 * sits in an open transaction), for at most lock_wait_ms. */
migc_result migc__lock(migc__ctx *ctx);
/* Releases it and checks the release; returns MIGC_OK or the first error
 * (an error already in ctx->err is kept). */
migc_result migc__unlock(migc__ctx *ctx, migc_result so_far);

/* ---- apply.c ---- */

/* Applies migration i of the catalog, recording it in the history.  With
 * `resume` (a non-transactional migration whose row exists, interrupted or
 * failed), it continues at statement `done` (the count already done). */
migc_result migc__apply_up(migc__ctx *ctx, size_t i, bool resume,
                           uint32_t done);
/* Applies the catalog migrations which[0, count) -- all transactional,
 * in order -- in one transaction (MIGC_GROUPED). */
migc_result migc__apply_group(migc__ctx *ctx, const size_t *which,
                              size_t count);
/* Sends the COMMIT of the migration whose commit is pending, if any, and
 * waits for it; logs the migration as applied.  Every path that talks to
 * the server after a migration, other than the next migration's own
 * pipeline, calls it first.  Returns MIGC_OK or the error (blamed on that
 * migration). */
migc_result migc__commit_pending(migc__ctx *ctx);
/* Waits until every migration committed so far is durable (on disk, and
 * on synchronous standbys): one synchronous commit.  Returns MIGC_OK or
 * the error. */
migc_result migc__make_durable(migc__ctx *ctx);
/* Reverts migration i with its down script, removing its history row. */
migc_result migc__apply_down(migc__ctx *ctx, size_t i);

/* ---- small helpers ---- */

void migc__log(migc__ctx *ctx, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* A printf-style string, malloc'd (the caller frees it); NULL when out of
 * memory. */
char *migc__printf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Lower-case hex of the n bytes at b into out (2n + 1 bytes). */
void migc__hex(const unsigned char *b, size_t n, char *out);
/* The value of hex digit c (either case), or -1. */
int migc__hex_digit(char c);
/* strlcpy */
void migc__copy(char *dst, size_t size, const char *src);
/* Sleeps ms milliseconds. */
void migc__sleep_ms(int ms);
/* Milliseconds of a monotonic clock. */
double migc__now_ms(void);

#endif /* MIGC_RUNTIME_INTERNAL_H */
