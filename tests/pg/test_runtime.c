/*
 * test_runtime.c -- the runtime API against a real PostgreSQL.
 *
 * Each case runs on a fresh database of a throwaway cluster and checks what
 * a service sees: result codes, the error's file:line:col and its
 * formatted text, the database's state afterwards (history rows, tables),
 * and the connection (idle, usable, with the service's own settings).
 *  - a failure at line 5 of migration 2 leaves the database at version 1;
 *  - an edited applied migration is refused, a CRLF-only change is not an
 *    edit;
 *  - the no-op start makes exactly one round trip, with 10 and with 5,000
 *    applied migrations (counted in the server's statement log);
 *  - the plan at version 3 of 7 lists 4 to 7, changes nothing and takes no
 *    lock;
 *  - settings a migration changes do not leak into the session;
 *  - down, down to, force, status, the standard service flags.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <migc/migc.h>

#include "harness.h"
#include "pgfixture.h"

extern const migc_catalog seven_catalog;
extern const migc_catalog failing_catalog;
extern const migc_catalog edited_a_catalog;
extern const migc_catalog edited_b_catalog;
extern const migc_catalog edited_crlf_catalog;
extern const migc_catalog leak_catalog;
extern const migc_catalog retry_catalog;
extern const migc_catalog locked_catalog;

/* A new connection to the existing database `name` of the cluster. */
static PGconn *connect_to(const char *name)
{
    char info[512];
    snprintf(info, sizeof info, "%s", pgfix_start());
    char *p = strstr(info, "dbname=");
    if (p)
        snprintf(p, sizeof info - (size_t)(p - info), "dbname=%s", name);
    PGconn *conn = PQconnectdb(info);
    CHECK(PQstatus(conn) == CONNECTION_OK);
    return conn;
}

static PGconn *fresh_database(const char *name)
{
    char *conninfo = pgfix_create_database(name);
    PGconn *conn = PQconnectdb(conninfo);
    free(conninfo);
    CHECK(PQstatus(conn) == CONNECTION_OK);
    return conn;
}

/* The single value of a query, as a malloc'd string ("" on error). */
static char *value(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    char *v = strdup(PQresultStatus(res) == PGRES_TUPLES_OK &&
                             PQntuples(res) == 1 && PQnfields(res) == 1
                         ? PQgetvalue(res, 0, 0)
                         : "");
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fprintf(stderr, "    query failed: %s", PQresultErrorMessage(res));
    PQclear(res);
    return v;
}

static long long number(PGconn *conn, const char *sql)
{
    char *v = value(conn, sql);
    long long n = *v ? atoll(v) : -1;
    free(v);
    return n;
}

static void check_value(PGconn *conn, const char *sql, const char *want)
{
    char *v = value(conn, sql);
    CHECK_STR(v, want);
    free(v);
}

static const char history_ids[] =
    "SELECT coalesce(string_agg(id || ':' || state, ',' ORDER BY version), '') "
    "FROM migc_history";

static bool table_exists(PGconn *conn, const char *name)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_tables WHERE "
                              "schemaname = 'public' AND tablename = '%s'",
             name);
    return number(conn, sql) == 1;
}

/* ---- a failure --------------------------------------------------------- */

static void test_failure_maps_to_file_line(void)
{
    th_case("failure at line 5 of migration 2");
    PGconn *conn = fresh_database("failure");
    migc_error err;
    migc_result rc = migc_up(conn, &failing_catalog, NULL, &err);
    CHECK_INT(rc, MIGC_EMIGRATION);
    CHECK_STR(err.file, "failing/000002_b.up.sql");
    CHECK_INT(err.line, 5);
    CHECK_INT(err.column, 8);
    CHECK_STR(err.sqlstate, "42703");
    CHECK_INT(err.version, 2);
    CHECK_INT(err.statement_index, 3);
    char text[2048];
    migc_format_error(&err, text, sizeof text);
    CHECK_STR(text,
              "failing/000002_b.up.sql:5:8: error: migration 2 "
              "(failing/000002_b.up.sql) failed: column \"nosuch\" does not "
              "exist (SQLSTATE 42703)\n"
              "    SELECT nosuch FROM b;\n"
              "           ^\n");
    /* The database stays at version 1, with nothing of migration 2. */
    check_value(conn, history_ids, "1:applied");
    CHECK(table_exists(conn, "a"));
    CHECK(!table_exists(conn, "b"));
    /* The connection is idle and usable. */
    CHECK_INT(PQtransactionStatus(conn), PQTRANS_IDLE);
    CHECK_INT(number(conn, "SELECT 41 + 1"), 42);
    PQfinish(conn);
}

/* ---- edits ------------------------------------------------------------- */

static void test_edited_migration(void)
{
    th_case("edited applied migration");
    PGconn *conn = fresh_database("edited");
    migc_error err;
    CHECK_INT(migc_up(conn, &edited_a_catalog, NULL, &err), MIGC_OK);
    /* The same migration with CRLF line endings is not an edit. */
    CHECK_INT(migc_up(conn, &edited_crlf_catalog, NULL, &err), MIGC_OK);
    CHECK(memcmp(edited_a_catalog.migrations[0].up.sha256,
                 edited_crlf_catalog.migrations[0].up.sha256,
                 MIGC_SHA256_SIZE) == 0);
    migc_result rc = migc_up(conn, &edited_b_catalog, NULL, &err);
    CHECK_INT(rc, MIGC_EEDITED);
    CHECK_INT(err.version, 1);
    CHECK_STR(err.file, "edited_b/000001_e.up.sql");
    CHECK(strstr(err.message, "migration 1 (edited_b/000001_e.up.sql) was "
                              "edited after it was applied") != NULL);
    check_value(conn, "SELECT format_type(atttypid, atttypmod) FROM "
                      "pg_attribute WHERE attrelid = 'e'::regclass AND "
                      "attname = 'x'",
                "integer");
    CHECK_INT(PQtransactionStatus(conn), PQTRANS_IDLE);
    PQfinish(conn);
}

/* ---- round trips of a no-op start -------------------------------------- */

/* A synthetic catalog of n one-statement migrations (their SQL is never
 * run: they are recorded with migc_force). */
typedef struct synthetic {
    migc_catalog cat;
    migc_migration *ms;
    migc_statement st;
    char (*ids)[24];
} synthetic;

static void synthetic_init(synthetic *s, size_t n)
{
    memset(s, 0, sizeof *s);
    s->ms = calloc(n, sizeof *s->ms);
    s->ids = calloc(n, sizeof *s->ids);
    s->st = (migc_statement){0, 9, 1, 1, 0};
    for (size_t i = 0; i < n; i++) {
        migc_migration *m = &s->ms[i];
        snprintf(s->ids[i], sizeof s->ids[i], "%zu", i + 1);
        m->version = (int64_t)i + 1;
        m->id = s->ids[i];
        m->name = "synthetic";
        m->up.sql = "SELECT 1;";
        m->up.length = 9;
        m->up.statement_count = 1;
        m->up.statements = &s->st;
        m->up.first_line = 1;
        m->up.file = "synthetic.up.sql";
        for (int k = 0; k < MIGC_SHA256_SIZE; k++) {
            m->up.sha256[k] = (unsigned char)(i * 7 + (size_t)k);
            m->chain_sha256[k] = (unsigned char)(i * 13 + (size_t)k);
        }
    }
    s->cat.abi = MIGC_CATALOG_ABI;
    s->cat.format = MIGC_FORMAT_GOLANG_MIGRATE;
    s->cat.name = "synthetic";
    s->cat.directory = "synthetic";
    s->cat.migc_version = MIGC_VERSION_STRING;
    s->cat.count = n;
    s->cat.migrations = s->ms;
}

static void synthetic_free(synthetic *s)
{
    free(s->ms);
    free(s->ids);
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* Lines the server logged for backend `pid` after byte `from`, that are
 * statements it received (log_statement = all). */
static int statements_logged(const char *log, long from, int pid)
{
    FILE *f = fopen(log, "rb");
    if (!f)
        return -1;
    fseek(f, from, SEEK_SET);
    char line[4096], tag[32];
    snprintf(tag, sizeof tag, "[%d]", pid);
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, tag) && (strstr(line, "LOG:  statement:") ||
                                  strstr(line, "LOG:  execute")))
            n++;
    fclose(f);
    return n;
}

static void test_noop_round_trips(size_t n)
{
    char name[64];
    snprintf(name, sizeof name, "no-op start with %zu applied", n);
    th_case(name);
    snprintf(name, sizeof name, "noop_%zu", n);
    PGconn *conn = fresh_database(name);
    synthetic s;
    synthetic_init(&s, n);
    migc_error err;
    CHECK_INT(migc_force(conn, &s.cat, NULL, (int64_t)n, &err), MIGC_OK);
    CHECK_INT(number(conn, "SELECT count(*) FROM migc_history"), (long long)n);
    PGresult *r = PQexec(conn, "SET log_statement = 'all'");
    CHECK_INT(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    const char *log = pgfix_server_log();
    long before = file_size(log);
    CHECK_INT(migc_up(conn, &s.cat, NULL, &err), MIGC_OK);
    /* the server writes its log synchronously; give the file a moment */
    struct timespec pause = {0, 100 * 1000 * 1000};
    nanosleep(&pause, NULL);
    CHECK_INT(statements_logged(log, before, PQbackendPID(conn)), 1);
    r = PQexec(conn, "SET log_statement = 'none'");
    PQclear(r);
    synthetic_free(&s);
    PQfinish(conn);
}

/* ---- plan -------------------------------------------------------------- */

/* What the plan must not change: relations and the history. */
static char *snapshot(PGconn *conn)
{
    return value(conn,
                 "SELECT (SELECT string_agg(relname || relkind::text, ',' ORDER BY "
                 "relname) FROM pg_class WHERE relnamespace = "
                 "'public'::regnamespace) || '|' || (SELECT string_agg(id || "
                 "state || applied_at::text, ',' ORDER BY id) FROM migc_history)");
}

/* Runs a printing function into a string. */
static char *capture(PGconn *conn, migc_output_format format, bool plan,
                     migc_result *rc)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    migc_error err;
    migc_options opt = MIGC_OPTIONS_INIT;
    *rc = plan ? migc_print_plan(conn, &seven_catalog, &opt, out, format, &err)
               : migc_print_status(conn, &seven_catalog, &opt, out, format,
                                   &err);
    fclose(out);
    return text;
}

/* The advisory lock key of public.migc_history (FNV-1a, see lock.c). */
static long long history_lock_key(void)
{
    unsigned long long h = 14695981039346656037ull;
    const char *name = "public.migc_history";
    for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
        h ^= *c;
        h *= 1099511628211ull;
    }
    h ^= 0x6d696763;
    return (long long)(h & 0x7fffffffffffffffull);
}

static void test_plan(void)
{
    th_case("plan at version 3 of 7");
    PGconn *conn = fresh_database("plan");
    migc_options opt = MIGC_OPTIONS_INIT;
    opt.target_version = 3;
    migc_error err;
    CHECK_INT(migc_up(conn, &seven_catalog, &opt, &err), MIGC_OK);
    check_value(conn, history_ids, "1:applied,2:applied,3:applied");

    /* Another session holds the migration lock: the plan does not wait. */
    PGconn *holder = connect_to("plan");
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_advisory_lock(%lld)",
             history_lock_key());
    PGresult *r = PQexec(holder, sql);
    CHECK_INT(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    /* (the key is right: an apply would wait for it) */
    migc_options quick = MIGC_OPTIONS_INIT;
    quick.lock_wait_ms = 200;
    CHECK_INT(migc_up(conn, &seven_catalog, &quick, &err), MIGC_ELOCKED);

    char *before = snapshot(conn);
    migc_result rc;
    char *text = capture(conn, MIGC_OUTPUT_TEXT, true, &rc);
    CHECK_INT(rc, MIGC_OK);
    CHECK(strstr(text, "database: version 3; target: version 7; 4 pending") != NULL);
    for (int v = 4; v <= 7; v++) {
        char want[128];
        snprintf(want, sizeof want, "\n%d table_%d\n  file:        "
                                    "seven/%06d_table_%d.up.sql\n",
                 v, v, v, v);
        CHECK(strstr(text, want) != NULL);
        snprintf(want, sizeof want, "CREATE TABLE t%d (id bigint", v);
        CHECK(strstr(text, want) != NULL);
    }
    CHECK(strstr(text, "\n1 table_1\n") == NULL);
    CHECK(strstr(text, "\n3 table_3\n") == NULL);
    CHECK(strstr(text, "transaction: transaction") != NULL);
    CHECK(strstr(text, "warning: CREATE INDEX blocks writes") != NULL);
    free(text);

    text = capture(conn, MIGC_OUTPUT_JSON, true, &rc);
    CHECK_INT(rc, MIGC_OK);
    /* The JSON parses, and lists exactly 4 pending migrations. */
    char path[] = "/tmp/migc-plan-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
             "print(d[\"current_version\"], d[\"target_version\"], "
             "[m[\"version\"] for m in d[\"pending\"]])' %s",
             path);
    FILE *py = popen(cmd, "r");
    char line[256] = "";
    if (py) {
        if (!fgets(line, sizeof line, py))
            line[0] = '\0';
        pclose(py);
    }
    unlink(path);
    CHECK_STR(line, "3 7 [4, 5, 6, 7]\n");
    free(text);

    char *after = snapshot(conn);
    CHECK_STR(after, before);
    free(before);
    free(after);
    r = PQexec(holder, "SELECT pg_advisory_unlock_all()");
    PQclear(r);
    PQfinish(holder);
    PQfinish(conn);
}

/* ---- settings ---------------------------------------------------------- */

static void test_settings_do_not_leak(void)
{
    th_case("settings do not leak");
    PGconn *conn = fresh_database("leak");
    PGresult *r = PQexec(conn, "SET application_name = 'service'; "
                               "SET statement_timeout = '123s'");
    PQclear(r);
    char *user = value(conn, "SELECT current_user");
    char *path = value(conn, "SHOW search_path");
    migc_error err;
    migc_result rc = migc_up(conn, &leak_catalog, NULL, &err);
    if (rc != MIGC_OK) {
        char text[2048];
        migc_format_error(&err, text, sizeof text);
        fputs(text, stderr);
    }
    CHECK_INT(rc, MIGC_OK);
    CHECK(table_exists(conn, "leak"));
    char *user_after = value(conn, "SELECT current_user");
    CHECK_STR(user_after, user);
    char *path_after = value(conn, "SHOW search_path");
    CHECK_STR(path_after, path);
    check_value(conn, "SHOW statement_timeout", "123s");
    check_value(conn, "SHOW application_name", "service");
    check_value(conn, "SHOW client_min_messages", "notice");
    CHECK_INT(migc_down(conn, &leak_catalog, NULL, -1, &err), MIGC_OK);
    free(user);
    free(path);
    free(user_after);
    free(path_after);
    PQfinish(conn);
}

/* ---- down, force, status ----------------------------------------------- */

static void test_down_force_status(void)
{
    th_case("down, down to, force, status");
    PGconn *conn = fresh_database("downforce");
    migc_error err;
    CHECK_INT(migc_up(conn, &seven_catalog, NULL, &err), MIGC_OK);
    CHECK_INT(migc_down(conn, &seven_catalog, NULL, 2, &err), MIGC_OK);
    check_value(conn, history_ids,
                "1:applied,2:applied,3:applied,4:applied,5:applied");
    CHECK(!table_exists(conn, "t6") && !table_exists(conn, "t7"));
    CHECK_INT(migc_down_to(conn, &seven_catalog, NULL, 3, &err), MIGC_OK);
    check_value(conn, history_ids, "1:applied,2:applied,3:applied");
    CHECK_INT(migc_down_to(conn, &seven_catalog, NULL, 99, &err),
              MIGC_ENOTFOUND);
    migc_status_report *st = NULL;
    CHECK_INT(migc_status(conn, &seven_catalog, NULL, &st, &err), MIGC_OK);
    CHECK(st != NULL);
    if (st) {
        CHECK_INT(st->count, 7);
        CHECK_INT(st->current_version, 3);
        CHECK_INT(st->pending, 4);
        CHECK_INT(st->entries[2].state, MIGC_STATE_APPLIED);
        CHECK_INT(st->entries[3].state, MIGC_STATE_PENDING);
        CHECK_STR(st->entries[3].file, "seven/000004_table_4.up.sql");
    }
    migc_status_free(st);
    /* force records without running SQL */
    CHECK_INT(migc_force(conn, &seven_catalog, NULL, 5, &err), MIGC_OK);
    check_value(conn, history_ids,
                "1:applied,2:applied,3:applied,4:applied,5:applied");
    CHECK(!table_exists(conn, "t4"));
    CHECK_INT(migc_force(conn, &seven_catalog, NULL, 2, &err), MIGC_OK);
    check_value(conn, history_ids, "1:applied,2:applied");
    CHECK(table_exists(conn, "t3")); /* force never runs SQL */
    CHECK_INT(migc_force(conn, &seven_catalog, NULL, 3, &err), MIGC_OK);
    CHECK_INT(migc_up(conn, &seven_catalog, NULL, &err), MIGC_OK);
    CHECK(table_exists(conn, "t7"));
    CHECK_INT(migc_down(conn, &seven_catalog, NULL, -1, &err), MIGC_OK);
    check_value(conn, history_ids, "");
    CHECK(!table_exists(conn, "t1"));
    PQfinish(conn);
}

/* ---- policies ---------------------------------------------------------- */

static void test_policies(void)
{
    th_case("ahead, missing and out-of-order policies");
    migc_error err;
    migc_options opt = MIGC_OPTIONS_INIT;
    /* A database ahead of the binary (a rolling deploy): fine by default. */
    PGconn *conn = fresh_database("ahead");
    CHECK_INT(migc_up(conn, &seven_catalog, NULL, &err), MIGC_OK);
    migc_catalog five = seven_catalog;
    five.count = 5;
    CHECK_INT(migc_up(conn, &five, NULL, &err), MIGC_OK);
    opt.flags = MIGC_REFUSE_AHEAD;
    CHECK_INT(migc_up(conn, &five, &opt, &err), MIGC_EAHEAD);
    CHECK(strstr(err.message, "migration 6") != NULL);

    /* An applied migration the binary lacks. */
    migc_migration without3[6];
    for (size_t i = 0, k = 0; i < 7; i++)
        if (i != 2)
            without3[k++] = seven_catalog.migrations[i];
    migc_catalog gap = seven_catalog;
    gap.migrations = without3;
    gap.count = 6;
    CHECK_INT(migc_up(conn, &gap, NULL, &err), MIGC_EMISSING);
    CHECK_INT(err.version, 3);
    opt.flags = MIGC_ALLOW_MISSING;
    CHECK_INT(migc_up(conn, &gap, &opt, &err), MIGC_OK);
    PQfinish(conn);

    /* A pending migration older than an applied one. */
    conn = fresh_database("out_of_order");
    CHECK_INT(migc_up(conn, &gap, NULL, &err), MIGC_OK);
    CHECK_INT(migc_up(conn, &seven_catalog, NULL, &err), MIGC_EOUTOFORDER);
    CHECK_INT(err.version, 3);
    CHECK_STR(err.file, "seven/000003_table_3.up.sql");
    /* the plan says so before a deploy */
    {
        char *text = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&text, &len);
        CHECK_INT(migc_print_plan(conn, &seven_catalog, NULL, out,
                                  MIGC_OUTPUT_TEXT, &err),
                  MIGC_OK);
        fclose(out);
        CHECK(strstr(text, "problem: migration 3 (seven/000003_table_3.up.sql) "
                           "is pending but older than the applied version 7")
              != NULL);
        free(text);
    }
    CHECK(!table_exists(conn, "t3"));
    opt.flags = MIGC_ALLOW_OUT_OF_ORDER;
    CHECK_INT(migc_up(conn, &seven_catalog, &opt, &err), MIGC_OK);
    CHECK(table_exists(conn, "t3"));
    /* and the next start is the one-round-trip one again */
    CHECK_INT(migc_up(conn, &seven_catalog, NULL, &err), MIGC_OK);
    check_value(conn, "SELECT applied_count FROM migc_history WHERE id = '7'",
                "7");
    PQfinish(conn);
}

/* ---- a failed non-transactional migration, and its retry --------------- */

static void test_failed_then_retried(void)
{
    th_case("failed non-transactional migration, then retry");
    PGconn *conn = fresh_database("retry");
    migc_error err;
    CHECK_INT(migc_up(conn, &retry_catalog, NULL, &err), MIGC_EMIGRATION);
    CHECK_STR(err.sqlstate, "23505");
    CHECK_INT(err.statement_index, 1);
    check_value(conn, history_ids, "1:applied,2:failed");
    /* The next start refuses, saying where it stopped. */
    CHECK_INT(migc_up(conn, &retry_catalog, NULL, &err), MIGC_EINTERRUPTED);
    CHECK_INT(err.version, 2);
    CHECK_STR(err.file, "retry/000002_r_x.up.sql");
    CHECK_INT(err.line, 2);
    CHECK(strstr(err.hint, "no statement completed") != NULL);
    /* The documented way out: fix the data, drop the invalid index the
     * failed build left, retry. */
    PGresult *r = PQexec(conn, "DELETE FROM r WHERE ctid NOT IN (SELECT "
                               "min(ctid) FROM r GROUP BY x); DROP INDEX r_x");
    CHECK_INT(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    migc_options opt = MIGC_OPTIONS_INIT;
    opt.flags = MIGC_RETRY_INTERRUPTED;
    CHECK_INT(migc_up(conn, &retry_catalog, &opt, &err), MIGC_OK);
    check_value(conn, history_ids, "1:applied,2:applied");
    check_value(conn, "SELECT indisvalid FROM pg_index WHERE indexrelid = "
                      "'r_x'::regclass",
                "t");
    CHECK_INT(migc_up(conn, &retry_catalog, NULL, &err), MIGC_OK);
    PQfinish(conn);
}

/* ---- lock_timeout ------------------------------------------------------- */

static void test_lock_timeout(void)
{
    th_case("lock_timeout names the blocker; lock_retries waits it out");
    PGconn *conn = fresh_database("locked");
    migc_error err;
    migc_options opt = MIGC_OPTIONS_INIT;
    opt.target_version = 1;
    CHECK_INT(migc_up(conn, &locked_catalog, &opt, &err), MIGC_OK);
    PGconn *holder = connect_to("locked");
    PGresult *r = PQexec(holder, "BEGIN; SELECT count(*) FROM lk");
    PQclear(r);
    char pid[32];
    snprintf(pid, sizeof pid, "process %d ", PQbackendPID(holder));

    opt = (migc_options)MIGC_OPTIONS_INIT;
    opt.lock_timeout_ms = 200;
    CHECK_INT(migc_up(conn, &locked_catalog, &opt, &err), MIGC_EMIGRATION);
    CHECK_STR(err.sqlstate, "55P03");
    CHECK_INT(err.version, 2);
    CHECK(strstr(err.detail, pid) != NULL);
    CHECK(strstr(err.detail, "AccessShareLock on \"lk\"") != NULL);
    CHECK(strstr(err.detail, "idle in transaction") != NULL);
    check_value(conn, history_ids, "1:applied");
    check_value(conn, "SELECT count(*) FROM information_schema.columns "
                      "WHERE table_name = 'lk' AND column_name = 'y'",
                "0");

    /* With retries, the migration goes through once the lock is gone. */
    /* The child reports its result through a pipe, not its exit status
     * (which a memory checker may claim for its own reports). */
    int report[2];
    CHECK(pipe(report) == 0);
    pid_t child = fork();
    if (child == 0) {
        close(report[0]);
        PGconn *c = connect_to("locked");
        migc_options o = MIGC_OPTIONS_INIT;
        o.lock_timeout_ms = 200;
        o.lock_retries = 8;
        migc_error e;
        char result = (char)('0' + migc_up(c, &locked_catalog, &o, &e));
        PQfinish(c);
        if (write(report[1], &result, 1) != 1)
            _exit(1);
        _exit(0);
    }
    close(report[1]);
    struct timespec pause = {1, 500 * 1000 * 1000};
    nanosleep(&pause, NULL);
    r = PQexec(holder, "COMMIT");
    PQclear(r);
    char result = 'x';
    if (read(report[0], &result, 1) != 1)
        result = 'x';
    close(report[0]);
    waitpid(child, NULL, 0);
    CHECK_INT(result, '0' + MIGC_OK);
    check_value(conn, history_ids, "1:applied,2:applied");
    PQfinish(holder);
    PQfinish(conn);
}

/* ---- an early refusal leaves the session alone ------------------------- */

static void test_refusal_keeps_settings(void)
{
    th_case("a read-only refusal keeps the session's settings");
    PGconn *conn = fresh_database("readonly");
    PGresult *r = PQexec(conn, "SET search_path = custom, public; "
                               "SET default_transaction_read_only = on");
    PQclear(r);
    migc_error err;
    CHECK_INT(migc_up(conn, &seven_catalog, NULL, &err), MIGC_EREADONLY);
    check_value(conn, "SHOW search_path", "custom, public");
    check_value(conn, "SHOW default_transaction_read_only", "on");
    PQfinish(conn);
}

/* ---- the service flags ------------------------------------------------- */

/* Runs migc_main with stdout captured into *out (malloc'd). */
static int run_main(const char *flag, char **out)
{
    fflush(stdout);
    char path[] = "/tmp/migc-main-XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(STDOUT_FILENO);
    dup2(fd, STDOUT_FILENO);
    char program[] = "service";
    char arg[64];
    snprintf(arg, sizeof arg, "%s", flag);
    char *argv[] = {program, arg, NULL};
    int rc = migc_main(2, argv, &seven_catalog, NULL);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    off_t n = lseek(fd, 0, SEEK_END);
    size_t size = n > 0 ? (size_t)n : 0;
    *out = calloc(1, size + 1);
    if (size && pread(fd, *out, size, 0) != (ssize_t)size)
        (*out)[0] = '\0';
    close(fd);
    unlink(path);
    return rc;
}

static void test_service_flags(void)
{
    th_case("service flags");
    char *conninfo = pgfix_create_database("flags");
    setenv("DATABASE_URL", conninfo, 1);
    PGconn *conn = PQconnectdb(conninfo);
    free(conninfo);
    char *out;
    CHECK_INT(run_main("--serve", &out), -1);
    free(out);
    CHECK_INT(run_main("--migrate-only", &out), 0);
    free(out);
    check_value(conn, "SELECT count(*) FROM migc_history", "7");
    CHECK_INT(run_main("--migrate-to=4", &out), 0);
    free(out);
    check_value(conn, "SELECT max(version) FROM migc_history", "4");
    CHECK_INT(run_main("--print-schema-plan", &out), 0);
    CHECK(strstr(out, "database: version 4; target: version 7; 3 pending") != NULL);
    free(out);
    CHECK_INT(run_main("--migrate-status=json", &out), 0);
    CHECK(strstr(out, "\"current_version\": 4") != NULL);
    free(out);
    CHECK_INT(run_main("--migrate-down", &out), 0);
    free(out);
    check_value(conn, "SELECT max(version) FROM migc_history", "3");
    CHECK_INT(run_main("--migrate-force=5", &out), 0);
    free(out);
    check_value(conn, "SELECT max(version) FROM migc_history", "5");
    CHECK_INT(run_main("--migrate-to=x", &out), 2);
    free(out);
    unsetenv("DATABASE_URL");
    PQfinish(conn);
}

int main(void)
{
    pgfix_start();
    test_failure_maps_to_file_line();
    test_edited_migration();
    test_noop_round_trips(10);
    test_noop_round_trips(5000);
    test_plan();
    test_settings_do_not_leak();
    test_down_force_status();
    test_policies();
    test_failed_then_retried();
    test_refusal_keeps_settings();
    test_lock_timeout();
    test_service_flags();
    th_case("");
    return th_finish();
}
