/*
 * test_kill.c -- kill -9 of the migrating process, and the ways out.
 *
 * The catalog (tests/fixtures/kill) has three migrations: 1 creates a
 * table; 2 is transactional and sleeps 5 s between two halves of work;
 * 3 runs without a transaction (-- migc:no-transaction): CREATE TABLE t3a,
 * SELECT pg_sleep(5), CREATE TABLE t3b.
 *
 * A forked child runs migc_up; once the server shows the child's backend
 * running pg_sleep (polled in pg_stat_activity from another connection),
 * the child gets SIGKILL.  Then:
 *
 *  (a) during migration 2: once the killed backend is gone, the database
 *      is at version 1 with no trace of migration 2, and a new migc_up
 *      (up to version 2) applies it.
 *  (b) during migration 3: the next migc_up refuses with MIGC_EINTERRUPTED
 *      pointing at statement 2 of the file, and migc_up with
 *      MIGC_RETRY_INTERRUPTED resumes at statement 2 and completes it.
 *  (c) the same interruption, recovered with migc_force to version 3: the
 *      following migc_up has nothing to do.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <migc/migc.h>

#include "harness.h"
#include "pgfixture.h"

extern const migc_catalog kill_catalog;

enum {
    CHILD_ALARM_S = 60,   /* a migrating child's own watchdog */
    WAIT_TIMEOUT_S = 30   /* for the sleep to start, a backend to end */
};

#define M3_FILE "000003_slow_no_transaction.up.sql"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static PGconn *connect_db(const char *conninfo)
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

/* The single value of a query with up to one parameter; "" on failure
 * (reported).  Returns buf. */
static char *query_text(PGconn *conn, const char *sql, const char *param,
                        char *buf, size_t size)
{
    const char *params[1] = {param};
    PGresult *res = PQexecParams(conn, sql, param ? 1 : 0, NULL,
                                 param ? params : NULL, NULL, NULL, 0);
    buf[0] = '\0';
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        snprintf(buf, size, "%s", PQgetvalue(res, 0, 0));
    } else {
        fprintf(stderr, "    query failed: %s    in: %s\n",
                PQresultErrorMessage(res), sql);
    }
    PQclear(res);
    return buf;
}

static long long query_int(PGconn *conn, const char *sql, const char *param)
{
    char buf[64];
    query_text(conn, sql, param, buf, sizeof buf);
    return buf[0] ? atoll(buf) : -1;
}

static bool table_exists(PGconn *conn, const char *name)
{
    char buf[16];
    query_text(conn, "SELECT to_regclass($1) IS NOT NULL", name, buf,
               sizeof buf);
    return strcmp(buf, "t") == 0;
}

/* "1:applied:2/2,2:running:..." -- the history in version order. */
static char *history(PGconn *conn, char *buf, size_t size)
{
    return query_text(conn,
                      "SELECT coalesce(string_agg(id || ':' || state || ':' || "
                      "statements_done || '/' || statements_total, ',' "
                      "ORDER BY version), '') FROM migc_history",
                      NULL, buf, size);
}

static void print_error(const char *what, migc_result rc, const migc_error *err)
{
    char buf[4096];
    migc_format_error(err, buf, sizeof buf);
    fprintf(stderr, "    %s returned %d (%s):\n%s", what, (int)rc,
            migc_strerror(rc), buf);
}

/* A child that migrates up to target (0: all); *backend receives its
 * server process id. */
static pid_t spawn_migrator(const char *conninfo, int64_t target, int *backend)
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
        alarm(CHILD_ALARM_S);
        close(fds[0]);
        PGconn *conn = PQconnectdb(conninfo);
        int bpid = PQstatus(conn) == CONNECTION_OK ? PQbackendPID(conn) : 0;
        if (write(fds[1], &bpid, sizeof bpid) != (ssize_t)sizeof bpid)
            _exit(102);
        close(fds[1]);
        if (bpid == 0) {
            fprintf(stderr, "migrator: cannot connect: %s",
                    PQerrorMessage(conn));
            _exit(100);
        }
        migc_options opt = MIGC_OPTIONS_INIT;
        opt.target_version = target;
        migc_error err;
        migc_result rc = migc_up(conn, &kill_catalog, &opt, &err);
        if (rc != MIGC_OK)
            print_error("migrator: migc_up", rc, &err);
        PQfinish(conn);
        fflush(stderr);
        _exit((int)rc);
    }
    close(fds[1]);
    *backend = 0;
    ssize_t got;
    do
        got = read(fds[0], backend, sizeof *backend);
    while (got < 0 && errno == EINTR);
    close(fds[0]);
    if (got != (ssize_t)sizeof *backend || *backend == 0) {
        fprintf(stderr, "the migrator did not connect\n");
        exit(1);
    }
    return pid;
}

/* Whether a backend is in some state; `pid` is its pid as text. */
typedef bool (*backend_state)(PGconn *admin, const char *pid);

/* Polls until ready(backend) holds.  Returns the seconds waited, or -1 on
 * timeout or when the child (when > 0) exited first. */
static double wait_until(PGconn *admin, int backend, pid_t child,
                         backend_state ready)
{
    char pidtext[16];
    snprintf(pidtext, sizeof pidtext, "%d", backend);
    double start = now_s();
    while (now_s() - start < WAIT_TIMEOUT_S) {
        if (ready(admin, pidtext))
            return now_s() - start;
        int status;
        if (child > 0 && waitpid(child, &status, WNOHANG) == child) {
            fprintf(stderr, "    the migrator exited (status %d) before the "
                            "sleep was seen\n", status);
            return -1;
        }
        sleep_ms(10);
    }
    fprintf(stderr, "    timed out after %d s\n", WAIT_TIMEOUT_S);
    return -1;
}

static bool query_true(PGconn *admin, const char *sql, const char *param)
{
    char buf[16];
    return strcmp(query_text(admin, sql, param, buf, sizeof buf), "t") == 0;
}

/* The backend is running a pg_sleep. */
static bool sleeping(PGconn *admin, const char *pid)
{
    return query_true(admin,
                      "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity "
                      "WHERE pid = $1::integer AND state = 'active' "
                      "AND query LIKE '%pg_sleep%')",
                      pid);
}

/* The backend is running migration 3's pg_sleep (statement 2): its history
 * row says statement 1 is done (migration 2 sleeps first, in a transaction
 * whose history row is not visible yet). */
static bool sleeping_in_3(PGconn *admin, const char *pid)
{
    return sleeping(admin, pid) &&
           query_true(admin, "SELECT to_regclass('public.migc_history') "
                             "IS NOT NULL", NULL) &&
           query_true(admin, "SELECT count(*) = 1 FROM migc_history WHERE "
                             "id = '3' AND state = 'running' AND "
                             "statements_done = 1", NULL);
}

static bool backend_gone(PGconn *admin, const char *pid)
{
    return query_true(admin,
                      "SELECT NOT EXISTS (SELECT 1 FROM "
                      "pg_catalog.pg_stat_activity WHERE pid = $1::integer)",
                      pid);
}

/* SIGKILL the child and reap it. */
static void kill_child(pid_t child)
{
    CHECK_INT(kill(child, SIGKILL), 0);
    int status = 0;
    CHECK_INT(waitpid(child, &status, 0), child);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

/* Starts a child migrating everything, waits for it to sleep in
 * migration 3 and kills it.  Returns the killed backend's pid. */
static int interrupt_migration_3(const char *conninfo, PGconn *admin)
{
    int backend;
    double t0 = now_s();
    pid_t child = spawn_migrator(conninfo, 0, &backend);
    double waited = wait_until(admin, backend, child, sleeping_in_3);
    CHECK(waited >= 0);
    kill_child(child);
    printf("  migration 3 sleeping after %.2f s: killed the migrator\n",
           now_s() - t0);
    /* What the kill left: statement 1 done, the row still "running". */
    char buf[256];
    CHECK_STR(history(admin, buf, sizeof buf),
              "1:applied:2/2,2:applied:6/6,3:running:1/3");
    CHECK(table_exists(admin, "t3a"));
    CHECK(!table_exists(admin, "t3b"));
    return backend;
}

/* (a) kill -9 during a transactional migration. */
static void test_transactional(void)
{
    th_case("kill during a transactional migration");
    printf("(a) kill -9 during transactional migration 2\n");
    char *conninfo = pgfix_create_database("kill_transactional");
    PGconn *admin = connect_db(conninfo);
    int backend;
    double t0 = now_s();
    pid_t child = spawn_migrator(conninfo, 2, &backend);
    double waited = wait_until(admin, backend, child, sleeping);
    CHECK(waited >= 0);
    kill_child(child);
    printf("  migration 2 sleeping after %.2f s: killed the migrator\n",
           now_s() - t0);
    char buf[256];
    printf("  history right after the kill: %s\n",
           history(admin, buf, sizeof buf));

    /* The server ends the orphaned backend (and so releases its advisory
     * lock); then nothing of migration 2 may remain. */
    double t1 = now_s();
    double gone = wait_until(admin, backend, 0, backend_gone);
    CHECK(gone >= 0);
    printf("  killed backend gone after %.2f s\n", now_s() - t1);
    CHECK_STR(history(admin, buf, sizeof buf), "1:applied:2/2");
    CHECK(table_exists(admin, "kill_base"));
    CHECK(!table_exists(admin, "t2a"));
    CHECK(!table_exists(admin, "t2b"));
    CHECK_INT(query_int(admin, "SELECT count(*) FROM kill_base", NULL), 1);
    CHECK_INT(query_int(admin, "SELECT count(*) FROM pg_catalog.pg_locks "
                               "WHERE locktype = 'advisory'", NULL),
              0);

    /* A new start applies migration 2 cleanly. */
    PGconn *conn = connect_db(conninfo);
    migc_options opt = MIGC_OPTIONS_INIT;
    opt.target_version = 2;
    migc_error err;
    double t2 = now_s();
    migc_result rc = migc_up(conn, &kill_catalog, &opt, &err);
    CHECK_INT(rc, MIGC_OK);
    if (rc != MIGC_OK)
        print_error("migc_up", rc, &err);
    printf("  migc_up to version 2 afterwards: %.2f s\n", now_s() - t2);
    CHECK_STR(history(admin, buf, sizeof buf), "1:applied:2/2,2:applied:6/6");
    CHECK(table_exists(admin, "t2a"));
    CHECK(table_exists(admin, "t2b"));
    CHECK_INT(query_int(admin, "SELECT count(*) FROM t2a", NULL), 1000);
    CHECK_INT(query_int(admin, "SELECT count(*) FROM kill_base", NULL), 2);
    PQfinish(conn);
    PQfinish(admin);
    free(conninfo);
}

/* (b) kill -9 during a non-transactional migration; resume it. */
static void test_retry(void)
{
    th_case("kill during a non-transactional migration, then retry");
    printf("(b) kill -9 during non-transactional migration 3, then retry\n");
    char *conninfo = pgfix_create_database("kill_retry");
    PGconn *admin = connect_db(conninfo);
    interrupt_migration_3(conninfo, admin);

    /* The next start waits for the lock (the orphaned backend holds it
     * until it ends), then refuses, pointing at statement 2. */
    PGconn *conn = connect_db(conninfo);
    migc_error err;
    memset(&err, 0, sizeof err);
    double t0 = now_s();
    migc_result rc = migc_up(conn, &kill_catalog, NULL, &err);
    printf("  migc_up after the kill: %.2f s, result %d (%s)\n", now_s() - t0,
           (int)rc, migc_strerror(rc));
    CHECK_INT(rc, MIGC_EINTERRUPTED);
    CHECK_INT(err.code, MIGC_EINTERRUPTED);
    CHECK_INT(err.version, 3);
    CHECK_STR(err.id, "3");
    CHECK(err.file != NULL && strstr(err.file, M3_FILE) != NULL);
    CHECK_INT(err.statement_index, 2);
    CHECK_INT(err.line, 5);
    CHECK_INT(err.statement_line, 5);
    CHECK(err.statement != NULL &&
          strncmp(err.statement, "SELECT pg_sleep(5)", 18) == 0);
    CHECK(strstr(err.hint, "retry") != NULL ||
          strstr(err.hint, "RETRY") != NULL);
    CHECK(strstr(err.hint, "force") != NULL);
    char text[4096];
    size_t len = migc_format_error(&err, text, sizeof text);
    CHECK(len > 0 && len < sizeof text);
    CHECK(strstr(text, M3_FILE) != NULL);
    CHECK(strstr(text, ":5:") != NULL);
    CHECK(strstr(text, M3_FILE ":5:") != NULL);
    printf("  migc_format_error:\n%s", text);
    CHECK(PQtransactionStatus(conn) == PQTRANS_IDLE);
    char buf[256];
    CHECK_STR(history(admin, buf, sizeof buf),
              "1:applied:2/2,2:applied:6/6,3:running:1/3");

    /* The documented way out: resume at statement 2. */
    migc_options opt = MIGC_OPTIONS_INIT;
    opt.flags = MIGC_RETRY_INTERRUPTED;
    t0 = now_s();
    rc = migc_up(conn, &kill_catalog, &opt, &err);
    CHECK_INT(rc, MIGC_OK);
    if (rc != MIGC_OK)
        print_error("migc_up with MIGC_RETRY_INTERRUPTED", rc, &err);
    printf("  migc_up with MIGC_RETRY_INTERRUPTED: %.2f s\n", now_s() - t0);
    CHECK_STR(history(admin, buf, sizeof buf),
              "1:applied:2/2,2:applied:6/6,3:applied:3/3");
    CHECK(table_exists(admin, "t3a"));
    CHECK(table_exists(admin, "t3b"));
    CHECK_INT(query_int(admin, "SELECT count(*) FROM migc_history WHERE "
                               "error IS NOT NULL", NULL),
              0);

    /* And then the database is simply up to date. */
    t0 = now_s();
    CHECK_INT(migc_up(conn, &kill_catalog, NULL, &err), MIGC_OK);
    CHECK(now_s() - t0 < 2.0);
    PQfinish(conn);
    PQfinish(admin);
    free(conninfo);
}

static void collect_log(void *ctx, const char *line)
{
    int *applied = ctx;
    if (strncmp(line, "migc: applied", 13) == 0)
        (*applied)++;
}

/* (c) the same interruption, recorded as applied with migc_force. */
static void test_force(void)
{
    th_case("kill during a non-transactional migration, then force");
    printf("(c) kill -9 during non-transactional migration 3, then force\n");
    char *conninfo = pgfix_create_database("kill_force");
    PGconn *admin = connect_db(conninfo);
    interrupt_migration_3(conninfo, admin);

    PGconn *conn = connect_db(conninfo);
    migc_error err;
    double t0 = now_s();
    migc_result rc = migc_force(conn, &kill_catalog, NULL, 3, &err);
    CHECK_INT(rc, MIGC_OK);
    if (rc != MIGC_OK)
        print_error("migc_force", rc, &err);
    printf("  migc_force to version 3: %.2f s\n", now_s() - t0);
    char buf[256];
    CHECK_STR(history(admin, buf, sizeof buf),
              "1:applied:2/2,2:applied:6/6,3:applied:3/3");

    int applied = 0;
    migc_options opt = MIGC_OPTIONS_INIT;
    opt.log = collect_log;
    opt.log_ctx = &applied;
    rc = migc_up(conn, &kill_catalog, &opt, &err);
    CHECK_INT(rc, MIGC_OK);
    if (rc != MIGC_OK)
        print_error("migc_up after migc_force", rc, &err);
    CHECK_INT(applied, 0);
    /* Nothing ran: statement 3 was never executed. */
    CHECK(table_exists(admin, "t3a"));
    CHECK(!table_exists(admin, "t3b"));
    CHECK_STR(history(admin, buf, sizeof buf),
              "1:applied:2/2,2:applied:6/6,3:applied:3/3");
    PQfinish(conn);
    PQfinish(admin);
    free(conninfo);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* in order with stderr */
    double t0 = now_s();
    pgfix_start();
    CHECK_INT(kill_catalog.count, 3);
    test_transactional();
    printf("  (a) done at %.2f s\n", now_s() - t0);
    test_retry();
    printf("  (b) done at %.2f s\n", now_s() - t0);
    test_force();
    printf("kill test: %.2f s in all\n", now_s() - t0);
    fflush(stdout);
    return th_finish();
}
