/*
 * service.c -- the standard migration flags of any service, in one call.
 *
 * Operators expect every service built with migc to answer the same flags:
 * --print-schema-plan before a deploy, --migrate-status, --migrate-down,
 * --migrate-to, --migrate-force and --migrate-only.  migc_main() recognizes
 * them, connects the way services do (DATABASE_URL, else libpq's PG*
 * environment), does the work, prints, and tells main() what to exit with.
 * Connection strings are never printed, and a connection error goes
 * through migc_connection_error(), which masks passwords that libpq
 * repeats from a connection string it cannot parse.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef enum action {
    ACT_NONE,
    ACT_PLAN,
    ACT_STATUS,
    ACT_DOWN,
    ACT_TO,
    ACT_FORCE,
    ACT_ONLY
} action;

typedef struct request {
    action act;
    migc_output_format format;
    long long number;
    bool retry;
    const char *bad;   /* the flag that could not be parsed */
} request;

/* "--flag" or "--flag=value"; returns the value ("" when none) or NULL. */
static const char *flag(const char *arg, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return NULL;
    if (arg[n] == '\0')
        return "";
    if (arg[n] == '=')
        return arg + n + 1;
    return NULL;
}

static bool parse_number(const char *s, long long *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < 0)
        return false;
    *out = v;
    return true;
}

static bool parse_format(const char *v, migc_output_format *f)
{
    if (!*v || strcmp(v, "text") == 0)
        *f = MIGC_OUTPUT_TEXT;
    else if (strcmp(v, "json") == 0)
        *f = MIGC_OUTPUT_JSON;
    else
        return false;
    return true;
}

static request parse(int argc, char **argv)
{
    request rq = {ACT_NONE, MIGC_OUTPUT_TEXT, 0, false, NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if ((v = flag(a, "--print-schema-plan"))) {
            rq.act = ACT_PLAN;
            if (!parse_format(v, &rq.format))
                rq.bad = a;
        } else if ((v = flag(a, "--migrate-status"))) {
            rq.act = ACT_STATUS;
            if (!parse_format(v, &rq.format))
                rq.bad = a;
        } else if ((v = flag(a, "--migrate-down"))) {
            rq.act = ACT_DOWN;
            rq.number = 1;
            if (*v && strcmp(v, "all") == 0)
                rq.number = -1;
            else if (*v && (!parse_number(v, &rq.number) ||
                            rq.number > INT_MAX))
                rq.bad = a;
        } else if ((v = flag(a, "--migrate-to"))) {
            rq.act = ACT_TO;
            if (!parse_number(v, &rq.number))
                rq.bad = a;
        } else if ((v = flag(a, "--migrate-force"))) {
            rq.act = ACT_FORCE;
            if (!parse_number(v, &rq.number))
                rq.bad = a;
        } else if (strcmp(a, "--migrate-only") == 0) {
            rq.act = ACT_ONLY;
        } else if (strcmp(a, "--migrate-retry") == 0) {
            rq.retry = true;
            if (rq.act == ACT_NONE)
                rq.act = ACT_ONLY;
        }
    }
    return rq;
}

static void log_to_stderr(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "%s\n", line);
}

static int report_failure(const migc_error *err)
{
    char buf[4096];
    migc_format_error(err, buf, sizeof buf);
    fputs(buf, stderr);
    return 1;
}

int migc_main(int argc, char **argv, const migc_catalog *catalog,
              const migc_options *options)
{
    request rq = parse(argc, argv);
    if (rq.act == ACT_NONE)
        return -1;
    if (rq.bad) {
        fprintf(stderr, "migc: error: cannot understand %s\n", rq.bad);
        return 2;
    }
    const char *url = getenv("DATABASE_URL");
    PGconn *conn = PQconnectdb(url && *url ? url : "");
    if (PQstatus(conn) != CONNECTION_OK) {
        char text[2048];
        migc_connection_error(conn, url, text, sizeof text);
        fprintf(stderr, "migc: error: cannot connect to the database: %s",
                text);
        PQfinish(conn);
        return 1;
    }
    migc_options opt = MIGC_OPTIONS_INIT;
    if (options)
        opt = *options;
    if (!opt.log)
        opt.log = log_to_stderr;
    if (rq.retry)
        opt.flags |= MIGC_RETRY_INTERRUPTED;
    migc_error err;
    migc_result rc = MIGC_OK;
    switch (rq.act) {
    case ACT_PLAN:
        rc = migc_print_plan(conn, catalog, &opt, stdout, rq.format, &err);
        break;
    case ACT_STATUS:
        rc = migc_print_status(conn, catalog, &opt, stdout, rq.format, &err);
        break;
    case ACT_DOWN:
        rc = migc_down(conn, catalog, &opt, (int)rq.number, &err);
        break;
    case ACT_TO: {
        migc_status_report *st = NULL;
        rc = migc_status(conn, catalog, &opt, &st, &err);
        /* At or past the version: revert down to it (nothing when equal);
         * before it: apply up to it. */
        if (rc == MIGC_OK && st->current_version >= rq.number) {
            rc = migc_down_to(conn, catalog, &opt, rq.number, &err);
        } else if (rc == MIGC_OK) {
            opt.target_version = rq.number;
            rc = migc_up(conn, catalog, &opt, &err);
        }
        migc_status_free(st);
        break;
    }
    case ACT_FORCE:
        rc = migc_force(conn, catalog, &opt, rq.number, &err);
        break;
    case ACT_ONLY:
        rc = migc_up(conn, catalog, &opt, &err);
        break;
    case ACT_NONE:
        break;
    }
    PQfinish(conn);
    if (rc != MIGC_OK)
        return report_failure(&err);
    return 0;
}
