/*
 * test_pgbouncer.c -- migc_up through a real PgBouncer in transaction
 * pooling mode.
 *
 * The test starts the fixture's cluster and a pgbouncer (the Debian
 * package's binary; as root it runs as the postgres OS user) with a
 * generated ini in a temporary directory: it listens on 127.0.0.1 and a
 * free port, pool_mode = transaction, auth_type = trust, 5 server
 * connections per database (default_pool_size = max_db_connections = 5),
 * max_client_conn = 300, and forwards every database to the fixture's
 * socket.  Every round uses a fresh database.
 *
 * 1. MIGC_NO_SESSION_LOCK, catalog tests/topology/fixtures/txonly (30
 *    transactional migrations, each inserting its number into `effects`
 *    together with the server backend that ran it; every sixth one holds
 *    its transaction open 0.1 s): rounds of 16, 32, 64, 64 and 48
 *    processes released together.  Every process gets MIGC_OK; every
 *    migration is applied exactly once (history, side effects, and the
 *    processes' own "applied" counts sum to 30); the database never had
 *    more than 5 server connections, so 16 to 64 clients really shared
 *    them.  Printed, not asserted: how many server notices reached the
 *    processes' notice processors (the runtime's SET client_min_messages
 *    lands on whichever server connection is free), and how many of the
 *    pool's server connections kept a client_min_messages set by another
 *    client's migc_up.
 *
 * 2. The default options (session advisory lock) through the pooler.
 *    (a) Deterministic: while one process migrates, another client of the
 *    pooler opens a transaction right after the first migration commits,
 *    so it sits on the server connection that holds the migrator's
 *    advisory lock (pgbouncer hands out the most recently used idle server
 *    first); the migrator's remaining queries, and its unlock, run on
 *    another server connection.  What the runtime promises (lock.c): the
 *    release is checked, and a lock that was not held means the session
 *    changed: MIGC_EPROTOCOL with "the session changed (a
 *    transaction-pooling connection pooler? use MIGC_NO_SESSION_LOCK)".
 *    Every migration is still applied exactly once.  The test also prints
 *    what it observes: the other client can take the "exclusive" lock at
 *    the same time (advisory locks are re-entrant per server session).
 *    Asserted: the lock is left behind on the pooler's server connection,
 *    so that even a direct connection cannot take it (MIGC_ELOCKED) until
 *    pgbouncer closes that server connection (KILL on its console).
 *    (b) Rounds of 16 processes: the mix of results is printed, not
 *    asserted (the runtime promises nothing here but the check of the
 *    release); asserted: nobody hangs (lock_wait_ms = 5 s here), every
 *    MIGC_EPROTOCOL says the session changed, nothing is applied twice.
 *
 * 3. Non-transactional migrations under MIGC_NO_SESSION_LOCK
 *    (tests/topology/fixtures/notx: a table with 1,000 rows, a lone CREATE
 *    INDEX CONCURRENTLY, a column): 16 processes through the pooler all get
 *    MIGC_OK, and each migration ran exactly once (1,000 rows, the index
 *    valid, the column there; the processes' "applied" lines sum to 3):
 *    the committed "running" history row is the claim, and the others wait
 *    for it.  Then migration 2's row is set back to running, as a dead
 *    claimer would leave it: a pooled start with lock_wait_ms = 1 s waits,
 *    logs that it waits, and reports MIGC_EINTERRUPTED naming version 2, its
 *    file and statement 1, with nothing changed.
 *
 * MIGC_TEST_QUICK=1 (tests/valgrind.sh, where every process runs under
 * valgrind): the rounds of 1. have 8 and 12 processes, 2.(b) is one round
 * of 8, 3. has 8 processes -- still more clients than the pool's 5 server
 * connections; every round is checked as above.
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

extern const migc_catalog txonly_catalog;
extern const migc_catalog notx_catalog;

enum {
    POOL_SIZE = 5,
    ROUND_TIMEOUT_S = 60,
    LOCKED_WAIT_MS = 5000,
    TEST_ALARM_S = 200, /* the whole test (ctest's TIMEOUT is 240) */
    QUICK_PROCESSES = 8 /* 2.(b) and 3. under MIGC_TEST_QUICK=1 */
};

/* ---- the pooler --------------------------------------------------------- */

static struct {
    char *dir;
    char ini[512];
    char log[512];
    int port;
    pid_t pid;
} bouncer;

static const char *find_pgbouncer(void)
{
    static char path[4096];
    const char *env = getenv("PGBOUNCER");
    if (env && *env)
        return env;
    const char *path_env = getenv("PATH");
    char dirs[8192];
    snprintf(dirs, sizeof dirs, "%s:/usr/sbin:/usr/bin:/usr/local/bin:"
                                "/usr/local/sbin",
             path_env ? path_env : "");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d;
         d = strtok_r(NULL, ":", &save)) {
        snprintf(path, sizeof path, "%s/pgbouncer", d);
        if (access(path, X_OK) == 0)
            return path;
    }
    fprintf(stderr, "FATAL: pgbouncer not found on PATH or in /usr/sbin: "
                    "install it (apt-get install pgbouncer) or set "
                    "PGBOUNCER\n");
    exit(1);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static char *pooled_conninfo(const char *dbname)
{
    char *s = malloc(256);
    snprintf(s, 256, "host=127.0.0.1 port=%d dbname=%s user=postgres "
                     "connect_timeout=10", bouncer.port, dbname);
    return s;
}

static void start_pgbouncer(void)
{
    const char *exe = find_pgbouncer();
    bouncer.dir = topo_make_temp_dir("pgbouncer");
    bouncer.port = topo_free_port();
    char path[600], text[4096];
    snprintf(path, sizeof path, "%s/userlist.txt", bouncer.dir);
    write_file(path, "\"postgres\" \"\"\n");
    PGconn *direct = topo_connect(pgfix_start());
    char *pgport = direct ? topo_query_text(direct, "SHOW port") : NULL;
    PQfinish(direct);
    if (!pgport)
        exit(1);
    snprintf(text, sizeof text,
             "[databases]\n"
             "* = host=%s port=%s\n"
             "\n"
             "[pgbouncer]\n"
             "listen_addr = 127.0.0.1\n"
             "listen_port = %d\n"
             "unix_socket_dir = %s\n"
             "pidfile = %s/pgbouncer.pid\n"
             "auth_type = trust\n"
             "auth_file = %s\n"
             "admin_users = postgres\n"
             "pool_mode = transaction\n"
             "default_pool_size = %d\n"
             "max_db_connections = %d\n"
             "min_pool_size = 0\n"
             "reserve_pool_size = 0\n"
             "max_client_conn = 300\n"
             "server_round_robin = 0\n"
             "log_connections = 0\n"
             "log_disconnections = 0\n",
             pgfix_socket_dir(), pgport, bouncer.port, bouncer.dir,
             bouncer.dir, path, POOL_SIZE, POOL_SIZE);
    free(pgport);
    snprintf(bouncer.ini, sizeof bouncer.ini, "%s/pgbouncer.ini", bouncer.dir);
    snprintf(bouncer.log, sizeof bouncer.log, "%s/pgbouncer.log", bouncer.dir);
    write_file(bouncer.ini, text);
    const char *argv[] = {exe, bouncer.ini, NULL};
    bouncer.pid = topo_spawn(argv, bouncer.log, bouncer.dir, true);
    char *admin = pooled_conninfo("pgbouncer");
    double start = topo_now_s();
    for (;;) {
        PGconn *c = PQconnectdb(admin);
        bool ok = PQstatus(c) == CONNECTION_OK;
        PQfinish(c);
        if (ok)
            break;
        if (kill(bouncer.pid, 0) != 0 || topo_now_s() - start > 15) {
            topo_print_tail(bouncer.log, "pgbouncer log");
            fprintf(stderr, "FATAL: pgbouncer did not start on port %d\n",
                    bouncer.port);
            exit(1);
        }
        topo_sleep_ms(50);
    }
    free(admin);
    printf("pgbouncer (pid %ld) on 127.0.0.1:%d, pool_mode = transaction, "
           "%d server connections per database\n",
           (long)bouncer.pid, bouncer.port, POOL_SIZE);
}

/* Prints pgbouncer's own ERROR/FATAL/WARNING lines (at most 10). */
static void print_bouncer_errors(void)
{
    FILE *f = fopen(bouncer.log, "r");
    if (!f)
        return;
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, " ERROR ") || strstr(line, " FATAL ") ||
            strstr(line, " WARNING "))
            if (n++ < 10)
                printf("    pgbouncer log: %s", line);
    if (n > 10)
        printf("    pgbouncer log: ... %d such lines in all\n", n);
    fclose(f);
}

/* ---- members ------------------------------------------------------------ */

typedef struct job {
    const char *conninfo;
    const migc_catalog *catalog;
    unsigned flags;
    int lock_wait_ms;
} job;

/* Counts the notices and warnings a connection receives (libpq's default
 * processor would print them to stderr: the runtime relies on
 * client_min_messages = warning to keep its NOTICEs away, which a pooler
 * can defeat). */
static void count_notice(void *arg, const char *message)
{
    (void)message;
    ++*(int *)arg;
}

static int member(int index, void *arg, topo_member_report *out)
{
    const job *j = arg;
    double t0 = topo_now_s();
    PGconn *conn = PQconnectdb(j->conninfo);
    out->connect_ms = (topo_now_s() - t0) * 1000;
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "process %d: cannot connect: %s", index,
                PQerrorMessage(conn));
        snprintf(out->message, sizeof out->message, "cannot connect: %s",
                 PQerrorMessage(conn));
        PQfinish(conn);
        out->rc = 100;
        return 100;
    }
    PQsetNoticeProcessor(conn, count_notice, &out->notices);
    migc_options opt;
    memset(&opt, 0, sizeof opt);
    opt.flags = j->flags;
    opt.lock_wait_ms = j->lock_wait_ms;
    opt.log = topo_count_applied;
    opt.log_ctx = &out->applied;
    migc_error err;
    t0 = topo_now_s();
    migc_result rc = migc_up(conn, j->catalog, &opt, &err);
    out->up_ms = (topo_now_s() - t0) * 1000;
    if (rc != MIGC_OK) {
        size_t len = strnlen(err.message, sizeof out->message - 1);
        memcpy(out->message, err.message, len);
        out->message[len] = '\0';
    }
    if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
        fprintf(stderr, "process %d: connection left not idle\n", index);
        rc = 99;
    }
    PQfinish(conn);
    out->rc = (int)rc;
    return (int)rc;
}

/* Prints how many processes ended with each status, and one message of
 * each failing kind. */
static void print_outcomes(const topo_herd *h, const char *label)
{
    int counts[256] = {0};
    const char *example[256] = {NULL};
    for (int i = 0; i < h->n; i++) {
        int s = h->status[i] < 0 || h->status[i] > 255 ? 255 : h->status[i];
        counts[s]++;
        if (!example[s] && h->reported[i] && h->report[i].message[0])
            example[s] = h->report[i].message;
    }
    printf("%s: outcomes:", label);
    for (int s = 0; s < 256; s++)
        if (counts[s])
            printf(" %d x %s (%d)", counts[s],
                   s <= MIGC_EPROTOCOL ? migc_strerror((migc_result)s)
                                       : "no result",
                   s);
    printf("\n");
    for (int s = 1; s < 256; s++)
        if (example[s])
            printf("    status %d: \"%s\"\n", s, example[s]);
    fflush(stdout);
}

/* ---- checks on the database (direct connection) ------------------------- */

/* Exactly-once of the txonly catalog's migrations 1..expected. */
static void check_txonly(PGconn *conn, int expected)
{
    PGresult *res = PQexec(
        conn, "SELECT count(*), count(DISTINCT id), "
              "count(*) FILTER (WHERE state = 'applied') FROM migc_history");
    CHECK(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        CHECK_INT(atoll(PQgetvalue(res, 0, 0)), expected);
        CHECK_INT(atoll(PQgetvalue(res, 0, 1)), expected);
        CHECK_INT(atoll(PQgetvalue(res, 0, 2)), expected);
    }
    PQclear(res);
    res = PQexec(conn, "SELECT count(*), count(DISTINCT migration), "
                       "coalesce(sum(migration), 0) FROM effects");
    CHECK(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        CHECK_INT(atoll(PQgetvalue(res, 0, 0)), expected);
        CHECK_INT(atoll(PQgetvalue(res, 0, 1)), expected);
        CHECK_INT(atoll(PQgetvalue(res, 0, 2)), expected * (expected + 1) / 2);
    }
    PQclear(res);
    res = PQexec(conn, "SELECT migration, count(*) FROM effects GROUP BY "
                       "migration HAVING count(*) > 1 ORDER BY migration");
    CHECK_INT(PQntuples(res), 0);
    for (int i = 0; i < PQntuples(res); i++)
        fprintf(stderr, "    migration %s applied %s times\n",
                PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
    PQclear(res);
    /* Applied in catalog order. */
    CHECK_INT(topo_query_int(conn,
                             "SELECT count(*) FROM (SELECT migration, "
                             "lag(migration) OVER (ORDER BY at, migration) "
                             "AS prev FROM effects) s WHERE prev > migration"),
              0);
}

/* Server connections to the database right now (the pooler's). */
static long long server_connections(PGconn *direct, const char *dbname)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_catalog.pg_stat_activity "
                              "WHERE datname = '%s' AND pid <> pg_backend_pid()",
             dbname);
    return topo_query_int(direct, sql);
}

/* Observation (not asserted): how many of the pooler's server connections
 * to dbname were left with a client_min_messages other than the server's
 * default.  migc_up sets it to warning for its own session and restores
 * it at the end (engine.c, session_begin/session_end); through a
 * transaction pooler the SET and the restore run on whichever server
 * connection is free. */
static void observe_leaked_settings(const char *dbname)
{
    char *pooled = pooled_conninfo(dbname);
    PGconn *c[POOL_SIZE];
    int warning = 0, seen = 0;
    for (int i = 0; i < POOL_SIZE; i++) {
        c[i] = topo_connect(pooled);
        if (!c[i] || !topo_exec(c[i], "BEGIN"))
            continue;
        char *v = topo_query_text(c[i], "SHOW client_min_messages");
        seen += v != NULL;
        warning += v && strcmp(v, "notice") != 0;
        free(v);
    }
    for (int i = 0; i < POOL_SIZE; i++) {
        if (c[i])
            topo_exec(c[i], "ROLLBACK");
        PQfinish(c[i]);
    }
    printf("    observed: %d of %d server connections of the pool still have "
           "a client_min_messages set by a migc_up of another client\n",
           warning, seen);
    free(pooled);
}

/* ---- 1. MIGC_NO_SESSION_LOCK -------------------------------------------- */

static void no_session_lock_round(int round, int processes)
{
    char name[32], label[96];
    snprintf(name, sizeof name, "pgb_nolock_%d", round);
    snprintf(label, sizeof label, "NO_SESSION_LOCK round %d (%d processes)",
             round, processes);
    th_case(label);
    char *direct_info = pgfix_create_database(name);
    char *pooled = pooled_conninfo(name);
    job j = {pooled, &txonly_catalog, MIGC_NO_SESSION_LOCK, 0};
    topo_herd h;
    topo_herd_run(&h, processes, member, &j, ROUND_TIMEOUT_S);
    topo_herd_print(&h, label);
    CHECK_INT(h.hung, 0);
    CHECK_INT(h.watchdog, 0);
    int applied = 0;
    bool all_ok = true;
    for (int i = 0; i < h.n; i++) {
        CHECK_INT(h.status[i], MIGC_OK);
        all_ok = all_ok && h.status[i] == MIGC_OK;
        applied += h.report[i].applied;
    }
    if (!all_ok)
        print_outcomes(&h, label);
    CHECK_INT(applied, 30);
    PGconn *direct = topo_connect(direct_info);
    CHECK(direct != NULL);
    if (direct) {
        check_txonly(direct, 30);
        long long backends = topo_query_int(
            direct, "SELECT count(DISTINCT backend) FROM effects");
        long long servers = server_connections(direct, name);
        printf("    %d clients shared %lld server connections; the 30 "
               "migrations ran on %lld distinct server backends\n",
               processes, servers, backends);
        CHECK(servers >= 1 && servers <= POOL_SIZE);
        CHECK(backends >= 1 && backends <= POOL_SIZE);
        CHECK_INT(topo_query_int(direct, "SELECT count(*) FROM "
                                         "pg_catalog.pg_locks WHERE "
                                         "locktype = 'advisory'"),
                  0);
        PQfinish(direct);
    }
    /* One more start through the pooler has nothing to do. */
    PGconn *conn = topo_connect(pooled);
    CHECK(conn != NULL);
    if (conn) {
        migc_options opt;
        memset(&opt, 0, sizeof opt);
        opt.flags = MIGC_NO_SESSION_LOCK;
        int applied_again = 0;
        opt.log = topo_count_applied;
        opt.log_ctx = &applied_again;
        migc_error err;
        CHECK_INT(migc_up(conn, &txonly_catalog, &opt, &err), MIGC_OK);
        CHECK_INT(applied_again, 0);
        PQfinish(conn);
    }
    free(pooled);
    free(direct_info);
}

/* ---- 2. the session lock through the pooler ----------------------------- */

typedef struct observer {
    PGconn *other;       /* another client of the pooler */
    size_t applied;      /* "applied" lines seen */
    bool done;
    long long other_holds;      /* advisory locks of the other's server */
    int other_reacquired;       /* 1: it got the migration lock too */
} observer;

/* The migrator's log: right after the last migration commits, the other
 * client opens a transaction, taking the server connection the migrator
 * just released -- the one that holds its advisory lock.  (Until then the
 * migrator keeps it: each migration's COMMIT goes with the next one's
 * statements, so a transaction is open from one migration to the next.) */
static void observe(void *ctx, const char *line)
{
    observer *o = ctx;
    if (o->done || strncmp(line, "migc: applied ", 14) != 0 ||
        ++o->applied < txonly_catalog.count)
        return;
    o->done = true;
    if (!topo_exec(o->other, "BEGIN"))
        return;
    o->other_holds = topo_query_int(
        o->other, "SELECT count(*) FROM pg_catalog.pg_locks WHERE "
                  "locktype = 'advisory' AND granted AND "
                  "pid = pg_catalog.pg_backend_pid()");
    /* Advisory locks are re-entrant per server session: this client can
     * take the migrator's "exclusive" lock too (and gives it back). */
    char *got = topo_query_text(
        o->other, "SELECT pg_catalog.pg_try_advisory_lock("
                  "(classid::bigint << 32) | objid::bigint) FROM "
                  "pg_catalog.pg_locks WHERE locktype = 'advisory' AND "
                  "pid = pg_catalog.pg_backend_pid() LIMIT 1");
    o->other_reacquired = got && strcmp(got, "t") == 0;
    free(got);
    if (o->other_reacquired)
        topo_exec(o->other, "SELECT pg_catalog.pg_advisory_unlock("
                            "(classid::bigint << 32) | objid::bigint) FROM "
                            "pg_catalog.pg_locks WHERE locktype = 'advisory' "
                            "AND pid = pg_catalog.pg_backend_pid() LIMIT 1");
}

static void session_changed(void)
{
    th_case("session lock through the pooler: the session changes");
    const char *name = "pgb_session";
    char *direct_info = pgfix_create_database(name);
    char *pooled = pooled_conninfo(name);
    observer o = {NULL, 0, false, -1, 0};
    o.other = topo_connect(pooled);
    PGconn *conn = topo_connect(pooled);
    CHECK(o.other && conn);
    if (!o.other || !conn)
        exit(1);
    int notices = 0;
    PQsetNoticeProcessor(conn, count_notice, &notices);
    migc_options opt;
    memset(&opt, 0, sizeof opt);
    opt.log = observe;
    opt.log_ctx = &o;
    opt.lock_wait_ms = LOCKED_WAIT_MS;
    migc_error err;
    memset(&err, 0, sizeof err);
    migc_result rc = migc_up(conn, &txonly_catalog, &opt, &err);
    char text[4096];
    migc_format_error(&err, text, sizeof text);
    printf("session lock, the migrator's session changed: migc_up returned "
           "%d (%s)\n%s", (int)rc, migc_strerror(rc), rc ? text : "\n");
    printf("    the other client sat on the server holding the lock: %s; "
           "it took the same \"exclusive\" lock at the same time: %s; "
           "the migrator's connection received %d server notices\n",
           o.other_holds == 1 ? "yes" : "no",
           o.other_reacquired ? "yes" : "no", notices);
    CHECK(o.done);
    CHECK_INT(o.other_holds, 1); /* the scenario was set up as intended */
    CHECK_INT(rc, MIGC_EPROTOCOL);
    CHECK(strstr(err.message, "the migration lock was not held at release") !=
          NULL);
    CHECK(strstr(err.message, "the session changed") != NULL);
    CHECK(strstr(err.message, "MIGC_NO_SESSION_LOCK") != NULL);
    CHECK(PQtransactionStatus(conn) == PQTRANS_IDLE);
    topo_exec(o.other, "ROLLBACK");
    PQfinish(o.other);
    PQfinish(conn);
    PGconn *direct = topo_connect(direct_info);
    CHECK(direct != NULL);
    if (direct) {
        check_txonly(direct, 30);
        char sql[512];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM pg_catalog.pg_locks l JOIN "
                 "pg_catalog.pg_stat_activity a USING (pid) WHERE "
                 "l.locktype = 'advisory' AND a.datname = '%s'", name);
        long long leaked = topo_query_int(direct, sql);
        printf("    afterwards, advisory locks still held by the pooler's "
               "server connections: %lld\n", leaked);
        CHECK_INT(leaked, 1);
        /* Consequence: even a direct connection cannot take the migration
         * lock while the pooler keeps that server connection open. */
        migc_options opt1;
        memset(&opt1, 0, sizeof opt1);
        opt1.lock_wait_ms = 1000;
        migc_error err1;
        /* (migc_force to the current version changes nothing, but takes
         * the lock like migc_up with work to do.) */
        migc_result forced = migc_force(direct, &txonly_catalog, &opt1, 30,
                                        &err1);
        printf("    a direct migc_force meanwhile: %d (%s): %s\n",
               (int)forced, migc_strerror(forced), err1.message);
        CHECK_INT(forced, MIGC_ELOCKED);
        /* The way out: make pgbouncer close its server connections. */
        char *admin = pooled_conninfo("pgbouncer");
        PGconn *console = topo_connect(admin);
        CHECK(console != NULL);
        if (console) {
            char cmd[64];
            snprintf(cmd, sizeof cmd, "KILL %s", name);
            CHECK(topo_exec(console, cmd));
            snprintf(cmd, sizeof cmd, "RESUME %s", name);
            PGresult *r = PQexec(console, cmd); /* not paused: may fail */
            PQclear(r);
            PQfinish(console);
        }
        free(admin);
        for (int i = 0; i < 100 && (leaked = topo_query_int(direct, sql)) > 0;
             i++)
            topo_sleep_ms(20);
        printf("    after KILL %s on pgbouncer's console: %lld\n", name,
               leaked);
        CHECK_INT(leaked, 0);
        CHECK_INT(migc_force(direct, &txonly_catalog, &opt1, 30, &err1),
                  MIGC_OK);
        check_txonly(direct, 30);
        PQfinish(direct);
    }
    free(pooled);
    free(direct_info);
}

static void session_lock_round(int round, int processes)
{
    char name[32], label[96];
    snprintf(name, sizeof name, "pgb_lock_%d", round);
    snprintf(label, sizeof label,
             "session lock through the pooler, round %d (%d processes)",
             round, processes);
    th_case(label);
    char *direct_info = pgfix_create_database(name);
    char *pooled = pooled_conninfo(name);
    job j = {pooled, &txonly_catalog, 0, LOCKED_WAIT_MS};
    topo_herd h;
    topo_herd_run(&h, processes, member, &j, ROUND_TIMEOUT_S);
    topo_herd_print(&h, label);
    print_outcomes(&h, label);
    /* Nothing is promised about the outcomes here (the pooler defeats the
     * lock): they are printed above.  What must hold: nobody hangs, a
     * changed session is reported as such, nothing is applied twice. */
    CHECK_INT(h.hung, 0);
    CHECK_INT(h.watchdog, 0);
    int applied = 0;
    for (int i = 0; i < h.n; i++) {
        if (h.status[i] == MIGC_EPROTOCOL)
            CHECK(strstr(h.report[i].message, "the session changed") != NULL);
        applied += h.report[i].applied;
    }
    PGconn *direct = topo_connect(direct_info);
    CHECK(direct != NULL);
    if (direct) {
        /* Never twice; as many as the processes say they applied. */
        long long rows = topo_query_int(direct, "SELECT count(*) FROM effects");
        CHECK_INT(rows, applied);
        CHECK_INT(topo_query_int(direct, "SELECT count(*) - count(DISTINCT "
                                         "migration) FROM effects"),
                  0);
        CHECK_INT(topo_query_int(direct, "SELECT count(*) FROM migc_history"),
                  rows);
        char sql[512];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM pg_catalog.pg_locks l JOIN "
                 "pg_catalog.pg_stat_activity a USING (pid) WHERE "
                 "l.locktype = 'advisory' AND a.datname = '%s'", name);
        printf("    %d of 30 migrations applied; advisory locks left on the "
               "pooler's server connections: %lld\n",
               applied, topo_query_int(direct, sql));
        PQfinish(direct);
    }
    free(pooled);
    free(direct_info);
}

/* ---- 3. non-transactional migrations under MIGC_NO_SESSION_LOCK -------- */

/* Collects log lines (for the waiting case). */
static void keep_line(void *ctx, const char *line)
{
    char *buf = ctx;
    size_t len = strlen(buf);
    snprintf(buf + len, 4096 - len, "%s\n", line);
}

static void non_transactional(int processes)
{
    th_case("non-transactional migrations through the pooler, exactly once");
    const char *name = "pgb_notx";
    char *direct_info = pgfix_create_database(name);
    char *pooled = pooled_conninfo(name);
    job j = {pooled, &notx_catalog, MIGC_NO_SESSION_LOCK, 0};
    topo_herd h;
    topo_herd_run(&h, processes, member, &j, ROUND_TIMEOUT_S);
    char label[64];
    snprintf(label, sizeof label, "non-transactional, %d processes",
             processes);
    topo_herd_print(&h, label);
    print_outcomes(&h, label);
    CHECK_INT(h.hung, 0);
    int applied = 0;
    for (int i = 0; i < h.n; i++) {
        CHECK_INT(h.status[i], MIGC_OK);
        applied += h.report[i].applied;
    }
    /* Each of the three by exactly one process: the table with its 1,000
     * rows, the lone CREATE INDEX CONCURRENTLY (its claim, the committed
     * history row, made the others wait for it), the column. */
    CHECK_INT(applied, 3);
    PGconn *direct = topo_connect(direct_info);
    CHECK(direct != NULL);
    if (!direct)
        return;
    CHECK_INT(topo_query_int(direct, "SELECT count(*) FROM migc_history "
                                     "WHERE state = 'applied'"),
              3);
    CHECK_INT(topo_query_int(direct, "SELECT count(*) FROM migc_history"), 3);
    CHECK_INT(topo_query_int(direct, "SELECT count(*) FROM accounts"), 1000);
    CHECK_INT(topo_query_int(direct, "SELECT count(*) FROM pg_catalog.pg_index"
                                     " WHERE indexrelid = to_regclass("
                                     "'public.accounts_email_idx') AND "
                                     "indisvalid"),
              1);
    CHECK_INT(topo_query_int(direct, "SELECT count(*) FROM "
                                     "information_schema.columns WHERE "
                                     "table_name = 'accounts' AND "
                                     "column_name = 'created_at'"),
              1);

    /* A claim whose process died: the history row of migration 2 says
     * running, and no one runs it.  A pooled start waits lock_wait_ms for
     * it, then reports it as interrupted, by version, file and statement. */
    th_case("a non-transactional migration left running, through the pooler");
    PGresult *r = PQexec(direct, "UPDATE migc_history SET state = 'running', "
                                 "statements_done = 0 WHERE id = '2'");
    CHECK_INT(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PGconn *conn = topo_connect(pooled);
    CHECK(conn != NULL);
    if (conn) {
        char lines[4096] = "";
        migc_options opt;
        memset(&opt, 0, sizeof opt);
        opt.flags = MIGC_NO_SESSION_LOCK;
        opt.lock_wait_ms = 1000;
        opt.log = keep_line;
        opt.log_ctx = lines;
        migc_error err;
        double t0 = topo_now_s();
        CHECK_INT(migc_up(conn, &notx_catalog, &opt, &err), MIGC_EINTERRUPTED);
        double waited = topo_now_s() - t0;
        CHECK(waited >= 1.0 && waited < 10.0);
        CHECK_INT(err.version, 2);
        CHECK_STR(err.file, "notx/000002_accounts_email_idx.up.sql");
        CHECK_STR(err.message,
                  "migration 2 (notx/000002_accounts_email_idx.up.sql) did "
                  "not finish applying: statement 1 of 1 was interrupted");
        CHECK_STR(err.detail, "it is still running after 1000 ms: another "
                              "process is applying it, or was when it died");
        CHECK_STR(lines, "migc: waiting for another process applying "
                         "migration 2 (notx/000002_accounts_email_idx.up.sql),"
                         " at statement 1 of 1\n");
        CHECK(PQtransactionStatus(conn) == PQTRANS_IDLE);
        PQfinish(conn);
    }
    /* Nothing was run or changed: the row is as it was left. */
    CHECK_INT(topo_query_int(direct, "SELECT count(*) FROM migc_history "
                                     "WHERE id = '2' AND state = 'running'"),
              1);
    PQfinish(direct);
    free(pooled);
    free(direct_info);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    topo_guard_start();
    alarm(TEST_ALARM_S);
    pgfix_start();
    topo_guard_fixture();
    CHECK_INT(txonly_catalog.count, 30);
    for (size_t i = 0; i < txonly_catalog.count; i++)
        CHECK_INT(txonly_catalog.migrations[i].up.transaction,
                  MIGC_TRANSACTION_SINGLE);
    start_pgbouncer();

    static const int full_sizes[] = {16, 32, 64, 64, 48};
    static const int quick_sizes[] = {8, 12};
    bool quick = th_quick();
    const int *sizes = quick ? quick_sizes : full_sizes;
    int nsizes = quick ? 2 : 5, lock_rounds = quick ? 1 : 2;
    int processes = quick ? QUICK_PROCESSES : 16;
    if (quick)
        printf("MIGC_TEST_QUICK=1: rounds of 8 and 12 processes, then of "
               "%d\n", processes);

    double t0 = topo_now_s();
    for (int r = 0; r < nsizes; r++)
        no_session_lock_round(r + 1, sizes[r]);
    char last[32];
    snprintf(last, sizeof last, "pgb_nolock_%d", nsizes);
    observe_leaked_settings(last);
    printf("MIGC_NO_SESSION_LOCK rounds: %.2f s\n", topo_now_s() - t0);

    t0 = topo_now_s();
    session_changed();
    for (int r = 1; r <= lock_rounds; r++)
        session_lock_round(r, processes);
    printf("session lock through the pooler: %.2f s\n", topo_now_s() - t0);

    t0 = topo_now_s();
    non_transactional(processes);
    printf("non-transactional migrations: %.2f s\n", topo_now_s() - t0);

    CHECK(kill(bouncer.pid, 0) == 0); /* pgbouncer survived it all */
    int status = topo_stop(bouncer.pid, 10);
    printf("pgbouncer stopped (SIGTERM): exit status %d\n", status);
    CHECK(status >= 0 && status < 128 + SIGKILL);
    print_bouncer_errors();
    return th_finish();
}
