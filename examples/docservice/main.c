/*
 * main.c -- docservice, the example service: a document-management
 * service that carries its schema (../../migrations, compiled in by
 * add_migrations()) inside its binary.
 *
 * On start it connects (DATABASE_URL, else libpq's PG* environment),
 * applies whatever migrations are pending -- logging each -- and then does
 * a little real work against the schema: it creates a document with two
 * versions, makes the second one current, and reads it back.  It answers
 * migc's standard flags (--print-schema-plan, --migrate-status, ...)
 * through migc_main().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <migc/migc.h>

#include "app_migrations.h"

static void log_line(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "docservice: %s\n", line);
}

/* Runs one parameterized query; returns its result, or NULL after
 * printing the error (the transaction is then rolled back by the caller). */
static PGresult *query(PGconn *conn, const char *sql, int n,
                       const char *const *params)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return res;
    fprintf(stderr, "docservice: error: %s", PQresultErrorMessage(res));
    PQclear(res);
    return NULL;
}

/* The single value of a one-row result, copied into out. */
static bool one(PGconn *conn, const char *sql, int n,
                const char *const *params, char *out, size_t size)
{
    PGresult *res = query(conn, sql, n, params);
    if (!res)
        return false;
    bool ok = PQntuples(res) == 1;
    if (ok)
        snprintf(out, size, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return ok;
}

/* Creates a document with two versions and reads it back. */
static bool do_work(PGconn *conn)
{
    char user[32], repo[32], doc[32], v1[32], v2[32];
    PGresult *res = PQexec(conn, "BEGIN");
    PQclear(res);
    bool ok =
        one(conn,
            "INSERT INTO users (username, email, display_name) "
            "VALUES ('demo', 'demo@example.com', 'Demo User') "
            "ON CONFLICT (username) DO UPDATE SET display_name = "
            "excluded.display_name RETURNING id",
            0, NULL, user, sizeof user) &&
        one(conn,
            "INSERT INTO repositories (slug, name, created_by) "
            "VALUES ('handbook', 'Handbook', $1) ON CONFLICT (slug) DO "
            "UPDATE SET name = excluded.name RETURNING id",
            1, (const char *[]){user}, repo, sizeof repo) &&
        one(conn,
            "INSERT INTO documents (repository_id, slug, title, created_by) "
            "VALUES ($1, 'onboarding-' || to_char(clock_timestamp(), "
            "'YYYYMMDDHH24MISSUS'), 'Onboarding', $2) RETURNING id",
            2, (const char *[]){repo, user}, doc, sizeof doc) &&
        one(conn,
            "INSERT INTO document_versions (document_id, version_number, "
            "content, variables, tags, change_summary, created_by) VALUES "
            "($1, 1, 'Welcome!', '{\"audience\": \"new hires\"}', "
            "'{hr}', 'first draft', $2) RETURNING id",
            2, (const char *[]){doc, user}, v1, sizeof v1) &&
        one(conn,
            "INSERT INTO document_versions (document_id, version_number, "
            "content, variables, tags, change_summary, created_by) VALUES "
            "($1, 2, 'Welcome aboard!', '{\"audience\": \"everyone\"}', "
            "'{hr,onboarding}', 'friendlier', $2) RETURNING id",
            2, (const char *[]){doc, user}, v2, sizeof v2);
    if (ok) {
        res = query(conn,
                    "UPDATE documents SET current_version_id = $2 WHERE "
                    "id = $1",
                    2, (const char *[]){doc, v2});
        ok = res != NULL;
        PQclear(res);
    }
    res = PQexec(conn, ok ? "COMMIT" : "ROLLBACK");
    PQclear(res);
    if (!ok)
        return false;

    res = query(conn,
                "SELECT d.title, v.version_number, v.content, "
                "v.variables ->> 'audience', array_to_string(v.tags, ','), "
                "(SELECT count(*) FROM document_versions WHERE "
                "document_id = d.id) FROM documents d JOIN document_versions "
                "v ON v.id = d.current_version_id WHERE d.id = $1",
                1, (const char *[]){doc});
    if (!res || PQntuples(res) != 1) {
        PQclear(res);
        return false;
    }
    printf("document %s \"%s\": %s versions, current is version %s: \"%s\" "
           "(audience: %s; tags: %s)\n",
           doc, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 5),
           PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
           PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4));
    PQclear(res);
    return true;
}

int main(int argc, char **argv)
{
    migc_options options = MIGC_OPTIONS_INIT;
    options.log = log_line;
    int rc = migc_main(argc, argv, &app_migrations, &options);
    if (rc >= 0)
        return rc;

    const char *url = getenv("DATABASE_URL");
    PGconn *conn = PQconnectdb(url && *url ? url : "");
    if (PQstatus(conn) != CONNECTION_OK) {
        char text[2048];
        migc_connection_error(conn, url, text, sizeof text);
        fprintf(stderr, "docservice: error: cannot connect: %s", text);
        PQfinish(conn);
        return 1;
    }
    migc_error err;
    if (migc_up(conn, &app_migrations, &options, &err) != MIGC_OK) {
        char text[4096];
        migc_format_error(&err, text, sizeof text);
        fputs(text, stderr);
        PQfinish(conn);
        return 1;
    }
    bool ok = do_work(conn);
    PQfinish(conn);
    return ok ? 0 : 1;
}
