#!/usr/bin/env bash
# bench/peers/check.sh -- check that every peer tool really does what the
# benchmark times, and how long one apply takes.
#
# For each N and each tool: generate N migrations (gen.py), create a fresh
# database, run command.sh's "apply" and check that exactly the tables
# t_1..t_N exist and that the tool's history says N; run "noop" and check
# that nothing changed; run "status".  Prints one line per tool and N with
# the wall time of each step.  Also checks DIR/all.sql with `psql -1 -f`.
#
# usage: bench/peers/check.sh [N ...]        (default: 100)
#
# environment:
#   PEERS_URL   postgres://user@host:port of a server to use (databases
#               pc_<tool>_<N> are dropped and created there); without it a
#               throwaway cluster is started on 127.0.0.1 (initdb and
#               pg_ctl run as the postgres OS user when run as root)
#   TOOLS       tools to check (default: all five)
#   PEERS_DIR   as for setup.sh
#
# Exit status: 0 when every check passed, 1 otherwise.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PEERS_DIR=${PEERS_DIR:-/var/tmp/migc-bench-peers}
TOOLS=${TOOLS:-dbmate node-pg-migrate postgrator sqitch alembic}
NS=("$@")
((${#NS[@]})) || NS=(100)

log() { printf 'peers/check: %s\n' "$*" >&2; }

"$HERE/setup.sh" >/dev/null

work=$(mktemp -d /tmp/migc-peers-check.XXXXXX)
pgdir=
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
    if [[ -n $pgdir && -f $pgdir/data/postmaster.pid ]]; then
        as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    [[ -n $pgdir ]] && rm -rf "$pgdir"
    rm -rf "$work"
}
trap cleanup EXIT

as_pg() {  # run a PostgreSQL server program, as the postgres OS user if root
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [[ -n ${PEERS_URL:-} ]]; then
    server=${PEERS_URL%/}
else
    pgbin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -1)
    [[ -x $pgbin/initdb ]] || { log "no PostgreSQL server programs (apt-get install postgresql)"; exit 1; }
    pgdir=$(mktemp -d /tmp/migc-peers-pg.XXXXXX)
    [[ $(id -u) -eq 0 ]] && chown postgres: "$pgdir"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_pg "$pgbin/initdb" -D "$pgdir/data" -A trust -U postgres >/dev/null
    # fsync off, as the project's test clusters (tests/support/pgfixture.c);
    # the one-transaction floor of N=10000 holds several locks per table,
    # more than the default lock table (64 x max_connections) holds.
    as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $pgdir -F -c max_locks_per_transaction=1024" \
        start >/dev/null
    server="postgres://postgres@127.0.0.1:$port"
    log "throwaway cluster on $server"
fi

sql() {  # sql DB QUERY: one value
    psql -X -q -A -t -v ON_ERROR_STOP=1 "$server/$1" -c "$2"
}

history_query() {  # a query that gives N when the tool recorded N migrations
    case $1 in
    dbmate) echo "SELECT count(*) FROM schema_migrations" ;;
    node-pg-migrate) echo "SELECT count(*) FROM pgmigrations" ;;
    postgrator) echo "SELECT count(*) FROM schemaversion WHERE version > 0" ;;
    sqitch) echo "SELECT count(*) FROM sqitch.changes" ;;
    # alembic keeps only the head revision; revision i is named %06d.
    alembic) echo "SELECT version_num::int FROM alembic_version" ;;
    esac
}

TABLES_Q="SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename ~ '^t_[0-9]+\$'"
EXACT_Q() {  # how many of t_1..t_N exist
    echo "SELECT count(*) FROM generate_series(1, $1) i WHERE to_regclass('public.t_' || i) IS NOT NULL"
}

run() {  # run CMD, print its wall time in seconds; output kept in $work/out
    local t0=$EPOCHREALTIME rc=0
    bash -c "$1" >"$work/out" 2>&1 || rc=$?
    printf '%.2f' "$(bc <<<"$EPOCHREALTIME - $t0")"
    return $rc
}

fail=0
printf '%-16s %6s %9s %9s %9s  %s\n' tool N apply_s noop_s status_s checks
for n in "${NS[@]}"; do
    gen=$work/gen-$n
    "$HERE/gen.py" --n "$n" --out "$gen"

    db=pc_floor_$n
    sql postgres "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
    sql postgres "CREATE DATABASE $db"
    t=$(run "psql -X -q -1 -v ON_ERROR_STOP=1 -f $gen/all.sql $server/$db") ||
        { log "psql -1 -f all.sql failed: $(tail -2 "$work/out" | tr '\n' ' ')"; fail=1; }
    got=$(sql "$db" "$(EXACT_Q "$n")")
    printf '%-16s %6s %9s %9s %9s  %s\n' "psql -1 (floor)" "$n" "$t" - - "tables $got/$n"
    [[ $got == "$n" ]] || fail=1
    sql postgres "DROP DATABASE $db"

    for tool in $TOOLS; do
        db=pc_${tool//-/_}_$n
        sql postgres "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
        sql postgres "CREATE DATABASE $db"
        url=$server/$db
        checks=() ok=1
        if ta=$(run "$("$HERE/command.sh" "$tool" apply "$gen" "$url")"); then :; else
            ok=0 checks+=("apply failed: $(tail -1 "$work/out")")
        fi
        tables=$(sql "$db" "$TABLES_Q") exact=$(sql "$db" "$(EXACT_Q "$n")")
        hist=$(sql "$db" "$(history_query "$tool")" 2>/dev/null || echo none)
        checks+=("tables $exact/$n (t_* $tables), history $hist")
        [[ $tables == "$n" && $exact == "$n" && $hist == "$n" ]] || ok=0

        if tn=$(run "$("$HERE/command.sh" "$tool" noop "$gen" "$url")"); then :; else
            ok=0 checks+=("noop failed: $(tail -1 "$work/out")")
        fi
        [[ $(sql "$db" "$TABLES_Q") == "$tables" &&
           $(sql "$db" "$(history_query "$tool")" 2>/dev/null || echo none) == "$hist" ]] ||
            { ok=0 checks+=("noop changed something"); }

        if ts=$(run "$("$HERE/command.sh" "$tool" status "$gen" "$url")"); then :; else
            ok=0 checks+=("status failed: $(tail -1 "$work/out")")
        fi
        if ((ok)); then checks+=(ok); else checks+=(FAILED) fail=1; fi
        printf '%-16s %6s %9s %9s %9s  %s\n' "$tool" "$n" "${ta:-?}" "${tn:-?}" "${ts:-?}" "${checks[*]}"
        sql postgres "DROP DATABASE $db"
    done
    rm -rf "$gen"
done
exit $fail
