/*
 * faultlib.c -- helpers of the fault-injection tests.  See faultlib.h.
 */
#define _POSIX_C_SOURCE 200809L
#include "faultlib.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { CHILD_ALARM_S = 90 };  /* a migrator's own watchdog */

double fl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void fl_sleep_ms(double ms)
{
    if (ms <= 0)
        return;
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1000.0);
    ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000.0) * 1e6);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

PGconn *fl_connect(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect: %s", PQerrorMessage(conn));
        exit(1);
    }
    PGresult *res = PQexec(conn, "SET client_min_messages = warning");
    PQclear(res);
    return conn;
}

bool fl_value(PGconn *conn, const char *sql, const char *param, char *buf,
              size_t size)
{
    const char *params[1] = {param};
    PGresult *res = PQexecParams(conn, sql, param ? 1 : 0, NULL,
                                 param ? params : NULL, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    if (size)
        buf[0] = '\0';
    if (ok)
        snprintf(buf, size, "%s", PQgetvalue(res, 0, 0));
    else
        fprintf(stderr, "    query failed: %s    in: %.200s\n",
                PQresultErrorMessage(res), sql);
    PQclear(res);
    return ok;
}

bool fl_true(PGconn *conn, const char *sql, const char *param)
{
    char buf[8];
    return fl_value(conn, sql, param, buf, sizeof buf) &&
           strcmp(buf, "t") == 0;
}

long long fl_int(PGconn *conn, const char *sql, const char *param)
{
    char buf[32];
    return fl_value(conn, sql, param, buf, sizeof buf) ? atoll(buf) : -1;
}

bool fl_exec(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "    command failed: %s    in: %.200s\n",
                PQresultErrorMessage(res), sql);
    PQclear(res);
    return ok;
}

/* Joins the first column of every row with newlines; malloc'd. */
static char *join_rows(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "    query failed: %s", PQresultErrorMessage(res));
        PQclear(res);
        return NULL;
    }
    size_t len = 1;
    for (int i = 0; i < PQntuples(res); i++)
        len += (size_t)PQgetlength(res, i, 0) + 1;
    char *out = malloc(len);
    if (!out) {
        PQclear(res);
        return NULL;
    }
    size_t at = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        size_t n = (size_t)PQgetlength(res, i, 0);
        memcpy(out + at, PQgetvalue(res, i, 0), n);
        at += n;
        out[at++] = '\n';
    }
    out[at] = '\0';
    PQclear(res);
    return out;
}

static const char fingerprint_sql[] =
    "WITH rels AS ("
    " SELECT c.oid, c.relname, c.relkind FROM pg_catalog.pg_class AS c"
    " JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace"
    " WHERE n.nspname = 'public' AND c.relname NOT LIKE 'migc\\_history%')"
    " SELECT line FROM ("
    "  SELECT format('relation %s (%s)', relname, relkind) AS line"
    "  FROM rels WHERE relkind <> 'i'"
    " UNION ALL"
    "  SELECT format('column %s.%s #%s %s%s%s', r.relname, a.attname,"
    "   a.attnum, pg_catalog.format_type(a.atttypid, a.atttypmod),"
    "   CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,"
    "   coalesce(' default ' || pg_catalog.pg_get_expr(d.adbin, d.adrelid), ''))"
    "  FROM rels AS r JOIN pg_catalog.pg_attribute AS a ON a.attrelid = r.oid"
    "   AND a.attnum > 0 AND NOT a.attisdropped"
    "  LEFT JOIN pg_catalog.pg_attrdef AS d ON d.adrelid = r.oid"
    "   AND d.adnum = a.attnum"
    "  WHERE r.relkind IN ('r', 'p', 'v', 'm')"
    " UNION ALL"
    "  SELECT format('index %s valid=%s ready=%s',"
    "   pg_catalog.pg_get_indexdef(i.indexrelid), i.indisvalid, i.indisready)"
    "  FROM pg_catalog.pg_index AS i JOIN rels AS r ON r.oid = i.indrelid"
    " UNION ALL"
    "  SELECT format('constraint %s.%s %s validated=%s', r.relname, co.conname,"
    "   pg_catalog.pg_get_constraintdef(co.oid), co.convalidated)"
    "  FROM pg_catalog.pg_constraint AS co JOIN rels AS r ON r.oid = co.conrelid"
    " UNION ALL"
    "  SELECT format('view %s %s', relname, md5(pg_catalog.pg_get_viewdef(oid)))"
    "  FROM rels WHERE relkind IN ('v', 'm')"
    " UNION ALL"
    "  SELECT format('function %s(%s) %s', p.proname,"
    "   pg_catalog.pg_get_function_identity_arguments(p.oid), md5(p.prosrc))"
    "  FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n"
    "   ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
    "   AND p.proname NOT LIKE 'migc\\_history%'"
    " UNION ALL"
    "  SELECT format('data %s %s', relname, (xpath('/row/x/text()',"
    "   query_to_xml(format('SELECT count(*) || '' rows, hash '' || "
    "coalesce(sum(hashtext(t::text)::bigint), 0) AS x FROM public.%I AS t',"
    "   relname), false, true, '')))[1]::text)"
    "  FROM rels WHERE relkind IN ('r', 'p', 'm')"
    " ) AS s ORDER BY line COLLATE \"C\"";

char *fl_fingerprint(PGconn *conn)
{
    return join_rows(conn, fingerprint_sql);
}

char *fl_history(PGconn *conn)
{
    if (!fl_true(conn, "SELECT to_regclass('public.migc_history') IS NOT NULL",
                 NULL))
        return strdup("");
    return join_rows(
        conn,
        "SELECT line FROM ("
        " SELECT 0 AS k, version, id, format("
        "  '%s %s %s/%s transactional=%s up=%s chain=%s error=%s',"
        "  id, state, statements_done, statements_total, transactional,"
        "  left(encode(up_sha256, 'hex'), 12),"
        "  left(encode(chain_sha256, 'hex'), 12), coalesce(error, '-')) AS line"
        " FROM public.migc_history"
        " UNION ALL"
        " SELECT 1, 0, '', 'newest row: applied_count=' || coalesce(("
        "  SELECT applied_count::text FROM public.migc_history"
        "  ORDER BY version DESC, id COLLATE \"C\" DESC LIMIT 1), '-')"
        ") AS s ORDER BY k, version, id COLLATE \"C\"");
}

/* Length of the line starting at s. */
static size_t line_len(const char *s)
{
    const char *nl = strchr(s, '\n');
    return nl ? (size_t)(nl - s) : strlen(s);
}

void fl_show_diff(const char *what, const char *got, const char *want)
{
    if (!got || !want) {
        fprintf(stderr, "    %s: no value to compare\n", what);
        return;
    }
    fprintf(stderr, "    %s differs (- reference, + this database):\n", what);
    /* Both are sorted line lists (the history in version order): a merge
     * shows what is missing and what is extra. */
    const char *a = want, *b = got;
    int shown = 0;
    while ((*a || *b) && shown < 20) {
        size_t la = line_len(a), lb = line_len(b);
        int cmp;
        if (!*a)
            cmp = 1;
        else if (!*b)
            cmp = -1;
        else {
            size_t n = la < lb ? la : lb;
            cmp = memcmp(a, b, n);
            if (cmp == 0)
                cmp = la == lb ? 0 : (la < lb ? -1 : 1);
        }
        if (cmp == 0) {
            a += la + (a[la] == '\n');
            b += lb + (b[lb] == '\n');
            continue;
        }
        if (cmp < 0) {
            fprintf(stderr, "      - %.*s\n", (int)la, a);
            a += la + (a[la] == '\n');
        } else {
            fprintf(stderr, "      + %.*s\n", (int)lb, b);
            b += lb + (b[lb] == '\n');
        }
        shown++;
    }
}

int fl_drop_invalid_indexes(PGconn *conn, char *names, size_t size)
{
    if (size)
        names[0] = '\0';
    PGresult *res = PQexec(
        conn, "SELECT format('%I.%I', n.nspname, c.relname)"
              " FROM pg_catalog.pg_index AS i"
              " JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid"
              " JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace"
              " WHERE NOT i.indisvalid ORDER BY 1");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "    cannot list invalid indexes: %s",
                PQresultErrorMessage(res));
        PQclear(res);
        return -1;
    }
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        char sql[512];
        snprintf(sql, sizeof sql, "DROP INDEX CONCURRENTLY IF EXISTS %s",
                 PQgetvalue(res, i, 0));
        if (!fl_exec(conn, sql)) {
            PQclear(res);
            return -1;
        }
        size_t at = strlen(names);
        if (at < size)
            snprintf(names + at, size - at, "%s%s", at ? "," : "",
                     PQgetvalue(res, i, 0));
    }
    PQclear(res);
    return n;
}

void fl_drop_database(PGconn *admin, const char *name)
{
    char *ident = PQescapeIdentifier(admin, name, strlen(name));
    if (!ident)
        return;
    char sql[512];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", ident);
    PQfreemem(ident);
    fl_exec(admin, sql);
}

/* Writes all of buf; false on failure. */
static bool write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Reads up to n bytes, until EOF; returns how many. */
static size_t read_all(int fd, void *buf, size_t n)
{
    char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

static _Noreturn void migrator(int fd, const char *conninfo,
                               const migc_catalog *catalog, int64_t target,
                               unsigned flags)
{
    signal(SIGALRM, SIG_DFL);
    alarm(CHILD_ALARM_S);
    PGconn *conn = PQconnectdb(conninfo);
    int backend = PQstatus(conn) == CONNECTION_OK ? PQbackendPID(conn) : 0;
    if (!write_all(fd, &backend, sizeof backend))
        _exit(102);
    if (backend == 0) {
        fprintf(stderr, "migrator: cannot connect: %s", PQerrorMessage(conn));
        _exit(100);
    }
    migc_options opt = MIGC_OPTIONS_INIT;
    opt.target_version = target;
    opt.flags = flags;
    migc_error err;
    migc_result rc = migc_up(conn, catalog, &opt, &err);
    static fl_outcome out;
    memset(&out, 0, sizeof out);
    out.rc = (int)rc;
    memcpy(out.sqlstate, err.sqlstate, sizeof out.sqlstate);
    out.version = err.version;
    out.statement_index = err.statement_index;
    memcpy(out.message, err.message, sizeof out.message);
    if (rc != MIGC_OK)
        migc_format_error(&err, out.text, sizeof out.text);
    write_all(fd, &out, sizeof out);
    close(fd);
    PQfinish(conn);
    _exit((int)rc);
}

void fl_spawn(fl_child *c, const char *conninfo, const migc_catalog *catalog,
              int64_t target, unsigned flags)
{
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        exit(1);
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        close(fds[0]);
        migrator(fds[1], conninfo, catalog, target, flags);
    }
    close(fds[1]);
    c->pid = pid;
    c->fd = fds[0];
    c->backend = 0;
    if (read_all(c->fd, &c->backend, sizeof c->backend) !=
            sizeof c->backend ||
        c->backend == 0) {
        fprintf(stderr, "the migrator did not connect\n");
        exit(1);
    }
}

int fl_finish(fl_child *c, fl_outcome *out)
{
    memset(out, 0, sizeof *out);
    out->rc = -1;
    int status = 0;
    while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (c->fd >= 0) {
        fl_outcome got;
        if (read_all(c->fd, &got, sizeof got) == sizeof got)
            *out = got;
        close(c->fd);
        c->fd = -1;
    }
    return status;
}

bool fl_kill(fl_child *c, int *status)
{
    kill(c->pid, SIGKILL);
    *status = 0;
    while (waitpid(c->pid, status, 0) < 0 && errno == EINTR)
        ;
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    return WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL;
}

double fl_wait_for(PGconn *admin, int backend, pid_t child, const char *sql,
                   double timeout_s)
{
    char pid[16];
    snprintf(pid, sizeof pid, "%d", backend);
    double start = fl_now();
    while (fl_now() - start < timeout_s) {
        if (fl_true(admin, sql, pid))
            return fl_now() - start;
        int status;
        if (child > 0 && waitpid(child, &status, WNOHANG) == child) {
            fprintf(stderr, "    the migrator exited (status %d) before the "
                            "awaited state\n", status);
            return -1;
        }
        fl_sleep_ms(10);
    }
    fprintf(stderr, "    timed out after %.0f s waiting for: %.200s\n",
            timeout_s, sql);
    return -1;
}

double fl_wait_backend_gone(PGconn *admin, int backend, double timeout_s)
{
    return fl_wait_for(admin, backend, 0,
                       "SELECT NOT EXISTS (SELECT 1 FROM "
                       "pg_catalog.pg_stat_activity WHERE pid = $1::integer)",
                       timeout_s);
}

long long fl_advisory_locks(PGconn *admin, const char *dbname)
{
    return fl_int(admin,
                  "SELECT count(*) FROM pg_catalog.pg_locks AS l"
                  " JOIN pg_catalog.pg_database AS d ON d.oid = l.database"
                  " WHERE l.locktype = 'advisory' AND d.datname = $1",
                  dbname);
}
