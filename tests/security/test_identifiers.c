/*
 * test_identifiers.c -- hostile history schema and table names
 * (migc_options.history_schema / history_table) against a real PostgreSQL.
 *
 * The runtime builds its bookkeeping SQL around these two names, so they
 * must always be quoted.  For each name below -- SQL injection attempts
 * (`x"; DROP TABLE victim; --`, `migc_history; DROP TABLE victim`, ...),
 * quotes, spaces, unicode, printf conversions, newlines, over-long names --
 * on a fresh database holding a table `victim` with one row:
 *
 *  - migc_up applies the catalog tests/security/fixtures/simple (one
 *    transactional, one non-transactional, one transactional migration);
 *    `victim` and its row survive;
 *  - when it works: the history table exists in pg_class under exactly that
 *    name (PostgreSQL's truncation to 63 bytes aside) in exactly that
 *    schema, with its three indexes (primary key, _order, _unfinished) and
 *    3 applied rows, and no other table was created; a second migc_up
 *    (the one-round-trip check), migc_status, migc_print_status,
 *    migc_print_plan, migc_down of everything and migc_force work on it and
 *    `victim` still survives;
 *  - a failing non-transactional migration (fixtures/failing) records a
 *    `failed` row in that table, the next migc_up refuses it as
 *    interrupted, migc_force settles it; `victim` survives;
 *  - when migc refuses a name (allowed only for names marked MAY_FAIL, such
 *    as the schema pg_catalog or a 4,000-character name), it fails
 *    cleanly: an error code and message, the connection idle and usable,
 *    nothing applied, `victim` intact.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <migc/migc.h>

#include "harness.h"
#include "pgfixture.h"

extern const migc_catalog security_simple_catalog;
extern const migc_catalog security_failing_catalog;

enum expect { MUST_WORK, MAY_FAIL };

static int databases;

/* Notices that reach the connection's notice processor while migc runs
 * (libpq's default one would print them). */
static int notices;

static void count_notice(void *arg, const PGresult *res)
{
    (void)arg;
    (void)res;
    notices++;
}

static PGconn *fresh_database(void)
{
    char name[32];
    snprintf(name, sizeof name, "sec_ident_%d", ++databases);
    char *conninfo = pgfix_create_database(name);
    PGconn *conn = PQconnectdb(conninfo);
    free(conninfo);
    CHECK(PQstatus(conn) == CONNECTION_OK);
    PQsetNoticeReceiver(conn, count_notice, NULL);
    PGresult *res = PQexec(conn, "CREATE TABLE public.victim (x int);"
                                 "INSERT INTO public.victim VALUES (42)");
    CHECK(PQresultStatus(res) == PGRES_COMMAND_OK);
    PQclear(res);
    return conn;
}

/* The single value of a query with text parameters, malloc'd ("" and a
 * message on error). */
static char *value(PGconn *conn, const char *sql, int n,
                   const char *const *params)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
              PQnfields(res) == 1;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fprintf(stderr, "    query failed: %s", PQresultErrorMessage(res));
    char *v = strdup(ok ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return v;
}

static long long number(PGconn *conn, const char *sql, int n,
                        const char *const *params)
{
    char *v = value(conn, sql, n, params);
    long long r = *v ? atoll(v) : -1;
    free(v);
    return r;
}

/* The victim table and its row are still there. */
static bool victim_ok(PGconn *conn)
{
    return number(conn, "SELECT count(*) FROM public.victim WHERE x = 42", 0,
                  NULL) == 1;
}

static bool idle(PGconn *conn)
{
    return PQstatus(conn) == CONNECTION_OK &&
           PQtransactionStatus(conn) == PQTRANS_IDLE;
}

/* name as PostgreSQL stores it: at most 63 bytes, not cutting a UTF-8
 * character. */
static void pg_name(const char *name, char out[64])
{
    size_t n = strlen(name);
    if (n > 63) {
        n = 63;
        while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(out, name, n);
    out[n] = '\0';
}

/* Relations of kind `kind` called exactly `rel` in schema `nsp`. */
static long long relations(PGconn *conn, const char *nsp, const char *rel,
                           const char *kind)
{
    const char *p[3] = {nsp, rel, kind};
    return number(conn,
                  "SELECT count(*) FROM pg_catalog.pg_class c JOIN "
                  "pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                  "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = $3",
                  3, p);
}

/* Ordinary tables outside the system schemas. */
static long long user_tables(PGconn *conn)
{
    return number(conn,
                  "SELECT count(*) FROM pg_catalog.pg_class c JOIN "
                  "pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                  "WHERE c.relkind = 'r' AND n.nspname NOT IN "
                  "('pg_catalog', 'information_schema') AND n.nspname NOT "
                  "LIKE 'pg\\_%'",
                  0, NULL);
}

/* Indexes on the table `rel` of schema `nsp`. */
static long long indexes_of(PGconn *conn, const char *nsp, const char *rel)
{
    const char *p[2] = {nsp, rel};
    return number(conn,
                  "SELECT count(*) FROM pg_catalog.pg_index i JOIN "
                  "pg_catalog.pg_class c ON c.oid = i.indrelid JOIN "
                  "pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                  "WHERE n.nspname = $1 AND c.relname = $2",
                  2, p);
}

/* Rows of the history table nsp.rel (quoted here with libpq) matching
 * `where`. */
static long long history_rows(PGconn *conn, const char *nsp, const char *rel,
                              const char *where)
{
    char *qn = PQescapeIdentifier(conn, nsp, strlen(nsp));
    char *qr = PQescapeIdentifier(conn, rel, strlen(rel));
    long long r = -1;
    if (qn && qr) {
        size_t size = strlen(qn) + strlen(qr) + strlen(where) + 64;
        char *sql = malloc(size);
        if (sql) {
            snprintf(sql, size, "SELECT count(*) FROM %s.%s WHERE %s", qn, qr,
                     where);
            r = number(conn, sql, 0, NULL);
            free(sql);
        }
    }
    PQfreemem(qn);
    PQfreemem(qr);
    return r;
}

static int refused;

/* A refusal must be clean: a code, a message, an idle usable connection,
 * nothing applied, the victim intact. */
static void check_clean_failure(PGconn *conn, migc_result rc,
                                const migc_error *err, const char *label,
                                enum expect expect)
{
    char text[4096];
    migc_format_error(err, text, sizeof text);
    printf("  %s: migc refused it (%s): %s", label, migc_strerror(rc), text);
    if (text[0] && text[strlen(text) - 1] != '\n')
        putchar('\n');
    refused++;
    CHECK(expect == MAY_FAIL);
    CHECK_INT(err->code, rc);
    CHECK(err->message[0] != '\0');
    CHECK(idle(conn));
    CHECK(victim_ok(conn));
    CHECK_INT(relations(conn, "public", "sec_t", "r"), 0);
    CHECK_INT(relations(conn, "public", "sec_ok", "r"), 0);
    long long one = number(conn, "SELECT 1", 0, NULL);
    CHECK_INT(one, 1);
}

static void run_case(const char *label, const char *schema,
                     const char *table, enum expect expect)
{
    th_case(label);
    const char *nsp = schema ? schema : "public";
    const char *rel = table ? table : "migc_history";
    char nsp63[64], rel63[64];
    pg_name(nsp, nsp63);
    pg_name(rel, rel63);

    migc_options opt = MIGC_OPTIONS_INIT;
    opt.history_schema = schema;
    opt.history_table = table;
    opt.lock_wait_ms = 30000;
    migc_error err;

    /* The simple catalog: up, up again, status, plan, down, force. */
    PGconn *conn = fresh_database();
    migc_result rc = migc_up(conn, &security_simple_catalog, &opt, &err);
    CHECK(victim_ok(conn));
    CHECK(idle(conn));
    if (rc != MIGC_OK) {
        check_clean_failure(conn, rc, &err, label, expect);
        PQfinish(conn);
        return;
    }
    CHECK_INT(relations(conn, nsp63, rel63, "r"), 1);
    if (strlen(rel) <= 63 && strlen(nsp) <= 63) {
        /* The exact name, byte for byte. */
        CHECK_INT(relations(conn, nsp, rel, "r"), 1);
    }
    /* Its primary key and the two indexes docs/RUNTIME.md promises,
     * <table>_order and <table>_unfinished, each under a name of its own. */
    CHECK_INT(indexes_of(conn, nsp63, rel63), 3);
    CHECK_INT(history_rows(conn, nsp63, rel63, "state = 'applied'"), 3);
    CHECK_INT(relations(conn, "public", "sec_t", "r"), 1);
    CHECK_INT(relations(conn, "public", "sec_t_note", "i"), 1);
    CHECK_INT(user_tables(conn), 3);   /* victim, sec_t, the history */
    if (strcmp(rel63, "migc_history") != 0)
        CHECK_INT(relations(conn, "public", "migc_history", "r"), 0);

    rc = migc_up(conn, &security_simple_catalog, &opt, &err);
    CHECK_INT(rc, MIGC_OK);
    CHECK(victim_ok(conn));

    migc_status_report *st = NULL;
    rc = migc_status(conn, &security_simple_catalog, &opt, &st, &err);
    CHECK_INT(rc, MIGC_OK);
    if (rc == MIGC_OK) {
        CHECK_INT(st->current_version, 3);
        CHECK_INT(st->pending, 0);
    }
    migc_status_free(st);
    FILE *sink = tmpfile();
    CHECK(sink != NULL);
    if (sink) {
        CHECK_INT(migc_print_status(conn, &security_simple_catalog, &opt, sink,
                                    MIGC_OUTPUT_JSON, &err),
                  MIGC_OK);
        CHECK_INT(migc_print_plan(conn, &security_simple_catalog, &opt, sink,
                                  MIGC_OUTPUT_TEXT, &err),
                  MIGC_OK);
        fclose(sink);
    }
    CHECK(victim_ok(conn));

    rc = migc_down(conn, &security_simple_catalog, &opt, -1, &err);
    CHECK_INT(rc, MIGC_OK);
    if (rc != MIGC_OK)
        printf("  %s: migc_down: %s\n", label, err.message);
    CHECK_INT(relations(conn, "public", "sec_t", "r"), 0);
    CHECK_INT(history_rows(conn, nsp63, rel63, "true"), 0);
    CHECK(victim_ok(conn));

    rc = migc_force(conn, &security_simple_catalog, &opt, 2, &err);
    CHECK_INT(rc, MIGC_OK);
    CHECK_INT(history_rows(conn, nsp63, rel63, "state = 'applied'"), 2);
    CHECK(victim_ok(conn));
    CHECK(idle(conn));
    PQfinish(conn);

    /* A failing non-transactional migration writes its error into the
     * history table. */
    conn = fresh_database();
    rc = migc_up(conn, &security_failing_catalog, &opt, &err);
    CHECK_INT(rc, MIGC_EMIGRATION);
    CHECK(err.file && strstr(err.file, "000002_fails.up.sql"));
    CHECK_INT(err.line, 4);
    CHECK(victim_ok(conn));
    CHECK(idle(conn));
    CHECK_INT(history_rows(conn, nsp63, rel63,
                           "state = 'failed' AND error LIKE '%nosuch%'"),
              1);
    CHECK_INT(history_rows(conn, nsp63, rel63, "state = 'applied'"), 1);
    rc = migc_up(conn, &security_failing_catalog, &opt, &err);
    CHECK_INT(rc, MIGC_EINTERRUPTED);
    rc = migc_force(conn, &security_failing_catalog, &opt, 1, &err);
    CHECK_INT(rc, MIGC_OK);
    CHECK_INT(history_rows(conn, nsp63, rel63, "true"), 1);
    CHECK(victim_ok(conn));
    CHECK(idle(conn));
    PQfinish(conn);
}

static char *repeat(const char *unit, size_t times)
{
    size_t n = strlen(unit);
    char *s = malloc(n * times + 1);
    if (!s)
        abort();
    for (size_t i = 0; i < times; i++)
        memcpy(s + i * n, unit, n);
    s[n * times] = '\0';
    return s;
}

int main(void)
{
    pgfix_start();
    char *w62 = repeat("w", 62), *x63 = repeat("x", 63);
    char *y100 = repeat("y", 100);
    char *e200 = repeat("\xc3\xa9", 200), *z4000 = repeat("z", 4000);
    char *s100 = repeat("s", 100);

    static const struct {
        const char *label, *table;
    } tables[] = {
        {"table: quote, semicolon, DROP", "x\"; DROP TABLE victim; --"},
        {"table: bare semicolon, DROP", "migc_history; DROP TABLE victim"},
        {"table: closing quote, DROP",
         "migc_history\"; DROP TABLE victim; --"},
        {"table: single quote, paren, DROP", "'); DROP TABLE victim; --"},
        {"table: one double quote", "\""},
        {"table: two double quotes", "\"\""},
        {"table: quotes inside", "a\"b\"\"c\""},
        {"table: OR 1=1", "\" OR 1=1 --"},
        {"table: spaces and single quotes", "with space and 'single quotes'"},
        {"table: mixed case", "Mixed Case History"},
        {"table: unicode", "historique_\xc3\xbcn\xc3\xaf\x63\xc3\xb8\x64\xc3"
                           "\xa9_\xe5\xb1\xa5\xe6\xad\xb4"},
        {"table: emoji", "emoji \xf0\x9f\x99\x82 history"},
        {"table: printf conversions", "%s%s%n%x%p%%"},
        {"table: backslashes", "back\\slash\\' E'\\\\x"},
        {"table: dollar quotes", "$$; DROP TABLE victim; $$"},
        {"table: comment markers", "*/ DROP TABLE victim; /*"},
        {"table: tab and newline", "tab\there new\nline"},
        {"table: semicolon only", ";"},
    };
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        run_case(tables[i].label, NULL, tables[i].table, MUST_WORK);

    /* PostgreSQL keeps 63 bytes of a name: the history indexes, named
     * after the table, must still get names of their own. */
    run_case("table: 62 bytes", NULL, w62, MUST_WORK);
    run_case("table: 63 bytes", NULL, x63, MUST_WORK);
    run_case("table: 100 bytes (truncated by PostgreSQL)", NULL, y100,
             MUST_WORK);
    run_case("table: 200 two-byte characters", NULL, e200, MAY_FAIL);
    run_case("table: 4000 bytes", NULL, z4000, MAY_FAIL);
    run_case("table: the victim itself", NULL, "victim", MAY_FAIL);

    static const struct {
        const char *label, *schema;
    } schemas[] = {
        {"schema: quote, semicolon, DROP", "s\"; DROP TABLE victim; --"},
        {"schema: bare semicolon, DROP", "public; DROP TABLE victim"},
        {"schema: qualified-looking", "public\".\"victim"},
        {"schema: unicode and spaces",
         "Sch\xc3\xa9ma \xc3\xbcn\xc3\xaf \xe5\xb1\xa5\xe6\xad\xb4"},
        {"schema: printf conversions", "%n%s"},
        {"schema: one double quote", "\""},
        {"schema: single quotes, DROP", "x'; DROP TABLE victim; --"},
    };
    for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++)
        run_case(schemas[i].label, schemas[i].schema, NULL, MUST_WORK);
    run_case("schema: 100 bytes", s100, NULL, MUST_WORK);
    run_case("schema: pg_catalog", "pg_catalog", NULL, MAY_FAIL);

    run_case("both: dotted quotes", "a\".\"b", "c\".\"d", MUST_WORK);
    run_case("both: injections", "x'; DROP TABLE victim; --",
             "y\"; DROP TABLE victim; --", MUST_WORK);

    printf("  %d name(s) refused cleanly; %d server notice(s) reached the "
           "caller's notice processor during migc calls\n",
           refused, notices);
    free(w62);
    free(x63);
    free(y100);
    free(e200);
    free(z4000);
    free(s100);
    return th_finish();
}
