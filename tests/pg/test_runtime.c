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
 *  - down, down to, force, status, the standard service flags;
 *  - MIGC_GROUPED: a run of migrations in one transaction (one COMMIT in
 *    the server's log), all or nothing on a failure, a non-transactional
 *    migration on its own between two groups;
 *  - by default each migration commits with synchronous_commit off, its
 *    history row last, and one synchronous commit at the end makes the run
 *    durable, after a failure too; a migration costs one round trip (its
 *    COMMIT goes with the next one's statements; libpq's protocol trace);
 *  - a history edited by hand (a row's version, a deleted row, a row's
 *    hash) is reported and nothing is applied;
 *  - a migration that fails at its COMMIT (a deferred constraint), whose
 *    COMMIT went with the next migration's statements: it is the one
 *    blamed, and the next one never runs;
 *  - the history's head: a start reads it alone; any change of the
 *    history (by hand, by a role granted the head, TRUNCATE, a down)
 *    clears it and the start reads the history; a
 *    role without rights on the head cannot change the history; an older
 *    program clears a newer one's head; DROP TABLE drops it; an earlier
 *    migc's history gets one at the next run, and a disabled trigger is
 *    put back; a run that cannot lock the history leaves it cleared; a
 *    renamed schema keeps it; without plpgsql the run logs that it has
 *    none and goes on.
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
extern const migc_catalog grouped_catalog;
extern const migc_catalog midfail_catalog;
extern const migc_catalog mixed_catalog;
extern const migc_catalog atcommit_catalog;

/* A new connection to the existing database `name` of the cluster, as
 * `user` (NULL: the cluster's superuser). */
static PGconn *connect_as(const char *name, const char *user)
{
    char info[512];
    snprintf(info, sizeof info, "%s", pgfix_start());
    char *p = strstr(info, "dbname=");
    if (p)
        snprintf(p, sizeof info - (size_t)(p - info), "dbname=%s%s%s", name,
                 user ? " user=" : "", user ? user : "");
    PGconn *conn = PQconnectdb(info);
    CHECK(PQstatus(conn) == CONNECTION_OK);
    return conn;
}

static PGconn *connect_to(const char *name)
{
    return connect_as(name, NULL);
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
    char *text; /* "SELECT 1;", "synthetic", the file, then the ids */
} synthetic;

static void synthetic_init(synthetic *s, size_t n)
{
    static const char fixed[] = "SELECT 1;\0synthetic\0synthetic.up.sql";
    memset(s, 0, sizeof *s);
    s->ms = calloc(n, sizeof *s->ms);
    s->text = calloc(sizeof fixed + 24 * n, 1);
    CHECK(s->ms && s->text);
    memcpy(s->text, fixed, sizeof fixed);
    size_t len = sizeof fixed;
    s->st = (migc_statement){0, 9, 1, 1, 0};
    for (size_t i = 0; i < n; i++) {
        migc_migration *m = &s->ms[i];
        m->version = (int64_t)i + 1;
        m->id = (uint32_t)len;
        len += (size_t)sprintf(s->text + len, "%zu", i + 1) + 1;
        m->name = 10;
        m->up.sql = 0;
        m->up.length = 9;
        m->up.first_statement = 0;
        m->up.statement_count = 1;
        m->up.first_line = 1;
        m->up.file = 20;
        m->down.sql = m->down.file = MIGC_NO_TEXT;
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
    s->cat.statements = &s->st;
    s->cat.statement_count = 1;
    s->cat.text = s->text;
    s->cat.text_length = len;
}

static void synthetic_free(synthetic *s)
{
    free(s->ms);
    free(s->text);
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
    /* The history was never analyzed: the check must still read it
     * through its indexes, not scan it (the statistics are flushed at the
     * end of each transaction once forced). */
    const char *scans =
        "SELECT seq_scan FROM pg_catalog.pg_stat_user_tables "
        "WHERE relname = 'migc_history'";
    PQclear(PQexec(conn, "SELECT pg_catalog.pg_stat_force_next_flush()"));
    PQclear(PQexec(conn, "SELECT pg_catalog.pg_stat_clear_snapshot()"));
    long long seq_before = number(conn, scans);
    long before = file_size(log);
    CHECK_INT(migc_up(conn, &s.cat, NULL, &err), MIGC_OK);
    /* the server writes its log synchronously; give the file a moment */
    struct timespec pause = {0, 100 * 1000 * 1000};
    nanosleep(&pause, NULL);
    CHECK_INT(statements_logged(log, before, PQbackendPID(conn)), 1);
    r = PQexec(conn, "SET log_statement = 'none'");
    PQclear(r);
    PQclear(PQexec(conn, "SELECT pg_catalog.pg_stat_force_next_flush()"));
    PQclear(PQexec(conn, "SELECT pg_catalog.pg_stat_clear_snapshot()"));
    CHECK_INT(number(conn, scans), seq_before);
    synthetic_free(&s);
    PQfinish(conn);
}

/* ---- malformed catalogs ------------------------------------------------ */

/* migc_up on a malformed catalog: MIGC_ECATALOG, and nothing created. */
static void check_malformed(PGconn *conn, const migc_catalog *cat)
{
    migc_error err;
    CHECK_INT(migc_up(conn, cat, NULL, &err), MIGC_ECATALOG);
    CHECK_STR(err.message,
              "the catalog is not a valid migc catalog of ABI 2");
    CHECK_INT(number(conn, "SELECT count(*) FROM pg_class WHERE relname = "
                           "'migc_history'"),
              0);
}

static void test_malformed_catalog(void)
{
    th_case("a malformed catalog is refused before anything is done");
    PGconn *conn = fresh_database("malformed");
    synthetic s;
    synthetic_init(&s, 3);
    migc_error err;

    migc_catalog bad = s.cat;
    bad.abi = 1; /* generated for another layout */
    check_malformed(conn, &bad);
    check_malformed(conn, NULL);
    bad = s.cat;
    bad.text = NULL;
    check_malformed(conn, &bad);
    /* an id outside the text */
    s.ms[1].id = (uint32_t)s.cat.text_length;
    check_malformed(conn, &s.cat);
    /* the same version and id twice, then out of order */
    s.ms[1].id = s.ms[2].id;
    s.ms[1].version = 3;
    check_malformed(conn, &s.cat);
    s.ms[1].id = s.ms[0].id + 2;
    s.ms[1].version = 9;
    check_malformed(conn, &s.cat);
    s.ms[1].version = 2;
    /* statements outside the statements array */
    s.ms[2].up.first_statement = 1;
    check_malformed(conn, &s.cat);
    s.ms[2].up.first_statement = 0;
    /* a script longer than the text */
    s.ms[0].up.length = (uint32_t)s.cat.text_length;
    check_malformed(conn, &s.cat);
    s.ms[0].up.length = 9;
    CHECK_STR(migc_catalog_text(&s.cat, s.ms[1].id), "2");

    CHECK_INT(migc_up(conn, &s.cat, NULL, &err), MIGC_OK);
    CHECK_INT(number(conn, "SELECT count(*) FROM migc_history"), 3);
    /* A start with nothing to do reads only the newest migration's entry
     * (constant time); anything that reads the history checks it all. */
    s.ms[0].name = (uint32_t)s.cat.text_length + 5;
    CHECK_INT(migc_up(conn, &s.cat, NULL, &err), MIGC_OK);
    migc_status_report *report = NULL;
    CHECK_INT(migc_status(conn, &s.cat, NULL, &report, &err), MIGC_ECATALOG);
    CHECK(report == NULL);
    CHECK_INT(migc_down(conn, &s.cat, NULL, 1, &err), MIGC_ECATALOG);
    CHECK_INT(number(conn, "SELECT count(*) FROM migc_history"), 3);
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

/* ---- how a run commits: the server's statement log --------------------- */

/* Logs the session's statements from now on (log_statement = all) and
 * returns where the server log ends. */
static long log_from_here(PGconn *conn)
{
    PGresult *r = PQexec(conn, "SET log_statement = 'all'");
    CHECK_INT(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    return file_size(pgfix_server_log());
}

/* What backend `pid` logged after byte `from` about committing
 * migrations, one word per statement: BEGIN, COMMIT, ROLLBACK; "sql" for
 * a statement of a migration that starts with `sql` (one per migration in
 * these fixtures); "row" for a history row inserted; "async" for a
 * transaction's synchronous_commit turned off; "refresh" for the
 * synchronous commit that ends a run (the newest row's applied_count);
 * "head" for the setting of the head; "concurrently" for CREATE INDEX
 * CONCURRENTLY.  The rest (lock, settings, reading the history) is left
 * out.  Malloc'd. */
static char *commit_trace(long from, int pid, const char *sql)
{
    /* the server writes its log synchronously; give the file a moment */
    struct timespec pause = {0, 100 * 1000 * 1000};
    nanosleep(&pause, NULL);
    static const struct {
        const char *start;
        const char *word;
    } words[] = {
        /* the newest row's applied_count, one synchronous commit */
        {"BEGIN; SET LOCAL ROLE NONE; UPDATE", "refresh"},
        /* the head, set when the history is the catalog, applied */
        {"SELECT pg_catalog.setval(", "head"},
        {"BEGIN", "BEGIN"},
        {"COMMIT", "COMMIT"},
        {"ROLLBACK", "ROLLBACK"},
        {"INSERT INTO \"public\".\"migc_history\" ", "row"},
        {"CREATE INDEX CONCURRENTLY", "concurrently"},
    };
    char *out = calloc(1, 4096);
    size_t len = 0;
    FILE *f = out ? fopen(pgfix_server_log(), "rb") : NULL;
    if (!f)
        return out;
    fseek(f, from, SEEK_SET);
    char line[8192], tag[32];
    snprintf(tag, sizeof tag, "[%d]", pid);
    while (fgets(line, sizeof line, f)) {
        if (!strstr(line, tag))
            continue;
        char *text = strstr(line, "LOG:  statement: ");
        if (text) {
            text += strlen("LOG:  statement: ");
        } else if ((text = strstr(line, "LOG:  execute ")) != NULL &&
                   (text = strstr(text + strlen("LOG:  execute "), ": ")) !=
                       NULL) {
            text += 2;
        } else {
            continue;
        }
        const char *word = NULL;
        if (strncmp(text, sql, strlen(sql)) == 0)
            word = "sql";
        else if (strstr(text, "set_config('synchronous_commit', 'off', true)"))
            word = "async";
        for (size_t i = 0; !word && i < sizeof words / sizeof words[0]; i++)
            if (strncmp(text, words[i].start, strlen(words[i].start)) == 0)
                word = words[i].word;
        if (word && len + strlen(word) + 2 < 4096)
            len += (size_t)sprintf(out + len, "%s%s", len ? " " : "", word);
    }
    fclose(f);
    return out;
}

/* A start with nothing to do: migc_up succeeds with exactly one statement
 * on the server. */
static void check_noop_start(PGconn *conn, const migc_catalog *catalog,
                             const migc_options *opt)
{
    migc_error err;
    long from = file_size(pgfix_server_log());
    CHECK_INT(migc_up(conn, catalog, opt, &err), MIGC_OK);
    CHECK_INT(statements_logged(pgfix_server_log(), from, PQbackendPID(conn)),
              1);
}

static void check_trace(long from, PGconn *conn, const char *sql,
                        const char *want)
{
    char *got = commit_trace(from, PQbackendPID(conn), sql);
    CHECK_STR(got, want);
    free(got);
}

/* Each history row in order: id:state:applied_count:duration ("null" when
 * duration_ms is NULL, "ms" otherwise). */
static const char history_rows[] =
    "SELECT coalesce(string_agg(id || ':' || state || ':' || applied_count "
    "|| ':' || CASE WHEN duration_ms IS NULL THEN 'null' ELSE 'ms' END, ',' "
    "ORDER BY version), '') FROM migc_history";

/* The runtime's log lines, each ended by a newline. */
typedef struct log_lines {
    char text[4096];
    size_t len;
} log_lines;

static void collect(void *ctx, const char *line)
{
    log_lines *l = ctx;
    int n = snprintf(l->text + l->len, sizeof l->text - l->len, "%s\n", line);
    if (n > 0)
        l->len += (size_t)n < sizeof l->text - l->len
                      ? (size_t)n
                      : sizeof l->text - l->len - 1;
}

/* Default options whose log goes to `lines`, with `flags`. */
static migc_options logging_to(log_lines *lines, unsigned flags)
{
    migc_options opt = MIGC_OPTIONS_INIT;
    opt.flags = flags;
    opt.log = collect;
    opt.log_ctx = lines;
    return opt;
}

/* True when the lines a, b, c (c may be NULL) occur in text in this
 * order. */
static bool in_order(const char *text, const char *a, const char *b,
                     const char *c)
{
    const char *p = strstr(text, a);
    const char *q = p ? strstr(p + strlen(a), b) : NULL;
    return q && (!c || strstr(q + strlen(b), c));
}

/* ---- MIGC_GROUPED ------------------------------------------------------ */

static void test_grouped(void)
{
    th_case("grouped: five migrations in one transaction");
    PGconn *conn = fresh_database("grouped");
    log_lines lines = {"", 0};
    migc_options opt = logging_to(&lines, MIGC_GROUPED);
    migc_error err;
    long from = log_from_here(conn);
    CHECK_INT(migc_up(conn, &grouped_catalog, &opt, &err), MIGC_OK);
    /* The history table's own creation, then one transaction with every
     * migration followed by its row; one COMMIT for all five. */
    check_trace(from, conn, "CREATE TABLE g",
                "BEGIN COMMIT BEGIN sql sql sql sql sql row COMMIT refresh head");
    check_value(conn, history_rows,
                "1:applied:1:null,2:applied:2:null,3:applied:3:null,"
                "4:applied:4:null,5:applied:5:null");
    /* Later migrations saw what earlier ones did in the transaction. */
    check_value(conn, "SELECT x FROM g5", "2");
    check_value(conn, "SELECT string_agg(w::text, ',') FROM g1", "4,4");
    CHECK(strstr(lines.text, "migc: applied 5 migrations (1 to 5) in one "
                             "transaction in ") != NULL);
    migc_status_report *st = NULL;
    CHECK_INT(migc_status(conn, &grouped_catalog, NULL, &st, &err), MIGC_OK);
    CHECK(st != NULL);
    if (st) {
        CHECK_INT(st->count, 5);
        CHECK_INT(st->current_version, 5);
        CHECK_INT(st->pending, 0);
        for (size_t i = 0; i < st->count; i++) {
            CHECK_INT(st->entries[i].state, MIGC_STATE_APPLIED);
            CHECK_INT(st->entries[i].duration_ms, -1);
            CHECK_INT(st->entries[i].statements_done, 2);
        }
    }
    migc_status_free(st);
    /* The next start is the one-round-trip no-op. */
    lines.len = 0;
    check_noop_start(conn, &grouped_catalog, &opt);
    CHECK_STR(lines.text, "migc: database is up to date\n");
    CHECK_INT(PQtransactionStatus(conn), PQTRANS_IDLE);
    PQfinish(conn);

    th_case("grouped after a start without it");
    conn = fresh_database("grouped_rest");
    migc_options first = MIGC_OPTIONS_INIT;
    first.target_version = 2;
    CHECK_INT(migc_up(conn, &grouped_catalog, &first, &err), MIGC_OK);
    from = log_from_here(conn);
    CHECK_INT(migc_up(conn, &grouped_catalog, &opt, &err), MIGC_OK);
    check_trace(from, conn, "CREATE TABLE g",
                "BEGIN COMMIT BEGIN sql sql sql row COMMIT refresh head");
    /* applied_count goes on counting from the rows already there */
    check_value(conn, history_rows,
                "1:applied:1:ms,2:applied:2:ms,3:applied:3:null,"
                "4:applied:4:null,5:applied:5:null");
    check_noop_start(conn, &grouped_catalog, NULL);
    PQfinish(conn);
}

/* The error of migration 3 of midfail, with and without MIGC_GROUPED. */
static void check_midfail_error(const migc_error *err)
{
    CHECK_INT(err->code, MIGC_EMIGRATION);
    CHECK_STR(err->file, "midfail/000003_f3.up.sql");
    CHECK_INT(err->line, 4);
    CHECK_INT(err->column, 28);
    CHECK_STR(err->sqlstate, "42703");
    CHECK_INT(err->version, 3);
    CHECK_STR(err->id, "3");
    CHECK_INT(err->statement_index, 2);
    char text[2048];
    migc_format_error(err, text, sizeof text);
    CHECK_STR(text,
              "midfail/000003_f3.up.sql:4:28: error: migration 3 "
              "(midfail/000003_f3.up.sql) failed: column \"nosuch\" does not "
              "exist (SQLSTATE 42703)\n"
              "        SELECT x FROM f2 WHERE nosuch > 0;\n"
              "                               ^\n");
}

static void test_grouped_failure(void)
{
    th_case("grouped: a failure in migration 3 applies nothing");
    PGconn *conn = fresh_database("grouped_fail");
    migc_options opt = MIGC_OPTIONS_INIT;
    opt.flags = MIGC_GROUPED;
    migc_error err;
    long from = log_from_here(conn);
    CHECK_INT(migc_up(conn, &midfail_catalog, &opt, &err), MIGC_EMIGRATION);
    check_midfail_error(&err);
    /* Migrations 1 and 2 went in the same transaction: rolled back. */
    check_trace(from, conn, "CREATE TABLE f",
                "BEGIN COMMIT BEGIN sql sql sql ROLLBACK");
    check_value(conn, history_ids, "");
    for (int i = 1; i <= 4; i++) {
        char name[8];
        snprintf(name, sizeof name, "f%d", i);
        CHECK(!table_exists(conn, name));
    }
    migc_status_report *st = NULL;
    CHECK_INT(migc_status(conn, &midfail_catalog, NULL, &st, &err), MIGC_OK);
    if (st) {
        CHECK_INT(st->current_version, 0);
        CHECK_INT(st->pending, 4);
    }
    migc_status_free(st);
    CHECK_INT(PQtransactionStatus(conn), PQTRANS_IDLE);
    CHECK_INT(number(conn, "SELECT 41 + 1"), 42);
    PQfinish(conn);
}

static void test_grouped_around_concurrently(void)
{
    th_case("grouped: a non-transactional migration between two groups");
    PGconn *conn = fresh_database("grouped_mixed");
    log_lines lines = {"", 0};
    migc_options opt = logging_to(&lines, MIGC_GROUPED);
    migc_error err;
    long from = log_from_here(conn);
    migc_result rc = migc_up(conn, &mixed_catalog, &opt, &err);
    CHECK_INT(rc, MIGC_OK);
    if (rc != MIGC_OK) {
        char text[2048];
        migc_format_error(&err, text, sizeof text);
        fputs(text, stderr);
    }
    /* 1 and 2 together, 3 on its own (its row first, then the index,
     * outside any transaction), 4 and 5 together. */
    check_trace(from, conn, "CREATE TABLE m",
                "BEGIN COMMIT BEGIN sql sql row COMMIT row concurrently "
                "BEGIN sql sql row COMMIT refresh head");
    check_value(conn, history_rows,
                "1:applied:1:null,2:applied:2:null,3:applied:3:ms,"
                "4:applied:4:null,5:applied:5:null");
    check_value(conn, "SELECT indisvalid FROM pg_index WHERE indexrelid = "
                      "'m1_x'::regclass",
                "t");
    check_value(conn, "SELECT w FROM m5", "100");
    CHECK(in_order(lines.text,
                   "migc: applied 2 migrations (1 to 2) in one transaction in ",
                   "migc: applied 3 m3 in ",
                   "migc: applied 2 migrations (4 to 5) in one transaction "
                   "in "));
    migc_status_report *st = NULL;
    CHECK_INT(migc_status(conn, &mixed_catalog, NULL, &st, &err), MIGC_OK);
    if (st) {
        CHECK_INT(st->count, 5);
        CHECK_INT(st->current_version, 5);
        CHECK_INT(st->pending, 0);
        for (size_t i = 0; i < st->count; i++)
            CHECK_INT(st->entries[i].state, MIGC_STATE_APPLIED);
        CHECK(st->entries[2].duration_ms >= 0);
        CHECK_INT(st->entries[3].duration_ms, -1);
    }
    migc_status_free(st);
    check_noop_start(conn, &mixed_catalog, &opt);
    PQfinish(conn);
}

/* ---- one durable commit per run ---------------------------------------- */

static void test_one_durable_commit(void)
{
    th_case("each migration commits asynchronously, the run durably");
    PGconn *conn = fresh_database("durable");
    migc_error err;
    long from = log_from_here(conn);
    CHECK_INT(migc_up(conn, &seven_catalog, NULL, &err), MIGC_OK);
    /* Per migration: its SQL, synchronous_commit off, its row last; then
     * the refresh of the newest row, a synchronous commit that makes the
     * run durable (no separate barrier needed). */
    char want[512] = "BEGIN COMMIT";
    for (int i = 0; i < 7; i++)
        strcat(want, " BEGIN sql async row COMMIT");
    strcat(want, " refresh head");
    check_trace(from, conn, "CREATE TABLE t", want);
    check_value(conn, history_rows,
                "1:applied:1:ms,2:applied:2:ms,3:applied:3:ms,4:applied:4:ms,"
                "5:applied:5:ms,6:applied:6:ms,7:applied:7:ms");
    /* synchronous_commit was set for each transaction only */
    check_value(conn, "SHOW synchronous_commit", "on");
    check_noop_start(conn, &seven_catalog, NULL);
    PQfinish(conn);
}

/* Round trips of the client, from libpq's protocol trace: each Sync
 * (extended protocol) or Query (simple protocol) message it sent. */
static int round_trips(FILE *trace)
{
    rewind(trace);
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof line, trace))
        if (strstr(line, "\tF\t") &&
            (strstr(line, "\tSync") || strstr(line, "\tQuery\t")))
            n++;
    return n;
}

static void test_one_round_trip_per_migration(void)
{
    th_case("one round trip per migration: its COMMIT goes with the next");
    PGconn *conn = fresh_database("round_trips");
    FILE *trace = tmpfile();
    CHECK(trace != NULL);
    if (!trace)
        return;
    /* The first start creates the history; the trace starts after it. */
    migc_options opt = MIGC_OPTIONS_INIT;
    opt.target_version = 1;
    migc_error err;
    CHECK_INT(migc_up(conn, &seven_catalog, &opt, &err), MIGC_OK);
    PQtrace(conn, trace);
    CHECK_INT(migc_up(conn, &seven_catalog, NULL, &err), MIGC_OK);
    PQuntrace(conn);
    int with_6 = round_trips(trace);
    fclose(trace);
    /* The same start with one migration to apply: the difference is what
     * 5 more migrations cost. */
    PGconn *other = fresh_database("round_trips_1");
    opt.target_version = 6;
    CHECK_INT(migc_up(other, &seven_catalog, &opt, &err), MIGC_OK);
    trace = tmpfile();
    CHECK(trace != NULL);
    if (!trace)
        return;
    PQtrace(other, trace);
    CHECK_INT(migc_up(other, &seven_catalog, NULL, &err), MIGC_OK);
    PQuntrace(other);
    int with_1 = round_trips(trace);
    fclose(trace);
    printf("    round trips: %d applying 6 migrations, %d applying 1\n",
           with_6, with_1);
    CHECK_INT(with_6 - with_1, 5);
    check_value(conn, history_rows,
                "1:applied:1:ms,2:applied:2:ms,3:applied:3:ms,4:applied:4:ms,"
                "5:applied:5:ms,6:applied:6:ms,7:applied:7:ms");
    PQfinish(other);
    PQfinish(conn);
}

static void test_failure_midway_is_durable(void)
{
    th_case("a failure in migration 3 keeps 1 and 2, durably");
    PGconn *conn = fresh_database("midfail");
    migc_error err;
    long from = log_from_here(conn);
    CHECK_INT(migc_up(conn, &midfail_catalog, NULL, &err), MIGC_EMIGRATION);
    check_midfail_error(&err);
    /* The synchronous commit ran after the failure too. */
    check_trace(from, conn, "CREATE TABLE f",
                "BEGIN COMMIT BEGIN sql async row COMMIT BEGIN sql async row "
                "COMMIT BEGIN sql ROLLBACK refresh");
    PGconn *other = connect_to("midfail");
    check_value(other, history_rows, "1:applied:1:ms,2:applied:2:ms");
    CHECK(table_exists(other, "f1") && table_exists(other, "f2"));
    CHECK(!table_exists(other, "f3") && !table_exists(other, "f4"));
    check_value(other, "SELECT x FROM f2", "2");
    PQfinish(other);
    CHECK_INT(PQtransactionStatus(conn), PQTRANS_IDLE);
    PQfinish(conn);
}

static void test_failure_at_commit(void)
{
    th_case("a failure at COMMIT stops the migration sent after it");
    PGconn *conn = fresh_database("atcommit");
    log_lines lines = {"", 0};
    migc_options opt = logging_to(&lines, 0);
    migc_error err;
    long from = log_from_here(conn);
    CHECK_INT(migc_up(conn, &atcommit_catalog, &opt, &err), MIGC_EMIGRATION);
    CHECK_STR(err.id, "2");
    CHECK_INT(err.version, 2);
    CHECK_STR(err.file, "atcommit/000002_orphan.up.sql");
    CHECK_STR(err.sqlstate, "23503");
    char text[2048];
    migc_format_error(&err, text, sizeof text);
    CHECK_STR(text, "atcommit/000002_orphan.up.sql: error: migration 2 "
                    "(atcommit/000002_orphan.up.sql) failed at COMMIT: insert "
                    "or update on table \"child\" violates foreign key "
                    "constraint \"child_parent_id_fkey\" (SQLSTATE 23503)\n"
                    "    detail: Key (parent_id)=(42) is not present in table "
                    "\"parent\".\n");
    /* Migration 2's COMMIT went first in migration 3's pipeline: when it
     * failed, the server skipped the rest, so migration 3 never began. */
    check_trace(from, conn, "INSERT INTO child",
                "BEGIN COMMIT BEGIN async row COMMIT BEGIN sql async row "
                "COMMIT refresh");
    CHECK(strstr(lines.text, "migc: applied 1 parent in ") != NULL);
    CHECK(strstr(lines.text, "migc: applied 2") == NULL);
    CHECK(strstr(lines.text, "migc: applied 3") == NULL);
    PGconn *other = connect_to("atcommit");
    check_value(other, history_rows, "1:applied:1:ms");
    CHECK(table_exists(other, "parent") && table_exists(other, "child"));
    CHECK(!table_exists(other, "after_orphan"));
    check_value(other, "SELECT count(*) FROM child", "0");
    PQfinish(other);
    CHECK_INT(PQtransactionStatus(conn), PQTRANS_IDLE);
    PQfinish(conn);
}

/* ---- a history edited by hand ------------------------------------------ */

/* Everything a refused start must leave alone: relations, and every
 * column of the history that migc writes. */
static char *untouched(PGconn *conn)
{
    char *rels = snapshot(conn);
    char *rows = value(conn, "SELECT string_agg(concat_ws(':', id, version, "
                             "state, applied_count, applied_at, duration_ms, "
                             "encode(up_sha256, 'hex'), statements_done), ',' "
                             "ORDER BY id) FROM migc_history");
    size_t n = strlen(rels) + strlen(rows) + 2;
    char *all = malloc(n);
    snprintf(all, n, "%s|%s", rels, rows);
    free(rels);
    free(rows);
    return all;
}

static void test_history_edited(void)
{
    th_case("a history row's version edited by hand");
    PGconn *conn = fresh_database("moved");
    migc_error err;
    CHECK_INT(migc_up(conn, &seven_catalog, NULL, &err), MIGC_OK);
    PGresult *r = PQexec(conn, "UPDATE migc_history SET version = version + "
                               "1000 WHERE id = '4'");
    CHECK_INT(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    char *before = untouched(conn);
    CHECK_INT(migc_up(conn, &seven_catalog, NULL, &err), MIGC_EHISTORY);
    CHECK_STR(err.message,
              "the history records migration 4 at version 1004, but it is "
              "version 4 (seven/000004_table_4.up.sql): the history table "
              "was edited");
    CHECK_STR(err.hint, "restore the row's version to 4");
    CHECK_STR(err.id, "4");
    CHECK_STR(err.file, "seven/000004_table_4.up.sql");
    char text[2048];
    migc_format_error(&err, text, sizeof text);
    CHECK_STR(text,
              "seven/000004_table_4.up.sql: error: the history records "
              "migration 4 at version 1004, but it is version 4 "
              "(seven/000004_table_4.up.sql): the history table was edited\n"
              "    hint: restore the row's version to 4\n");
    /* down refuses the same way */
    CHECK_INT(migc_down(conn, &seven_catalog, NULL, 1, &err), MIGC_EHISTORY);
    CHECK_STR(err.hint, "restore the row's version to 4");
    CHECK_INT(err.version, 4);
    /* status reports it too, rather than a made-up missing migration */
    migc_status_report *moved = NULL;
    CHECK_INT(migc_status(conn, &seven_catalog, NULL, &moved, &err),
              MIGC_EHISTORY);
    CHECK(moved == NULL);
    CHECK_STR(err.hint, "restore the row's version to 4");
    char *after = untouched(conn);
    CHECK_STR(after, before);
    free(before);
    free(after);
    CHECK(table_exists(conn, "t7"));
    CHECK_INT(PQtransactionStatus(conn), PQTRANS_IDLE);
    /* As the hint says. */
    r = PQexec(conn, "UPDATE migc_history SET version = 4 WHERE id = '4'");
    PQclear(r);
    CHECK_INT(migc_up(conn, &seven_catalog, NULL, &err), MIGC_OK);
    /* The newest row moved: the one-round-trip check compares its version
     * too, so a start with nothing to do catches it. */
    r = PQexec(conn, "UPDATE migc_history SET version = 1007 WHERE id = '7'");
    PQclear(r);
    CHECK_INT(migc_up(conn, &seven_catalog, NULL, &err), MIGC_EHISTORY);
    CHECK_STR(err.hint, "restore the row's version to 7");
    PQfinish(conn);

    th_case("a deleted history row, with work pending");
    conn = fresh_database("deleted_row");
    migc_options five = MIGC_OPTIONS_INIT;
    five.target_version = 5;
    CHECK_INT(migc_up(conn, &seven_catalog, &five, &err), MIGC_OK);
    r = PQexec(conn, "DELETE FROM migc_history WHERE id = '3'");
    PQclear(r);
    migc_status_report *st = NULL;
    CHECK_INT(migc_status(conn, &seven_catalog, NULL, &st, &err), MIGC_OK);
    if (st) {
        CHECK_INT(st->entries[2].version, 3);
        CHECK_INT(st->entries[2].state, MIGC_STATE_PENDING);
        CHECK_INT(st->entries[3].state, MIGC_STATE_APPLIED);
        CHECK_INT(st->pending, 3);
        CHECK_INT(st->current_version, 5);
    }
    migc_status_free(st);
    before = untouched(conn);
    /* Row 4 counted row 3 when it was recorded: not an out-of-order
     * pending migration, a deleted row. */
    CHECK_INT(migc_up(conn, &seven_catalog, NULL, &err), MIGC_EHISTORY);
    CHECK_INT(err.version, 3);
    CHECK_STR(err.file, "seven/000003_table_3.up.sql");
    CHECK_STR(err.message, "migration 3 (seven/000003_table_3.up.sql) has no "
                           "history row, but the history shows it was "
                           "applied: its row was deleted from the history "
                           "table");
    CHECK_STR(err.hint, "check that its changes are in the database, then "
                        "record it again: --migrate-force=5 (the newest "
                        "applied version) records every migration up to 5 "
                        "as applied");
    after = untouched(conn);
    CHECK_STR(after, before);
    free(before);
    free(after);
    CHECK(!table_exists(conn, "t6"));
    /* ... and that way out works: 3 is recorded again, 6 and 7 then run */
    CHECK_INT(migc_force(conn, &seven_catalog, NULL, 5, &err), MIGC_OK);
    CHECK_INT(migc_up(conn, &seven_catalog, NULL, &err), MIGC_OK);
    check_value(conn, history_ids,
                "1:applied,2:applied,3:applied,4:applied,5:applied,"
                "6:applied,7:applied");
    CHECK(table_exists(conn, "t6"));
    PQfinish(conn);

    th_case("a history row's hash edited, with work pending");
    conn = fresh_database("edited_row");
    CHECK_INT(migc_up(conn, &seven_catalog, &five, &err), MIGC_OK);
    r = PQexec(conn, "UPDATE migc_history SET up_sha256 = sha256('x') "
                     "WHERE id = '3'");
    PQclear(r);
    st = NULL;
    CHECK_INT(migc_status(conn, &seven_catalog, NULL, &st, &err), MIGC_OK);
    if (st) {
        CHECK_INT(st->entries[2].version, 3);
        CHECK_INT(st->entries[2].state, MIGC_STATE_EDITED);
        CHECK_INT(st->entries[1].state, MIGC_STATE_APPLIED);
        CHECK_INT(st->entries[3].state, MIGC_STATE_APPLIED);
        CHECK_INT(st->pending, 2);
    }
    migc_status_free(st);
    before = untouched(conn);
    CHECK_INT(migc_up(conn, &seven_catalog, NULL, &err), MIGC_EEDITED);
    CHECK_INT(err.version, 3);
    CHECK_STR(err.file, "seven/000003_table_3.up.sql");
    char hex[13], want[256];
    for (int i = 0; i < 6; i++)
        sprintf(hex + 2 * i, "%02x",
                seven_catalog.migrations[2].up.sha256[i]);
    snprintf(want, sizeof want,
             "migration 3 (seven/000003_table_3.up.sql) was edited after it "
             "was applied: its SHA-256 is %s..., the database recorded "
             "2d711642b726...",
             hex);
    CHECK_STR(err.message, want);
    after = untouched(conn);
    CHECK_STR(after, before);
    free(before);
    free(after);
    CHECK(!table_exists(conn, "t6"));
    PQfinish(conn);
}

/* ---- the head ---------------------------------------------------------- */

/* Runs a command, which must succeed. */
static void run(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
              PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "    %s: %s", sql, PQresultErrorMessage(r));
    CHECK(ok);
    PQclear(r);
}

/* The statements one migc_up on conn sends (log_statement is all for the
 * connection), after checking its result. */
static int up_statements(PGconn *conn, const migc_catalog *cat,
                         const migc_options *opt, migc_result want)
{
    long from = file_size(pgfix_server_log());
    migc_error err;
    CHECK_INT(migc_up(conn, cat, opt, &err), want);
    struct timespec pause = {0, 100 * 1000 * 1000};
    nanosleep(&pause, NULL);
    return statements_logged(pgfix_server_log(), from, PQbackendPID(conn));
}

/* A log function: once a migration is applied, the connection `ctx`
 * opens a transaction that holds the history for writing. */
static void lock_when_applied(void *ctx, const char *line)
{
    if (strncmp(line, "migc: applied ", 14) != 0)
        return;
    run(ctx, "BEGIN");
    run(ctx, "LOCK TABLE migc_history IN ROW EXCLUSIVE MODE");
}

static void test_head(void)
{
    th_case("the head: a start reads it alone; any change clears it");
    PGconn *conn = fresh_database("head");
    synthetic s7, s5;
    synthetic_init(&s7, 7);
    synthetic_init(&s5, 5);
    migc_error err;
    CHECK_INT(migc_up(conn, &s7.cat, NULL, &err), MIGC_OK);
    log_from_here(conn);
    const char *cleared = "SELECT last_value FROM migc_history_head";
    CHECK_INT(up_statements(conn, &s7.cat, NULL, MIGC_OK), 1);
    /* A change of an old row clears it: the start reads the history too
     * (up to date), and so does the next one; a run sets it again. */
    run(conn, "UPDATE migc_history SET applied_by = 'dba' WHERE id = '2'");
    check_value(conn, cleared, "0");
    CHECK_INT(up_statements(conn, &s7.cat, NULL, MIGC_OK), 2);
    CHECK_INT(up_statements(conn, &s7.cat, NULL, MIGC_OK), 2);
    CHECK_INT(migc_force(conn, &s7.cat, NULL, 7, &err), MIGC_OK);
    CHECK_INT(up_statements(conn, &s7.cat, NULL, MIGC_OK), 1);
    /* An older program (5 of the 7) finds the database ahead; it clears
     * the head, which it cannot vouch for, so the newer program's next
     * start reads the history too. */
    CHECK_INT(up_statements(conn, &s5.cat, NULL, MIGC_OK) > 2, 1);
    check_value(conn, cleared, "0");
    CHECK_INT(up_statements(conn, &s7.cat, NULL, MIGC_OK), 2);
    CHECK_INT(migc_force(conn, &s7.cat, NULL, 7, &err), MIGC_OK);
    CHECK_INT(up_statements(conn, &s7.cat, NULL, MIGC_OK), 1);
    /* The newest row deleted: the start is not fooled, it applies 7
     * again. */
    run(conn, "DELETE FROM migc_history WHERE id = '7'");
    CHECK_INT(migc_up(conn, &s7.cat, NULL, &err), MIGC_OK);
    check_value(conn, "SELECT count(*) FROM migc_history", "7");
    CHECK_INT(up_statements(conn, &s7.cat, NULL, MIGC_OK), 1);
    /* TRUNCATE clears it too: everything is applied again. */
    run(conn, "TRUNCATE migc_history");
    check_value(conn, cleared, "0");
    CHECK_INT(migc_up(conn, &s7.cat, NULL, &err), MIGC_OK);
    check_value(conn, "SELECT count(*) FROM migc_history WHERE error IS NULL",
                "7");
    /* A role that may update the history but not its head cannot change
     * it (the change would go unseen); granted the head too, it can, and
     * clears it. */
    run(conn, "CREATE ROLE migc_head_editor");
    run(conn, "GRANT SELECT, UPDATE ON migc_history TO migc_head_editor");
    run(conn, "SET ROLE migc_head_editor");
    PGresult *denied = PQexec(
        conn, "UPDATE migc_history SET applied_by = 'editor' WHERE id = '3'");
    CHECK_STR(PQresultErrorField(denied, PG_DIAG_MESSAGE_PRIMARY),
              "permission denied for sequence migc_history_head");
    PQclear(denied);
    run(conn, "RESET ROLE");
    run(conn, "GRANT SELECT, UPDATE ON migc_history_head TO migc_head_editor");
    run(conn, "SET ROLE migc_head_editor");
    run(conn, "UPDATE migc_history SET applied_by = 'editor' WHERE id = '3'");
    run(conn, "RESET ROLE");
    check_value(conn, cleared, "0");
    CHECK_INT(migc_force(conn, &s7.cat, NULL, 7, &err), MIGC_OK);
    CHECK_INT(up_statements(conn, &s7.cat, NULL, MIGC_OK), 1);
    /* Dropping the history drops its head: the next start takes the full
     * path, creates both and applies everything. */
    run(conn, "DROP TABLE migc_history");
    check_value(conn, "SELECT to_regclass('migc_history_head') IS NULL", "t");
    CHECK_INT(migc_up(conn, &s7.cat, NULL, &err), MIGC_OK);
    check_value(conn, "SELECT count(*) FROM migc_history", "7");
    CHECK_INT(up_statements(conn, &s7.cat, NULL, MIGC_OK), 1);
    /* A history without a head (an earlier migc's): it can still be
     * written, a start reads the history too, and the next run creates
     * the head. */
    const char *triggers = "SELECT count(*) FROM pg_trigger WHERE tgrelid = "
                           "'migc_history'::regclass AND NOT tgisinternal "
                           "AND tgenabled <> 'D'";
    run(conn, "DROP SEQUENCE migc_history_head CASCADE");
    check_value(conn, triggers, "1"); /* TRUNCATE's: it names no head */
    run(conn, "UPDATE migc_history SET applied_by = 'dba' WHERE id = '2'");
    CHECK_INT(up_statements(conn, &s7.cat, NULL, MIGC_OK), 2);
    CHECK_INT(migc_force(conn, &s7.cat, NULL, 7, &err), MIGC_OK);
    CHECK_INT(up_statements(conn, &s7.cat, NULL, MIGC_OK), 1);
    check_value(conn, triggers, "2");
    /* A disabled trigger: the run neither trusts nor leaves it, it makes
     * the head whole again. */
    run(conn, "ALTER TABLE migc_history DISABLE TRIGGER migc_head_clear");
    CHECK_INT(migc_force(conn, &s7.cat, NULL, 7, &err), MIGC_OK);
    check_value(conn, triggers, "2");
    CHECK_INT(up_statements(conn, &s7.cat, NULL, MIGC_OK), 1);
    /* A run that cannot lock the history at once (another session has
     * it open for writing) leaves the head cleared, and the start reads
     * the history too. */
    run(conn, "DELETE FROM migc_history WHERE id = '7'");
    PGconn *writer = connect_to("head");
    migc_options locking = MIGC_OPTIONS_INIT;
    locking.log = lock_when_applied; /* after the history is ensured */
    locking.log_ctx = writer;
    CHECK_INT(migc_up(conn, &s7.cat, &locking, &err), MIGC_OK);
    check_value(conn, cleared, "0");
    CHECK_INT(up_statements(conn, &s7.cat, NULL, MIGC_OK), 2);
    run(writer, "COMMIT");
    PQfinish(writer);
    CHECK_INT(migc_force(conn, &s7.cat, NULL, 7, &err), MIGC_OK);
    CHECK_INT(up_statements(conn, &s7.cat, NULL, MIGC_OK), 1);
    /* Renaming the schema keeps the head working. */
    run(conn, "ALTER SCHEMA public RENAME TO renamed");
    migc_options renamed = MIGC_OPTIONS_INIT;
    renamed.history_schema = "renamed";
    CHECK_INT(up_statements(conn, &s7.cat, &renamed, MIGC_OK), 1);
    run(conn, "UPDATE renamed.migc_history SET applied_by = 'x' WHERE id = '1'");
    check_value(conn, "SELECT last_value FROM renamed.migc_history_head", "0");
    PQfinish(conn);

    th_case("the head after a down: the next start applies it again");
    conn = fresh_database("head_down");
    CHECK_INT(migc_up(conn, &seven_catalog, NULL, &err), MIGC_OK);
    CHECK_INT(migc_down(conn, &seven_catalog, NULL, 1, &err), MIGC_OK);
    CHECK(!table_exists(conn, "t7"));
    CHECK_INT(migc_up(conn, &seven_catalog, NULL, &err), MIGC_OK);
    CHECK(table_exists(conn, "t7"));
    log_from_here(conn);
    CHECK_INT(up_statements(conn, &seven_catalog, NULL, MIGC_OK), 1);
    PQfinish(conn);

    th_case("the head cannot be created: logged, and the run goes on");
    conn = fresh_database("head_without_plpgsql");
    run(conn, "DROP EXTENSION plpgsql");
    log_lines lines = {"", 0};
    migc_options opt = logging_to(&lines, 0);
    CHECK_INT(migc_up(conn, &s5.cat, &opt, &err), MIGC_OK);
    /* the first line, before the migrations' */
    const char *logged = "migc: cannot create the history's head "
                         "\"public\".\"migc_history_head\" (language "
                         "\"plpgsql\" does not exist): a start with nothing "
                         "to do reads the history table instead\n"
                         "migc: applied 1 synthetic in ";
    CHECK(strncmp(lines.text, logged, strlen(logged)) == 0);
    check_value(conn, "SELECT count(*) FROM migc_history", "5");
    check_value(conn, "SELECT to_regclass('migc_history_head') IS NULL", "t");
    log_from_here(conn);
    CHECK_INT(up_statements(conn, &s5.cat, NULL, MIGC_OK), 2);
    PQfinish(conn);
    synthetic_free(&s7);
    synthetic_free(&s5);
}

int main(void)
{
    pgfix_start();
    test_failure_maps_to_file_line();
    test_edited_migration();
    test_noop_round_trips(10);
    test_noop_round_trips(5000);
    test_malformed_catalog();
    test_plan();
    test_settings_do_not_leak();
    test_down_force_status();
    test_policies();
    test_failed_then_retried();
    test_refusal_keeps_settings();
    test_lock_timeout();
    test_service_flags();
    test_grouped();
    test_grouped_failure();
    test_grouped_around_concurrently();
    test_one_durable_commit();
    test_one_round_trip_per_migration();
    test_failure_midway_is_durable();
    test_failure_at_commit();
    test_history_edited();
    test_head();
    th_case("");
    return th_finish();
}
