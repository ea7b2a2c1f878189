/*
 * exec_file.c -- the floor of applying SQL: a program that connects
 * (DATABASE_URL), sends a whole file as one PQexec -- one simple-protocol
 * message, which the server runs as one implicit transaction -- and exits.
 * Nothing is recorded; no tool that records what it ran can beat it.
 *
 * usage: exec_file FILE
 */
#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: exec_file FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *sql = malloc((size_t)size + 1);
    if (!sql || fread(sql, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "exec_file: cannot read %s\n", argv[1]);
        return 1;
    }
    sql[size] = '\0';
    fclose(f);
    const char *url = getenv("DATABASE_URL");
    PGconn *conn = PQconnectdb(url ? url : "");
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "exec_file: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return 1;
    }
    PGresult *res = PQexec(conn, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK ||
             PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "exec_file: %s", PQerrorMessage(conn));
    PQclear(res);
    PQfinish(conn);
    free(sql);
    return ok ? 0 : 1;
}
