#!/usr/bin/env bash
# The example service against a real PostgreSQL (run through pgfix_run):
#  - --print-schema-plan on a fresh database lists all 14 migrations and
#    changes nothing (no table, not even the history, is created);
#  - run from a folder with no migrations in it, the binary migrates the
#    fresh database (the schema lives in the binary) and does its work;
#  - a second start has nothing to migrate and works again;
#  - --migrate-status=json parses and shows version 14.
# usage: test_example.sh DOCSERVICE
set -u
service=$1
psql=("$PG_BINDIR/psql" -X -q -A -t -v ON_ERROR_STOP=1)
passed=0
failed=0
check() {
    if "${@:2}"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAILED: $1" >&2
    fi
}
"${psql[@]}" -d postgres -c "CREATE DATABASE example"
export DATABASE_URL="$DATABASE_URL"
DATABASE_URL=$(printf '%s' "$DATABASE_URL" | sed 's/dbname=postgres/dbname=example/')
objects() {
    "${psql[@]}" -d example -c "SELECT count(*) FROM pg_class WHERE
        relnamespace = 'public'::regnamespace"
}
empty=$(mktemp -d)
trap 'rm -rf "$empty"' EXIT
cd "$empty"

plan=$("$service" --print-schema-plan 2>&1)
check "the plan exits 0" test $? -eq 0
check "the plan shows 14 pending" grep -q "database: version 0; target: version 14; 14 pending" <<< "$plan"
check "the plan lists the last migration" grep -q "^14 create_document_view_stats" <<< "$plan"
check "the plan changed nothing" test "$(objects)" = 0

out=$("$service" 2>&1)
check "the service exits 0" test $? -eq 0
check "it applied 14 migrations" test "$(grep -c 'migc: applied' <<< "$out")" = 14
check "it did its work" grep -q 'document 1 "Onboarding": 2 versions, current is version 2' <<< "$out"
check "the tables exist" test "$("${psql[@]}" -d example -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('documents', 'document_versions', 'migc_history')")" = 3

out=$("$service" 2>&1)
check "a second start exits 0" test $? -eq 0
check "a second start migrates nothing" grep -q "database is up to date" <<< "$out"
check "a second start works again" grep -q 'document 2 "Onboarding"' <<< "$out"

status=$("$service" --migrate-status=json 2>/dev/null)
check "the status is JSON at version 14" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["current_version"] == 14 and d["pending"] == 0, d
assert all(m["state"] == "applied" for m in d["migrations"])
' "$status"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
