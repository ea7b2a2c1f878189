/*
 * apply.c -- running one migration's script and recording it.
 *
 * A transactional script runs in two round trips: BEGIN, the history row
 * and every statement are pipelined (libpq pipeline mode, the extended
 * protocol, values as parameters) and their replies read at once; COMMIT
 * is sent only then.  Were COMMIT in the pipeline, a migrating process
 * killed mid-migration would leave the server to finish and commit the
 * migration on its own: the service that asked for it never knew it
 * succeeded, and a deploy that kills a stuck start expects it undone.
 * The history row is inserted first, so a concurrent applier that got past
 * the advisory lock (a pooler) waits on the primary key and then fails
 * with unique_violation instead of applying twice.  Statements go to libpq
 * straight from the catalog's static data: each is NUL-terminated in place.
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
enum { TAG_BOOKKEEPING = -1 };

typedef struct query {
    const char *sql;
    int nparams;
    const char *const *params;
    long tag;           /* statement index, or TAG_BOOKKEEPING */
} query;

/* Sends queries[from, to), syncs and reads every reply.  On the first
 * error, fills ctx->err (located in script s of m when the failing query is
 * a statement) and returns its code. */
static migc_result run_batch(migc__ctx *ctx, const query *q, size_t n,
                             const migc_migration *m, const migc_script *s,
                             const char *what)
{
    for (size_t i = 0; i < n; i++) {
        if (!PQsendQueryParams(ctx->conn, q[i].sql, q[i].nparams, NULL,
                               q[i].params, NULL, NULL, 0))
            return migc__fail_server(ctx, MIGC_ECONNECTION, NULL,
                                     "cannot send %s", what);
    }
    if (!PQpipelineSync(ctx->conn))
        return migc__fail_server(ctx, MIGC_ECONNECTION, NULL,
                                 "cannot send %s", what);
    migc_result rc = MIGC_OK;
    size_t i = 0;
    for (;;) {
        PGresult *res = PQgetResult(ctx->conn);
        if (!res) {
            if (migc__connection_lost(ctx->conn)) {
                if (rc == MIGC_OK)
                    rc = migc__fail_server(ctx, MIGC_ECONNECTION, NULL,
                                           "the connection was lost during %s",
                                           what);
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
        if (st == PGRES_FATAL_ERROR && rc == MIGC_OK && i < n) {
            bool statement = q[i].tag >= 0;
            rc = migc__fail_server(ctx, statement ? MIGC_EMIGRATION
                                                  : MIGC_EHISTORY,
                                   res, "%s failed", what);
            if (statement && m && s)
                migc__locate(ctx, m, s, (uint32_t)q[i].tag, res);
            else if (m)
                migc__locate(ctx, m, s, UINT32_MAX, NULL);
        }
        PQclear(res);
    }
}

/* Runs queries through the pipeline in batches.  Returns MIGC_OK or the
 * first failure. */
static migc_result run_pipeline(migc__ctx *ctx, const query *q, size_t n,
                                const migc_migration *m,
                                const migc_script *s, const char *what)
{
    if (!PQenterPipelineMode(ctx->conn))
        return migc__fail_server(ctx, MIGC_ECONNECTION, NULL,
                                 "cannot enter pipeline mode");
    migc_result rc = MIGC_OK;
    for (size_t at = 0; at < n && rc == MIGC_OK; at += PIPELINE_BATCH) {
        size_t k = n - at < PIPELINE_BATCH ? n - at : PIPELINE_BATCH;
        rc = run_batch(ctx, q + at, k, m, s, what);
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
static void describe_lock_blocker(migc__ctx *ctx)
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
                     "nothing of the migration was applied; end that "
                     "transaction, or retry later (lock_retries)");
            break;
        }
    }
    PQclear(res);
}

/* The parameters of a history row. */
typedef struct row_params {
    char version[24];
    char up[2 * MIGC_SHA256_SIZE + 1];
    char chain[2 * MIGC_SHA256_SIZE + 1];
    char done[16];
    char total[16];
    const char *values[10];
} row_params;

static void fill_row(row_params *p, const migc_migration *m, bool transactional,
                     const char *state, uint32_t done)
{
    snprintf(p->version, sizeof p->version, "%lld", (long long)m->version);
    migc__hex(m->up.sha256, MIGC_SHA256_SIZE, p->up);
    migc__hex(m->chain_sha256, MIGC_SHA256_SIZE, p->chain);
    snprintf(p->done, sizeof p->done, "%u", (unsigned)done);
    snprintf(p->total, sizeof p->total, "%u", (unsigned)m->up.statement_count);
    p->values[0] = m->id;
    p->values[1] = p->version;
    p->values[2] = m->name;
    p->values[3] = p->up;
    p->values[4] = p->chain;
    p->values[5] = transactional ? "true" : "false";
    p->values[6] = state;
    p->values[7] = p->done;
    p->values[8] = p->total;
    p->values[9] = MIGC_VERSION_STRING;
}

#define INSERT_SQL                                                         \
    "INSERT INTO %s (id, version, name, up_sha256, chain_sha256, "           \
    "transactional, state, statements_done, statements_total, "              \
    "applied_count, migc_version) VALUES ($1, $2::bigint, $3, "              \
    "decode($4, 'hex'), decode($5, 'hex'), $6::boolean, $7, $8::integer, "   \
    "$9::integer, (SELECT count(*) + 1 FROM %s WHERE state = 'applied'), "   \
    "$10)"

/* The history row insert for ctx's table (malloc'd; NULL when out of
 * memory). */
static char *insert_sql(migc__ctx *ctx)
{
    size_t n = sizeof INSERT_SQL + 2 * strlen(ctx->table);
    char *sql = malloc(n);
    if (sql)
        snprintf(sql, n, INSERT_SQL, ctx->table, ctx->table);
    return sql;
}

/* "SET LOCAL"-style timeouts for one transaction, as pipelined queries. */
static size_t add_timeouts(migc__ctx *ctx, query *q, char values[2][24],
                           const char *const params[2][2])
{
    size_t n = 0;
    static const char sql[] = "SELECT pg_catalog.set_config($1, $2, true)";
    if (ctx->opt.lock_timeout_ms > 0) {
        snprintf(values[0], 24, "%d", ctx->opt.lock_timeout_ms);
        q[n++] = (query){sql, 2, params[0], TAG_BOOKKEEPING};
    }
    if (ctx->opt.statement_timeout_ms > 0) {
        snprintf(values[1], 24, "%d", ctx->opt.statement_timeout_ms);
        q[n++] = (query){sql, 2, params[1], TAG_BOOKKEEPING};
    }
    return n;
}

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

/* Runs script s of migration m in one transaction: BEGIN, the timeouts,
 * the `before` bookkeeping, every statement, the `after` bookkeeping --
 * pipelined -- and COMMIT once all their replies are in.  Rolls back on
 * failure. */
static migc_result run_in_transaction(migc__ctx *ctx, const migc_migration *m,
                                      const migc_script *s,
                                      const query *before, size_t nbefore,
                                      const query *after, size_t nafter,
                                      const char *what)
{
    query *q = calloc(s->statement_count + nbefore + nafter + 4, sizeof *q);
    if (!q)
        return migc__fail(ctx, MIGC_EINVAL, "out of memory");
    char tv[2][24];
    const char *const tparams[2][2] = {{"lock_timeout", tv[0]},
                                       {"statement_timeout", tv[1]}};
    size_t n = 0;
    q[n++] = (query){"BEGIN", 0, NULL, TAG_BOOKKEEPING};
    /* NOTICEs would reach the connection's notice processor, which prints
     * by default; quiet for this transaction only (a session-level SET
     * would land on any server connection behind a pooler). */
    q[n++] = (query){"SELECT pg_catalog.set_config('client_min_messages', "
                     "'error', true)",
                     0, NULL, TAG_BOOKKEEPING};
    n += add_timeouts(ctx, q + n, tv, tparams);
    for (size_t k = 0; k < nbefore; k++)
        q[n++] = before[k];
    for (uint32_t i = 0; i < s->statement_count; i++) {
        const migc_statement *st = &s->statements[i];
        if (!(st->flags & MIGC_STMT_SKIP))
            q[n++] = (query){s->sql + st->offset, 0, NULL, (long)i};
    }
    for (size_t k = 0; k < nafter; k++)
        q[n++] = after[k];
    migc_result rc = run_pipeline(ctx, q, n, m, s, what);
    if (rc == MIGC_OK) {
        /* A deferred constraint fails here: the migration's own error. */
        PGresult *res = PQexec(ctx->conn, "COMMIT");
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            rc = migc__fail_server(ctx, MIGC_EMIGRATION, res,
                                   "%s failed at COMMIT", what);
            migc__locate(ctx, m, s, UINT32_MAX, NULL);
        }
        PQclear(res);
    }
    if (rc != MIGC_OK) {
        rollback(ctx);
        describe_lock_blocker(ctx);
    }
    free(q);
    return rc;
}

static migc_result apply_transactional(migc__ctx *ctx,
                                       const migc_migration *m)
{
    const migc_script *s = &m->up;
    char *insert = insert_sql(ctx);
    if (!insert)
        return migc__fail(ctx, MIGC_EINVAL, "out of memory");
    char update[512];
    snprintf(update, sizeof update,
             "UPDATE %s SET duration_ms = (extract(epoch FROM "
             "clock_timestamp() - applied_at) * 1000)::bigint WHERE id = $1",
             ctx->table);
    row_params rp;
    fill_row(&rp, m, true, "applied", s->statement_count);
    /* The history row first: a concurrent applier waits on its key. */
    const query before[1] = {{insert, 10, rp.values, TAG_BOOKKEEPING}};
    /* A migration may SET ROLE to one that cannot write the history: do
     * the bookkeeping as the session's own user (for this transaction
     * only; the session's settings are restored afterwards anyway). */
    const query after[2] = {
        {"SELECT pg_catalog.set_config('role', 'none', true)", 0, NULL,
         TAG_BOOKKEEPING},
        {update, 1, rp.values, TAG_BOOKKEEPING}};
    char what[256];
    snprintf(what, sizeof what, "migration %s (%s)", m->id, s->file);
    migc_result rc = run_in_transaction(ctx, m, s, before, 1, after, 2, what);
    free(insert);
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
    const char *params[3] = {m->id, d, saved.message};
    exec_params(ctx, sql, 3, params, "cannot record the failure");
    *ctx->err = saved;
}

/* Session-level timeouts for a script that runs statement by statement
 * (restored with the other session settings when the call ends). */
static migc_result set_session_timeouts(migc__ctx *ctx)
{
    static const char sql[] = "SELECT pg_catalog.set_config($1, $2, false)";
    char v[24];
    migc_result rc = MIGC_OK;
    if (ctx->opt.lock_timeout_ms > 0) {
        snprintf(v, sizeof v, "%d", ctx->opt.lock_timeout_ms);
        const char *p[2] = {"lock_timeout", v};
        rc = exec_params(ctx, sql, 2, p, "cannot set lock_timeout");
    }
    if (rc == MIGC_OK && ctx->opt.statement_timeout_ms > 0) {
        snprintf(v, sizeof v, "%d", ctx->opt.statement_timeout_ms);
        const char *p[2] = {"statement_timeout", v};
        rc = exec_params(ctx, sql, 2, p, "cannot set statement_timeout");
    }
    return rc;
}

/* Refuses a statement-by-statement script without the session lock. */
static migc_result needs_session_lock(migc__ctx *ctx, const migc_migration *m,
                                      const migc_script *s)
{
    if (!(ctx->opt.flags & MIGC_NO_SESSION_LOCK))
        return MIGC_OK;
    migc__fail(ctx, MIGC_EINVAL,
               "migration %s (%s) runs without a transaction, which needs "
               "the session lock that MIGC_NO_SESSION_LOCK turns off; run it "
               "through a direct connection",
               m->id, s->file);
    migc__locate(ctx, m, s, UINT32_MAX, NULL);
    return MIGC_EINVAL;
}

/* True when, in an as-written script, statement `at` runs inside the
 * transaction migc opened or the script's own BEGIN reopened. */
static bool inside_transaction_at(const migc_script *s, uint32_t at)
{
    bool in_txn = true;
    for (uint32_t i = 0; i < at && i < s->statement_count; i++) {
        uint32_t f = s->statements[i].flags;
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
    migc_result rc = needs_session_lock(ctx, m, s);
    if (rc == MIGC_OK)
        rc = set_session_timeouts(ctx);
    if (rc != MIGC_OK)
        return rc;
    char sql[1024];
    if (!resume) {
        char *insert = insert_sql(ctx);
        if (!insert)
            return migc__fail(ctx, MIGC_EINVAL, "out of memory");
        row_params rp;
        fill_row(&rp, m, false, "running", 0);
        rc = exec_params(ctx, insert, 10, rp.values,
                         "cannot record the migration's start");
        free(insert);
    } else {
        snprintf(sql, sizeof sql,
                 "UPDATE %s SET state = 'running', error = NULL, "
                 "applied_at = now() WHERE id = $1",
                 ctx->table);
        const char *params[1] = {m->id};
        rc = exec_params(ctx, sql, 1, params,
                         "cannot record the migration's restart");
    }
    if (rc != MIGC_OK)
        return rc;
    double start = migc__now_ms();
    /* As written: migc opens the transaction the script's own COMMIT ends;
     * a resumed script reopens it only where it was open. */
    if (as_written && inside_transaction_at(s, resume_from) &&
        (rc = exec_params(ctx, "BEGIN", 0, NULL, "cannot begin")) != MIGC_OK)
        return rc;
    snprintf(sql, sizeof sql,
             "UPDATE %s SET statements_done = $2::integer WHERE id = $1",
             ctx->table);
    for (uint32_t i = resume_from; i < s->statement_count; i++) {
        const migc_statement *st = &s->statements[i];
        if (st->flags & MIGC_STMT_SKIP)
            continue;
        PGresult *res = PQexec(ctx->conn, s->sql + st->offset);
        ExecStatusType status = PQresultStatus(res);
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
            migc__fail_server(ctx, MIGC_EMIGRATION, res,
                              "migration %s (%s) failed at statement %u of %u",
                              m->id, s->file, (unsigned)i + 1,
                              (unsigned)s->statement_count);
            migc__locate(ctx, m, s, i, res);
            PQclear(res);
            rollback(ctx);
            describe_lock_blocker(ctx);
            record_failure(ctx, m, i);
            return ctx->err->code;
        }
        PQclear(res);
        char done[16];
        snprintf(done, sizeof done, "%u", (unsigned)i + 1);
        const char *params[2] = {m->id, done};
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
    const char *params[3] = {m->id, total, ms};
    if ((rc = exec_params(ctx, sql, 3, params,
                          "cannot record the migration's end")) != MIGC_OK)
        return rc;
    if (as_written)
        return exec_params(ctx, "COMMIT", 0, NULL, "cannot commit");
    return MIGC_OK;
}

migc_result migc__apply_up(migc__ctx *ctx, size_t i, bool resume,
                           uint32_t done)
{
    const migc_migration *m = &ctx->cat->migrations[i];
    double start = migc__now_ms();
    migc_result rc = m->up.transaction == MIGC_TRANSACTION_SINGLE
                         ? apply_transactional(ctx, m)
                         : apply_statementwise(ctx, m, resume, done);
    /* A failure of migc's own bookkeeping still names the migration. */
    if (rc != MIGC_OK && !ctx->err->file)
        migc__locate(ctx, m, &m->up, UINT32_MAX, NULL);
    if (rc == MIGC_OK)
        migc__log(ctx, "migc: applied %s %s in %.1f ms (%s)", m->id, m->name,
                  migc__now_ms() - start, m->up.file);
    return rc;
}

migc_result migc__apply_down(migc__ctx *ctx, size_t i)
{
    const migc_migration *m = &ctx->cat->migrations[i];
    const migc_script *s = &m->down;
    double start = migc__now_ms();
    char del[512];
    snprintf(del, sizeof del, "DELETE FROM %s WHERE id = $1", ctx->table);
    const char *params[1] = {m->id};
    char what[256];
    snprintf(what, sizeof what, "the revert of migration %s (%s)", m->id,
             s->file);
    migc_result rc;
    if (s->transaction == MIGC_TRANSACTION_SINGLE) {
        const query before[1] = {{del, 1, params, TAG_BOOKKEEPING}};
        rc = run_in_transaction(ctx, m, s, before, 1, NULL, 0, what);
    } else {
        char mark[512], total[16];
        snprintf(mark, sizeof mark,
                 "UPDATE %s SET state = 'reverting', error = NULL, "
                 "statements_done = 0, statements_total = $2::integer "
                 "WHERE id = $1",
                 ctx->table);
        snprintf(total, sizeof total, "%u", (unsigned)s->statement_count);
        const char *mark_params[2] = {m->id, total};
        rc = needs_session_lock(ctx, m, s);
        if (rc == MIGC_OK)
            rc = set_session_timeouts(ctx);
        if (rc == MIGC_OK)
            rc = exec_params(ctx, mark, 2, mark_params,
                             "cannot record the revert");
        bool as_written = s->transaction == MIGC_TRANSACTION_AS_WRITTEN;
        if (rc == MIGC_OK && as_written)
            rc = exec_params(ctx, "BEGIN", 0, NULL, "cannot begin");
        for (uint32_t k = 0; rc == MIGC_OK && k < s->statement_count; k++) {
            const migc_statement *st = &s->statements[k];
            if (st->flags & MIGC_STMT_SKIP)
                continue;
            PGresult *res = PQexec(ctx->conn, s->sql + st->offset);
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
                const char *p2[3] = {m->id, saved.message, done};
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
        migc__log(ctx, "migc: reverted %s %s in %.1f ms (%s)", m->id, m->name,
                  migc__now_ms() - start, s->file);
    return rc;
}
