/*
 * test_replicas.c -- sixteen replicas start together and migrate one
 * database: every migration is applied exactly once, and nobody hangs.
 *
 * The catalog (tests/fixtures/replicas) has 50 migrations.  Migration 1
 * creates the table `effects`, and every migration but 25 inserts its own
 * number into it, in the same transaction as its DDL; migration 25 is a
 * lone CREATE INDEX CONCURRENTLY on a table of 20000 rows (it runs without
 * a transaction, so its effect is checked in pg_index instead).
 *
 * Each of ROUNDS rounds uses a fresh database: REPLICAS child processes are
 * forked, block on a pipe, and are released at once when the parent closes
 * it; each connects with PQconnectdb and calls migc_up with the default
 * options.  Every child must exit 0 (its exit status is migc_up's result;
 * it prints migc_format_error on failure).  A child that hangs is killed by
 * its own alarm(), and the parent gives up on a round after
 * ROUND_TIMEOUT_S, killing stragglers.  Then the history must hold 50
 * applied rows, `effects` 49 distinct rows in migration order, the index
 * must be valid, and no advisory lock may be left.
 *
 * MIGC_TEST_QUICK=1 (tests/valgrind.sh, where every replica runs under
 * valgrind): QUICK_ROUNDS rounds of QUICK_REPLICAS replicas, each round
 * checked in full as above.
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

extern const migc_catalog replicas_catalog;

enum {
    ROUNDS = 20,
    REPLICAS = 16,
    QUICK_ROUNDS = 2,         /* MIGC_TEST_QUICK=1 */
    QUICK_REPLICAS = 8,
    ROUND_TIMEOUT_S = 60,     /* the parent's limit for one round */
    CHILD_ALARM_S = 55,       /* a child's own watchdog */
    EXIT_NO_CONNECTION = 100, /* a child could not connect */
    EXIT_NO_START = 101       /* a child was not released properly */
};

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

/* One replica: waits for the start signal (EOF on go_fd), migrates, and
 * exits with migc_up's result. */
static _Noreturn void replica(const char *conninfo, int go_fd, int index)
{
    alarm(CHILD_ALARM_S);
    char c;
    ssize_t got;
    do
        got = read(go_fd, &c, 1);
    while (got < 0 && errno == EINTR);
    close(go_fd);
    if (got != 0) {
        fprintf(stderr, "replica %d: bad start signal\n", index);
        _exit(EXIT_NO_START);
    }
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "replica %d: cannot connect: %s", index,
                PQerrorMessage(conn));
        PQfinish(conn);
        _exit(EXIT_NO_CONNECTION);
    }
    migc_error err;
    memset(&err, 0, sizeof err);
    migc_result rc = migc_up(conn, &replicas_catalog, NULL, &err);
    if (rc != MIGC_OK) {
        char buf[4096];
        migc_format_error(&err, buf, sizeof buf);
        fprintf(stderr, "replica %d (pid %ld): migc_up returned %d (%s):\n%s",
                index, (long)getpid(), (int)rc, migc_strerror(rc), buf);
    } else if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
        fprintf(stderr, "replica %d: connection left not idle\n", index);
        rc = MIGC_EPROTOCOL;
    }
    PQfinish(conn);
    fflush(stderr);
    _exit((int)rc);
}

/* The single row of a query, or NULL (reported).  The caller PQclear's. */
static PGresult *query_row(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        return res;
    fprintf(stderr, "    query failed (%d rows): %s    in: %s\n",
            PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : -1,
            PQresultErrorMessage(res), sql);
    PQclear(res);
    return NULL;
}

static long long query_int(PGconn *conn, const char *sql)
{
    PGresult *res = query_row(conn, sql);
    long long v = res ? atoll(PQgetvalue(res, 0, 0)) : -1;
    PQclear(res);
    return v;
}

/* Checks what one round left in its database. */
static void check_database(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);
    CHECK(PQstatus(conn) == CONNECTION_OK);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "    %s", PQerrorMessage(conn));
        PQfinish(conn);
        return;
    }
    /* Exactly 50 history rows, all applied and complete. */
    PGresult *res = query_row(
        conn, "SELECT count(*), count(*) FILTER (WHERE state = 'applied'), "
              "count(*) FILTER (WHERE statements_done = statements_total), "
              "count(DISTINCT version), min(version), max(version) "
              "FROM migc_history");
    CHECK(res != NULL);
    if (res) {
        CHECK_INT(atoll(PQgetvalue(res, 0, 0)), 50);      /* rows */
        CHECK_INT(atoll(PQgetvalue(res, 0, 1)), 50);      /* applied */
        CHECK_INT(atoll(PQgetvalue(res, 0, 2)), 50);      /* complete */
        CHECK_INT(atoll(PQgetvalue(res, 0, 3)), 50);      /* distinct */
        CHECK_INT(atoll(PQgetvalue(res, 0, 4)), 1);
        CHECK_INT(atoll(PQgetvalue(res, 0, 5)), 50);
    }
    PQclear(res);
    /* Every side effect exactly once: 49 rows, one per migration but 25. */
    res = query_row(
        conn, "SELECT count(*), count(DISTINCT migration), "
              "coalesce(sum(migration), 0), "
              "count(*) FILTER (WHERE migration = 25), "
              "count(*) FILTER (WHERE migration < 1 OR migration > 50) "
              "FROM effects");
    CHECK(res != NULL);
    if (res) {
        CHECK_INT(atoll(PQgetvalue(res, 0, 0)), 49);      /* rows */
        CHECK_INT(atoll(PQgetvalue(res, 0, 1)), 49);      /* distinct */
        CHECK_INT(atoll(PQgetvalue(res, 0, 2)), 50 * 51 / 2 - 25);
        CHECK_INT(atoll(PQgetvalue(res, 0, 3)), 0);
        CHECK_INT(atoll(PQgetvalue(res, 0, 4)), 0);
    }
    PQclear(res);
    res = PQexec(conn, "SELECT migration, count(*) FROM effects "
                       "GROUP BY migration HAVING count(*) > 1 "
                       "ORDER BY migration");
    CHECK(PQresultStatus(res) == PGRES_TUPLES_OK);
    CHECK_INT(PQntuples(res), 0);
    for (int i = 0; i < PQntuples(res); i++)
        fprintf(stderr, "    migration %s applied %s times\n",
                PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
    PQclear(res);
    /* Applied in order: the effects' times increase with the number. */
    CHECK_INT(query_int(conn,
                        "SELECT count(*) FROM (SELECT migration, lag(migration) "
                        "OVER (ORDER BY at, migration) AS prev FROM effects) s "
                        "WHERE prev > migration"),
              0);
    /* The CREATE INDEX CONCURRENTLY of migration 25 built a valid index. */
    res = query_row(conn, "SELECT count(*), bool_and(i.indisvalid), "
                          "bool_and(i.indisready) FROM pg_catalog.pg_index i "
                          "WHERE i.indexrelid = "
                          "to_regclass('public.big_payload_idx')");
    CHECK(res != NULL);
    if (res) {
        CHECK_INT(atoll(PQgetvalue(res, 0, 0)), 1);
        CHECK_STR(PQgetvalue(res, 0, 1), "t");
        CHECK_STR(PQgetvalue(res, 0, 2), "t");
    }
    PQclear(res);
    /* The other migrations' objects are all there. */
    CHECK_INT(query_int(conn, "SELECT count(*) FROM pg_catalog.pg_tables "
                              "WHERE schemaname = 'public'"),
              1 + 8 + 1 + 8 + 1); /* effects, items, big, entries, history */
    CHECK_INT(query_int(conn, "SELECT count(*) FROM big"), 20000);
    CHECK_INT(query_int(conn, "SELECT count(*) FROM entry_28"), 100);
    CHECK_INT(query_int(conn, "SELECT migrations FROM effect_summary"), 49);
    /* The status agrees, and one more start has nothing to do. */
    migc_status_report *report = NULL;
    migc_error err;
    CHECK_INT(migc_status(conn, &replicas_catalog, NULL, &report, &err),
              MIGC_OK);
    if (report) {
        CHECK_INT(report->count, 50);
        CHECK_INT(report->pending, 0);
        CHECK_INT(report->current_version, 50);
        migc_status_free(report);
    }
    CHECK_INT(migc_up(conn, &replicas_catalog, NULL, &err), MIGC_OK);
    /* Every replica released the lock (their backends may still be
     * ending: wait a little). */
    long long locks = -1;
    for (int i = 0; i < 250; i++) {
        locks = query_int(conn, "SELECT count(*) FROM pg_catalog.pg_locks "
                                "WHERE locktype = 'advisory'");
        if (locks == 0)
            break;
        sleep_ms(20);
    }
    CHECK_INT(locks, 0);
    PQfinish(conn);
}

static int replicas = REPLICAS; /* QUICK_REPLICAS under MIGC_TEST_QUICK */

/* One round: returns its duration in seconds. */
static double round_trip(int round)
{
    char name[32], label[64];
    snprintf(name, sizeof name, "replicas_%02d", round);
    snprintf(label, sizeof label, "round %d", round);
    th_case(label);
    char *conninfo = pgfix_create_database(name);

    int go[2];
    if (pipe(go) != 0) {
        perror("pipe");
        exit(1);
    }
    pid_t pids[REPLICAS];
    int status[REPLICAS];
    bool done[REPLICAS];
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < replicas; i++) {
        done[i] = false;
        status[i] = -1;
        pids[i] = fork();
        if (pids[i] < 0) {
            perror("fork");
            exit(1);
        }
        if (pids[i] == 0) {
            close(go[1]);
            replica(conninfo, go[0], i);
        }
    }
    close(go[0]);
    double start = now_s();
    close(go[1]); /* every replica reads EOF at once */

    int remaining = replicas;
    while (remaining > 0 && now_s() - start < ROUND_TIMEOUT_S) {
        bool reaped = false;
        for (int i = 0; i < replicas; i++) {
            if (done[i])
                continue;
            pid_t w = waitpid(pids[i], &status[i], WNOHANG);
            if (w == pids[i]) {
                done[i] = true;
                remaining--;
                reaped = true;
            }
        }
        if (!reaped)
            sleep_ms(5);
    }
    double elapsed = now_s() - start;

    for (int i = 0; i < replicas; i++) {
        if (!done[i]) {
            fprintf(stderr, "round %d: replica %d (pid %ld) hung for more "
                            "than %d s: killing it\n",
                    round, i, (long)pids[i], ROUND_TIMEOUT_S);
            kill(pids[i], SIGKILL);
            waitpid(pids[i], &status[i], 0);
            th_check(false, __FILE__, __LINE__, "a replica hung");
            continue;
        }
        if (WIFEXITED(status[i])) {
            if (WEXITSTATUS(status[i]) != 0)
                fprintf(stderr, "round %d: replica %d exited with %d\n", round,
                        i, WEXITSTATUS(status[i]));
            CHECK_INT(WEXITSTATUS(status[i]), MIGC_OK);
        } else {
            fprintf(stderr, "round %d: replica %d died of signal %d%s\n",
                    round, i, WTERMSIG(status[i]),
                    WTERMSIG(status[i]) == SIGALRM ? " (its watchdog: hung)"
                                                   : "");
            th_check(false, __FILE__, __LINE__, "a replica died of a signal");
        }
    }
    check_database(conninfo);
    free(conninfo);
    return elapsed;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* in order with stderr */
    int rounds = ROUNDS;
    if (th_quick()) {
        rounds = QUICK_ROUNDS;
        replicas = QUICK_REPLICAS;
        printf("MIGC_TEST_QUICK=1: %d rounds of %d replicas\n", rounds,
               replicas);
    }
    pgfix_start();
    CHECK_INT(replicas_catalog.count, 50);
    double total = 0, slowest = 0;
    for (int round = 1; round <= rounds; round++) {
        double t = round_trip(round);
        printf("round %2d: %d replicas migrated in %.2f s\n", round, replicas,
               t);
        fflush(stdout);
        total += t;
        if (t > slowest)
            slowest = t;
    }
    printf("%d rounds of %d replicas x %zu migrations: %.2f s in all "
           "(mean %.2f s, slowest %.2f s)\n",
           rounds, replicas, replicas_catalog.count, total, total / rounds,
           slowest);
    return th_finish();
}
