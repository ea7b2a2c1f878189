/*
 * test_herd64.c -- 64 processes start together on one database and
 * migrate it with the default options (the session advisory lock), five
 * times: every process gets MIGC_OK, every migration is applied exactly
 * once (its history row and its side effect), nobody deadlocks or hangs.
 *
 * The catalog is tests/fixtures/replicas (50 migrations; migration 1
 * creates `effects`, every migration but 25 inserts its own number into
 * it, migration 25 is a lone CREATE INDEX CONCURRENTLY on 20000 rows).
 * Each round uses a fresh database.  The processes are forked, block on a
 * pipe and are released at once (topo_herd_run); each connects directly
 * to the server's socket and calls migc_up, counting the migrations it
 * applied from its log.  Each has its own alarm (55 s) and the parent
 * kills any left after 60 s.  The fixture's server has max_connections =
 * 200.
 *
 * Checked per round: all 64 results MIGC_OK; the processes' "applied"
 * counts sum to 50; 50 history rows, applied and complete; `effects` has
 * 49 distinct rows in migration order; the concurrent index is valid; no
 * advisory lock is left; the server log has no "deadlock detected"; one
 * more migc_up has nothing to do.  Timings are printed per round.
 *
 * MIGC_TEST_QUICK=1 (tests/valgrind.sh, where every process runs under
 * valgrind): QUICK_ROUNDS rounds of QUICK_PROCESSES processes, each round
 * checked in full as above.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <migc/migc.h>

#include "harness.h"
#include "pgfixture.h"
#include "topo.h"

extern const migc_catalog replicas_catalog;

enum {
    ROUNDS = 5,
    PROCESSES = 64,
    QUICK_ROUNDS = 2,     /* MIGC_TEST_QUICK=1 */
    QUICK_PROCESSES = 16,
    ROUND_TIMEOUT_S = 60,
    TEST_ALARM_S = 170 /* the whole test (ctest's TIMEOUT is 240) */
};

static int member(int index, void *arg, topo_member_report *out)
{
    const char *conninfo = arg;
    double t0 = topo_now_s();
    PGconn *conn = PQconnectdb(conninfo);
    out->connect_ms = (topo_now_s() - t0) * 1000;
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "process %d: cannot connect: %s", index,
                PQerrorMessage(conn));
        PQfinish(conn);
        out->rc = 100;
        return 100;
    }
    migc_options opt;
    memset(&opt, 0, sizeof opt);
    opt.log = topo_count_applied;
    opt.log_ctx = &out->applied;
    migc_error err;
    t0 = topo_now_s();
    migc_result rc = migc_up(conn, &replicas_catalog, &opt, &err);
    out->up_ms = (topo_now_s() - t0) * 1000;
    if (rc != MIGC_OK) {
        char buf[4096];
        migc_format_error(&err, buf, sizeof buf);
        fprintf(stderr, "process %d (pid %ld): migc_up returned %d (%s):\n%s",
                index, (long)getpid(), (int)rc, migc_strerror(rc), buf);
    } else if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
        fprintf(stderr, "process %d: connection left not idle\n", index);
        rc = MIGC_EPROTOCOL;
    }
    PQfinish(conn);
    out->rc = (int)rc;
    return (int)rc;
}

/* How many times `needle` occurs in the file (the server log). */
static long count_in_file(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long n = 0;
    char line[8192];
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle))
            n++;
    fclose(f);
    return n;
}

static void check_database(const char *conninfo)
{
    PGconn *conn = topo_connect(conninfo);
    CHECK(conn != NULL);
    if (!conn)
        return;
    PGresult *res = PQexec(
        conn, "SELECT count(*), count(*) FILTER (WHERE state = 'applied'), "
              "count(*) FILTER (WHERE statements_done = statements_total), "
              "count(DISTINCT version), min(version), max(version) "
              "FROM migc_history");
    CHECK(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        CHECK_INT(atoll(PQgetvalue(res, 0, 0)), 50);
        CHECK_INT(atoll(PQgetvalue(res, 0, 1)), 50);
        CHECK_INT(atoll(PQgetvalue(res, 0, 2)), 50);
        CHECK_INT(atoll(PQgetvalue(res, 0, 3)), 50);
        CHECK_INT(atoll(PQgetvalue(res, 0, 4)), 1);
        CHECK_INT(atoll(PQgetvalue(res, 0, 5)), 50);
    }
    PQclear(res);
    res = PQexec(conn, "SELECT count(*), count(DISTINCT migration), "
                       "coalesce(sum(migration), 0), "
                       "count(*) FILTER (WHERE migration = 25) FROM effects");
    CHECK(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        CHECK_INT(atoll(PQgetvalue(res, 0, 0)), 49);
        CHECK_INT(atoll(PQgetvalue(res, 0, 1)), 49);
        CHECK_INT(atoll(PQgetvalue(res, 0, 2)), 50 * 51 / 2 - 25);
        CHECK_INT(atoll(PQgetvalue(res, 0, 3)), 0);
    }
    PQclear(res);
    res = PQexec(conn, "SELECT migration, count(*) FROM effects GROUP BY "
                       "migration HAVING count(*) > 1 ORDER BY migration");
    CHECK_INT(PQntuples(res), 0);
    for (int i = 0; i < PQntuples(res); i++)
        fprintf(stderr, "    migration %s applied %s times\n",
                PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
    PQclear(res);
    CHECK_INT(topo_query_int(conn,
                             "SELECT count(*) FROM (SELECT migration, "
                             "lag(migration) OVER (ORDER BY at, migration) "
                             "AS prev FROM effects) s WHERE prev > migration"),
              0);
    CHECK_INT(topo_query_int(conn,
                             "SELECT count(*) FROM pg_catalog.pg_index WHERE "
                             "indexrelid = to_regclass('public.big_payload_idx')"
                             " AND indisvalid AND indisready"),
              1);
    CHECK_INT(topo_query_int(conn, "SELECT count(*) FROM big"), 20000);
    CHECK_INT(topo_query_int(conn, "SELECT migrations FROM effect_summary"),
              49);
    migc_error err;
    CHECK_INT(migc_up(conn, &replicas_catalog, NULL, &err), MIGC_OK);
    long long locks = -1;
    for (int i = 0; i < 250 && locks != 0; i++) {
        locks = topo_query_int(conn, "SELECT count(*) FROM pg_catalog.pg_locks "
                                     "WHERE locktype = 'advisory'");
        if (locks != 0)
            topo_sleep_ms(20);
    }
    CHECK_INT(locks, 0);
    PQfinish(conn);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rounds = ROUNDS, processes = PROCESSES;
    if (th_quick()) {
        rounds = QUICK_ROUNDS;
        processes = QUICK_PROCESSES;
        printf("MIGC_TEST_QUICK=1: %d rounds of %d processes\n", rounds,
               processes);
    }
    topo_guard_start();
    alarm(TEST_ALARM_S);
    pgfix_start();
    topo_guard_fixture();
    CHECK_INT(replicas_catalog.count, 50);
    PGconn *admin = topo_connect(pgfix_start());
    CHECK(admin != NULL);
    if (admin) {
        long long max_conn = topo_query_int(admin, "SHOW max_connections");
        printf("server max_connections = %lld\n", max_conn);
        CHECK(max_conn >= processes + 16);
        PQfinish(admin);
    }
    const char *log = pgfix_server_log();
    double total = 0, slowest = 0;
    for (int round = 1; round <= rounds; round++) {
        char name[32], label[64];
        snprintf(name, sizeof name, "herd64_%d", round);
        snprintf(label, sizeof label, "round %d", round);
        th_case(label);
        char *conninfo = pgfix_create_database(name);
        long deadlocks_before = count_in_file(log, "deadlock detected");
        topo_herd h;
        topo_herd_run(&h, processes, member, conninfo, ROUND_TIMEOUT_S);
        topo_herd_print(&h, label);
        CHECK_INT(h.hung, 0);
        CHECK_INT(h.watchdog, 0);
        int applied = 0;
        for (int i = 0; i < h.n; i++) {
            if (h.status[i] != MIGC_OK)
                fprintf(stderr, "%s: process %d ended with status %d\n",
                        label, i, h.status[i]);
            CHECK_INT(h.status[i], MIGC_OK);
            CHECK(h.reported[i]);
            applied += h.report[i].applied;
        }
        CHECK_INT(applied, 50); /* exactly once, as the processes saw it */
        CHECK_INT(count_in_file(log, "deadlock detected"), deadlocks_before);
        check_database(conninfo);
        free(conninfo);
        total += h.wall_s;
        if (h.wall_s > slowest)
            slowest = h.wall_s;
    }
    printf("%d rounds of %d processes x %zu migrations (session lock): "
           "%.2f s in all, mean %.2f s, slowest %.2f s\n",
           rounds, processes, replicas_catalog.count, total, total / rounds,
           slowest);
    return th_finish();
}
