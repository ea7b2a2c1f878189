/*
 * test_scanner.c -- table-driven tests of the SQL lexer, the statement
 * splitter and the transaction planner.
 *
 * Each lexer case lists the tokens (kind and text) an input must produce;
 * each splitter case lists the exact statements a file must be cut into,
 * with their line, column and flags, and the exact diagnostics it must
 * print.  Together they cover every quoting construct of PostgreSQL's SQL
 * and every annotation of the four supported formats.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "harness.h"
#include "lexer.h"
#include "split.h"
#include "txn.h"
#include "util.h"

/* ---- lexer ------------------------------------------------------------ */

typedef struct lex_case {
    const char *input;
    const char *tokens; /* "kind:text kind:text ...", spaces omitted */
} lex_case;

static const lex_case lex_cases[] = {
    {"SELECT 'a;b';", "ident:SELECT string:'a;b' semicolon:;"},
    {"'it''s; ok'", "string:'it''s; ok'"},
    {"E'it\\'s; here'", "string:E'it\\'s; here'"},
    {"e'\\\\' x", "string:e'\\\\' ident:x"},
    {"E'a''b'", "string:E'a''b'"},
    {"U&'d\\0061t\\+000061'", "string:U&'d\\0061t\\+000061'"},
    {"u&\"d;\"", "quoted-ident:u&\"d;\""},
    {"B'1010' X'1F' N'n;'", "string:B'1010' string:X'1F' string:N'n;'"},
    {"\"weird;name\" \"a\"\"b\"", "quoted-ident:\"weird;name\" quoted-ident:\"a\"\"b\""},
    {"$$a;b$$", "dollar-string:$$a;b$$"},
    {"$outer$ x $inner$ ; $inner$ y $outer$;",
     "dollar-string:$outer$ x $inner$ ; $inner$ y $outer$ semicolon:;"},
    {"$$ $q$ it's; $q$ $$", "dollar-string:$$ $q$ it's; $q$ $$"},
    {"$a$ $ab$ $a$", "dollar-string:$a$ $ab$ $a$"},
    {"$1 + $23", "param:$1 other:+ param:$23"},
    {"price$usd a$b$c", "ident:price$usd ident:a$b$c"},
    {"_x9 Grüße", "ident:_x9 ident:Grüße"},
    {"/* a /* b ; */ c ; */ x", "block-comment:/* a /* b ; */ c ; */ ident:x"},
    {"-- c ; 'x\ny", "line-comment:-- c ; 'x ident:y"},
    {"x--y\nz", "ident:x line-comment:--y ident:z"},
    {"a/b*c", "ident:a other:/ ident:b other:* ident:c"},
    {"1.5e3 .5 42", "number:1.5e3 number:.5 number:42"},
    {"(a,(b))", "lparen:( ident:a other:, lparen:( ident:b rparen:) rparen:)"},
    {"\\copy t", "backslash:\\ ident:copy ident:t"},
    {"fooE'x'", "ident:fooE string:'x'"},
    {"'abc", "unterminated-string:'abc"},
    {"E'ab\\'", "unterminated-estring:E'ab\\'"},
    {"\"ab", "unterminated-quoted-ident:\"ab"},
    {"$q$ab $q", "unterminated-dollar-string:$q$ab $q"},
    {"/* a /* b */", "unterminated-comment:/* a /* b */"},
    {"$", "other:$"},
    {"", ""},
};

static void test_lexer(void)
{
    for (size_t i = 0; i < sizeof lex_cases / sizeof lex_cases[0]; i++) {
        const lex_case *c = &lex_cases[i];
        th_case(c->input);
        mc_lexer lx;
        mc_lexer_init(&lx, c->input, strlen(c->input));
        mc_buf got = {0};
        mc_buf_puts(&got, "");
        for (;;) {
            mc_token t = mc_lexer_next(&lx);
            if (t.kind == MC_TOK_EOF) {
                CHECK_INT(t.start, strlen(c->input));
                break;
            }
            if (t.kind == MC_TOK_SPACE)
                continue;
            mc_buf_printf(&got, "%s%s:%.*s", got.len ? " " : "",
                          mc_token_kind_name(t.kind), (int)(t.end - t.start),
                          c->input + t.start);
        }
        CHECK_STR(got.data, c->tokens);
        mc_buf_free(&got);
    }
    th_case("");
}

/* NUL bytes inside the text must not end the scan (the sentinel is only
 * the byte at the limit). */
static void test_lexer_nul(void)
{
    th_case("NUL inside a string");
    static const char input[] = "'a\0b' x";
    mc_lexer lx;
    mc_lexer_init(&lx, input, sizeof input - 1);
    mc_token t = mc_lexer_next(&lx);
    CHECK_INT(t.kind, MC_TOK_STRING);
    CHECK_INT(t.end, 5);
    t = mc_lexer_next(&lx);
    CHECK_INT(t.kind, MC_TOK_SPACE);
    t = mc_lexer_next(&lx);
    CHECK_INT(t.kind, MC_TOK_IDENT);
    t = mc_lexer_next(&lx);
    CHECK_INT(t.kind, MC_TOK_EOF);
    CHECK_INT(t.start, sizeof input - 1);
    th_case("");
}

/* ---- splitter and planner --------------------------------------------- */

typedef struct split_case {
    const char *name;
    migc_format format;
    const char *input;
    /* Expected statements of the up and down sections, each line
     * "line:col flags|text", separated by newlines; flags in hex of the
     * catalog bits. */
    const char *up;
    const char *down;
    /* Expected transaction modes: "single", "none", "none-auto",
     * "as-written"; NULL to skip. */
    const char *up_mode;
    const char *down_mode;
    /* Exact diagnostics printed (path "t.sql"). */
    const char *diagnostics;
} split_case;

#define GM MIGC_FORMAT_GOLANG_MIGRATE
#define GOOSE MIGC_FORMAT_GOOSE
#define SQLM MIGC_FORMAT_SQL_MIGRATE
#define DBMATE MIGC_FORMAT_DBMATE

static const split_case split_cases[] = {
    {"two statements", GM, "SELECT 1;\nSELECT 2;\n",
     "1:1 0|SELECT 1;\n2:1 0|SELECT 2;", NULL, "single", NULL, ""},
    {"last statement without semicolon", GM, "SELECT 1;\n  SELECT 2\n",
     "1:1 0|SELECT 1;\n2:3 10|SELECT 2", NULL, "single", NULL, ""},
    {"semicolons in strings, identifiers, comments", GM,
     "INSERT INTO \"a;b\" VALUES ('x;y', E'it\\'s;', $$;$$) -- ;\n;\n/* ; */ SELECT 1;",
     "1:1 0|INSERT INTO \"a;b\" VALUES ('x;y', E'it\\'s;', $$;$$) -- ;\n;\n"
     "3:9 0|SELECT 1;",
     NULL, "single", NULL, ""},
    {"semicolon inside parentheses", GM, "SELECT (1;2); SELECT 3;",
     "1:1 0|SELECT (1;2);\n1:15 0|SELECT 3;", NULL, "single", NULL, ""},
    {"empty statements are dropped", GM, ";;\nSELECT 1;;", "2:1 0|SELECT 1;",
     NULL, "single", NULL, ""},
    {"comments only", GM, "-- nothing here\n/* nor here */\n", "", NULL,
     "single", NULL, ""},
    {"dollar-quoted function body", GM,
     "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$\n"
     "BEGIN\n  PERFORM 1; RETURN $q$;$q$::int;\nEND;\n$body$;\nSELECT f();\n",
     "1:1 0|CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$\n"
     "BEGIN\n  PERFORM 1; RETURN $q$;$q$::int;\nEND;\n$body$;\n"
     "6:1 0|SELECT f();",
     NULL, "single", NULL, ""},
    {"BEGIN ATOMIC body with CASE", GM,
     "CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n"
     "  SELECT CASE WHEN a > 0 THEN 1 ELSE 0 END;\n  SELECT 2;\nEND;\nSELECT 3;",
     "1:1 0|CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n"
     "  SELECT CASE WHEN a > 0 THEN 1 ELSE 0 END;\n  SELECT 2;\nEND;\n"
     "6:1 0|SELECT 3;",
     NULL, "single", NULL, ""},
    {"CREATE OR REPLACE PROCEDURE with BEGIN ATOMIC", GM,
     "create or replace procedure p() begin atomic insert into t values (1); end;\n"
     "select 1;",
     "1:1 0|create or replace procedure p() begin atomic insert into t values (1); end;\n"
     "2:1 0|select 1;",
     NULL, "single", NULL, ""},
    {"plain BEGIN/END outside routines ends statements", GM,
     "SELECT 1 AS begin; SELECT 2;",
     "1:1 0|SELECT 1 AS begin;\n1:20 0|SELECT 2;", NULL, "single", NULL,
     ""},
    {"multibyte columns", GM, "SELECT 'Grüße'; SELECT '東京';",
     "1:1 0|SELECT 'Grüße';\n1:17 0|SELECT '東京';", NULL, "single",
     NULL, ""},
    {"explicit BEGIN/COMMIT wrapper is absorbed", GM,
     "BEGIN;\nCREATE TABLE a (x int);\nCOMMIT;\n",
     "1:1 a|BEGIN;\n2:1 0|CREATE TABLE a (x int);\n3:1 c|COMMIT;", NULL,
     "single", NULL, ""},
    {"lone CREATE INDEX CONCURRENTLY runs without a transaction", GM,
     "-- index\nCREATE UNIQUE INDEX CONCURRENTLY i ON t (a);\n",
     "2:1 1|CREATE UNIQUE INDEX CONCURRENTLY i ON t (a);", NULL, "none-auto",
     NULL,
     "t.sql:2:1: note: CREATE INDEX CONCURRENTLY cannot run inside a "
     "transaction block; this script runs without one\n"
     "    CREATE UNIQUE INDEX CONCURRENTLY i ON t (a);\n    ^\n"},
    {"mixed non-transactional statement is an error", GM,
     "CREATE TABLE a (x int);\n  VACUUM a;\n",
     "1:1 0|CREATE TABLE a (x int);\n2:3 1|VACUUM a;", NULL, NULL, NULL,
     "t.sql:2:3: error: VACUUM cannot run inside a transaction block, and "
     "this migration runs in one; move it to a migration of its own, or add "
     "\"-- migc:no-transaction\" to run this script statement by statement "
     "without a transaction\n      VACUUM a;\n      ^\n"},
    {"migc:no-transaction", GM,
     "-- migc:no-transaction\nCREATE TABLE a (x int);\nCREATE INDEX CONCURRENTLY i ON a (x);\n",
     "2:1 0|CREATE TABLE a (x int);\n3:1 1|CREATE INDEX CONCURRENTLY i ON a (x);",
     NULL, "none", NULL, ""},
    {"wrapped lone non-transactional statement", GM,
     "BEGIN;\nDROP INDEX CONCURRENTLY i;\nCOMMIT;",
     "1:1 a|BEGIN;\n2:1 1|DROP INDEX CONCURRENTLY i;\n3:1 c|COMMIT;", NULL,
     NULL, NULL,
     "t.sql:2:1: error: DROP INDEX CONCURRENTLY cannot run inside a "
     "transaction block, and this script wraps it in BEGIN ... COMMIT; "
     "remove the BEGIN and COMMIT\n    DROP INDEX CONCURRENTLY i;\n    ^\n"},
    {"COMMIT; CIC; BEGIN; runs as written", SQLM,
     "-- +migrate Up\nCREATE TABLE a (x int);\nCOMMIT;\n"
     "CREATE INDEX CONCURRENTLY i ON a (x);\nBEGIN;\nINSERT INTO a VALUES (1);\n",
     "2:1 0|CREATE TABLE a (x int);\n3:1 4|COMMIT;\n"
     "4:1 1|CREATE INDEX CONCURRENTLY i ON a (x);\n5:1 2|BEGIN;\n"
     "6:1 0|INSERT INTO a VALUES (1);",
     NULL, "as-written", NULL,
     "t.sql:3:1: warning: COMMIT ends the migration's transaction: the script "
     "runs as written, statement by statement, and what ran before line 3 "
     "stays committed if a later statement fails\n    COMMIT;\n    ^\n"},
    {"COMMIT without a following BEGIN", GM,
     "CREATE TABLE a (x int);\nCOMMIT;\nVACUUM a;\n",
     "1:1 0|CREATE TABLE a (x int);\n2:1 4|COMMIT;\n3:1 1|VACUUM a;", NULL,
     NULL, NULL,
     "t.sql:2:1: error: after this COMMIT the script runs to its end without "
     "a transaction; write BEGIN; after the statements that must run outside "
     "one, or add \"-- migc:no-transaction\"\n    COMMIT;\n    ^\n"},
    {"ROLLBACK is refused", GM, "SELECT 1;\nROLLBACK;\n",
     "1:1 0|SELECT 1;\n2:1 0|ROLLBACK;", NULL, NULL, NULL,
     "t.sql:2:1: error: ROLLBACK in a migration would silently undo it while "
     "its history says applied; remove it\n    ROLLBACK;\n    ^\n"},
    {"ROLLBACK TO SAVEPOINT is fine", GM,
     "SAVEPOINT s;\nSELECT 1;\nROLLBACK TO SAVEPOINT s;\n",
     "1:1 0|SAVEPOINT s;\n2:1 0|SELECT 1;\n3:1 0|ROLLBACK TO SAVEPOINT s;",
     NULL, "single", NULL, ""},
    {"nested BEGIN", GM, "SELECT 1;\nBEGIN;\nSELECT 2;\n",
     "1:1 0|SELECT 1;\n2:1 2|BEGIN;\n3:1 0|SELECT 2;", NULL, NULL, NULL,
     "t.sql:2:1: error: BEGIN inside the migration's own transaction "
     "(transactions do not nest); remove it\n    BEGIN;\n    ^\n"},
    {"ALTER TYPE ADD VALUE stays transactional", GM,
     "ALTER TYPE mood ADD VALUE 'meh';\nSELECT 1;",
     "1:1 0|ALTER TYPE mood ADD VALUE 'meh';\n2:1 0|SELECT 1;", NULL,
     "single", NULL, ""},
    {"goose sections and StatementEnd without semicolon", GOOSE,
     "-- +goose Up\nCREATE TABLE a (x int);\n-- +goose StatementBegin\n"
     "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql\n"
     "-- +goose StatementEnd\nSELECT 2;\n-- +goose Down\nDROP FUNCTION f;\nDROP TABLE a;\n",
     "2:1 0|CREATE TABLE a (x int);\n"
     "4:1 10|CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql\n"
     "6:1 0|SELECT 2;",
     "8:1 0|DROP FUNCTION f;\n9:1 0|DROP TABLE a;", "single", "single",
     ""},
    {"a goose block is split like everything else", GOOSE,
     "-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\nCREATE INDEX CONCURRENTLY i ON t (a);\n-- +goose StatementEnd\n",
     "3:1 0|SELECT 1;\n4:1 1|CREATE INDEX CONCURRENTLY i ON t (a);", NULL,
     NULL, NULL,
     "t.sql:4:1: error: CREATE INDEX CONCURRENTLY cannot run inside a "
     "transaction block, and this migration runs in one; move it to a "
     "migration of its own, or add \"-- +goose NO TRANSACTION\" to run this "
     "script statement by statement without a transaction\n"
     "    CREATE INDEX CONCURRENTLY i ON t (a);\n    ^\n"},
    {"a lone carriage return ends a line comment, as in psql", GM,
     "-- legacy\rCREATE TABLE cr1 (id int);\r", "1:11 0|CREATE TABLE cr1 (id int);",
     NULL, "single", NULL, ""},
    {"BEGIN with options cannot be absorbed", GM,
     "BEGIN ISOLATION LEVEL SERIALIZABLE;\nSELECT 1;\nCOMMIT;\n",
     "1:1 2|BEGIN ISOLATION LEVEL SERIALIZABLE;\n2:1 0|SELECT 1;\n3:1 4|COMMIT;",
     NULL, NULL, NULL,
     "t.sql:1:1: error: a BEGIN with transaction options cannot be absorbed: "
     "migc runs each migration in its own transaction at the server's default "
     "isolation; remove the options, or the BEGIN and COMMIT\n"
     "    BEGIN ISOLATION LEVEL SERIALIZABLE;\n    ^\n"},
    {"ROLLBACK without a transaction is refused too", GOOSE,
     "-- +goose NO TRANSACTION\n-- +goose Up\nBEGIN;\nCREATE TABLE rb1 (id int);\nROLLBACK;\n",
     "3:1 2|BEGIN;\n4:1 0|CREATE TABLE rb1 (id int);\n5:1 0|ROLLBACK;", NULL,
     NULL, NULL,
     "t.sql:5:1: error: ROLLBACK in a migration would silently undo its work "
     "while its history says applied; remove it\n    ROLLBACK;\n    ^\n"
     "t.sql:3:1: error: this BEGIN is never committed: the script ends inside "
     "its transaction\n    BEGIN;\n    ^\n"},
    {"sql-migrate near miss", SQLM,
     "-- +migrate Up\nCREATE TABLE t (x int);\n-- +migrate down\nDROP TABLE t;\n",
     "2:1 0|CREATE TABLE t (x int);\n4:1 0|DROP TABLE t;", NULL, NULL, NULL,
     "t.sql:3:1: error: sql-migrate reads annotations only when written "
     "exactly (\"-- +migrate Up\", \"Down\", \"StatementBegin\", "
     "\"StatementEnd\", option \"notransaction\"): it would take this line "
     "for a comment\n    -- +migrate down\n    ^\n"},
    {"dbmate note is a comment, upper-case option is not an option", DBMATE,
     "-- migrate:up transaction:FALSE\n-- migrate: remember the backfill\nSELECT 1;\n",
     "", NULL, NULL, NULL,
     "t.sql:1:1: error: dbmate reads transaction:false and transaction:true "
     "only in lower case: it would ignore this option\n"
     "    -- migrate:up transaction:FALSE\n    ^\n"
     "t.sql:3:1: error: SQL before the Up annotation (-- migrate:up); it would "
     "never run\n    SELECT 1;\n    ^\n"
     "t.sql: error: no Up annotation (-- migrate:up): migc cannot tell what "
     "to run\n"},
    {"goose NO TRANSACTION anywhere", GOOSE,
     "-- +goose Up\nCREATE INDEX CONCURRENTLY i ON t (a);\nSELECT 1;\n"
     "-- +goose Down\nDROP INDEX CONCURRENTLY i;\n-- +goose NO TRANSACTION\n",
     "2:1 1|CREATE INDEX CONCURRENTLY i ON t (a);\n3:1 0|SELECT 1;",
     "5:1 1|DROP INDEX CONCURRENTLY i;", "none", "none", ""},
    {"sql-migrate notransaction on one section", SQLM,
     "-- +migrate Up notransaction\nCREATE INDEX CONCURRENTLY i ON t (a);\nSELECT 1;\n"
     "-- +migrate Down\nDROP INDEX i;\n",
     "2:1 1|CREATE INDEX CONCURRENTLY i ON t (a);\n3:1 0|SELECT 1;",
     "5:1 0|DROP INDEX i;", "none", "single", ""},
    {"dbmate transaction:false", DBMATE,
     "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON t (a);\n\n"
     "-- migrate:down\nDROP INDEX i;\n",
     "2:1 1|CREATE INDEX CONCURRENTLY i ON t (a);", "5:1 0|DROP INDEX i;",
     "none", "single", ""},
    {"dbmate transaction:true with migc:no-transaction", DBMATE,
     "-- migc:no-transaction\n-- migrate:up transaction:true\nSELECT 1;\n",
     "3:1 0|SELECT 1;", NULL, NULL, NULL,
     "t.sql:2:1: error: transaction:true contradicts the no-transaction "
     "annotation of this file\n    -- migrate:up transaction:true\n    ^\n"},
    {"unterminated string opens the error", GM,
     "SELECT 1;\nSELECT 'abc;\nSELECT 2;\n", "1:1 0|SELECT 1;", NULL, NULL,
     NULL,
     "t.sql:2:8: error: unterminated quoted string\n    SELECT 'abc;\n           ^\n"},
    {"unterminated dollar quote names its tag", GM,
     "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$\nBEGIN\n",
     "", NULL, NULL, NULL,
     "t.sql:1:53: error: unterminated dollar-quoted string $body$\n"
     "    CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$\n"
     "                                                        ^\n"},
    {"unterminated nested comment", GM, "SELECT 1; /* a /* b */\nSELECT 2;",
     "1:1 0|SELECT 1;", NULL, NULL, NULL,
     "t.sql:1:11: error: unterminated /* comment (block comments nest: every "
     "/* needs its own */)\n    SELECT 1; /* a /* b */\n              ^\n"},
    {"psql meta-command", GM, "SELECT 1;\n\\i other.sql\nSELECT 2;",
     "1:1 0|SELECT 1;\n3:1 0|SELECT 2;", NULL, NULL, NULL,
     "t.sql:2:1: error: psql meta-command \\i is not SQL: the server cannot "
     "run it\n    \\i other.sql\n    ^\n"},
    {"COPY FROM stdin with inline data", GM,
     "COPY t (a) FROM stdin;\n1\n'2\n\\.\nSELECT 2;",
     "1:1 0|COPY t (a) FROM stdin;\n5:1 0|SELECT 2;", NULL, NULL, NULL,
     "t.sql:1:1: error: COPY ... FROM stdin reads inline data that only psql "
     "can send; load the rows with INSERT statements, or COPY from a file on "
     "the server\n    COPY t (a) FROM stdin;\n    ^\n"},
    {"Down before Up", GOOSE, "-- +goose Down\nSELECT 1;\n-- +goose Up\nSELECT 2;\n",
     "", NULL, NULL, NULL,
     "t.sql:1:1: error: a Down annotation before any Up annotation\n"
     "    -- +goose Down\n    ^\n"
     "t.sql:2:1: error: SQL before the Up annotation (-- +goose Up); it would "
     "never run\n    SELECT 1;\n    ^\n"
     "t.sql:3:1: error: the Up annotation must come before the Down "
     "annotation\n    -- +goose Up\n    ^\n"},
    {"second Up", SQLM, "-- +migrate Up\nSELECT 1;\n-- +migrate Up\nSELECT 2;\n",
     "2:1 0|SELECT 1;\n4:1 0|SELECT 2;", NULL, NULL, NULL,
     "t.sql:3:1: error: a second Up annotation in one file\n"
     "    -- +migrate Up\n    ^\n"},
    {"StatementBegin without StatementEnd", GOOSE,
     "-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n-- +goose Down\nSELECT 2;\n",
     "3:1 0|SELECT 1;", "5:1 0|SELECT 2;", NULL, NULL,
     "t.sql:2:1: error: StatementBegin has no matching StatementEnd in this "
     "section\n    -- +goose StatementBegin\n    ^\n"},
    {"StatementEnd without StatementBegin", SQLM,
     "-- +migrate Up\nSELECT 1;\n-- +migrate StatementEnd\n", "2:1 0|SELECT 1;",
     NULL, NULL, NULL,
     "t.sql:3:1: error: StatementEnd without a StatementBegin\n"
     "    -- +migrate StatementEnd\n    ^\n"},
    {"goose ENVSUB is refused", GOOSE, "-- +goose Up\n-- +goose ENVSUB ON\nSELECT 1;\n",
     "3:1 0|SELECT 1;", NULL, NULL, NULL,
     "t.sql:2:1: error: goose ENVSUB is not supported: migc embeds the SQL at "
     "build time and hashes it, so it cannot substitute environment variables "
     "at run time\n    -- +goose ENVSUB ON\n    ^\n"},
    {"unknown goose annotation", GOOSE, "-- +goose Up\n-- +goose Sideways\n",
     "", NULL, NULL, NULL,
     "t.sql:2:1: error: unknown goose annotation (expected Up, Down, "
     "StatementBegin, StatementEnd or NO TRANSACTION)\n"
     "    -- +goose Sideways\n    ^\n"},
    {"annotation of another tool", GOOSE,
     "-- +goose Up\n-- +migrate Down\nSELECT 1;\n", "3:1 0|SELECT 1;", NULL,
     NULL, NULL,
     "t.sql:2:1: error: a sql-migrate annotation in a goose folder: one folder "
     "holds migrations of one format\n    -- +migrate Down\n    ^\n"},
    {"annotations inside a string are text", GOOSE,
     "-- +goose Up\nSELECT '\n-- +goose Down\n';\n", "2:1 0|SELECT '\n-- +goose Down\n';",
     NULL, "single", NULL, ""},
    {"no Up annotation", DBMATE, "SELECT 1;\n", "", NULL, NULL, NULL,
     "t.sql:1:1: error: SQL before the Up annotation (-- migrate:up); it "
     "would never run\n    SELECT 1;\n    ^\n"
     "t.sql: error: no Up annotation (-- migrate:up): migc cannot tell what "
     "to run\n"},
};

static void describe_section(mc_buf *b, const char *text, const mc_section *s)
{
    for (size_t i = 0; i < s->count; i++) {
        const mc_stmt *st = &s->stmts[i];
        mc_buf_printf(b, "%s%u:%u %x|%.*s", i ? "\n" : "", (unsigned)st->line,
                      (unsigned)st->column,
                      (unsigned)(st->flags & MC_CLASS_CATALOG_MASK),
                      (int)(st->end - st->start), text + st->start);
    }
    if (!b->data)
        mc_buf_puts(b, "");
}

static const char *mode_text(const mc_txn_plan *p)
{
    switch (p->mode) {
    case MIGC_TRANSACTION_SINGLE: return "single";
    case MIGC_TRANSACTION_NONE: return p->auto_no_transaction ? "none-auto" : "none";
    case MIGC_TRANSACTION_AS_WRITTEN: return "as-written";
    }
    return "?";
}

static void test_split(void)
{
    for (size_t i = 0; i < sizeof split_cases / sizeof split_cases[0]; i++) {
        const split_case *c = &split_cases[i];
        th_case(c->name);
        char *diag_text = NULL;
        size_t diag_len = 0;
        FILE *mem = open_memstream(&diag_text, &diag_len);
        mc_diag d = {0};
        d.out = mem;
        d.show_notes = true;
        size_t len = strlen(c->input);
        mc_split sp;
        bool ok = mc_split_file("t.sql", c->input, len, c->format, &sp, &d);
        mc_txn_plan up_plan = {0}, down_plan = {0};
        bool up_ok = ok, down_ok = ok;
        if (ok && sp.up.present)
            up_ok = mc_plan_transaction("t.sql", c->input, len, c->format,
                                        false, &sp.up, &up_plan, &d);
        if (ok && sp.down.present)
            down_ok = mc_plan_transaction("t.sql", c->input, len, c->format,
                                          true, &sp.down, &down_plan, &d);
        fclose(mem);

        mc_buf up = {0}, down = {0};
        describe_section(&up, c->input, &sp.up);
        CHECK_STR(up.data, c->up);
        if (c->down) {
            describe_section(&down, c->input, &sp.down);
            CHECK(sp.down.present);
            CHECK_STR(down.data, c->down);
        }
        if (c->up_mode) {
            CHECK(up_ok);
            CHECK_STR(mode_text(&up_plan), c->up_mode);
        }
        if (c->down_mode) {
            CHECK(down_ok);
            CHECK_STR(mode_text(&down_plan), c->down_mode);
        }
        CHECK_STR(diag_text, c->diagnostics);
        bool has_error = strstr(c->diagnostics, ": error: ") != NULL;
        CHECK_INT(d.errors > 0, has_error);
        mc_buf_free(&up);
        mc_buf_free(&down);
        mc_split_free(&sp);
        free(diag_text);
    }
    th_case("");
}

/* ---- classification --------------------------------------------------- */

typedef struct class_case {
    const char *sql;
    const char *what; /* NULL: nothing special */
} class_case;

static const class_case class_cases[] = {
    {"CREATE INDEX CONCURRENTLY i ON t (a)", "CREATE INDEX CONCURRENTLY"},
    {"create unique index concurrently if not exists i on t (a)", "CREATE INDEX CONCURRENTLY"},
    {"CREATE INDEX i ON t (a)", NULL},
    {"/* c */ DROP INDEX CONCURRENTLY i", "DROP INDEX CONCURRENTLY"},
    {"REINDEX TABLE CONCURRENTLY t", "REINDEX ... CONCURRENTLY"},
    {"REINDEX (VERBOSE) INDEX CONCURRENTLY i", "REINDEX ... CONCURRENTLY"},
    {"REINDEX DATABASE d", "REINDEX DATABASE"},
    {"REINDEX TABLE t", NULL},
    {"REINDEX (CONCURRENTLY) TABLE t", "REINDEX ... CONCURRENTLY"},
    {"REINDEX SCHEMA public", "REINDEX SCHEMA"},
    {"ALTER TABLE detach DETACH PARTITION p1 CONCURRENTLY", "ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY"},
    {"CREATE SUBSCRIPTION s CONNECTION 'x' PUBLICATION p WITH (connect = false)", NULL},
    {"ALTER TABLE p DETACH PARTITION c CONCURRENTLY", "ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY"},
    {"ALTER TABLE p DETACH PARTITION c", NULL},
    {"VACUUM (ANALYZE) t", "VACUUM"},
    {"CREATE DATABASE x", "CREATE DATABASE"},
    {"DROP DATABASE x", "DROP DATABASE"},
    {"CREATE TABLESPACE s LOCATION '/x'", "CREATE TABLESPACE"},
    {"ALTER SYSTEM SET work_mem = '1MB'", "ALTER SYSTEM"},
    {"ALTER DATABASE d SET TABLESPACE s", "ALTER DATABASE ... SET TABLESPACE"},
    {"ALTER DATABASE d SET work_mem = 1", NULL},
    {"CLUSTER", "CLUSTER (without a table)"},
    {"CLUSTER VERBOSE t", NULL},
    {"DISCARD ALL", "DISCARD ALL"},
    {"COMMIT PREPARED 'x'", "COMMIT PREPARED"},
    {"BEGIN ISOLATION LEVEL SERIALIZABLE", "BEGIN"},
    {"START TRANSACTION", "START TRANSACTION"},
    {"END", "END"},
    {"ABORT", "ABORT"},
    {"COPY t FROM STDIN WITH (FORMAT csv)", "COPY ... FROM STDIN"},
    {"COPY t FROM '/srv/data.csv'", NULL},
    {"COPY (SELECT 1) TO STDOUT", "COPY ... TO STDOUT"},
    {"SELECT 'CREATE INDEX CONCURRENTLY'", NULL},
    {"ALTER TYPE mood ADD VALUE 'x'", NULL},
};

static void test_classify(void)
{
    for (size_t i = 0; i < sizeof class_cases / sizeof class_cases[0]; i++) {
        const class_case *c = &class_cases[i];
        th_case(c->sql);
        const char *what = NULL;
        mc_classify(c->sql, strlen(c->sql), 0, strlen(c->sql), &what);
        if (c->what)
            CHECK_STR(what, c->what);
        else
            CHECK(what == NULL);
    }
    th_case("");
}

int main(void)
{
    test_lexer();
    test_lexer_nul();
    test_split();
    test_classify();
    return th_finish();
}
