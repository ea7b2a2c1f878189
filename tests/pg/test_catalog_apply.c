/*
 * test_catalog_apply.c -- generated catalogs run on a real PostgreSQL.
 *
 * Proves that what migc embeds is exactly what PostgreSQL can run: for the
 * catalog of the example service's migrations/ and for the catalogs of the
 * four format fixtures (all compiled by migc at build time), every up script
 * is applied in order, then every down script in reverse, on a throwaway
 * cluster the test starts itself.  Each catalog runs twice, in two fresh
 * databases: each statement straight from the catalog's static data (no
 * copy), once through the simple query protocol and once through the
 * extended protocol the runtime pipelines.  After the ups the expected
 * tables exist; after the downs the database has no schema objects left.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <migc/catalog.h>

#include "harness.h"
#include "pgfixture.h"

extern const migc_catalog app_migrations;
extern const migc_catalog golang_migrate_catalog;
extern const migc_catalog goose_catalog;
extern const migc_catalog sql_migrate_catalog;
extern const migc_catalog dbmate_catalog;

/* Runs one command, through the extended protocol when `extended`;
 * reports and returns false when it fails. */
static bool exec_ok(PGconn *conn, const char *sql, const char *where,
                    bool extended)
{
    PGresult *res = extended
                        ? PQexecParams(conn, sql, 0, NULL, NULL, NULL, NULL, 0)
                        : PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "    %s: %s    in: %.200s\n", where,
                PQresultErrorMessage(res), sql);
    PQclear(res);
    return ok;
}

static long long query_int(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    long long v = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        v = atoll(PQgetvalue(res, 0, 0));
    else
        fprintf(stderr, "    query failed: %s", PQresultErrorMessage(res));
    PQclear(res);
    return v;
}

/* Applies a script statement by statement, in the transaction mode the
 * catalog gives it. */
static bool run_script(PGconn *conn, const migc_catalog *cat,
                       const migc_script *s, bool extended)
{
    const char *sql = migc_catalog_text(cat, s->sql);
    const char *file = migc_catalog_text(cat, s->file);
    const migc_statement *statements = migc_script_statements(cat, s);
    CHECK(sql[s->length] == '\0');
    bool in_txn = s->transaction != MIGC_TRANSACTION_NONE;
    if (in_txn && !exec_ok(conn, "BEGIN", file, false))
        return false;
    for (uint32_t i = 0; i < s->statement_count; i++) {
        const migc_statement *st = &statements[i];
        if (st->flags & MIGC_STMT_SKIP)
            continue;
        const char *text = sql + st->offset;
        CHECK(text[st->length] == '\0');
        if (!exec_ok(conn, text, file, extended)) {
            exec_ok(conn, "ROLLBACK", file, false);
            return false;
        }
    }
    return !in_txn || exec_ok(conn, "COMMIT", file, false);
}

/* Relations, routines and types in any schema of the user's, plus those
 * schemas themselves (public excepted). */
static const char count_objects[] =
    "WITH user_ns AS (SELECT oid, nspname FROM pg_namespace WHERE nspname "
    "NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE "
    "'pg\\_%') "
    "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace IN "
    "(SELECT oid FROM user_ns))"
    " + (SELECT count(*) FROM pg_proc WHERE pronamespace IN "
    "(SELECT oid FROM user_ns))"
    " + (SELECT count(*) FROM pg_type WHERE typnamespace IN "
    "(SELECT oid FROM user_ns))"
    " + (SELECT count(*) FROM user_ns WHERE nspname <> 'public')";

static void apply_catalog(const migc_catalog *cat, const char *db,
                          bool extended, const char *const *tables)
{
    char name[128];
    snprintf(name, sizeof name, "%s (%s)", cat->name,
             extended ? "extended protocol" : "simple protocol");
    th_case(name);
    char *conninfo = pgfix_create_database(db);
    PGconn *conn = PQconnectdb(conninfo);
    free(conninfo);
    CHECK(PQstatus(conn) == CONNECTION_OK);
    exec_ok(conn, "SET client_min_messages = warning", "setup", false);
    CHECK(cat->abi == MIGC_CATALOG_ABI);
    CHECK(cat->count > 0);

    for (size_t i = 0; i < cat->count; i++)
        CHECK(run_script(conn, cat, &cat->migrations[i].up, extended));
    for (const char *const *t = tables; *t; t++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                 "AND tablename = '%s'",
                 *t);
        CHECK_INT(query_int(conn, sql), 1);
    }
    CHECK(query_int(conn, count_objects) > 0);

    for (size_t i = cat->count; i-- > 0;) {
        const migc_script *down = &cat->migrations[i].down;
        if (down->sql != MIGC_NO_TEXT)
            CHECK(run_script(conn, cat, down, extended));
    }
    CHECK_INT(query_int(conn, count_objects), 0);
    PQfinish(conn);
}

int main(void)
{
    pgfix_start();
    static const char *const app_tables[] = {
        "users", "groups", "group_members", "repositories", "managed_files",
        "documents", "document_versions", "executions", "execution_steps",
        "execution_attachments", "document_views", "document_view_stats",
        NULL};
    static const char *const none[] = {NULL};
    const struct {
        const migc_catalog *cat;
        const char *const *tables;
    } catalogs[] = {
        {&app_migrations, app_tables},
        {&golang_migrate_catalog, none},
        {&goose_catalog, none},
        {&sql_migrate_catalog, none},
        {&dbmate_catalog, none},
    };
    for (size_t i = 0; i < sizeof catalogs / sizeof catalogs[0]; i++) {
        for (int extended = 0; extended < 2; extended++) {
            char db[64];
            snprintf(db, sizeof db, "apply_%zu_%d", i, extended);
            apply_catalog(catalogs[i].cat, db, extended, catalogs[i].tables);
        }
    }
    th_case("");
    return th_finish();
}
