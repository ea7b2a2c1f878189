#!/usr/bin/env bash
# bench/peers/command.sh -- print the shell command line that runs one peer
# migration tool, so the benchmark can hand it to hyperfine (--shell=bash).
#
# usage: command.sh TOOL ACTION DIR URL
#   TOOL    dbmate | node-pg-migrate | postgrator | sqitch | alembic
#   ACTION  apply   apply every pending migration, one transaction each,
#                   history in the tool's default table
#           noop    the same "up" command, meant for when all is applied
#           status  the tool's status/info command (see README.md)
#   DIR     the folder written by gen.py (its TOOL/ subfolder is used)
#   URL     postgres://user@host:port/db (TCP, no password; query string
#           allowed and passed on where the tool takes a URL)
#
# Prints exactly one line on stdout: a self-contained command (absolute
# paths, environment inline) that exits non-zero on failure.  The tools were
# installed by setup.sh; PEERS_DIR must be the same as there (default
# /var/tmp/migc-bench-peers).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEERS_DIR=${PEERS_DIR:-/var/tmp/migc-bench-peers}

die() { printf 'peers/command: %s\n' "$*" >&2; exit 2; }

(($# == 4)) || die "usage: command.sh TOOL ACTION DIR URL"
tool=$1 action=$2 dir=$3 url=$4
case $tool in dbmate | node-pg-migrate | postgrator | sqitch | alembic) ;;
*) die "unknown TOOL '$tool' (dbmate, node-pg-migrate, postgrator, sqitch, alembic)" ;; esac
case $action in apply | noop | status) ;; *) die "unknown ACTION '$action' (apply, noop, status)" ;; esac
[[ -d $dir ]] || die "no such folder: $dir"
dir=$(cd "$dir" && pwd)
[[ -d $dir/$tool ]] || die "no $tool/ folder in $dir (run gen.py)"
[[ -d $PEERS_DIR/node_modules ]] || die "$PEERS_DIR has no node_modules (run setup.sh)"

# postgres://[user@]host[:port]/db[?query]; a password is refused, so that
# it can never end up in a printed command line.
re='^postgres(ql)?://(([^@/:]+)@)?([^@/:?]+)(:([0-9]+))?/([^/?]+)(\?(.*))?$'
[[ $url =~ $re ]] || die "URL must look like postgres://user@host:port/db (no password)"
user=${BASH_REMATCH[3]:-postgres}
host=${BASH_REMATCH[4]}
port=${BASH_REMATCH[6]:-5432}
db=${BASH_REMATCH[7]}
query=${BASH_REMATCH[9]}

q() { printf '%q' "$1"; }

case $tool in
dbmate)
    # The Go binary the npm package ships, called directly (the npm wrapper
    # would add a node start-up to every run).  lib/pq wants SSL unless told.
    bin=$PEERS_DIR/node_modules/@dbmate/linux-x64/bin/dbmate
    [[ -x $bin ]] || die "dbmate binary not found: $bin"
    u=$url
    [[ $query == *sslmode=* ]] || u="$url$([[ -n $query ]] && echo '&' || echo '?')sslmode=disable"
    case $action in apply | noop) sub=migrate ;; status) sub=status ;; esac
    echo "$(q "$bin") --url $(q "$u") --migrations-dir $(q "$dir/dbmate") --no-dump-schema $sub"
    ;;
node-pg-migrate)
    # --no-single-transaction: node-pg-migrate's default wraps the whole run
    # in ONE transaction; this makes it one transaction per migration.
    # It has no status command: `up --dry-run` lists what would run.
    bin=$PEERS_DIR/node_modules/.bin/node-pg-migrate
    [[ -x $bin ]] || die "node-pg-migrate not found: $bin"
    extra=
    [[ $action == status ]] && extra=" --dry-run"
    echo "DATABASE_URL=$(q "$url") $(q "$bin") up --migrations-dir $(q "$dir/node-pg-migrate") --no-single-transaction$extra"
    ;;
postgrator)
    # postgrator-cli takes host/port/database/username, not a URL; the
    # migration pattern is quoted so that postgrator, not the shell, globs.
    # Status: postgrator-status.mjs (postgrator-cli has no status command).
    case $action in
    apply | noop)
        bin=$PEERS_DIR/node_modules/.bin/postgrator
        [[ -x $bin ]] || die "postgrator-cli not found: $bin"
        echo "$(q "$bin") migrate --no-config --driver pg --host $(q "$host") --port $port" \
             "--database $(q "$db") --username $(q "$user") --migration-pattern $(q "$dir/postgrator/*")"
        ;;
    status)
        echo "PEERS_DIR=$(q "$PEERS_DIR") $(q "$(command -v node)") $(q "$HERE/postgrator-status.mjs")" \
             "$(q "$url") $(q "$dir/postgrator/*")"
        ;;
    esac
    ;;
sqitch)
    # Sqitch targets are db:pg: URIs; the registry is the "sqitch" schema of
    # the target database.  Fixed planner identity so it asks nothing.
    target="db:pg://$user@$host:$port/$db${query:+?$query}"
    case $action in apply | noop) sub=deploy ;; status) sub=status ;; esac
    echo "cd $(q "$dir/sqitch") && SQITCH_FULLNAME='migc bench' SQITCH_EMAIL=bench@migc.invalid" \
         "/usr/bin/sqitch $sub $(q "$target")"
    ;;
alembic)
    # env.py reads $DATABASE_URL; transaction_per_migration=True there.
    case $action in apply | noop) sub="upgrade head" ;; status) sub=current ;; esac
    echo "DATABASE_URL=$(q "$url") /usr/bin/alembic -c $(q "$dir/alembic/alembic.ini") $sub"
    ;;
esac
