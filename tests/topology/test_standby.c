/*
 * test_standby.c -- migc_up against a read-only streaming standby, and a
 * multi-host connection string that lets libpq find the primary.
 *
 * The fixture's cluster is the primary.  The test puts "local replication
 * all trust" first in its pg_hba.conf and reloads it (checked through
 * pg_hba_file_rules), creates the database, and makes
 * a standby with pg_basebackup -R -X stream (as the postgres OS user when
 * root) into a temporary directory; the standby runs with hot_standby = on
 * on its own socket directory.  The catalog is tests/fixtures/replicas
 * (50 migrations, one CREATE INDEX CONCURRENTLY).
 *
 * Checked:
 *  - migc_status works on the standby (50 pending);
 *  - migc_up on the standby returns MIGC_EREADONLY: "the server is a
 *    standby (in recovery): migrations run on the primary", with the hint
 *    to use target_session_attrs=read-write; the connection stays idle and
 *    nothing is created on the primary;
 *  - a read-only session on the primary (default_transaction_read_only)
 *    gets MIGC_EREADONLY too;
 *  - "host=<standby>,<primary> port=<p>,<p> target_session_attrs=read-write"
 *    skips the standby, lands on the primary, and migc_up applies all 50;
 *  - the standby replays them: its history, the side effects and the
 *    concurrent index appear there (waited for by LSN, at most 30 s);
 *  - then migc_up on the standby has nothing to do and returns MIGC_OK.
 * The standby and its directory are removed at the end, even on failure
 * (topo.c's guard).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <migc/migc.h>

#include "harness.h"
#include "pgfixture.h"
#include "topo.h"

extern const migc_catalog replicas_catalog;

enum { TEST_ALARM_S = 150 /* the whole test (ctest's TIMEOUT is 180) */ };

static struct {
    char *dir;
    char data[512];
    char log[512];
    char cmdlog[512];
    char conninfo[1024];
} standby;

static char primary_dir[512], port[16];

static void fail_with_logs(const char *what)
{
    topo_print_tail(standby.cmdlog, "commands");
    topo_print_tail(standby.log, "standby server log");
    fprintf(stderr, "FATAL: %s\n", what);
    exit(1);
}

/* Lets local connections replicate: puts "local replication all trust"
 * first in the primary's pg_hba.conf (first match wins) and reloads. */
static void allow_replication(PGconn *primary)
{
    char *hba = topo_query_text(primary, "SHOW hba_file");
    if (!hba)
        exit(1);
    FILE *f = fopen(hba, "r");
    char *old = NULL;
    size_t len = 0;
    if (f) {
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        rewind(f);
        old = size >= 0 ? calloc((size_t)size + 1, 1) : NULL;
        len = old ? fread(old, 1, (size_t)size, f) : 0;
        fclose(f);
    }
    f = old ? fopen(hba, "w") : NULL; /* in place: owner and mode kept */
    if (!f || fputs("# test_standby: replication for pg_basebackup and the "
                    "standby\nlocal replication all trust\n", f) < 0 ||
        fwrite(old, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "FATAL: cannot rewrite %s\n", hba);
        exit(1);
    }
    free(old);
    free(hba);
    CHECK(topo_exec(primary, "SELECT pg_catalog.pg_reload_conf()"));
    const char *rule = "SELECT count(*) FROM pg_catalog.pg_hba_file_rules "
                       "WHERE line_number = 2 AND type = 'local' AND "
                       "database = '{replication}' AND auth_method = 'trust' "
                       "AND error IS NULL";
    long long ok = 0;
    for (int i = 0; i < 100 && (ok = topo_query_int(primary, rule)) != 1; i++)
        topo_sleep_ms(50);
    CHECK_INT(ok, 1);
    printf("primary: pg_hba.conf starts with \"local replication all trust\"\n");
}

static void make_standby(void)
{
    standby.dir = topo_make_temp_dir("pgstandby");
    snprintf(standby.data, sizeof standby.data, "%s/data", standby.dir);
    snprintf(standby.log, sizeof standby.log, "%s/server.log", standby.dir);
    snprintf(standby.cmdlog, sizeof standby.cmdlog, "%s/commands.log",
             standby.dir);
    char basebackup[4200], pg_ctl[4200], opts[1024];
    snprintf(basebackup, sizeof basebackup, "%s/pg_basebackup", pgfix_bindir());
    snprintf(pg_ctl, sizeof pg_ctl, "%s/pg_ctl", pgfix_bindir());
    double t0 = topo_now_s();
    const char *bb[] = {basebackup, "-h", primary_dir, "-p", port,
                        "-U", "postgres", "-D", standby.data, "-R",
                        "-X", "stream", "-c", "fast", "-N", NULL};
    int status = topo_wait(topo_spawn(bb, standby.cmdlog, standby.dir, true),
                           90);
    if (status != 0)
        fail_with_logs("pg_basebackup failed");
    double t1 = topo_now_s();
    topo_guard_pgdata(standby.data);
    /* The standby needs max_connections >= the primary's (200). */
    snprintf(opts, sizeof opts,
             "-k '%s' -p %s -F -c listen_addresses='' -c hot_standby=on "
             "-c max_connections=200",
             standby.dir, port);
    const char *start[] = {pg_ctl, "-D", standby.data, "-l", standby.log,
                           "-w", "-t", "60", "-o", opts, "start", NULL};
    status = topo_wait(topo_spawn(start, standby.cmdlog, standby.dir, true),
                       90);
    if (status != 0)
        fail_with_logs("the standby did not start");
    snprintf(standby.conninfo, sizeof standby.conninfo,
             "host=%s port=%s user=postgres dbname=standby_app",
             standby.dir, port);
    printf("standby: pg_basebackup -R in %.2f s, started in %.2f s "
           "(socket %s)\n", t1 - t0, topo_now_s() - t1, standby.dir);
}

static void stop_standby(void)
{
    CHECK_INT(topo_pg_ctl_stop(standby.data, "fast", standby.cmdlog), 0);
    topo_guard_forget_pgdata(standby.data);
    topo_remove_dir(standby.dir);
    CHECK(access(standby.dir, F_OK) != 0);
}

static void check_error(const migc_error *err, migc_result rc,
                        const char *label)
{
    char text[4096];
    migc_format_error(err, text, sizeof text);
    printf("%s: migc_up returned %d (%s)\n%s", label, (int)rc,
           migc_strerror(rc), text);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    topo_guard_start();
    alarm(TEST_ALARM_S);
    pgfix_start();
    topo_guard_fixture();
    snprintf(primary_dir, sizeof primary_dir, "%s", pgfix_socket_dir());
    char *primary_info = pgfix_create_database("standby_app");
    PGconn *primary = topo_connect(primary_info);
    if (!primary)
        return 1;
    char *p = topo_query_text(primary, "SHOW port");
    snprintf(port, sizeof port, "%s", p ? p : "5432");
    free(p);
    allow_replication(primary);
    make_standby();

    th_case("the standby");
    PGconn *sb = topo_connect(standby.conninfo);
    CHECK(sb != NULL);
    if (!sb)
        fail_with_logs("cannot connect to the standby");
    char *rec = topo_query_text(sb, "SELECT pg_catalog.pg_is_in_recovery()");
    CHECK_STR(rec, "t");
    free(rec);
    long long streaming = 0;
    for (int i = 0; i < 200 && streaming < 1; i++) {
        streaming = topo_query_int(primary,
                                   "SELECT count(*) FROM pg_catalog."
                                   "pg_stat_replication WHERE state = "
                                   "'streaming'");
        if (streaming < 1)
            topo_sleep_ms(50);
    }
    CHECK_INT(streaming, 1);

    /* Status works on a standby. */
    migc_status_report *report = NULL;
    migc_error err;
    CHECK_INT(migc_status(sb, &replicas_catalog, NULL, &report, &err), MIGC_OK);
    if (report) {
        CHECK_INT(report->pending, 50);
        migc_status_free(report);
    }

    th_case("migc_up on the standby");
    memset(&err, 0, sizeof err);
    migc_result rc = migc_up(sb, &replicas_catalog, NULL, &err);
    check_error(&err, rc, "on the standby");
    CHECK_INT(rc, MIGC_EREADONLY);
    CHECK_INT(err.code, MIGC_EREADONLY);
    CHECK(strstr(err.message, "standby") != NULL);
    CHECK(strstr(err.message, "migrations run on the primary") != NULL);
    CHECK(strstr(err.hint, "target_session_attrs=read-write") != NULL);
    CHECK(PQstatus(sb) == CONNECTION_OK);
    CHECK(PQtransactionStatus(sb) == PQTRANS_IDLE);
    CHECK_INT(topo_query_int(sb, "SELECT 1"), 1); /* still usable */
    CHECK_INT(topo_query_int(primary, "SELECT count(*) FROM pg_catalog.pg_class"
                                      " WHERE relname = 'migc_history'"),
              0);

    th_case("a read-only session on the primary");
    char ro_info[1200];
    snprintf(ro_info, sizeof ro_info,
             "%s options='-c default_transaction_read_only=on'", primary_info);
    PGconn *ro = topo_connect(ro_info);
    CHECK(ro != NULL);
    if (ro) {
        memset(&err, 0, sizeof err);
        rc = migc_up(ro, &replicas_catalog, NULL, &err);
        check_error(&err, rc, "read-only session on the primary");
        CHECK_INT(rc, MIGC_EREADONLY);
        CHECK(strstr(err.message, "read-only") != NULL);
        CHECK(strstr(err.hint, "target_session_attrs=read-write") != NULL);
        CHECK(PQtransactionStatus(ro) == PQTRANS_IDLE);
        PQfinish(ro);
    }
    CHECK_INT(topo_query_int(primary, "SELECT count(*) FROM pg_catalog.pg_class"
                                      " WHERE relname = 'migc_history'"),
              0);

    th_case("multi-host, target_session_attrs=read-write");
    char multi[1600];
    snprintf(multi, sizeof multi,
             "host=%s,%s port=%s,%s user=postgres dbname=standby_app "
             "target_session_attrs=read-write connect_timeout=10",
             standby.dir, primary_dir, port, port);
    PGconn *conn = topo_connect(multi);
    CHECK(conn != NULL);
    if (conn) {
        CHECK_STR(PQhost(conn), primary_dir);
        char *r = topo_query_text(conn, "SELECT pg_catalog.pg_is_in_recovery()");
        CHECK_STR(r, "f");
        free(r);
        memset(&err, 0, sizeof err);
        double t0 = topo_now_s();
        rc = migc_up(conn, &replicas_catalog, NULL, &err);
        printf("multi-host string (standby first): connected to %s; migc_up "
               "applied %zu migrations in %.2f s\n",
               PQhost(conn), replicas_catalog.count, topo_now_s() - t0);
        if (rc != MIGC_OK)
            check_error(&err, rc, "multi-host");
        CHECK_INT(rc, MIGC_OK);
        PQfinish(conn);
    }
    CHECK_INT(topo_query_int(primary, "SELECT count(*) FROM migc_history WHERE "
                                      "state = 'applied'"),
              50);

    th_case("the standby replays the migrations");
    char *lsn = topo_query_text(primary, "SELECT pg_catalog.pg_current_wal_lsn()");
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT (pg_catalog.pg_last_wal_replay_lsn() >= '%s'::pg_lsn)::int",
             lsn ? lsn : "0/0");
    double t0 = topo_now_s();
    long long caught_up = 0;
    while (!caught_up && topo_now_s() - t0 < 30) {
        caught_up = topo_query_int(sb, sql) == 1;
        if (!caught_up)
            topo_sleep_ms(20);
    }
    printf("standby replayed up to %s in %.2f s\n", lsn ? lsn : "?",
           topo_now_s() - t0);
    free(lsn);
    CHECK(caught_up);
    CHECK_INT(topo_query_int(sb, "SELECT count(*) FROM migc_history WHERE "
                                 "state = 'applied'"),
              50);
    CHECK_INT(topo_query_int(sb, "SELECT count(DISTINCT migration) FROM "
                                 "effects"),
              49);
    CHECK_INT(topo_query_int(sb, "SELECT count(*) FROM effects"), 49);
    CHECK_INT(topo_query_int(sb, "SELECT count(*) FROM big"), 20000);
    CHECK_INT(topo_query_int(sb, "SELECT count(*) FROM pg_catalog.pg_index "
                                 "WHERE indexrelid = to_regclass("
                                 "'public.big_payload_idx') AND indisvalid"),
              1);

    th_case("nothing to do on the standby");
    memset(&err, 0, sizeof err);
    rc = migc_up(sb, &replicas_catalog, NULL, &err);
    if (rc != MIGC_OK)
        check_error(&err, rc, "standby, nothing pending");
    CHECK_INT(rc, MIGC_OK);
    report = NULL;
    CHECK_INT(migc_status(sb, &replicas_catalog, NULL, &report, &err), MIGC_OK);
    if (report) {
        CHECK_INT(report->pending, 0);
        CHECK_INT(report->current_version, 50);
        migc_status_free(report);
    }
    PQfinish(sb);
    PQfinish(primary);
    free(primary_info);
    stop_standby();
    return th_finish();
}
