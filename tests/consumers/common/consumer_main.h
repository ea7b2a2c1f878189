/*
 * consumer_main.h -- the body every consumer project's main.c shares.
 *
 * Each consumer's main.c defines CONSUMER_NAME (what it prints) and
 * CHECK_TABLE (a table its migrations create), includes its generated
 * catalog header (which declares `consumer_migrations`), then this file.
 * The program connects (DATABASE_URL, else libpq's PG* environment),
 * applies the compiled-in migrations with migc_up() (printing
 * migc_format_error() on failure), checks that CHECK_TABLE exists and
 * prints "ok <name>".
 */
#ifndef MIGC_CONSUMER_MAIN_H
#define MIGC_CONSUMER_MAIN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <migc/migc.h>

int main(void)
{
    const char *url = getenv("DATABASE_URL");
    PGconn *conn = PQconnectdb(url ? url : "");
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "%s: cannot connect: %s", CONSUMER_NAME,
                PQerrorMessage(conn));
        PQfinish(conn);
        return 1;
    }

    migc_error err;
    migc_result rc = migc_up(conn, &consumer_migrations, NULL, &err);
    if (rc != MIGC_OK) {
        char text[4096];
        migc_format_error(&err, text, sizeof text);
        fprintf(stderr, "%s: migc_up failed (%s):\n%s\n", CONSUMER_NAME,
                migc_strerror(rc), text);
        PQfinish(conn);
        return 1;
    }

    const char *params[1] = {CHECK_TABLE};
    PGresult *res = PQexecParams(conn, "SELECT to_regclass($1) IS NOT NULL",
                                 1, NULL, params, NULL, NULL, 0);
    int found = PQresultStatus(res) == PGRES_TUPLES_OK &&
                PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    if (!found)
        fprintf(stderr, "%s: table %s missing after migc_up: %s\n",
                CONSUMER_NAME, CHECK_TABLE, PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(conn);
    if (!found)
        return 1;
    printf("ok %s\n", CONSUMER_NAME);
    return 0;
}

#endif
