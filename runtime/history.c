/*
 * history.c -- the history table: one row per applied migration.
 *
 * Each row records a migration's id, version and name, the SHA-256 of its
 * up script and the chain hash of the catalog up to it, whether it ran in a
 * transaction, its state (applied, running, failed, reverting), how many of
 * its statements completed, when, how long, by whom and with which migc,
 * and the last error.  The table is created on first use; its schema and
 * name are options, always quoted with PQescapeIdentifier.
 *
 * A start with nothing to do reads the history's *head*: a one-value
 * sequence beside the table, owned by it, that a trigger on the table
 * clears at every change, and that a run sets again, once the history is
 * exactly what its catalog expects, to a fingerprint of that catalog.  A
 * relation of one value costs the server a fraction of what the history's
 * table and indexes do to open and plan in a new session.  When the head
 * does not match, the start reads the newest row in catalog order through
 * an index, plus the first row of a partial index of unfinished rows.
 * Neither read grows with the history.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define DEFAULT_SCHEMA "public"
#define DEFAULT_TABLE "migc_history"
#define DEFAULT_LOCK_WAIT_MS (10 * 60 * 1000)

/* Quotes an identifier with libpq; NULL on failure (after reporting). */
static char *quote_ident(migc__ctx *ctx, const char *name)
{
    char *q = PQescapeIdentifier(ctx->conn, name, strlen(name));
    if (!q)
        migc__fail_server(ctx, MIGC_EINVAL, NULL, "cannot quote identifier");
    return q;
}

/* malloc'd copy of a libpq-allocated string. */
static char *own(char *libpq_string)
{
    if (!libpq_string)
        return NULL;
    char *s = strdup(libpq_string);
    PQfreemem(libpq_string);
    return s;
}

/* PostgreSQL truncates names to 63 bytes. */
#define NAMEDATALEN_BYTES 64

/* The name of one of the history's companion objects (its indexes and
 * head): the table's name and a suffix, or -- when that would not fit in
 * 63 bytes, and truncation would make the two names collide -- the start
 * of the table's name, a hash of all of it, and the suffix. */
static void object_name(const char *table, const char *suffix, char *out)
{
    size_t t = strlen(table), s = strlen(suffix);
    if (t + s < NAMEDATALEN_BYTES) {
        memcpy(out, table, t);
        memcpy(out + t, suffix, s + 1);
        return;
    }
    size_t keep = NAMEDATALEN_BYTES - 1 - s - 9;
    /* cut at a character boundary */
    while (keep > 0 && ((unsigned char)table[keep] & 0xC0) == 0x80)
        keep--;
    uint32_t h = 2166136261u;
    for (const unsigned char *c = (const unsigned char *)table; *c; c++) {
        h ^= *c;
        h *= 16777619u;
    }
    snprintf(out, NAMEDATALEN_BYTES, "%.*s_%08x%s", (int)keep, table,
             (unsigned)h, suffix);
}

/* The quoted name of the companion object with `suffix`, malloc'd; NULL on
 * failure (reported when quoting failed). */
static char *companion(migc__ctx *ctx, const char *suffix)
{
    char name[NAMEDATALEN_BYTES];
    object_name(ctx->opt.history_table, suffix, name);
    return own(quote_ident(ctx, name));
}

/* FNV-1a of the qualified table name: the advisory lock key, so two
 * history tables in one database do not block each other. */
static int64_t lock_key(const char *schema, const char *table)
{
    uint64_t h = 14695981039346656037ull;
    const char *parts[3] = {schema, ".", table};
    for (int p = 0; p < 3; p++)
        for (const unsigned char *c = (const unsigned char *)parts[p]; *c; c++) {
            h ^= *c;
            h *= 1099511628211ull;
        }
    h ^= 0x6d696763; /* "migc" */
    return (int64_t)(h & 0x7fffffffffffffffull);
}

migc_result migc__check_catalog(migc__ctx *ctx)
{
    if (migc_catalog_check(ctx->cat) != 0)
        return migc__fail(ctx, MIGC_ECATALOG,
                          "the catalog is not a valid migc catalog of ABI %d",
                          MIGC_CATALOG_ABI);
    return MIGC_OK;
}

migc_result migc__ctx_init(migc__ctx *ctx, PGconn *conn,
                           const migc_catalog *cat, const migc_options *options,
                           bool whole_catalog, migc_error *err)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->conn = conn;
    ctx->cat = cat;
    ctx->err = err ? err : &ctx->scratch;
    memset(ctx->err, 0, sizeof *ctx->err);
    if (options)
        ctx->opt = *options;
    if (!ctx->opt.history_schema || !*ctx->opt.history_schema)
        ctx->opt.history_schema = DEFAULT_SCHEMA;
    if (!ctx->opt.history_table || !*ctx->opt.history_table)
        ctx->opt.history_table = DEFAULT_TABLE;
    if (ctx->opt.lock_wait_ms == 0)
        ctx->opt.lock_wait_ms = DEFAULT_LOCK_WAIT_MS;
    if (!conn)
        return migc__fail(ctx, MIGC_EINVAL, "no connection given");
    if (PQstatus(conn) != CONNECTION_OK)
        return migc__fail_server(ctx, MIGC_ECONNECTION, NULL,
                                 "the connection is not open");
    if (migc__catalog_shape(cat) != 0)
        return migc__fail(ctx, MIGC_ECATALOG,
                          "the catalog is not a valid migc catalog of ABI %d",
                          MIGC_CATALOG_ABI);
    if (whole_catalog && migc__check_catalog(ctx) != MIGC_OK)
        return ctx->err->code;
    if (PQtransactionStatus(conn) != PQTRANS_IDLE)
        return migc__fail(ctx, MIGC_EINVAL,
                          "the connection is inside a transaction; "
                          "migrations need an idle connection");
    ctx->schema = own(quote_ident(ctx, ctx->opt.history_schema));
    char *table = own(quote_ident(ctx, ctx->opt.history_table));
    char *head = companion(ctx, "_head");
    if (ctx->schema && table && head) {
        ctx->table = migc__printf("%s.%s", ctx->schema, table);
        ctx->head = migc__printf("%s.%s", ctx->schema, head);
    }
    bool quoted = ctx->schema && table && head;
    free(table);
    free(head);
    if (!quoted)
        return ctx->err->code;
    if (!ctx->table || !ctx->head)
        return migc__fail(ctx, MIGC_EINVAL, "out of memory");
    ctx->lock_key = lock_key(ctx->opt.history_schema, ctx->opt.history_table);
    return MIGC_OK;
}

void migc__ctx_free(migc__ctx *ctx)
{
    free(ctx->table);
    free(ctx->schema);
    free(ctx->head);
    ctx->table = ctx->schema = ctx->head = NULL;
}

PGresult *migc__exec(migc__ctx *ctx, const char *sql, int nparams,
                     const char *const *params, const char *what)
{
    PGresult *res = PQexecParams(ctx->conn, sql, nparams, NULL, params, NULL,
                                 NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    migc__fail_server(ctx, MIGC_EHISTORY, res, "%s", what);
    PQclear(res);
    return NULL;
}

/* The order that puts the newest history row, in catalog order, first. */
static const char newest_first[] =
    "ORDER BY version DESC, id COLLATE \"C\" DESC LIMIT 1";

/* The head's two triggers on the history, enabled (a condition on
 * pg_trigger). */
static const char head_triggers[] =
    "tgname IN ('migc_head_clear', 'migc_head_truncate') AND tgenabled <> 'D'";

/* The head value of this catalog, fully applied, as decimal text: the
 * first 8 bytes of its last migration's chain hash (which covers the id,
 * version and up script of every migration up to it), exclusive-or the
 * number of migrations, read as a signed 64-bit number; never 0, which a
 * cleared head holds. */
static void head_value(const migc_catalog *cat, char out[24])
{
    const migc_migration *last = &cat->migrations[cat->count - 1];
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | last->chain_sha256[i];
    v ^= (uint64_t)cat->count;
    if (v == 0)
        v = 1;
    int64_t s; /* two's complement, as the server reads a bigint */
    memcpy(&s, &v, sizeof s);
    snprintf(out, 24, "%lld", (long long)s);
}

/* True when the head holds this catalog's value.  A missing head reads as
 * NULL (to_regclass), not as an error in the server's log. */
static bool head_matches(migc__ctx *ctx)
{
    char want[24];
    head_value(ctx->cat, want);
    const char *params[1] = {ctx->head};
    PGresult *res = PQexecParams(
        ctx->conn,
        "SELECT pg_catalog.pg_sequence_last_value(pg_catalog.to_regclass($1))",
        1, NULL, params, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
              strcmp(PQgetvalue(res, 0, 0), want) == 0;
    PQclear(res);
    return ok;
}

bool migc__up_to_date(migc__ctx *ctx)
{
    const migc_catalog *cat = ctx->cat;
    if (cat->count == 0)
        return true;
    const migc_migration *last = &cat->migrations[cat->count - 1];
    if (ctx->opt.target_version && ctx->opt.target_version < last->version)
        return false;
    if (head_matches(ctx))
        return true;
    /* The newest row, and the first unfinished row.  That one is asked
     * for in the order of the partial index of unfinished rows, so that
     * the planner reads that (empty) index: an EXISTS would let it choose
     * a sequential scan of the whole history on a table never analyzed --
     * one that stops at the first match, which it expects early and which
     * never comes. */
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT id, encode(chain_sha256, 'hex'), applied_count, state, "
             "(SELECT id FROM %s WHERE state <> 'applied' ORDER BY id "
             "LIMIT 1), version FROM %s %s",
             ctx->table, ctx->table, newest_first);
    PGresult *res = PQexecParams(ctx->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
    bool ok = false;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        char chain[2 * MIGC_SHA256_SIZE + 1];
        migc__hex(last->chain_sha256, MIGC_SHA256_SIZE, chain);
        ok =
            strcmp(PQgetvalue(res, 0, 0), migc__text(ctx, last->id)) == 0 &&
            strtoll(PQgetvalue(res, 0, 5), NULL, 10) ==
                (long long)last->version &&
            strcmp(PQgetvalue(res, 0, 1), chain) == 0 &&
            strtoll(PQgetvalue(res, 0, 2), NULL, 10) == (long long)cat->count &&
            strcmp(PQgetvalue(res, 0, 3), "applied") == 0 &&
            PQgetisnull(res, 0, 4);
    }
    PQclear(res);
    return ok;
}

/* Creates (or repairs) the head, in the transaction that creates the
 * history table: the sequence (owned by the table's id column, so that
 * dropping the table drops it), the function that clears
 * it, and the triggers that call that function at every change of the
 * table.  A history created by an earlier migc gets one too.  When the
 * head cannot be created (no plpgsql in the database), the failure is
 * logged and the run goes on without one: a start with nothing to do then
 * reads the history table. */
static void create_head(migc__ctx *ctx)
{
    char *clear = companion(ctx, "_head_clear");
    char *head = PQescapeLiteral(ctx->conn, ctx->head, strlen(ctx->head));
    /* A row trigger calls the function only while the head holds a value
     * (its WHEN clause reads the sequence, by OID: a renamed schema or
     * table keeps its head, and the sequence cannot be dropped alone), so
     * a run pays for one call, not one per history row.  The function
     * finds the sequence from the table that fired it; it runs with its
     * caller's rights (a role that edits the history needs SELECT and
     * UPDATE on the head) and names nothing through the search path. */
    char *sql =
        clear && head
            ? migc__printf(
                  "SAVEPOINT migc_head;\n"
                  "CREATE SEQUENCE IF NOT EXISTS %s MINVALUE "
                  "-9223372036854775808 OWNED BY %s.id;\n"
                  "DROP FUNCTION IF EXISTS %s.%s() CASCADE;\n"
                  "CREATE FUNCTION %s.%s() RETURNS trigger LANGUAGE plpgsql "
                  "AS 'BEGIN PERFORM pg_catalog.setval("
                  "pg_catalog.pg_get_serial_sequence(pg_catalog.format("
                  "''%%I.%%I'', TG_TABLE_SCHEMA, TG_TABLE_NAME), ''id'')"
                  "::regclass, 0, false); RETURN NULL; END';\n"
                  "CREATE TRIGGER migc_head_clear AFTER INSERT OR UPDATE OR "
                  "DELETE ON %s FOR EACH ROW WHEN ("
                  "pg_catalog.pg_sequence_last_value(%s::regclass) IS NOT "
                  "NULL) EXECUTE FUNCTION %s.%s();\n"
                  "CREATE TRIGGER migc_head_truncate AFTER TRUNCATE ON %s "
                  "FOR EACH STATEMENT EXECUTE FUNCTION %s.%s()",
                  ctx->head, ctx->table, ctx->schema, clear, ctx->schema,
                  clear, ctx->table, head, ctx->schema, clear, ctx->table,
                  ctx->schema, clear)
            : NULL;
    PGresult *res = sql ? PQexec(ctx->conn, sql) : NULL;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        const char *why =
            res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        migc__log(ctx,
                  "migc: cannot create the history's head %s (%s): a start "
                  "with nothing to do reads the history table instead",
                  ctx->head,
                  why ? why : sql ? "no reason given" : "out of memory");
        if (sql)
            PQclear(PQexec(ctx->conn, "ROLLBACK TO SAVEPOINT migc_head"));
    }
    PQclear(res);
    free(sql);
    PQfreemem(head);
    free(clear);
}

migc_result migc__history_ensure(migc__ctx *ctx)
{
    char *order = companion(ctx, "_order");
    char *unfinished = companion(ctx, "_unfinished");
    if (!order || !unfinished) {
        free(order);
        free(unfinished);
        return ctx->err->code;
    }
    /* Creating a schema needs a privilege that using one does not: only
     * ask for it when the schema is missing.  The head is whole when its
     * sequence exists and its two triggers are there and enabled. */
    const char *params[3] = {ctx->schema, ctx->head, ctx->table};
    char *lookup = migc__printf(
        "SELECT pg_catalog.to_regnamespace($1) IS NOT NULL, "
        "pg_catalog.to_regclass($2) IS NOT NULL AND (SELECT count(*) "
        "FROM pg_catalog.pg_trigger WHERE tgrelid = pg_catalog.to_regclass($3) "
        "AND %s) = 2",
        head_triggers);
    PGresult *res = lookup ? migc__exec(ctx, lookup, 3, params,
                                        "cannot look up the history schema")
                           : NULL;
    if (!lookup)
        migc__fail(ctx, MIGC_EINVAL, "out of memory");
    free(lookup);
    if (!res) {
        free(order);
        free(unfinished);
        return ctx->err->code;
    }
    bool schema_exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    bool head_exists = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    PQclear(res);
    char sql[4096];
    snprintf(sql, sizeof sql,
             "%s%s%s"
             "CREATE TABLE IF NOT EXISTS %s (\n"
             "    id text PRIMARY KEY,\n"
             "    version bigint NOT NULL,\n"
             "    name text NOT NULL,\n"
             "    up_sha256 bytea NOT NULL,\n"
             "    chain_sha256 bytea NOT NULL,\n"
             "    transactional boolean NOT NULL,\n"
             "    state text NOT NULL CHECK (state IN ('applied', 'running', "
             "'failed', 'reverting')),\n"
             "    statements_done integer NOT NULL DEFAULT 0,\n"
             "    statements_total integer NOT NULL,\n"
             "    applied_count bigint NOT NULL,\n"
             "    applied_at timestamptz NOT NULL DEFAULT now(),\n"
             "    duration_ms bigint,\n"
             "    applied_by text NOT NULL DEFAULT current_user,\n"
             "    migc_version text NOT NULL,\n"
             "    error text);\n"
             "CREATE INDEX IF NOT EXISTS %s ON %s (version, id COLLATE \"C\");\n"
             "CREATE INDEX IF NOT EXISTS %s ON %s (id) WHERE state <> 'applied';",
             schema_exists ? "" : "CREATE SCHEMA IF NOT EXISTS ",
             schema_exists ? "" : ctx->schema, schema_exists ? "" : ";\n",
             ctx->table, order, ctx->table, unfinished, ctx->table);
    free(order);
    free(unfinished);
    /* Concurrent CREATE ... IF NOT EXISTS of one new table do not all
     * succeed: serialize them with a transaction-level advisory lock (on
     * another key than the migration lock), which a transaction-pooling
     * connection pooler keeps on one server connection and releases at
     * COMMIT.  Several statements: the simple protocol, one message. */
    char key[32];
    snprintf(key, sizeof key, "%lld", (long long)(ctx->lock_key ^ 1));
    const char *kp[1] = {key};
    res = migc__exec(ctx, "BEGIN", 0, NULL, "cannot create the history table");
    migc_result rc = res ? MIGC_OK : ctx->err->code;
    PQclear(res);
    if (rc == MIGC_OK) {
        res = migc__exec(ctx, "SELECT pg_catalog.pg_advisory_xact_lock($1::bigint), "
                              "pg_catalog.set_config('client_min_messages', "
                              "'error', true)",
                         1, kp, "cannot create the history table");
        rc = res ? MIGC_OK : ctx->err->code;
        PQclear(res);
    }
    if (rc == MIGC_OK) {
        res = PQexec(ctx->conn, sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = migc__fail_server(ctx, MIGC_EHISTORY, res,
                                   "cannot create the history table %s",
                                   ctx->table);
        PQclear(res);
    }
    if (rc == MIGC_OK && !head_exists)
        create_head(ctx);
    res = PQexec(ctx->conn, rc == MIGC_OK ? "COMMIT" : "ROLLBACK");
    if (rc == MIGC_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = migc__fail_server(ctx, MIGC_EHISTORY, res,
                               "cannot create the history table %s",
                               ctx->table);
    PQclear(res);
    return rc;
}

/* Runs a script of several statements (the simple protocol, one round
 * trip) and rolls back a transaction its failure left open; returns the
 * script's last result (the caller PQclear's). */
static PGresult *run_script(migc__ctx *ctx, const char *sql)
{
    PGresult *res = PQexec(ctx->conn, sql);
    if (PQtransactionStatus(ctx->conn) == PQTRANS_INERROR)
        PQclear(PQexec(ctx->conn, "ROLLBACK"));
    return res;
}

migc_result migc__history_sync(migc__ctx *ctx)
{
    /* An update writes a new row version even when nothing changes: WAL of
     * its own, without which PostgreSQL commits asynchronously (a
     * transaction id alone, from txid_current(), is not enough). */
    char *sql = migc__printf(
        "BEGIN; SET LOCAL ROLE NONE; "
        "UPDATE %s SET applied_count = (SELECT count(*) FROM %s WHERE state "
        "= 'applied') WHERE id = (SELECT id FROM %s %s); COMMIT",
        ctx->table, ctx->table, ctx->table, newest_first);
    if (!sql)
        return migc__fail(ctx, MIGC_EINVAL, "out of memory");
    PGresult *res = run_script(ctx, sql);
    free(sql);
    migc_result rc = MIGC_OK;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = migc__fail_server(ctx, MIGC_EHISTORY, res,
                               "cannot make the migrations durable");
    else
        ctx->async_commits = 0;
    PQclear(res);
    return rc;
}

/* Clears the head (first, on its own: a sequence is not transactional, so
 * the clear stands whatever follows), then, in a transaction, sets it when
 * the history is exactly this catalog, applied: its last migration newest,
 * with its chain hash and count, and every row applied.  Only from what is
 * committed (READ COMMITTED, whatever the session's default), with no
 * change of the history in progress: SHARE conflicts with every writer,
 * and NOWAIT gives up rather than wait.  One round trip. */
void migc__history_set_head(migc__ctx *ctx)
{
    const migc_catalog *cat = ctx->cat;
    if (cat->count == 0)
        return;
    const migc_migration *last = &cat->migrations[cat->count - 1];
    const char *last_id = migc__text(ctx, last->id);
    char *id = PQescapeLiteral(ctx->conn, last_id, strlen(last_id));
    char *name = PQescapeLiteral(ctx->conn, ctx->head, strlen(ctx->head));
    char value[24], chain[2 * MIGC_SHA256_SIZE + 1];
    head_value(cat, value);
    migc__hex(last->chain_sha256, MIGC_SHA256_SIZE, chain);
    char *sql =
        id && name
            ? migc__printf(
                  "SELECT pg_catalog.setval(%s, 0, false); "
                  "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL ROLE NONE; "
                  "LOCK TABLE %s IN SHARE MODE NOWAIT; "
                  "SELECT pg_catalog.setval(%s, %s) FROM (SELECT *, tableoid "
                  "AS t FROM %s %s) n "
                  "WHERE id = %s AND version = %lld AND chain_sha256 = "
                  "pg_catalog.decode('%s', 'hex') AND applied_count = %zu "
                  "AND (SELECT count(*) = %zu AND bool_and(state = 'applied') "
                  "FROM %s) AND (SELECT count(*) FROM pg_catalog.pg_trigger "
                  "WHERE tgrelid = n.t AND %s) = 2; COMMIT",
                  name, ctx->table, name, value, ctx->table, newest_first, id,
                  (long long)last->version, chain, cat->count, cat->count,
                  ctx->table, head_triggers)
            : NULL;
    PQfreemem(id);
    PQfreemem(name);
    if (sql)
        PQclear(run_script(ctx, sql));
    free(sql);
}

static int compare_rows(const void *a, const void *b)
{
    const migc__row *x = a, *y = b;
    return migc__order(x->version, x->id, y->version, y->id);
}

/* Decodes a hash from hex (zeros past the end of text or a bad digit). */
static void unhex(const char *text, unsigned char *out)
{
    memset(out, 0, MIGC_SHA256_SIZE);
    for (size_t i = 0; i < MIGC_SHA256_SIZE; i++) {
        int hi = migc__hex_digit(text[2 * i]);
        int lo = hi < 0 ? -1 : migc__hex_digit(text[2 * i + 1]);
        if (lo < 0)
            break;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
}

migc_result migc__history_read(migc__ctx *ctx, migc__history *h,
                               bool *missing_table)
{
    memset(h, 0, sizeof *h);
    *missing_table = false;
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT id, version, name, encode(up_sha256, 'hex'), "
             "encode(chain_sha256, 'hex'), state, statements_done, "
             "statements_total, to_char(applied_at AT TIME ZONE 'UTC', "
             "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), duration_ms, error, applied_count "
             "FROM %s",
             ctx->table);
    PGresult *res = PQexecParams(ctx->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && (strcmp(state, "42P01") == 0 ||
                      strcmp(state, "3F000") == 0)) {
            *missing_table = true;
            PQclear(res);
            return MIGC_OK;
        }
        migc_result rc = migc__fail_server(ctx, MIGC_EHISTORY, res,
                                           "cannot read the history table %s",
                                           ctx->table);
        PQclear(res);
        return rc;
    }
    int n = PQntuples(res);
    h->rows = calloc((size_t)(n ? n : 1), sizeof *h->rows);
    if (!h->rows) {
        PQclear(res);
        return migc__fail(ctx, MIGC_EHISTORY, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        migc__row *r = &h->rows[i];
        r->id = strdup(PQgetvalue(res, i, 0));
        r->version = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        r->name = strdup(PQgetvalue(res, i, 2));
        unhex(PQgetvalue(res, i, 3), r->up_sha256);
        unhex(PQgetvalue(res, i, 4), r->chain_sha256);
        migc__copy(r->state, sizeof r->state, PQgetvalue(res, i, 5));
        r->done = (uint32_t)strtoul(PQgetvalue(res, i, 6), NULL, 10);
        r->total = (uint32_t)strtoul(PQgetvalue(res, i, 7), NULL, 10);
        migc__copy(r->applied_at, sizeof r->applied_at, PQgetvalue(res, i, 8));
        r->duration_ms = PQgetisnull(res, i, 9)
                             ? -1
                             : strtoll(PQgetvalue(res, i, 9), NULL, 10);
        r->error = PQgetisnull(res, i, 10) ? NULL : strdup(PQgetvalue(res, i, 10));
        r->applied_count = strtoll(PQgetvalue(res, i, 11), NULL, 10);
        h->count++;
        if (!r->id || !r->name) {
            PQclear(res);
            migc__history_free(h);
            return migc__fail(ctx, MIGC_EHISTORY, "out of memory");
        }
    }
    PQclear(res);
    if (h->count > 1)
        qsort(h->rows, h->count, sizeof *h->rows, compare_rows);
    return MIGC_OK;
}

void migc__history_free(migc__history *h)
{
    for (size_t i = 0; i < h->count; i++) {
        free(h->rows[i].id);
        free(h->rows[i].name);
        free(h->rows[i].error);
    }
    free(h->rows);
    memset(h, 0, sizeof *h);
}

migc_result migc__history_check_versions(migc__ctx *ctx,
                                         const migc__history *h)
{
    const migc_catalog *cat = ctx->cat;
    for (size_t k = 0; k < h->count; k++) {
        const migc__row *r = &h->rows[k];
        if (migc__catalog_index(cat, r->version, r->id) < cat->count)
            continue;
        const migc_migration *m = migc_catalog_find(cat, r->id);
        if (!m)
            continue;
        migc__fail(ctx, MIGC_EHISTORY,
                   "the history records migration %s at version %lld, but it "
                   "is version %lld (%s): the history table was edited",
                   r->id, (long long)r->version, (long long)m->version,
                   migc__text(ctx, m->up.file));
        snprintf(ctx->err->hint, sizeof ctx->err->hint,
                 "restore the row's version to %lld", (long long)m->version);
        ctx->err->version = m->version;
        migc__copy(ctx->err->id, sizeof ctx->err->id, r->id);
        ctx->err->file = migc__text(ctx, m->up.file);
        return MIGC_EHISTORY;
    }
    return MIGC_OK;
}

static int compare_to_row(const void *key, const void *element)
{
    const migc__row *k = key, *r = element;
    return migc__order(k->version, k->id, r->version, r->id);
}

migc__row *migc__history_find(migc__history *h, int64_t version,
                              const char *id)
{
    migc__row key;
    key.version = version;
    key.id = (char *)id;
    return h->count ? bsearch(&key, h->rows, h->count, sizeof *h->rows,
                              compare_to_row)
                    : NULL;
}
