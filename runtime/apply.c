/*
 * apply.c -- running migrations' scripts and recording them.
 *
 * With the session lock, a transactional script runs in one round trip:
 * BEGIN, every statement and the history row are pipelined (libpq
 * pipeline mode, the extended protocol, values as parameters) and their
 * replies read at once; its COMMIT is sent only then, at the head of the
 * next migration's pipeline (or alone, when nothing follows).  Were COMMIT
 * in its own migration's pipeline, a migrating process killed
 * mid-migration would leave the server to finish and commit the migration
 * on its own: the service that asked for it never knew it succeeded, and a
 * deploy that kills a stuck start expects it undone.  Sent after the
 * replies, it commits only what the process saw succeed; the next
 * migration's statements follow it without a Sync in between, so a failed
 * COMMIT skips them.  Through a pooler (no session lock) COMMIT is a second
 * round trip, so that no transaction stays open between migrations, and
 * the history row goes in first, so that a concurrent applier waits on the
 * primary key and then fails with unique_violation rather than applying
 * twice.  Statements go to libpq straight from the catalog's static data:
 * each is NUL-terminated in place.  MIGC_GROUPED runs a whole run of
 * pending migrations the same way, in one transaction.
 *
 * A non-transactional script runs statement by statement, recording its
 * progress after each, so an interruption leaves a row that says exactly
 * which statement did not complete.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* Queries sent before reading replies: bounded so that neither side's
 * socket buffer can fill while the other is still writing. */
#define PIPELINE_BATCH 256

/* What a pipelined query is, to map a failure back to its source. */
enum { TAG_BOOKKEEPING = -1, TAG_PENDING_COMMIT = -2 };

typedef struct query {
    const char *sql;
    int nparams;
    const char *const *params;
    long tag;                  /* statement index, or TAG_BOOKKEEPING */
    const migc_migration *m;   /* the migration it belongs to, or NULL */
    const migc_script *s;      /* the script of m being run */
    const char *what;          /* "migration 3 (file)", for messages */
} query;

/* Logs migration m as applied, `ms` after it began. */
static void log_applied(migc__ctx *ctx, const migc_migration *m, double ms)
{
    migc__log(ctx, "migc: applied %s %s in %.1f ms (%s)",
              migc__text(ctx, m->id), migc__text(ctx, m->name), ms,
              migc__text(ctx, m->up.file));
}

/* The pending COMMIT succeeded. */
static void pending_committed(migc__ctx *ctx)
{
    ctx->commit_pending = false;
    log_applied(ctx, &ctx->cat->migrations[ctx->pending], ctx->pending_ms);
}

/* The pending COMMIT failed (res: its reply, or NULL): the migration's own
 * error -- a deferred constraint, say.  Returns the error code. */
static migc_result pending_failed(migc__ctx *ctx, const PGresult *res)
{
    const migc_migration *m = &ctx->cat->migrations[ctx->pending];
    ctx->commit_pending = false;
    ctx->commit_failed = true;
    migc_result rc = migc__fail_server(
        ctx, MIGC_EMIGRATION, res, "%s failed at COMMIT", ctx->pending_what);
    migc__locate(ctx, m, &m->up, UINT32_MAX, NULL);
    return rc;
}

/* Sends queries[0, n), syncs and reads every reply.  On the first error,
 * fills ctx->err (located in the failing query's script) and returns its
 * code. */
static migc_result run_batch(migc__ctx *ctx, const query *q, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!PQsendQueryParams(ctx->conn, q[i].sql, q[i].nparams, NULL,
                               q[i].params, NULL, NULL, 0))
            return migc__fail_server(ctx, MIGC_ECONNECTION, NULL,
                                     "cannot send %s", q[i].what);
        /* The server holds replies until a Sync or a flush request: the
         * pending COMMIT's reply is asked for at once, not after the next
         * migration's statements (a connection lost during those would
         * otherwise be blamed on the COMMIT). */
        if (q[i].tag == TAG_PENDING_COMMIT && !PQsendFlushRequest(ctx->conn))
            return migc__fail_server(ctx, MIGC_ECONNECTION, NULL,
                                     "cannot send %s", q[i].what);
    }
    if (!PQpipelineSync(ctx->conn))
        return migc__fail_server(ctx, MIGC_ECONNECTION, NULL,
                                 "cannot send %s", q[0].what);
    migc_result rc = MIGC_OK;
    size_t i = 0;
    for (;;) {
        PGresult *res = PQgetResult(ctx->conn);
        if (!res) {
            if (migc__connection_lost(ctx->conn)) {
                if (rc == MIGC_OK)
                    rc = migc__fail_server(ctx, MIGC_ECONNECTION, NULL,
                                           "the connection was lost during %s",
                                           q[i < n ? i : n - 1].what);
                return rc;
            }
            i++; /* end of one query's results */
            continue;
        }
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            return rc;
        }
        if (i < n && q[i].tag == TAG_PENDING_COMMIT) {
            if (st == PGRES_COMMAND_OK)
                pending_committed(ctx);
            else if (st == PGRES_FATAL_ERROR && rc == MIGC_OK)
                rc = pending_failed(ctx, res);
            PQclear(res);
            continue;
        }
        if (st == PGRES_FATAL_ERROR && rc == MIGC_OK && i < n) {
            bool statement = q[i].tag >= 0;
            rc = migc__fail_server(ctx, statement ? MIGC_EMIGRATION
                                                  : MIGC_EHISTORY,
                                   res, "%s failed", q[i].what);
            if (statement)
                migc__locate(ctx, q[i].m, q[i].s, (uint32_t)q[i].tag, res);
            else if (q[i].m)
                migc__locate(ctx, q[i].m, q[i].s, UINT32_MAX, NULL);
        }
        PQclear(res);
    }
}

/* Runs queries through the pipeline in batches.  Returns MIGC_OK or the
 * first failure. */
static migc_result run_pipeline(migc__ctx *ctx, const query *q, size_t n)
{
    if (!PQenterPipelineMode(ctx->conn))
        return migc__fail_server(ctx, MIGC_ECONNECTION, NULL,
                                 "cannot enter pipeline mode");
    migc_result rc = MIGC_OK;
    for (size_t at = 0; at < n && rc == MIGC_OK; at += PIPELINE_BATCH) {
        size_t k = n - at < PIPELINE_BATCH ? n - at : PIPELINE_BATCH;
        rc = run_batch(ctx, q + at, k);
    }
    PQexitPipelineMode(ctx->conn);
    return rc;
}

/* Rolls back whatever transaction a failure left open. */
static void rollback(migc__ctx *ctx)
{
    if (migc__connection_lost(ctx->conn) ||
        PQtransactionStatus(ctx->conn) == PQTRANS_IDLE)
        return;
    PGresult *res = PQexec(ctx->conn, "ROLLBACK");
    PQclear(res);
}

/* True when `word` occurs in text as a whole identifier (any case). */
static bool mentions_word(const char *text, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = text; *p; p++) {
        if (strncasecmp(p, word, n) != 0)
            continue;
        bool before = p == text || !(isalnum((unsigned char)p[-1]) ||
                                     p[-1] == '_');
        bool after = !(isalnum((unsigned char)p[n]) || p[n] == '_');
        if (before && after)
            return true;
    }
    return false;
}

/* After a lock timeout (SQLSTATE 55P03), names the session that holds a
 * lock on a table the failed statement mentions: its process id, state,
 * how long its transaction has been open, the lock and its query.  The
 * description goes into the error's detail. */
static void describe_lock_blocker(migc__ctx *ctx, bool transactional)
{
    migc_error *e = ctx->err;
    if (strcmp(e->sqlstate, "55P03") != 0 || !e->statement ||
        migc__connection_lost(ctx->conn))
        return;
    PGresult *res = PQexec(
        ctx->conn,
        "SELECT a.pid, l.mode, c.relname, coalesce(a.state, ''), "
        "coalesce(extract(epoch FROM now() - a.xact_start)::bigint, 0), "
        "left(coalesce(a.query, ''), 200) FROM pg_catalog.pg_locks l "
        "JOIN pg_catalog.pg_class c ON c.oid = l.relation "
        "JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.granted AND l.pid <> pg_catalog.pg_backend_pid() AND "
        "l.database = (SELECT oid FROM pg_catalog.pg_database WHERE "
        "datname = pg_catalog.current_database()) "
        "ORDER BY a.xact_start NULLS LAST");
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        for (int i = 0; i < PQntuples(res); i++) {
            if (!mentions_word(e->statement, PQgetvalue(res, i, 2)))
                continue;
            snprintf(e->detail, sizeof e->detail,
                     "blocked by process %s (%s, transaction open for %s s), "
                     "which holds %s on \"%s\": %s",
                     PQgetvalue(res, i, 0), PQgetvalue(res, i, 3),
                     PQgetvalue(res, i, 4), PQgetvalue(res, i, 1),
                     PQgetvalue(res, i, 2), PQgetvalue(res, i, 5));
            snprintf(e->hint, sizeof e->hint,
                     transactional
                         ? "nothing of the migration was applied; end that "
                           "transaction, or retry later (lock_retries)"
                         : "the statements before this one stay applied; end "
                           "that transaction, then resume the migration "
                           "(--migrate-retry)");
            break;
        }
    }
    PQclear(res);
}

/* ---- session settings ---------------------------------------------- */

/* With a session of its own (the advisory lock held), migc sets the
 * timeouts for the session once, before the first script runs; the
 * engine restores the session's settings at the end.  Through a
 * transaction pooler (MIGC_NO_SESSION_LOCK) nothing is set on the
 * session: each transaction sets its own, LOCAL (local_settings). */
static migc_result prepare_session(migc__ctx *ctx)
{
    if ((ctx->opt.flags & MIGC_NO_SESSION_LOCK) || ctx->session_prepared)
        return MIGC_OK;
    static const char sql[] = "SELECT pg_catalog.set_config($1, $2, false)";
    char v[24];
    if (ctx->opt.lock_timeout_ms > 0) {
        snprintf(v, sizeof v, "%d", ctx->opt.lock_timeout_ms);
        const char *p[2] = {"lock_timeout", v};
        PGresult *res = migc__exec(ctx, sql, 2, p, "cannot set lock_timeout");
        if (!res)
            return ctx->err->code;
        PQclear(res);
    }
    if (ctx->opt.statement_timeout_ms > 0) {
        snprintf(v, sizeof v, "%d", ctx->opt.statement_timeout_ms);
        const char *p[2] = {"statement_timeout", v};
        PGresult *res = migc__exec(ctx, sql, 2, p,
                                   "cannot set statement_timeout");
        if (!res)
            return ctx->err->code;
        PQclear(res);
    }
    ctx->session_prepared = true;
    return MIGC_OK;
}

/* Through a pooler: the transaction's own settings, as one query -- NOTICEs
 * quiet (they would reach the connection's notice processor, which prints)
 * and the timeouts. */
typedef struct local_settings {
    char sql[256];
    char values[2][24];
    const char *params[2];
    int nparams;
} local_settings;

static void local_settings_init(migc__ctx *ctx, local_settings *l)
{
    int n = snprintf(l->sql, sizeof l->sql,
                     "SELECT pg_catalog.set_config('client_min_messages', "
                     "'error', true)");
    l->nparams = 0;
    if (ctx->opt.lock_timeout_ms > 0) {
        snprintf(l->values[l->nparams], 24, "%d", ctx->opt.lock_timeout_ms);
        l->params[l->nparams] = l->values[l->nparams];
        l->nparams++;
        n += snprintf(l->sql + n, sizeof l->sql - (size_t)n,
                      ", pg_catalog.set_config('lock_timeout', $%d, true)",
                      l->nparams);
    }
    if (ctx->opt.statement_timeout_ms > 0) {
        snprintf(l->values[l->nparams], 24, "%d",
                 ctx->opt.statement_timeout_ms);
        l->params[l->nparams] = l->values[l->nparams];
        l->nparams++;
        snprintf(l->sql + n, sizeof l->sql - (size_t)n,
                 ", pg_catalog.set_config('statement_timeout', $%d, true)",
                 l->nparams);
    }
}

/* ---- history rows ------------------------------------------------------ */

/* The parameters of one history row, and the name of its migration for
 * messages. */
typedef struct row_params {
    char version[24];
    char up[2 * MIGC_SHA256_SIZE + 1];
    char chain[2 * MIGC_SHA256_SIZE + 1];
    char done[16];
    char total[16];
    char count[24];
    const char *values[11];
    char what[256];
} row_params;

static void fill_row(row_params *p, const migc__ctx *ctx,
                     const migc_migration *m, bool transactional,
                     const char *state, uint32_t done, int64_t applied_count)
{
    snprintf(p->version, sizeof p->version, "%lld", (long long)m->version);
    migc__hex(m->up.sha256, MIGC_SHA256_SIZE, p->up);
    migc__hex(m->chain_sha256, MIGC_SHA256_SIZE, p->chain);
    snprintf(p->done, sizeof p->done, "%u", (unsigned)done);
    snprintf(p->total, sizeof p->total, "%u", (unsigned)m->up.statement_count);
    snprintf(p->count, sizeof p->count, "%lld", (long long)applied_count);
    p->values[0] = migc__text(ctx, m->id);
    p->values[1] = p->version;
    p->values[2] = migc__text(ctx, m->name);
    p->values[3] = p->up;
    p->values[4] = p->chain;
    p->values[5] = transactional ? "true" : "false";
    p->values[6] = state;
    p->values[7] = p->done;
    p->values[8] = p->total;
    p->values[9] = p->count;
    p->values[10] = MIGC_VERSION_STRING;
    snprintf(p->what, sizeof p->what, "migration %s (%s)", p->values[0],
             migc__text(ctx, m->up.file));
}

/* The history row insert for ctx's table (malloc'd; NULL when out of
 * memory).  `duration` is the SQL of its duration_ms. */
static char *insert_sql(migc__ctx *ctx, const char *duration)
{
    return migc__printf(
        "INSERT INTO %s (id, version, name, up_sha256, chain_sha256, "
        "transactional, state, statements_done, statements_total, "
        "applied_count, migc_version, duration_ms) VALUES ($1, $2::bigint, "
        "$3, decode($4, 'hex'), decode($5, 'hex'), $6::boolean, $7, "
        "$8::integer, $9::integer, $10::bigint, $11, %s)",
        ctx->table, duration);
}

/* Milliseconds since the transaction began, in SQL. */
#define SINCE_BEGIN \
    "(extract(epoch FROM clock_timestamp() - now()) * 1000)::bigint"

/* A migration may SET ROLE to one that cannot write the history: the
 * bookkeeping runs as the session's own user (for this transaction only;
 * the session's settings are restored at the end anyway). */
static const char RESET_ROLE[] =
    "SELECT pg_catalog.set_config('role', 'none', true)";

/* The same, and the transaction's COMMIT does not wait for its WAL to
 * reach the disk: a migration applied on its own is one of a run, and the
 * engine makes the whole run durable with one synchronous commit at the
 * end (migc__make_durable).  A server crash in between loses whole
 * transactions only -- each migration with its history row -- which the
 * next start applies again. */
static const char RESET_ROLE_ASYNC[] =
    "SELECT pg_catalog.set_config('role', 'none', true), "
    "pg_catalog.set_config('synchronous_commit', 'off', true)";

/* Runs one command outside the pipeline; on failure fills ctx->err. */
static migc_result exec_params(migc__ctx *ctx, const char *sql, int n,
                               const char *const *params, const char *what)
{
    PGresult *res = migc__exec(ctx, sql, n, params, what);
    if (!res)
        return ctx->err->code;
    PQclear(res);
    return MIGC_OK;
}

/* ---- transactions ------------------------------------------------------ */

/* Appends the statements of script s of m to q at n; returns the new n. */
static size_t add_statements(const migc__ctx *ctx, query *q, size_t n,
                             const migc_migration *m, const migc_script *s,
                             const char *what)
{
    for (uint32_t i = 0; i < s->statement_count; i++) {
        const migc_statement *st = migc__statement(ctx->cat, s, i);
        if (!(st->flags & MIGC_STMT_SKIP))
            q[n++] = (query){migc__statement_sql(ctx->cat, s, st), 0, NULL,
                             (long)i, m, s, what};
    }
    return n;
}

/* Runs the pipelined queries q[0, n) -- which begin with BEGIN, or with
 * the pending COMMIT and BEGIN -- and COMMITs once all their replies are
 * in (COMMIT in the pipeline would let the server commit on its own after
 * the migrating process died).  With `defer` (the catalog index of the
 * migration run, which began at `since`), the COMMIT is left pending
 * instead.  Rolls back on failure; a failure at COMMIT (a deferred
 * constraint) is blamed on `last`'s migration, or on `last->what` alone
 * when it has none. */
static migc_result run_and_commit(migc__ctx *ctx, const query *q, size_t n,
                                  const query *last, const size_t *defer,
                                  double since)
{
    migc_result rc = run_pipeline(ctx, q, n);
    /* a COMMIT sent whose reply never came: its outcome is unknown, and
     * the failure that cut the pipeline short is the one reported */
    ctx->commit_pending = false;
    if (rc == MIGC_OK && defer) {
        ctx->commit_pending = true;
        ctx->pending = *defer;
        ctx->pending_ms = migc__now_ms() - since;
        migc__copy(ctx->pending_what, sizeof ctx->pending_what, last->what);
        return MIGC_OK;
    }
    if (rc == MIGC_OK) {
        /* A deferred constraint fails here: the migration's own error. */
        PGresult *res = PQexec(ctx->conn, "COMMIT");
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            rc = migc__fail_server(ctx, MIGC_EMIGRATION, res,
                                   "%s failed at COMMIT", last->what);
            if (last->m)
                migc__locate(ctx, last->m, last->s, UINT32_MAX, NULL);
        }
        PQclear(res);
    }
    if (rc != MIGC_OK) {
        rollback(ctx);
        describe_lock_blocker(ctx, true);
    }
    return rc;
}

/* Runs script s of migration m in one transaction, pipelined: the pending
 * COMMIT of the migration before, BEGIN, the transaction's settings
 * (through a pooler), `before`, every statement, `after`; COMMIT once
 * their replies are in, or, with `defer` (m's catalog index), left
 * pending. */
static migc_result run_in_transaction(migc__ctx *ctx, const migc_migration *m,
                                      const migc_script *s, const query *before,
                                      size_t nbefore, const query *after,
                                      size_t nafter, const char *what,
                                      const size_t *defer)
{
    double since = migc__now_ms();
    migc_result rc = prepare_session(ctx);
    if (rc != MIGC_OK)
        return rc;
    query *q = calloc(s->statement_count + nbefore + nafter + 3, sizeof *q);
    if (!q)
        return migc__fail(ctx, MIGC_EINVAL, "out of memory");
    local_settings local;
    size_t n = 0;
    if (ctx->commit_pending)
        q[n++] = (query){"COMMIT", 0, NULL, TAG_PENDING_COMMIT, NULL, NULL,
                         ctx->pending_what};
    q[n++] = (query){"BEGIN", 0, NULL, TAG_BOOKKEEPING, m, s, what};
    if (ctx->opt.flags & MIGC_NO_SESSION_LOCK) {
        local_settings_init(ctx, &local);
        q[n++] = (query){local.sql, local.nparams, local.params,
                         TAG_BOOKKEEPING, m, s, what};
    }
    for (size_t k = 0; k < nbefore; k++)
        q[n++] = before[k];
    n = add_statements(ctx, q, n, m, s, what);
    for (size_t k = 0; k < nafter; k++)
        q[n++] = after[k];
    rc = run_and_commit(ctx, q, n, &q[n - 1], defer, since);
    free(q);
    return rc;
}

/* The history row goes in first through a pooler, where a concurrent
 * applier got past the (missing) session lock: it then waits on the row's
 * key and fails with unique_violation instead of applying twice.  With the
 * session lock no one else applies, and the row goes in last, with the
 * migration's duration. */
static migc_result apply_transactional(migc__ctx *ctx,
                                       const migc_migration *m)
{
    bool row_first = ctx->opt.flags & MIGC_NO_SESSION_LOCK;
    char *insert = insert_sql(ctx, row_first ? "NULL" : SINCE_BEGIN);
    if (!insert)
        return migc__fail(ctx, MIGC_EINVAL, "out of memory");
    char update[512];
    snprintf(update, sizeof update,
             "UPDATE %s SET duration_ms = " SINCE_BEGIN " WHERE id = $1",
             ctx->table);
    row_params rp;
    fill_row(&rp, ctx, m, true, "applied", m->up.statement_count,
             ctx->applied_rows + 1);
    const query row = {insert, 11, rp.values, TAG_BOOKKEEPING, m, &m->up,
                       rp.what};
    const query after[2] = {
        {RESET_ROLE_ASYNC, 0, NULL, TAG_BOOKKEEPING, m, &m->up, rp.what},
        row_first ? (query){update, 1, rp.values, TAG_BOOKKEEPING, m, &m->up,
                            rp.what}
                  : row};
    /* Through a pooler each migration commits before the next one reads
     * the history again; with the session lock, its COMMIT goes with the
     * next migration's pipeline. */
    size_t index = (size_t)(m - ctx->cat->migrations);
    migc_result rc = run_in_transaction(ctx, m, &m->up, &row, row_first, after,
                                        2, rp.what, row_first ? NULL : &index);
    free(insert);
    if (rc == MIGC_OK) {
        ctx->applied_rows++;
        ctx->async_commits++;
    }
    return rc;
}

migc_result migc__make_durable(migc__ctx *ctx)
{
    migc_result rc = migc__commit_pending(ctx);
    if (rc != MIGC_OK)
        return rc;
    if (ctx->async_commits == 0 || migc__connection_lost(ctx->conn))
        return MIGC_OK;
    /* A transaction that writes commits with a WAL flush (and, with
     * synchronous replication, a standby's confirmation) up to its commit
     * record, which lies after every earlier commit. */
    return migc__history_sync(ctx);
}

/* A growing text, for the array parameters of a group's history rows. */
typedef struct text {
    char *data;
    size_t len, cap;
    bool failed;
} text;

static void text_put(text *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *p = realloc(t->data, cap);
        if (!p) {
            t->failed = true;
            return;
        }
        t->data = p;
        t->cap = cap;
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

/* Appends value as an element of a PostgreSQL array literal: quoted, with
 * backslashes before quotes and backslashes. */
static void text_put_element(text *t, const char *value, bool first)
{
    text_put(t, first ? "{\"" : ",\"", 2);
    for (const char *p = value; *p; p++) {
        if (*p == '"' || *p == '\\')
            text_put(t, "\\", 1);
        text_put(t, p, 1);
    }
    text_put(t, "\"", 1);
}

/* The history rows of a group, as one INSERT of arrays (unnest): one
 * statement for the whole group instead of one per migration. */
#define GROUP_COLUMNS 7
static const char GROUP_INSERT[] =
    "INSERT INTO %s (id, version, name, up_sha256, chain_sha256, "
    "transactional, state, statements_done, statements_total, applied_count, "
    "migc_version) SELECT u.id, u.version, u.name, decode(u.up, 'hex'), "
    "decode(u.chain, 'hex'), true, 'applied', u.total, u.total, u.applied, "
    "$8 FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], "
    "$5::text[], $6::integer[], $7::bigint[]) AS u(id, version, name, up, "
    "chain, total, applied)";

migc_result migc__apply_group(migc__ctx *ctx, const size_t *which,
                              size_t count)
{
    if (count == 0)
        return MIGC_OK;
    migc_result rc = migc__commit_pending(ctx);
    if (rc == MIGC_OK)
        rc = prepare_session(ctx);
    if (rc != MIGC_OK)
        return rc;
    const migc_catalog *cat = ctx->cat;
    /* Through a pooler each row goes in first (apply_transactional); with
     * the session lock, all of them at the end, in one statement. */
    bool row_first = ctx->opt.flags & MIGC_NO_SESSION_LOCK;
    size_t total = 0;
    for (size_t k = 0; k < count; k++)
        total += cat->migrations[which[k]].up.statement_count;
    query *q = calloc(total + 2 * count + 4, sizeof *q);
    row_params *rows = calloc(count, sizeof *rows);
    char *insert = insert_sql(ctx, "NULL");
    size_t group_len = sizeof GROUP_INSERT + strlen(ctx->table);
    char *group_insert = malloc(group_len);
    text arrays[GROUP_COLUMNS];
    memset(arrays, 0, sizeof arrays);
    if (!q || !rows || !insert || !group_insert) {
        free(q);
        free(rows);
        free(insert);
        free(group_insert);
        return migc__fail(ctx, MIGC_EINVAL, "out of memory");
    }
    snprintf(group_insert, group_len, GROUP_INSERT, ctx->table);
    const migc_migration *first = &cat->migrations[which[0]];
    const migc_migration *last = &cat->migrations[which[count - 1]];
    char group_what[160];
    snprintf(group_what, sizeof group_what, "the group of migrations %s to %s",
             migc__text(ctx, first->id), migc__text(ctx, last->id));
    double start = migc__now_ms();
    local_settings local;
    size_t n = 0;
    q[n++] = (query){"BEGIN", 0, NULL, TAG_BOOKKEEPING, NULL, NULL, group_what};
    if (row_first) {
        local_settings_init(ctx, &local);
        q[n++] = (query){local.sql, local.nparams, local.params,
                         TAG_BOOKKEEPING, NULL, NULL, group_what};
    }
    for (size_t k = 0; k < count; k++) {
        const migc_migration *m = &cat->migrations[which[k]];
        row_params *rp = &rows[k];
        fill_row(rp, ctx, m, true, "applied", m->up.statement_count,
                 ctx->applied_rows + 1 + (int64_t)k);
        if (row_first && k > 0) /* as the session's user, see RESET_ROLE */
            q[n++] = (query){RESET_ROLE, 0, NULL, TAG_BOOKKEEPING, m, &m->up,
                             rp->what};
        if (row_first)
            q[n++] = (query){insert, 11, rp->values, TAG_BOOKKEEPING, m,
                             &m->up, rp->what};
        n = add_statements(ctx, q, n, m, &m->up, rp->what);
        /* id, version, name, up, chain, statements, applied_count */
        static const int columns[GROUP_COLUMNS] = {0, 1, 2, 3, 4, 8, 9};
        for (int c = 0; c < GROUP_COLUMNS; c++)
            text_put_element(&arrays[c], rp->values[columns[c]], k == 0);
    }
    const char *group_params[GROUP_COLUMNS + 1];
    bool arrays_ok = true;
    for (int c = 0; c < GROUP_COLUMNS; c++) {
        text_put(&arrays[c], "}", 1);
        arrays_ok = arrays_ok && !arrays[c].failed;
        group_params[c] = arrays[c].data;
    }
    group_params[GROUP_COLUMNS] = MIGC_VERSION_STRING;
    q[n++] = (query){RESET_ROLE, 0, NULL, TAG_BOOKKEEPING, NULL, NULL,
                     group_what};
    if (!row_first)
        q[n++] = (query){group_insert, GROUP_COLUMNS + 1, group_params,
                         TAG_BOOKKEEPING, NULL, NULL, group_what};
    if (!arrays_ok) {
        rc = migc__fail(ctx, MIGC_EINVAL, "out of memory");
    } else {
        /* At COMMIT, a deferred constraint cannot be traced to one
         * migration. */
        const query group =
            count == 1 ? (query){NULL, 0, NULL, TAG_BOOKKEEPING, first,
                                 &first->up, rows[0].what}
                       : (query){NULL, 0, NULL, TAG_BOOKKEEPING, NULL, NULL,
                                 group_what};
        rc = run_and_commit(ctx, q, n, &group, NULL, 0);
    }
    if (rc == MIGC_OK) {
        ctx->applied_rows += (int64_t)count;
        migc__log(ctx,
                  "migc: applied %zu migration%s (%s to %s) in one "
                  "transaction in %.1f ms",
                  count, count == 1 ? "" : "s", migc__text(ctx, first->id),
                  migc__text(ctx, last->id), migc__now_ms() - start);
    }
    for (int c = 0; c < GROUP_COLUMNS; c++)
        free(arrays[c].data);
    free(q);
    free(rows);
    free(insert);
    free(group_insert);
    return rc;
}

/* Records the failure of a non-transactional migration in its row. */
static void record_failure(migc__ctx *ctx, const migc_migration *m,
                           uint32_t done)
{
    if (migc__connection_lost(ctx->conn))
        return; /* the row stays "running": the next start reports it */
    migc_error saved = *ctx->err;
    char sql[512], d[16];
    snprintf(sql, sizeof sql,
             "UPDATE %s SET state = 'failed', statements_done = $2::integer, "
             "error = $3 WHERE id = $1",
             ctx->table);
    snprintf(d, sizeof d, "%u", (unsigned)done);
    const char *params[3] = {migc__text(ctx, m->id), d, saved.message};
    exec_params(ctx, sql, 3, params, "cannot record the failure");
    *ctx->err = saved;
}

/* Refuses a statement-by-statement down script without the session lock
 * (an up script claims its history row instead). */
static migc_result needs_session_lock(migc__ctx *ctx, const migc_migration *m,
                                      const migc_script *s)
{
    if (!(ctx->opt.flags & MIGC_NO_SESSION_LOCK))
        return MIGC_OK;
    migc__fail(ctx, MIGC_EINVAL,
               "migration %s (%s) runs without a transaction, which needs "
               "the session lock that MIGC_NO_SESSION_LOCK turns off; run it "
               "through a direct connection",
               migc__text(ctx, m->id), migc__text(ctx, s->file));
    migc__locate(ctx, m, s, UINT32_MAX, NULL);
    return MIGC_EINVAL;
}

/* True when, in an as-written script, statement `at` runs inside the
 * transaction migc opened or the script's own BEGIN reopened. */
static bool inside_transaction_at(const migc__ctx *ctx, const migc_script *s,
                                  uint32_t at)
{
    bool in_txn = true;
    for (uint32_t i = 0; i < at && i < s->statement_count; i++) {
        uint32_t f = migc__statement(ctx->cat, s, i)->flags;
        if (f & MIGC_STMT_SKIP)
            continue;
        if (f & MIGC_STMT_BEGIN)
            in_txn = true;
        else if (f & MIGC_STMT_COMMIT)
            in_txn = false;
    }
    return in_txn;
}

static migc_result apply_statementwise(migc__ctx *ctx,
                                       const migc_migration *m, bool resume,
                                       uint32_t resume_from)
{
    const migc_script *s = &m->up;
    bool as_written = s->transaction == MIGC_TRANSACTION_AS_WRITTEN;
    bool pooled = ctx->opt.flags & MIGC_NO_SESSION_LOCK;
    migc_result rc = prepare_session(ctx);
    if (rc != MIGC_OK)
        return rc;
    char sql[1024];
    if (!resume) {
        char *insert = insert_sql(ctx, "NULL");
        if (!insert)
            return migc__fail(ctx, MIGC_EINVAL, "out of memory");
        row_params rp;
        fill_row(&rp, ctx, m, false, "running", 0, ctx->applied_rows + 1);
        rc = exec_params(ctx, insert, 11, rp.values,
                         "cannot record the migration's start");
        free(insert);
        /* Through a pooler the committed row is the claim: a process that
         * finds it taken lets the engine read the history again. */
        if (rc != MIGC_OK && pooled &&
            strcmp(ctx->err->sqlstate, "23505") == 0) {
            ctx->raced = true;
            return MIGC_OK;
        }
    } else {
        /* Claimed only if no one else is running it (through a pooler,
         * two retrying processes may meet here). */
        snprintf(sql, sizeof sql,
                 "UPDATE %s SET state = 'running', error = NULL, "
                 "applied_at = now() WHERE id = $1%s",
                 ctx->table, pooled ? " AND state <> 'running'" : "");
        const char *params[1] = {migc__text(ctx, m->id)};
        PGresult *res = migc__exec(ctx, sql, 1, params,
                                   "cannot record the migration's restart");
        if (!res)
            return ctx->err->code;
        bool claimed = strcmp(PQcmdTuples(res), "1") == 0;
        PQclear(res);
        if (!claimed && pooled) {
            ctx->raced = true;
            return MIGC_OK;
        }
    }
    double start = migc__now_ms();
    /* As written: migc opens the transaction the script's own COMMIT ends;
     * a resumed script reopens it only where it was open. */
    if (as_written && inside_transaction_at(ctx, s, resume_from) &&
        (rc = exec_params(ctx, "BEGIN", 0, NULL, "cannot begin")) != MIGC_OK)
        return rc;
    snprintf(sql, sizeof sql,
             "UPDATE %s SET statements_done = $2::integer WHERE id = $1",
             ctx->table);
    for (uint32_t i = resume_from; i < s->statement_count; i++) {
        const migc_statement *st = migc__statement(ctx->cat, s, i);
        if (st->flags & MIGC_STMT_SKIP)
            continue;
        PGresult *res = PQexec(ctx->conn, migc__statement_sql(ctx->cat, s, st));
        ExecStatusType status = PQresultStatus(res);
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
            migc__fail_server(ctx, MIGC_EMIGRATION, res,
                              "migration %s (%s) failed at statement %u of %u",
                              migc__text(ctx, m->id), migc__text(ctx, s->file),
                              (unsigned)i + 1, (unsigned)s->statement_count);
            migc__locate(ctx, m, s, i, res);
            PQclear(res);
            rollback(ctx);
            describe_lock_blocker(ctx, false);
            record_failure(ctx, m, i);
            return ctx->err->code;
        }
        PQclear(res);
        char done[16];
        snprintf(done, sizeof done, "%u", (unsigned)i + 1);
        const char *params[2] = {migc__text(ctx, m->id), done};
        if ((rc = exec_params(ctx, sql, 2, params,
                              "cannot record progress")) != MIGC_OK)
            return rc;
    }
    char ms[32], total[16];
    snprintf(ms, sizeof ms, "%lld", (long long)(migc__now_ms() - start));
    snprintf(total, sizeof total, "%u", (unsigned)s->statement_count);
    snprintf(sql, sizeof sql,
             "UPDATE %s SET state = 'applied', statements_done = $2::integer, "
             "duration_ms = $3::bigint, error = NULL WHERE id = $1",
             ctx->table);
    const char *params[3] = {migc__text(ctx, m->id), total, ms};
    if ((rc = exec_params(ctx, sql, 3, params,
                          "cannot record the migration's end")) != MIGC_OK)
        return rc;
    if (as_written &&
        (rc = exec_params(ctx, "COMMIT", 0, NULL, "cannot commit")) != MIGC_OK)
        return rc;
    ctx->applied_rows++;
    return MIGC_OK;
}

migc_result migc__apply_up(migc__ctx *ctx, size_t i, bool resume,
                           uint32_t done)
{
    const migc_migration *m = &ctx->cat->migrations[i];
    double start = migc__now_ms();
    bool single = m->up.transaction == MIGC_TRANSACTION_SINGLE;
    migc_result rc = single ? MIGC_OK : migc__commit_pending(ctx);
    if (rc != MIGC_OK)
        return rc;
    rc = single ? apply_transactional(ctx, m)
                : apply_statementwise(ctx, m, resume, done);
    /* A failure of migc's own bookkeeping still names the migration. */
    if (rc != MIGC_OK && !ctx->err->file)
        migc__locate(ctx, m, &m->up, UINT32_MAX, NULL);
    /* A migration whose COMMIT is pending is logged once it commits. */
    if (rc == MIGC_OK && !ctx->raced &&
        !(ctx->commit_pending && ctx->pending == i))
        log_applied(ctx, m, migc__now_ms() - start);
    return rc;
}

migc_result migc__commit_pending(migc__ctx *ctx)
{
    if (!ctx->commit_pending)
        return MIGC_OK;
    PGresult *res = PQexec(ctx->conn, "COMMIT");
    migc_result rc = MIGC_OK;
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
        pending_committed(ctx);
    } else {
        rc = pending_failed(ctx, res);
        rollback(ctx);
    }
    PQclear(res);
    return rc;
}

migc_result migc__apply_down(migc__ctx *ctx, size_t i)
{
    const migc_migration *m = &ctx->cat->migrations[i];
    const migc_script *s = &m->down;
    double start = migc__now_ms();
    migc_result rc = migc__commit_pending(ctx);
    if (rc != MIGC_OK)
        return rc;
    char del[512];
    snprintf(del, sizeof del, "DELETE FROM %s WHERE id = $1", ctx->table);
    const char *params[1] = {migc__text(ctx, m->id)};
    char what[256];
    snprintf(what, sizeof what, "the revert of migration %s (%s)",
             migc__text(ctx, m->id), migc__text(ctx, s->file));
    if (s->transaction == MIGC_TRANSACTION_SINGLE) {
        const query before[1] = {
            {del, 1, params, TAG_BOOKKEEPING, m, s, what}};
        rc = run_in_transaction(ctx, m, s, before, 1, NULL, 0, what, NULL);
    } else {
        char mark[512], total[16];
        snprintf(mark, sizeof mark,
                 "UPDATE %s SET state = 'reverting', error = NULL, "
                 "statements_done = 0, statements_total = $2::integer "
                 "WHERE id = $1",
                 ctx->table);
        snprintf(total, sizeof total, "%u", (unsigned)s->statement_count);
        const char *mark_params[2] = {migc__text(ctx, m->id), total};
        rc = needs_session_lock(ctx, m, s);
        if (rc == MIGC_OK)
            rc = prepare_session(ctx);
        if (rc == MIGC_OK)
            rc = exec_params(ctx, mark, 2, mark_params,
                             "cannot record the revert");
        bool as_written = s->transaction == MIGC_TRANSACTION_AS_WRITTEN;
        if (rc == MIGC_OK && as_written)
            rc = exec_params(ctx, "BEGIN", 0, NULL, "cannot begin");
        for (uint32_t k = 0; rc == MIGC_OK && k < s->statement_count; k++) {
            const migc_statement *st = migc__statement(ctx->cat, s, k);
            if (st->flags & MIGC_STMT_SKIP)
                continue;
            PGresult *res =
                PQexec(ctx->conn, migc__statement_sql(ctx->cat, s, st));
            ExecStatusType status = PQresultStatus(res);
            if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
                rc = migc__fail_server(ctx, MIGC_EMIGRATION, res,
                                       "%s failed", what);
                migc__locate(ctx, m, s, k, res);
                rollback(ctx);
                char sql[512], done[16];
                snprintf(sql, sizeof sql,
                         "UPDATE %s SET error = $2, statements_done = "
                         "$3::integer WHERE id = $1",
                         ctx->table);
                snprintf(done, sizeof done, "%u", (unsigned)k);
                migc_error saved = *ctx->err;
                const char *p2[3] = {migc__text(ctx, m->id), saved.message,
                                     done};
                if (!migc__connection_lost(ctx->conn))
                    exec_params(ctx, sql, 3, p2, "cannot record the failure");
                *ctx->err = saved;
            }
            PQclear(res);
        }
        if (rc == MIGC_OK)
            rc = exec_params(ctx, del, 1, params, "cannot record the revert");
        if (rc == MIGC_OK && as_written)
            rc = exec_params(ctx, "COMMIT", 0, NULL, "cannot commit");
    }
    if (rc == MIGC_OK)
        migc__log(ctx, "migc: reverted %s %s in %.1f ms (%s)",
                  migc__text(ctx, m->id), migc__text(ctx, m->name),
                  migc__now_ms() - start, migc__text(ctx, s->file));
    return rc;
}
