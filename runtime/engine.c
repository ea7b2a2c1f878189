/*
 * engine.c -- up, down and force: verification and orchestration.
 *
 * migc_up first tries the check of a start with nothing to do (history.c:
 * the head, then the newest history row).  When that does
 * not show the database up to date, it takes the slow path: refuse a
 * read-only server, take the advisory lock, create the history table if
 * needed, read the whole history and verify it against the catalog
 * (edited, missing, interrupted, out-of-order and ahead), then apply what is
 * pending in order, and finally restore any session setting the migrations
 * changed, so that nothing leaks into the service's later queries.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- session settings -------------------------------------------------- */

typedef struct setting {
    char *name;
    char *value;
} setting;

typedef struct settings {
    setting *items;
    size_t count;
    bool taken;            /* the snapshot was read: restore it at the end */
    int client_encoding;   /* to restore, or -1 */
} settings;

static void settings_free(settings *s)
{
    for (size_t i = 0; i < s->count; i++) {
        free(s->items[i].name);
        free(s->items[i].value);
    }
    free(s->items);
    s->items = NULL;
    s->count = 0;
}

static bool settings_read(PGconn *conn, settings *s)
{
    /* pg_settings hides session_authorization and role: read them
     * explicitly, first, in the order they must be restored. */
    PGresult *res = PQexec(
        conn, "SELECT 'session_authorization', "
              "pg_catalog.current_setting('session_authorization') "
              "UNION ALL SELECT 'role', pg_catalog.current_setting('role') "
              "UNION ALL (SELECT name, setting FROM pg_catalog.pg_settings "
              "WHERE source = 'session' AND name NOT IN "
              "('session_authorization', 'role') ORDER BY name)");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        return false;
    }
    int n = PQntuples(res);
    s->items = calloc((size_t)(n ? n : 1), sizeof *s->items);
    for (int i = 0; s->items && i < n; i++) {
        s->items[i].name = strdup(PQgetvalue(res, i, 0));
        s->items[i].value = strdup(PQgetvalue(res, i, 1));
        s->count++;
    }
    PQclear(res);
    return s->items != NULL;
}

static const char *find_setting(const settings *s, const char *name)
{
    for (size_t i = 0; i < s->count; i++)
        if (strcmp(s->items[i].name, name) == 0)
            return s->items[i].value;
    return NULL;
}

static void run_quietly(PGconn *conn, const char *sql, int n,
                        const char *const *params)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    PQclear(res);
}

/* Puts back every session setting a migration changed or added. */
static void settings_restore(PGconn *conn, const settings *before)
{
    if (PQstatus(conn) != CONNECTION_OK ||
        PQtransactionStatus(conn) != PQTRANS_IDLE)
        return;
    settings now = {NULL, 0, false, -1};
    if (!settings_read(conn, &now))
        return;
    for (size_t i = 0; i < now.count; i++) {
        const char *name = now.items[i].name;
        const char *old = find_setting(before, name);
        if (old && strcmp(old, now.items[i].value) == 0)
            continue;
        if (old) {
            const char *params[2] = {name, old};
            run_quietly(conn, "SELECT pg_catalog.set_config($1, $2, false)", 2,
                        params);
        } else {
            char *q = PQescapeIdentifier(conn, name, strlen(name));
            if (q) {
                char sql[300];
                snprintf(sql, sizeof sql, "RESET %s", q);
                PQfreemem(q);
                PGresult *res = PQexec(conn, sql);
                PQclear(res);
            }
        }
    }
    for (size_t i = 0; i < before->count; i++) {
        if (find_setting(&now, before->items[i].name))
            continue;
        const char *params[2] = {before->items[i].name, before->items[i].value};
        run_quietly(conn, "SELECT pg_catalog.set_config($1, $2, false)", 2,
                    params);
    }
    settings_free(&now);
}

/* Everything the slow path changes on the session and undoes at the end. */
static migc_result session_begin(migc__ctx *ctx, settings *saved)
{
    memset(saved, 0, sizeof *saved);
    saved->client_encoding = -1;
    PGresult *res = migc__exec(ctx, "SELECT pg_catalog.pg_is_in_recovery(), "
                               "pg_catalog.current_setting('transaction_read_only')",
                               0, NULL, "cannot query the server");
    if (!res)
        return ctx->err->code;
    bool standby = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    bool read_only = strcmp(PQgetvalue(res, 0, 1), "on") == 0;
    PQclear(res);
    if (standby || read_only) {
        migc__fail(ctx, MIGC_EREADONLY,
                   "the server is %s: migrations run on the primary",
                   standby ? "a standby (in recovery)" : "read-only");
        migc__copy(ctx->err->hint, sizeof ctx->err->hint,
                   "connect to the primary, e.g. with "
                   "target_session_attrs=read-write in the connection string");
        return MIGC_EREADONLY;
    }
    /* Behind a transaction-pooling pooler (no session lock) there is no
     * session to protect or restore: each statement may run on another
     * server connection, shared with other clients. */
    if (ctx->opt.flags & MIGC_NO_SESSION_LOCK)
        return MIGC_OK;
    if (!settings_read(ctx->conn, saved))
        return migc__fail_server(ctx, MIGC_ECONNECTION, NULL,
                                 "cannot read the session settings");
    saved->taken = true;
    /* The catalog is UTF-8 and was split with standard-conforming strings. */
    int utf8 = pg_char_to_encoding("UTF8");
    if (PQclientEncoding(ctx->conn) != utf8) {
        saved->client_encoding = PQclientEncoding(ctx->conn);
        PQsetClientEncoding(ctx->conn, "UTF8");
    }
    /* NOTICEs (such as "... does not exist, skipping") would go to the
     * connection's notice processor, which prints them by default: the
     * runtime does not print.  Restored with the other settings. */
    PGresult *quiet = PQexec(ctx->conn, "SET client_min_messages = error");
    PQclear(quiet);
    const char *scs = PQparameterStatus(ctx->conn, "standard_conforming_strings");
    if (scs && strcmp(scs, "on") != 0) {
        PGresult *r = PQexec(ctx->conn, "SET standard_conforming_strings = on");
        PQclear(r);
    }
    return MIGC_OK;
}

static void session_end(migc__ctx *ctx, settings *saved)
{
    if (saved->taken)
        settings_restore(ctx->conn, saved);
    if (saved->client_encoding >= 0 && !migc__connection_lost(ctx->conn))
        PQsetClientEncoding(ctx->conn,
                            pg_encoding_to_char(saved->client_encoding));
    settings_free(saved);
}

/* ---- verification ------------------------------------------------------ */

/* What the history says about the catalog. */
typedef struct verdict {
    size_t newest_applied;   /* catalog index + 1 of the newest applied; 0 none */
    size_t ahead;            /* rows newer than the catalog's newest */
    const migc__row *first_ahead;
    /* Through a pooler: a non-transactional migration another process may
     * be applying right now (its row is running), and its catalog index. */
    const migc__row *busy;
    size_t busy_index;
} verdict;


/* Reports an interrupted or failed non-transactional migration (or
 * revert). */
static migc_result interrupted(migc__ctx *ctx, const migc__row *r, size_t i)
{
    const migc_migration *m = &ctx->cat->migrations[i];
    bool reverting = strcmp(r->state, "reverting") == 0;
    const migc_script *s = reverting ? &m->down : &m->up;
    bool failed = strcmp(r->state, "failed") == 0 || (reverting && r->error);
    if (r->done >= s->statement_count) {
        /* Every statement ran; only the final bookkeeping is missing. */
        migc__fail(ctx, MIGC_EINTERRUPTED,
                   "migration %s (%s) did not finish %s: all %u statements "
                   "completed, but it was not recorded as %s",
                   migc__text(ctx, m->id), migc__text(ctx, s->file),
                   reverting ? "reverting" : "applying",
                   (unsigned)s->statement_count,
                   reverting ? "reverted" : "applied");
        migc__locate(ctx, m, s, UINT32_MAX, NULL);
    } else {
        migc__fail(ctx, MIGC_EINTERRUPTED,
                   "migration %s (%s) did not finish %s: statement %u of %u "
                   "%s",
                   migc__text(ctx, m->id), migc__text(ctx, s->file),
                   reverting ? "reverting" : "applying", (unsigned)r->done + 1,
                   (unsigned)s->statement_count,
                   failed ? "failed" : "was interrupted");
        migc__locate(ctx, m, s, r->done, NULL);
    }
    char done[64];
    if (r->done == 0)
        snprintf(done, sizeof done, "no statement completed");
    else
        snprintf(done, sizeof done, "statements 1 to %u completed",
                 (unsigned)r->done);
    if (r->error)
        migc__copy(ctx->err->detail, sizeof ctx->err->detail, r->error);
    if (reverting)
        snprintf(ctx->err->hint, sizeof ctx->err->hint,
                 "%s. Finish the revert by hand, then record the state: "
                 "--migrate-force to the version before %lld (reverted), or "
                 "--migrate-force=%lld (still applied)",
                 done, (long long)m->version, (long long)m->version);
    else if (r->done >= s->statement_count)
        snprintf(ctx->err->hint, sizeof ctx->err->hint,
                 "%s. --migrate-retry (MIGC_RETRY_INTERRUPTED) records it "
                 "applied without running anything again, as does "
                 "--migrate-force=%lld",
                 done, (long long)m->version);
    else
        snprintf(ctx->err->hint, sizeof ctx->err->hint,
                 "%s. Check the database, then either resume at statement "
                 "%u (--migrate-retry, MIGC_RETRY_INTERRUPTED), or record the "
                 "migration as applied (--migrate-force=%lld) or as not "
                 "applied (--migrate-force to the version before it)",
                 done, (unsigned)r->done + 1, (long long)m->version);
    return MIGC_EINTERRUPTED;
}

/* Checks every history row against the catalog.  Returns MIGC_OK, or the
 * first problem (edited, missing, interrupted unless retrying). */
static migc_result verify(migc__ctx *ctx, migc__history *h, verdict *v,
                          bool for_up)
{
    const migc_catalog *cat = ctx->cat;
    memset(v, 0, sizeof *v);
    migc_result moved = migc__history_check_versions(ctx, h);
    if (moved != MIGC_OK)
        return moved;
    int64_t last_version = cat->count ? cat->migrations[cat->count - 1].version
                                      : INT64_MIN;
    for (size_t k = 0; k < h->count; k++) {
        const migc__row *r = &h->rows[k];
        size_t i = migc__catalog_index(cat, r->version, r->id);
        if (i == cat->count) {
            if (r->version > last_version) {
                if (!v->first_ahead)
                    v->first_ahead = r;
                v->ahead++;
                continue;
            }
            if (ctx->opt.flags & MIGC_ALLOW_MISSING)
                continue;
            migc__fail(ctx, MIGC_EMISSING,
                       "migration %s (%s) is applied in the database but is "
                       "not in this program's catalog",
                       r->id, r->name);
            snprintf(ctx->err->hint, sizeof ctx->err->hint,
                     "restore the migration file, or allow it with "
                     "MIGC_ALLOW_MISSING");
            ctx->err->version = r->version;
            migc__copy(ctx->err->id, sizeof ctx->err->id, r->id);
            return MIGC_EMISSING;
        }
        const migc_migration *m = &cat->migrations[i];
        if (memcmp(r->up_sha256, m->up.sha256, MIGC_SHA256_SIZE) != 0) {
            char now[13], then[13];
            migc__hex(m->up.sha256, 6, now);
            migc__hex(r->up_sha256, 6, then);
            migc__fail(ctx, MIGC_EEDITED,
                       "migration %s (%s) was edited after it was applied: "
                       "its SHA-256 is %s..., the database recorded %s...",
                       migc__text(ctx, m->id), migc__text(ctx, m->up.file), now,
                       then);
            snprintf(ctx->err->hint, sizeof ctx->err->hint,
                     "never edit an applied migration: restore it and write "
                     "a new migration for the change");
            ctx->err->version = m->version;
            migc__copy(ctx->err->id, sizeof ctx->err->id,
                       migc__text(ctx, m->id));
            ctx->err->file = migc__text(ctx, m->up.file);
            return MIGC_EEDITED;
        }
        if (strcmp(r->state, "applied") != 0) {
            /* Without the session lock a running row may be another
             * process's migration in progress: the caller waits for it. */
            if (for_up && (ctx->opt.flags & MIGC_NO_SESSION_LOCK) &&
                strcmp(r->state, "running") == 0) {
                if (!v->busy) {
                    v->busy = r;
                    v->busy_index = i;
                }
                continue;
            }
            bool resumable = for_up && strcmp(r->state, "reverting") != 0 &&
                             (ctx->opt.flags & MIGC_RETRY_INTERRUPTED);
            if (!resumable)
                return interrupted(ctx, r, i);
        }
        if (i + 1 > v->newest_applied)
            v->newest_applied = i + 1;
    }
    return MIGC_OK;
}

/* At the end of a run: the newest row's applied_count (a migration
 * applied out of order, or by a concurrent applier, may have left it
 * behind) with a synchronous commit that makes the run durable, then the
 * head (history.c).  A failure of the first is left to
 * migc__make_durable, which tries again and reports it (down and force
 * commit synchronously anyway). */
static void refresh_head(migc__ctx *ctx)
{
    migc_error before = *ctx->err;
    if (migc__history_sync(ctx) == MIGC_OK)
        migc__history_set_head(ctx);
    else
        *ctx->err = before;
}

/* ---- up ---------------------------------------------------------------- */

/* True when catalog migration m, which has no history row, is counted by
 * the next applied row: that row's applied_count says more rows were
 * applied before it than the history has -- m's row was deleted.  (A
 * migration genuinely new and older than applied ones is not counted.) */
static bool row_deleted(const migc__ctx *ctx, const migc__history *h,
                        const migc_migration *m)
{
    int64_t before = 0;
    for (size_t k = 0; k < h->count; k++) {
        const migc__row *r = &h->rows[k];
        bool after = migc__order(r->version, r->id, m->version,
                                 migc__text(ctx, m->id)) > 0;
        if (after && strcmp(r->state, "applied") == 0)
            return r->applied_count > before + 1;
        if (strcmp(r->state, "applied") == 0)
            before++;
    }
    return false;
}

/* Applies catalog migrations which[0, count): one on its own (resuming
 * it at statement `done` when `resume`), or, `as_group`, all in one
 * transaction.
 * A transactional attempt that hit lock_timeout is tried again
 * (lock_retries).  Through a pooler, when a concurrent applier inserted a
 * history row first, *again is set and MIGC_OK returned: the pass must
 * read the history again. */
static migc_result apply_some(migc__ctx *ctx, const size_t *which,
                              size_t count, bool grouped, bool resume,
                              uint32_t done, bool *again)
{
    const migc_migration *m = &ctx->cat->migrations[which[0]];
    bool transactional =
        grouped || m->up.transaction == MIGC_TRANSACTION_SINGLE;
    ctx->commit_failed = false;
    migc_result rc = grouped ? migc__apply_group(ctx, which, count)
                             : migc__apply_up(ctx, which[0], resume, done);
    for (int attempt = 0;
         rc == MIGC_EMIGRATION && attempt < ctx->opt.lock_retries &&
         transactional && !ctx->commit_failed &&
         strcmp(ctx->err->sqlstate, "55P03") == 0;
         attempt++) {
        int wait = 500 << (attempt < 5 ? attempt : 5);
        if (wait > 10000)
            wait = 10000;
        migc__log(ctx,
                  "migc: migration %s hit lock_timeout (%s); "
                  "trying again in %d ms",
                  ctx->err->id[0] ? ctx->err->id : migc__text(ctx, m->id),
                  ctx->err->detail[0] ? ctx->err->detail : "a lock is held",
                  wait);
        migc__sleep_ms(wait);
        rc = grouped ? migc__apply_group(ctx, which, count)
                     : migc__apply_up(ctx, which[0], false, 0);
    }
    if (ctx->raced) {
        /* A non-transactional migration claimed by another process. */
        ctx->raced = false;
        *again = true;
        return MIGC_OK;
    }
    if (rc != MIGC_OK && !resume && transactional &&
        (ctx->opt.flags & MIGC_NO_SESSION_LOCK) &&
        strcmp(ctx->err->sqlstate, "23505") == 0 &&
        ctx->err->statement_index == 0) {
        /* Another process inserted a history row first. */
        *again = true;
        rc = MIGC_OK;
    }
    return rc;
}

/* Through a pooler, another process is applying a non-transactional
 * migration (v->busy): waits a moment and asks for another pass (*again),
 * for at most lock_wait_ms; then reports the migration as interrupted --
 * its process may have died. */
static migc_result wait_for_busy(migc__ctx *ctx, const verdict *v, bool *again)
{
    const migc_migration *m = &ctx->cat->migrations[v->busy_index];
    double now = migc__now_ms();
    if (ctx->busy_since == 0) {
        ctx->busy_since = now;
        migc__log(ctx,
                  "migc: waiting for another process applying migration "
                  "%s (%s), at statement %u of %u",
                  migc__text(ctx, m->id), migc__text(ctx, m->up.file),
                  (unsigned)v->busy->done + 1, (unsigned)m->up.statement_count);
    }
    if (ctx->opt.lock_wait_ms >= 0 &&
        now - ctx->busy_since >= ctx->opt.lock_wait_ms) {
        migc_result rc = interrupted(ctx, v->busy, v->busy_index);
        char detail[sizeof ctx->err->detail];
        snprintf(detail, sizeof detail,
                 "it is still running after %d ms: another process is "
                 "applying it, or was when it died",
                 ctx->opt.lock_wait_ms);
        migc__copy(ctx->err->detail, sizeof ctx->err->detail, detail);
        return rc;
    }
    migc__sleep_ms(100);
    ctx->waiting = true;
    *again = true;
    return MIGC_OK;
}

/* One verification-and-apply pass.  *again is set when a concurrent
 * applier (through a pooler) won a race and the pass must be repeated. */
static migc_result up_pass(migc__ctx *ctx, bool *again)
{
    *again = false;
    migc__history h;
    bool missing_table;
    migc_result rc = migc__history_read(ctx, &h, &missing_table);
    if (rc != MIGC_OK)
        return rc;
    verdict v;
    rc = verify(ctx, &h, &v, true);
    if (rc != MIGC_OK) {
        migc__history_free(&h);
        return rc;
    }
    const migc_catalog *cat = ctx->cat;
    if (v.ahead && (ctx->opt.flags & MIGC_REFUSE_AHEAD)) {
        migc__fail(ctx, MIGC_EAHEAD,
                   "the database has migration %s, newer than this program's "
                   "newest (%s)",
                   v.first_ahead->id,
                   cat->count
                       ? migc__text(ctx, cat->migrations[cat->count - 1].id)
                       : "none");
        migc__history_free(&h);
        return MIGC_EAHEAD;
    }
    if (v.busy) {
        rc = wait_for_busy(ctx, &v, again);
        migc__history_free(&h);
        return rc;
    }
    ctx->applied_rows = 0;
    for (size_t k = 0; k < h.count; k++)
        if (strcmp(h.rows[k].state, "applied") == 0)
            ctx->applied_rows++;
    /* MIGC_GROUPED: runs of pending transactional migrations, applied
     * together when a migration that runs alone (or the end) is reached. */
    size_t *group = NULL, grouped = 0;
    if ((ctx->opt.flags & MIGC_GROUPED) &&
        !(group = malloc((cat->count ? cat->count : 1) * sizeof *group))) {
        migc__history_free(&h);
        return migc__fail(ctx, MIGC_EINVAL, "out of memory");
    }
    size_t applied = 0;
    for (size_t i = 0; i < cat->count && rc == MIGC_OK; i++) {
        const migc_migration *m = &cat->migrations[i];
        const migc__row *r =
            migc__history_find(&h, m->version, migc__text(ctx, m->id));
        if (ctx->opt.target_version && m->version > ctx->opt.target_version)
            break;
        if (r && strcmp(r->state, "applied") == 0)
            continue;
        if (!r && (i + 1 < v.newest_applied || v.ahead) &&
            row_deleted(ctx, &h, m)) {
            migc__fail(ctx, MIGC_EHISTORY,
                       "migration %s (%s) has no history row, but the history "
                       "shows it was applied: its row was deleted from the "
                       "history table",
                       migc__text(ctx, m->id), migc__text(ctx, m->up.file));
            /* Forcing to the newest applied version records every
             * migration up to it -- this one too -- and forgets none. */
            long long newest =
                v.newest_applied
                    ? (long long)cat->migrations[v.newest_applied - 1].version
                    : (long long)m->version;
            snprintf(ctx->err->hint, sizeof ctx->err->hint,
                     "check that its changes are in the database, then "
                     "record it again: --migrate-force=%lld (the newest "
                     "applied version) records every migration up to %lld "
                     "as applied",
                     newest, newest);
            ctx->err->version = m->version;
            migc__copy(ctx->err->id, sizeof ctx->err->id,
                       migc__text(ctx, m->id));
            ctx->err->file = migc__text(ctx, m->up.file);
            rc = MIGC_EHISTORY;
            break;
        }
        if (!r && (i + 1 < v.newest_applied || v.ahead) &&
            !(ctx->opt.flags & MIGC_ALLOW_OUT_OF_ORDER)) {
            const migc_migration *newer =
                v.newest_applied ? &cat->migrations[v.newest_applied - 1] : NULL;
            migc__fail(ctx, MIGC_EOUTOFORDER,
                       "migration %s (%s) is pending, but the newer migration "
                       "%s is already applied",
                       migc__text(ctx, m->id), migc__text(ctx, m->up.file),
                       newer ? migc__text(ctx, newer->id) : v.first_ahead->id);
            snprintf(ctx->err->hint, sizeof ctx->err->hint,
                     "renumber the migration after %s, or allow it with "
                     "MIGC_ALLOW_OUT_OF_ORDER",
                     newer ? migc__text(ctx, newer->id) : v.first_ahead->id);
            ctx->err->version = m->version;
            migc__copy(ctx->err->id, sizeof ctx->err->id,
                       migc__text(ctx, m->id));
            ctx->err->file = migc__text(ctx, m->up.file);
            rc = MIGC_EOUTOFORDER;
            break;
        }
        if (group && !r && m->up.transaction == MIGC_TRANSACTION_SINGLE) {
            group[grouped++] = i;
            continue;
        }
        if (grouped) {
            rc = apply_some(ctx, group, grouped, true, false, 0, again);
            applied += grouped;
            grouped = 0;
            if (rc != MIGC_OK || *again)
                break;
        }
        rc = apply_some(ctx, &i, 1, false, r != NULL, r ? r->done : 0,
                        again);
        if (*again)
            break;
        if (rc == MIGC_OK)
            applied++;
    }
    /* The last migration's COMMIT, before anything else is read or
     * reported -- after a failure found by the client too, for the
     * migration before it did succeed. */
    migc_result committed = migc__commit_pending(ctx);
    if (committed != MIGC_OK)
        rc = committed;
    if (rc == MIGC_OK && !*again && grouped) {
        rc = apply_some(ctx, group, grouped, true, false, 0, again);
        applied += grouped;
    }
    free(group);
    if (rc == MIGC_OK && !*again) {
        if (v.ahead)
            migc__log(ctx, "migc: the database is ahead of this program (it "
                           "has %zu newer migration%s, up to %s): nothing to do",
                      v.ahead, v.ahead == 1 ? "" : "s", v.first_ahead->id);
        else if (applied == 0)
            migc__log(ctx, "migc: database is up to date");
        refresh_head(ctx);
    }
    migc__history_free(&h);
    return rc;
}

migc_result migc_up(PGconn *conn, const migc_catalog *catalog,
                    const migc_options *options, migc_error *err)
{
    migc__ctx ctx;
    migc_result rc = migc__ctx_init(&ctx, conn, catalog, options, false, err);
    if (rc == MIGC_OK && migc__up_to_date(&ctx)) {
        migc__log(&ctx, "migc: database is up to date");
        migc__ctx_free(&ctx);
        return MIGC_OK;
    }
    if (rc == MIGC_OK)
        rc = migc__check_catalog(&ctx);
    settings saved = {NULL, 0, false, -1};
    if (rc == MIGC_OK)
        rc = session_begin(&ctx, &saved);
    if (rc == MIGC_OK)
        rc = migc__lock(&ctx);
    if (rc == MIGC_OK)
        rc = migc__history_ensure(&ctx);
    /* Each repeated pass follows a migration another applier completed, so
     * there are at most as many as migrations -- besides the passes that
     * wait for another process (bounded by lock_wait_ms). */
    for (size_t races = 0; rc == MIGC_OK && races <= catalog->count;) {
        bool again;
        ctx.waiting = false;
        rc = up_pass(&ctx, &again);
        if (!again)
            break;
        if (!ctx.waiting)
            races++;
    }
    /* Before the lock goes and before success is reported -- and after a
     * failure too, for what did commit. */
    if (rc == MIGC_OK) {
        rc = migc__make_durable(&ctx);
    } else {
        migc_error failure = *ctx.err;
        migc__make_durable(&ctx);
        *ctx.err = failure;
    }
    rc = migc__unlock(&ctx, rc);
    session_end(&ctx, &saved);
    migc__ctx_free(&ctx);
    return rc;
}

/* ---- down -------------------------------------------------------------- */

/* Reverts applied catalog migrations newest first while keep(i) is false;
 * `limit` bounds how many (< 0: no bound). */
static migc_result down_common(PGconn *conn, const migc_catalog *catalog,
                               const migc_options *options, int limit,
                               int64_t keep_up_to, bool by_version,
                               migc_error *err)
{
    migc__ctx ctx;
    migc_result rc = migc__ctx_init(&ctx, conn, catalog, options, true, err);
    settings saved = {NULL, 0, false, -1};
    if (rc == MIGC_OK)
        rc = session_begin(&ctx, &saved);
    if (rc == MIGC_OK)
        rc = migc__lock(&ctx);
    migc__history h = {NULL, 0};
    bool missing_table = false;
    if (rc == MIGC_OK)
        rc = migc__history_read(&ctx, &h, &missing_table);
    verdict v;
    if (rc == MIGC_OK)
        rc = verify(&ctx, &h, &v, false);
    if (rc == MIGC_OK && v.ahead) {
        rc = migc__fail(&ctx, MIGC_EAHEAD,
                        "the database has migration %s, which this program "
                        "does not know: revert it with the program that "
                        "applied it first",
                        v.first_ahead->id);
    }
    /* Choose, then check every down exists before reverting anything. */
    size_t *chosen = calloc(catalog->count ? catalog->count : 1, sizeof *chosen);
    size_t n = 0;
    if (!chosen && rc == MIGC_OK)
        rc = migc__fail(&ctx, MIGC_EINVAL, "out of memory");
    for (size_t i = catalog->count; rc == MIGC_OK && i-- > 0;) {
        const migc_migration *m = &catalog->migrations[i];
        if (!migc__history_find(&h, m->version, migc__text(&ctx, m->id)))
            continue;
        if (by_version ? m->version <= keep_up_to
                       : (limit >= 0 && n >= (size_t)limit))
            break;
        if (m->down.sql == MIGC_NO_TEXT) {
            rc = migc__fail(&ctx, MIGC_ENODOWN,
                            "migration %s (%s) has no down script, so it "
                            "cannot be reverted",
                            migc__text(&ctx, m->id),
                            migc__text(&ctx, m->up.file));
            ctx.err->version = m->version;
            migc__copy(ctx.err->id, sizeof ctx.err->id,
                       migc__text(&ctx, m->id));
            break;
        }
        chosen[n++] = i;
    }
    for (size_t k = 0; rc == MIGC_OK && k < n; k++)
        rc = migc__apply_down(&ctx, chosen[k]);
    if (rc == MIGC_OK && n == 0)
        migc__log(&ctx, "migc: nothing to revert");
    if (rc == MIGC_OK && n > 0)
        refresh_head(&ctx);
    free(chosen);
    migc__history_free(&h);
    rc = migc__unlock(&ctx, rc);
    session_end(&ctx, &saved);
    migc__ctx_free(&ctx);
    return rc;
}

migc_result migc_down(PGconn *conn, const migc_catalog *catalog,
                      const migc_options *options, int steps,
                      migc_error *err)
{
    return down_common(conn, catalog, options, steps, 0, false, err);
}

migc_result migc_down_to(PGconn *conn, const migc_catalog *catalog,
                         const migc_options *options, int64_t version,
                         migc_error *err)
{
    if (version != 0) {
        bool known = false;
        for (size_t i = 0; catalog && i < catalog->count; i++)
            known = known || catalog->migrations[i].version == version;
        if (!known) {
            migc__ctx ctx;
            migc__ctx_init(&ctx, conn, catalog, options, true, err);
            migc__ctx_free(&ctx);
            return migc__fail(&ctx, MIGC_ENOTFOUND,
                              "version %lld is not in the catalog",
                              (long long)version);
        }
    }
    return down_common(conn, catalog, options, -1, version, true, err);
}

/* ---- force ------------------------------------------------------------- */

static migc_result force_rows(migc__ctx *ctx, int64_t version)
{
    const migc_catalog *cat = ctx->cat;
    char sql[1024];
    /* Forget everything after the version. */
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE version > $1::bigint "
                              "RETURNING id", ctx->table);
    char v[24];
    snprintf(v, sizeof v, "%lld", (long long)version);
    const char *p1[1] = {v};
    PGresult *res = migc__exec(ctx, sql, 1, p1, "cannot force the history");
    if (!res)
        return ctx->err->code;
    for (int i = 0; i < PQntuples(res); i++)
        migc__log(ctx, "migc: FORCED: forgot migration %s (its SQL was not "
                       "reverted)", PQgetvalue(res, i, 0));
    PQclear(res);
    /* Record everything up to it as applied, without running it. */
    snprintf(sql, sizeof sql,
             "INSERT INTO %s AS h (id, version, name, up_sha256, chain_sha256, "
             "transactional, state, statements_done, statements_total, "
             "applied_count, migc_version, error) VALUES ($1, $2::bigint, $3, "
             "decode($4, 'hex'), decode($5, 'hex'), $6::boolean, 'applied', "
             "$7::integer, $7::integer, 0, $8, 'forced') "
             "ON CONFLICT (id) DO UPDATE SET state = 'applied', "
             "up_sha256 = excluded.up_sha256, chain_sha256 = "
             "excluded.chain_sha256, statements_done = excluded.statements_done, "
             "error = 'forced' WHERE h.state <> 'applied' OR h.up_sha256 <> "
             "excluded.up_sha256 OR h.chain_sha256 <> excluded.chain_sha256 "
             "RETURNING id",
             ctx->table);
    for (size_t i = 0; i < cat->count; i++) {
        const migc_migration *m = &cat->migrations[i];
        if (m->version > version)
            break;
        char ver[24], up[65], chain[65], total[16];
        migc__hex(m->up.sha256, MIGC_SHA256_SIZE, up);
        migc__hex(m->chain_sha256, MIGC_SHA256_SIZE, chain);
        snprintf(ver, sizeof ver, "%lld", (long long)m->version);
        snprintf(total, sizeof total, "%u", (unsigned)m->up.statement_count);
        const char *params[8] = {
            migc__text(ctx, m->id), ver, migc__text(ctx, m->name), up, chain,
            m->up.transaction == MIGC_TRANSACTION_SINGLE ? "true" : "false",
            total, MIGC_VERSION_STRING};
        res = migc__exec(ctx, sql, 8, params, "cannot force the history");
        if (!res)
            return ctx->err->code;
        if (PQntuples(res) > 0)
            migc__log(ctx,
                      "migc: FORCED: recorded migration %s (%s) as "
                      "applied without running it",
                      migc__text(ctx, m->id), migc__text(ctx, m->up.file));
        PQclear(res);
    }
    return MIGC_OK;
}

migc_result migc_force(PGconn *conn, const migc_catalog *catalog,
                       const migc_options *options, int64_t version,
                       migc_error *err)
{
    migc__ctx ctx;
    migc_result rc = migc__ctx_init(&ctx, conn, catalog, options, true, err);
    if (rc == MIGC_OK && version != 0) {
        bool known = false;
        for (size_t i = 0; i < catalog->count; i++)
            known = known || catalog->migrations[i].version == version;
        if (!known)
            rc = migc__fail(&ctx, MIGC_ENOTFOUND,
                            "version %lld is not in the catalog",
                            (long long)version);
    }
    settings saved = {NULL, 0, false, -1};
    if (rc == MIGC_OK)
        rc = session_begin(&ctx, &saved);
    if (rc == MIGC_OK)
        rc = migc__lock(&ctx);
    if (rc == MIGC_OK)
        rc = migc__history_ensure(&ctx);
    if (rc == MIGC_OK) {
        PGresult *res = PQexec(conn, "BEGIN");
        PQclear(res);
        rc = force_rows(&ctx, version);
        res = PQexec(conn, rc == MIGC_OK ? "COMMIT" : "ROLLBACK");
        PQclear(res);
    }
    if (rc == MIGC_OK) {
        refresh_head(&ctx);
        migc__log(&ctx, "migc: FORCED the database to version %lld",
                  (long long)version);
    }
    rc = migc__unlock(&ctx, rc);
    session_end(&ctx, &saved);
    migc__ctx_free(&ctx);
    return rc;
}
