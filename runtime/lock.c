/*
 * lock.c -- one migrator at a time, without deadlocks.
 *
 * Replicas that start together serialize on a session-level advisory lock
 * keyed by the history table's name.  A waiter polls pg_try_advisory_lock
 * instead of blocking in pg_advisory_lock: a blocked waiter would sit in an
 * open statement, and CREATE INDEX CONCURRENTLY run by the lock holder
 * waits for every open transaction to finish -- a deadlock.  The lock is
 * always released, and the release is checked: a lock that was not held
 * at release means the session changed under us (a pooler), which is
 * reported.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Polling interval while another process holds the lock. */
#define POLL_MS 50

/* Runs pg_try_advisory_lock or pg_advisory_unlock; returns 1 (true),
 * 0 (false) or -1 (error, reported). */
static int lock_call(migc__ctx *ctx, const char *function)
{
    char sql[96], key[32];
    snprintf(sql, sizeof sql, "SELECT pg_catalog.%s($1::bigint)", function);
    snprintf(key, sizeof key, "%lld", (long long)ctx->lock_key);
    const char *params[1] = {key};
    PGresult *res = migc__exec(ctx, sql, 1, params, "cannot take the "
                               "migration lock");
    if (!res)
        return -1;
    int v = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return v;
}

migc_result migc__lock(migc__ctx *ctx)
{
    if (ctx->opt.flags & MIGC_NO_SESSION_LOCK)
        return MIGC_OK;
    double start = migc__now_ms();
    bool told = false;
    for (;;) {
        int got = lock_call(ctx, "pg_try_advisory_lock");
        if (got < 0)
            return ctx->err->code;
        if (got) {
            ctx->locked = true;
            return MIGC_OK;
        }
        double waited = migc__now_ms() - start;
        if (!told) {
            migc__log(ctx, "migc: waiting for another process that is "
                           "migrating this database");
            told = true;
        }
        if (ctx->opt.lock_wait_ms > 0 && waited >= ctx->opt.lock_wait_ms)
            return migc__fail(ctx, MIGC_ELOCKED,
                              "another process held the migration lock of "
                              "%s for more than %d ms",
                              ctx->table, ctx->opt.lock_wait_ms);
        migc__sleep_ms(POLL_MS);
    }
}

migc_result migc__unlock(migc__ctx *ctx, migc_result so_far)
{
    if (!ctx->locked)
        return so_far;
    ctx->locked = false;
    if (migc__connection_lost(ctx->conn))
        return so_far; /* the server released it with the session */
    migc_error saved = *ctx->err;
    int released = lock_call(ctx, "pg_advisory_unlock");
    if (so_far != MIGC_OK) {
        *ctx->err = saved; /* the first error is the one that matters */
        return so_far;
    }
    if (released < 0)
        return ctx->err->code;
    if (!released)
        return migc__fail(ctx, MIGC_EPROTOCOL,
                          "the migration lock was not held at release: the "
                          "session changed (a transaction-pooling "
                          "connection pooler? use MIGC_NO_SESSION_LOCK)");
    return MIGC_OK;
}
