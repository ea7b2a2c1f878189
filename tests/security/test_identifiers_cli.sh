#!/usr/bin/env bash
# Hostile history schema and table names through the command line:
# `migc up|status|plan|down|force DIR --schema S --table T`.
#
# For each name (SQL injection attempts, quotes, spaces, unicode, a
# newline, printf conversions), on a fresh database holding a table
# `victim` with one row:
#  - `migc up` applies tests/security/fixtures/simple (exit 0) and `victim`
#    survives;
#  - the history table exists in pg_class under exactly that name, in
#    exactly that schema, with 3 applied rows, and no other table appeared;
#  - `up` again (exit 0, "up to date"), `status --json` (valid JSON, version
#    3), `plan`, `down --all`, `force DIR 2` work on that table, and
#    `victim` survives every one of them;
#  - a failing migration (fixtures/failing) exits 4 and records a `failed`
#    row in that table; `victim` survives.
#
# usage: pgfix_run test_identifiers_cli.sh MIGC SOURCE_DIR
#   MIGC_TEST_QUICK=1 (set by tests/valgrind.sh, where MIGC runs under
#   valgrind): only the names marked "quick" below (5 of 21: quotes and
#   DROP, printf conversions, unicode and spaces, both names hostile, a
#   newline), each checked in full.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
migc=$(abs "$1")
src=$(abs "$2")
simple=$src/tests/security/fixtures/simple
failing=$src/tests/security/fixtures/failing
work=$(mktemp -d "${TMPDIR:-/tmp}/migc-sec-ident.XXXXXX")
trap 'rm -rf "$work"' EXIT

n=0
fresh_db() {
    n=$((n + 1))
    db=sec_cli_$n
    psql_db postgres -c "CREATE DATABASE $db"
    psql_db "$db" -c "CREATE TABLE public.victim (x int);
                      INSERT INTO public.victim VALUES (42)"
    conninfo="host=$PGHOST port=$PGPORT user=$PGUSER dbname=$db"
}
victim() { psql_db "$db" -c "SELECT count(*) FROM public.victim WHERE x = 42" 2>&1; }
# Tables named exactly $1 in schema $2.
exact_table() {
    psql_db "$db" -v rel="$1" -v nsp="$2" <<'EOF'
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = :'rel' AND n.nspname = :'nsp' AND c.relkind = 'r';
EOF
}
user_tables() {
    psql_db "$db" -c "SELECT count(*) FROM pg_class c JOIN pg_namespace n
        ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN
        ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'"
}
# Rows of the history table $2.$1 matching $3 (quoted by psql's :"var").
history_rows() {
    psql_db "$db" -v rel="$1" -v nsp="$2" -v where="$3" <<'EOF'
SELECT count(*) FROM :"nsp".:"rel" WHERE :where;
EOF
}

quick=0
[ "${MIGC_TEST_QUICK:-0}" = 1 ] && quick=1
run_case() { # label, schema, table[, quick]
    local label=$1 schema=$2 table=$3
    [ $quick = 1 ] && [ "${4:-}" != quick ] && return
    local opts=("--schema=$schema" "--table=$table")
    local out rc
    fresh_db
    out=$("$migc" up "$simple" -d "$conninfo" "${opts[@]}" 2>&1)
    rc=$?
    check_eq "[$label] up exits 0 ($out)" "$rc" 0
    check_eq "[$label] victim survives up" "$(victim)" 1
    check_eq "[$label] the history table has exactly that name" \
        "$(exact_table "$table" "$schema")" 1
    check_eq "[$label] 3 applied rows" \
        "$(history_rows "$table" "$schema" "state = 'applied'")" 3
    check_eq "[$label] no other table" "$(user_tables)" 3

    out=$("$migc" up "$simple" -d "$conninfo" "${opts[@]}" 2>&1)
    rc=$?
    check_eq "[$label] up again exits 0" "$rc" 0
    check "[$label] up again: up to date" grep -q "up to date" <<< "$out"
    out=$("$migc" status "$simple" -d "$conninfo" --json "${opts[@]}" 2>/dev/null)
    rc=$?
    check_eq "[$label] status exits 0" "$rc" 0
    check "[$label] status JSON at version 3" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["current_version"] == 3 and d["pending"] == 0, d' "$out"
    "$migc" plan "$simple" -d "$conninfo" "${opts[@]}" > /dev/null 2>&1
    check_eq "[$label] plan exits 0" "$?" 0
    check_eq "[$label] victim survives status and plan" "$(victim)" 1

    out=$("$migc" down "$simple" --all -d "$conninfo" "${opts[@]}" 2>&1)
    rc=$?
    check_eq "[$label] down --all exits 0 ($out)" "$rc" 0
    check_eq "[$label] down emptied the history" \
        "$(history_rows "$table" "$schema" "true")" 0
    check_eq "[$label] victim survives down" "$(victim)" 1
    out=$("$migc" force "$simple" 2 -d "$conninfo" "${opts[@]}" 2>&1)
    rc=$?
    check_eq "[$label] force exits 0 ($out)" "$rc" 0
    check_eq "[$label] force recorded 2 rows" \
        "$(history_rows "$table" "$schema" "state = 'applied'")" 2
    check_eq "[$label] victim survives force" "$(victim)" 1

    fresh_db
    out=$("$migc" up "$failing" -d "$conninfo" "${opts[@]}" 2>&1)
    rc=$?
    check_eq "[$label] a failing migration exits 4" "$rc" 4
    check "[$label] the failure names its file" \
        grep -q "000002_fails.up.sql:4:" <<< "$out"
    check_eq "[$label] the failed row is in that table" \
        "$(history_rows "$table" "$schema" "state = 'failed'")" 1
    check_eq "[$label] victim survives the failure" "$(victim)" 1
}

while IFS='|' read -r label schema table mark; do
    run_case "$label" "$schema" "$table" "$mark"
done <<'EOF'
table: quote, semicolon, DROP|public|x"; DROP TABLE victim; --|quick
table: bare semicolon, DROP|public|migc_history; DROP TABLE victim
table: closing quote, DROP|public|migc_history"; DROP TABLE victim; --
table: single quote, paren, DROP|public|'); DROP TABLE victim; --
table: one double quote|public|"
table: quotes inside|public|a"b""c"
table: spaces and single quotes|public|with space and 'single quotes'
table: mixed case|public|Mixed Case History
table: unicode|public|historique_ünïcødé_履歴
table: emoji|public|emoji 🙂 history
table: printf conversions|public|%s%s%n%x%p%%|quick
table: backslashes|public|back\slash\' E'\\x
table: dollar quotes|public|$$; DROP TABLE victim; $$
table: comment markers|public|*/ DROP TABLE victim; /*
table: leading dashes|public|-- DROP TABLE victim
schema: quote, semicolon, DROP|s"; DROP TABLE victim; --|migc_history
schema: bare semicolon, DROP|public; DROP TABLE victim|migc_history
schema: unicode and spaces|Schéma ünï 履歴|migc_history|quick
both: dotted quotes|a"."b|c"."d
both: injections|x'; DROP TABLE victim; --|y"; DROP TABLE victim; --|quick
EOF
run_case "table: newline" public $'new\nline; DROP TABLE victim' quick

finish
