/*
 * bench_service.c -- the embedded service of the benchmark: a program that
 * carries N migrations (compiled in by migc) and, like a real service at
 * start, connects (DATABASE_URL), brings the schema up to date and exits.
 * It answers migc's standard flags through migc_main(), so the same
 * binary gives --migrate-status; --grouped applies everything pending in
 * one transaction (MIGC_GROUPED).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <migc/migc.h>

extern const migc_catalog bench_catalog;

int main(int argc, char **argv)
{
    migc_options opt = MIGC_OPTIONS_INIT;
    if (argc > 1 && strcmp(argv[1], "--grouped") == 0) {
        opt.flags |= MIGC_GROUPED;
        argv[1] = argv[0];
        argc--;
        argv++;
    }
    int rc = migc_main(argc, argv, &bench_catalog, &opt);
    if (rc >= 0)
        return rc;
    const char *url = getenv("DATABASE_URL");
    PGconn *conn = PQconnectdb(url ? url : "");
    if (PQstatus(conn) != CONNECTION_OK) {
        char text[1024];
        migc_connection_error(conn, url, text, sizeof text);
        fprintf(stderr, "bench_service: %s", text);
        PQfinish(conn);
        return 1;
    }
    migc_error err;
    migc_result r = migc_up(conn, &bench_catalog, &opt, &err);
    if (r != MIGC_OK) {
        char text[4096];
        migc_format_error(&err, text, sizeof text);
        fprintf(stderr, "%s\n", text);
    }
    PQfinish(conn);
    return r == MIGC_OK ? 0 : 1;
}
