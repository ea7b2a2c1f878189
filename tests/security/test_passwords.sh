#!/usr/bin/env bash
# Passwords never appear in any output of the migc command line or of a
# service built with the runtime (docservice and its migc flags), on
# success and on every kind of failure.
#
# A role pwuser with password s3cr3t-PASSWORD-xyz is created, and the
# fixture's pg_hba.conf gets `local all pwuser scram-sha-256` in front, so
# the password is really checked for pwuser (postgres keeps trust, which
# ignores a password).  Every command below runs with a password in its
# connection string (-d as a postgres:// URL or key=value, DATABASE_URL, or
# PGPASSWORD); its exit status is checked, and neither its stdout nor its
# stderr may contain the password or the wrong password used (checked
# case-insensitively on "s3cr3t" and "wr0ng"):
#  - unreachable server (port 1), missing database, wrong password;
#  - malformed connection strings that carry the password (a URL with an
#    unclosed IPv6 bracket, a bad %-escape in the password, an unknown URL
#    parameter or key, an unterminated quote);
#  - successful up, up again, status, plan (text and JSON), down, force,
#    as pwuser (password checked) and as postgres (trust);
#  - a failing migration (exit 4, its file:line in the error) and the
#    interrupted-migration refusal after it;
#  - docservice with DATABASE_URL: a normal start (migrates and works),
#    --migrate-status[=json], --print-schema-plan[=json], --migrate-down,
#    --migrate-to, --migrate-force, --migrate-only, a migration that fails,
#    connection failures, a bad flag value.
#
# usage: pgfix_run test_passwords.sh MIGC SOURCE_DIR DOCSERVICE
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
migc=$(abs "$1")
src=$(abs "$2")
service=$(abs "$3")
PW='s3cr3t-PASSWORD-xyz'
WRONG='wr0ng-PASSWORD-abc'
simple=$src/tests/security/fixtures/simple
failing=$src/tests/security/fixtures/failing
work=$(mktemp -d "${TMPDIR:-/tmp}/migc-sec-pw.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/empty" "$work/out"
cd "$work/empty"   # docservice runs from a folder with no migrations

sock="host=$PGHOST port=$PGPORT"
# A URL's host: the socket directory, as a query parameter.
urlhost="host=$PGHOST&port=$PGPORT"

# run LABEL WANT_STATUS COMMAND...: runs COMMAND, checks its exit status and
# that neither stdout nor stderr holds a password.  The output is kept in
# $out for further checks.
run() {
    local label=$1 want=$2
    shift 2
    "$@" > "$work/out/stdout" 2> "$work/out/stderr"
    local rc=$?
    out=$(cat "$work/out/stdout" "$work/out/stderr")
    check_eq "[$label] exit status ($(head -c 300 "$work/out/stderr"))" \
        "$rc" "$want"
    local leak
    leak=$(grep -i -n -e s3cr3t -e wr0ng "$work/out/stdout" "$work/out/stderr")
    if [ -n "$leak" ]; then
        fail "[$label] a password was printed: $leak"
    else
        pass
    fi
}

# --- set up: a role whose password is really checked -------------------
psql_db postgres -c "CREATE ROLE pwuser LOGIN PASSWORD '$PW'"
for db in pw_cli pw_url pw_fail pw_svc pw_svc_fail; do
    psql_db postgres -c "CREATE DATABASE $db OWNER pwuser"
done
psql_db postgres -c "CREATE DATABASE pw_trust"
hba=$(psql_db postgres -c "SHOW hba_file")
{ echo "local all pwuser scram-sha-256"; cat "$hba"; } > "$work/hba"
cat "$work/hba" > "$hba"
psql_db postgres -c "SELECT pg_reload_conf()" > /dev/null
for _ in $(seq 50); do   # until the reload took effect
    PGPASSWORD=$WRONG "$PG_BINDIR/psql" -X -w -d "$sock user=pwuser dbname=pw_cli" \
        -c "SELECT 1" > /dev/null 2>&1 || break
    sleep 0.1
done
check "the password is checked for pwuser: the right one is accepted" \
    env PGPASSWORD=$PW "$PG_BINDIR/psql" -X -w -q -A -t -o /dev/null \
    -d "$sock user=pwuser dbname=pw_cli" -c "SELECT 1"
check "the password is checked for pwuser: a wrong one is refused" \
    bash -c '! PGPASSWORD=$1 "$2" -X -w -q -d "$3" -c "SELECT 1" 2> /dev/null' \
    _ "$WRONG" "$PG_BINDIR/psql" "$sock user=pwuser dbname=pw_cli"

# --- migc CLI: connection failures --------------------------------------
run "cli: URL, unreachable" 3 \
    "$migc" up "$simple" -d "postgresql://pwuser:$PW@localhost:1/db"
check "cli: URL, unreachable: says why" grep -q "Connection refused" <<< "$out"
run "cli: key=value, unreachable" 3 \
    "$migc" up "$simple" -d "password=$PW host=localhost port=1 user=pwuser dbname=nosuch"
run "cli: key=value, no such database" 3 \
    "$migc" up "$simple" -d "password=$PW $sock user=postgres dbname=nosuch"
check "cli: key=value, no such database: says why" \
    grep -q 'database "nosuch" does not exist' <<< "$out"
run "cli: URL, no such database" 3 \
    "$migc" up "$simple" -d "postgresql://postgres:$PW@/nosuch?$urlhost"
run "cli: key=value, wrong password" 3 \
    "$migc" up "$simple" -d "$sock user=pwuser dbname=pw_cli password=$WRONG"
check "cli: wrong password: says why" \
    grep -q 'password authentication failed' <<< "$out"
run "cli: URL, wrong password" 3 \
    "$migc" status "$simple" -d "postgresql://pwuser:$WRONG@/pw_cli?$urlhost"
run "cli: DATABASE_URL, unreachable" 3 \
    env DATABASE_URL="postgresql://pwuser:$PW@localhost:1/db" "$migc" up "$simple"
run "cli: DATABASE_URL, wrong password" 3 \
    env DATABASE_URL="postgresql://pwuser:$WRONG@/pw_cli?$urlhost" "$migc" plan "$simple"
run "cli: PGPASSWORD, wrong password" 3 \
    env PGPASSWORD="$WRONG" "$migc" up "$simple" -d "$sock user=pwuser dbname=pw_cli"

# Malformed connection strings: libpq cannot even parse them.
run "cli: URL with an unclosed [" 3 \
    "$migc" up "$simple" -d "postgresql://pwuser:$PW@[::1/db"
run "cli: URL with a bad %-escape in the password" 3 \
    "$migc" up "$simple" -d "postgresql://pwuser:$PW%zz@localhost:1/db"
run "cli: URL with an unknown parameter" 3 \
    "$migc" up "$simple" -d "postgresql://pwuser:$PW@localhost:1/db?bogus=1"
run "cli: URL with a bad port" 3 \
    "$migc" up "$simple" -d "postgresql://pwuser:$PW@localhost:notaport/db"
run "cli: key=value with an unknown key" 3 \
    "$migc" up "$simple" -d "password=$PW bogus=1"
run "cli: key=value with an unterminated quote" 3 \
    "$migc" up "$simple" -d "host=localhost password='$PW"

# --- migc CLI: successful runs -------------------------------------------
kv="$sock user=pwuser dbname=pw_cli password=$PW"
run "cli: up (password checked)" 0 "$migc" up "$simple" -d "$kv"
check "cli: up applied 3 migrations" \
    test "$(grep -c 'migc: applied' <<< "$out")" = 3
run "cli: up again" 0 "$migc" up "$simple" -d "$kv" -v
run "cli: status" 0 "$migc" status "$simple" -d "$kv"
run "cli: status --json" 0 "$migc" status "$simple" -d "$kv" --json
run "cli: plan" 0 "$migc" plan "$simple" -d "$kv"
run "cli: plan --json" 0 "$migc" plan "$simple" -d "$kv" --json
run "cli: down 1" 0 "$migc" down "$simple" 1 -d "$kv"
run "cli: plan with one pending" 0 "$migc" plan "$simple" -d "$kv"
run "cli: up the one pending" 0 "$migc" up "$simple" -d "$kv"
run "cli: force 3" 0 "$migc" force "$simple" 3 -d "$kv"
run "cli: down --all" 0 "$migc" down "$simple" --all -d "$kv"
run "cli: URL, up" 0 \
    "$migc" up "$simple" -d "postgresql://pwuser:$PW@/pw_url?$urlhost"
run "cli: URL, status" 0 \
    "$migc" status "$simple" -d "postgresql://pwuser:$PW@/pw_url?$urlhost"
run "cli: DATABASE_URL, status" 0 \
    env DATABASE_URL="postgresql://pwuser:$PW@/pw_url?$urlhost" "$migc" status "$simple"
run "cli: PGPASSWORD, plan" 0 \
    env PGPASSWORD="$PW" "$migc" plan "$simple" -d "$sock user=pwuser dbname=pw_url"
run "cli: trust, password ignored, up" 0 \
    "$migc" up "$simple" -d "$sock user=postgres dbname=pw_trust password=$PW"
run "cli: trust, password ignored, down --all" 0 \
    "$migc" down "$simple" --all -d "$sock user=postgres dbname=pw_trust password=$PW"

# --- migc CLI: a migration that fails -------------------------------------
fkv="$sock user=pwuser dbname=pw_fail password=$PW"
run "cli: a failing migration" 4 "$migc" up "$failing" -d "$fkv"
check "cli: the failure is formatted with its file and line" \
    grep -q "000002_fails.up.sql:4:.*error:.*nosuch" <<< "$out"
run "cli: the interrupted migration is refused" 4 "$migc" up "$failing" -d "$fkv"
run "cli: status shows the failure" 0 "$migc" status "$failing" -d "$fkv"
run "cli: a failing migration, URL" 4 \
    "$migc" up "$failing" -d "postgresql://pwuser:$PW@/pw_fail?$urlhost"

# --- docservice -----------------------------------------------------------
svc_url="postgresql://pwuser:$PW@/pw_svc?$urlhost"
svc() { env DATABASE_URL="$1" "$service" "${@:2}"; }
run "docservice: --print-schema-plan" 0 svc "$svc_url" --print-schema-plan
run "docservice: --print-schema-plan=json" 0 svc "$svc_url" --print-schema-plan=json
run "docservice: start (migrates, works)" 0 svc "$svc_url"
check "docservice: it did its work" grep -q 'document 1 "Onboarding"' <<< "$out"
run "docservice: second start" 0 svc "$svc_url"
run "docservice: --migrate-status" 0 svc "$svc_url" --migrate-status
run "docservice: --migrate-status=json" 0 svc "$svc_url" --migrate-status=json
run "docservice: --migrate-down" 0 svc "$svc_url" --migrate-down
run "docservice: --migrate-to=14" 0 svc "$svc_url" --migrate-to=14
run "docservice: --migrate-force=14" 0 svc "$svc_url" --migrate-force=14
run "docservice: --migrate-only" 0 svc "$svc_url" --migrate-only
run "docservice: key=value DATABASE_URL" 0 \
    svc "$sock user=pwuser dbname=pw_svc password=$PW" --migrate-status
run "docservice: bad flag value" 2 svc "$svc_url" --migrate-down=x

# A migration of the service fails: users exists already.
PGPASSWORD=$PW psql_db "$sock user=pwuser dbname=pw_svc_fail" \
    -c "CREATE TABLE users (id int)"
fail_url="postgresql://pwuser:$PW@/pw_svc_fail?$urlhost"
run "docservice: a failing migration" 1 svc "$fail_url"
check "docservice: the failure names the migration file" \
    grep -q "000002_create_users.up.sql:2:" <<< "$out"
run "docservice: --migrate-only, failing" 1 svc "$fail_url" --migrate-only

for args in "" --migrate-status --print-schema-plan; do
    run "docservice $args: unreachable" 1 \
        svc "postgresql://pwuser:$PW@localhost:1/db" $args
    run "docservice $args: no such database" 1 \
        svc "postgresql://postgres:$PW@/nosuch?$urlhost" $args
    run "docservice $args: wrong password" 1 \
        svc "postgresql://pwuser:$WRONG@/pw_svc?$urlhost" $args
    run "docservice $args: URL with an unclosed [" 1 \
        svc "postgresql://pwuser:$PW@[::1/db" $args
    run "docservice $args: bad %-escape in the password" 1 \
        svc "postgresql://pwuser:$PW%zz@localhost/db" $args
done

finish
