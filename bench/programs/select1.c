/*
 * select1.c -- the floor of a no-op start: a program that connects
 * (DATABASE_URL), runs SELECT 1 and exits.  No service can check its
 * schema in less than one connection and one round trip.
 */
#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>

int main(void)
{
    const char *url = getenv("DATABASE_URL");
    PGconn *conn = PQconnectdb(url ? url : "");
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "select1: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return 1;
    }
    PGresult *res = PQexec(conn, "SELECT 1");
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "select1: %s", PQerrorMessage(conn));
    PQclear(res);
    PQfinish(conn);
    return ok ? 0 : 1;
}
