#!/usr/bin/env bash
# migc's database commands on the four format fixtures, against a real
# PostgreSQL (started by pgfix_run), compared with what each original tool
# would do. For each of golang-migrate, goose, sql-migrate and dbmate:
#  1. `migc up` on a fresh database A gives the same schema (pg_dump
#     --schema-only, history table excluded) as running every UP script with
#     psql on a fresh database B the way the tool runs it: in a transaction
#     (psql -1) or not, per the folder's annotations; single-file formats cut
#     between their Up and Down markers (CR and BOM stripped, a `;` added
#     after a goose/sql-migrate StatementEnd when the statement has none; the
#     sql-migrate COMMIT/CONCURRENTLY/BEGIN script inside the BEGIN/COMMIT
#     the tool adds);
#  2. a second `migc up` changes nothing: exit 0, same history rows, same
#     schema, and stderr says the database is up to date;
#  3. `migc down --all` gives the same schema as the DOWN scripts run with
#     psql in reverse order on B. golang-migrate's 000008 has no down: migc
#     must refuse (exit 4, the message names the migration) and revert
#     nothing; its downs are checked on a third database C migrated with
#     `up --to 7`, then `down DIR 7`;
#  4. `migc up` again gives B's after-up schema again;
#  5. `migc status --json` and `migc plan --json` print valid JSON, and
#     status shows every migration applied.
#  6. `migc up --grouped` on a fresh database applies groups in one
#     transaction each, records every migration, and gives the same schema.
#
# usage: pgfix_run test_formats.sh MIGC SOURCE_DIR
#   (pgfix_run exports DATABASE_URL, PGHOST, PGPORT, PGUSER, PG_BINDIR)
set -u
migc=$1
src=$2
psql="$PG_BINDIR/psql"
pg_dump="$PG_BINDIR/pg_dump"
work=$(mktemp -d "${TMPDIR:-/tmp}/migc-formats.XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAILED: $*" >&2; }
check() { # description, command...
    local what=$1
    shift
    if "$@"; then pass; else fail "$what"; fi
}

# psql on database $1; notices are noise here.
sql() { # db, psql args...
    local db=$1
    shift
    PGOPTIONS='-c client_min_messages=warning' \
        "$psql" -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"
}
createdb() { sql postgres -c "DROP DATABASE IF EXISTS \"$1\"" \
                          -c "CREATE DATABASE \"$1\""; }
# migc's -d: a postgres:// URL for some folders, key=value for the others.
url_of() { # db, style
    if [ "$2" = url ]; then
        echo "postgresql://$PGUSER@/$1?host=$PGHOST&port=$PGPORT"
    else
        echo "host=$PGHOST port=$PGPORT user=$PGUSER dbname=$1"
    fi
}
# Schema without the history table and its head (sequence, function);
# pg_dump 15.14+ adds a random \restrict key to every dump, so drop those
# lines.
dump() { # db, out
    "$pg_dump" --schema-only --no-owner --exclude-table=public.migc_history \
        --exclude-table=public.migc_history_head -d "$1" |
        grep -v -e '^\\restrict ' -e '^\\unrestrict ' |
        python3 -c '
import re, sys
sys.stdout.write(re.sub(r"(?ms)^--\n-- Name: migc_history.*?;\n\n\n", "",
                        sys.stdin.read()))
' > "$2"
}
history() { # db, out
    sql "$1" -At -c "SELECT id, state, applied_at FROM migc_history ORDER BY id" \
        > "$2" 2>&1
}
same() { # what, expected file, actual file
    if diff -u "$2" "$3" > "$work/diff"; then
        pass
    else
        fail "$1"
        head -n 80 "$work/diff" >&2
    fi
}
has() { # file, fixed string
    grep -qF -- "$2" "$1"
}
exits() { # expected status, log prefix, command...
    local want=$1 log=$2
    shift 2
    "$@" > "$log.out" 2> "$log.err"
    local rc=$?
    if [ "$rc" -ne "$want" ]; then
        echo "  \`$*\` exited $rc, expected $want; stderr:" >&2
        sed 's/^/    /' "$log.err" | head -n 30 >&2
        return 1
    fi
}

# ---- the tools' way, with psql -------------------------------------------

# One script of a single-file migration: the lines between the direction's
# marker and the other marker, CR and BOM stripped. A statement that ends at
# StatementEnd without ';' gets one, as goose and sql-migrate send it whole.
section() { # file, up marker regex, down marker regex, up|down
    sed '1s/^\xef\xbb\xbf//; s/\r$//' "$1" |
        awk -v up="$2" -v down="$3" -v dir="$4" '
            $0 ~ up { sec = "up"; next }
            $0 ~ down { sec = "down"; next }
            sec == dir {
                if ($0 ~ /^[ \t]*-- [+](goose|migrate) StatementEnd[ \t]*$/ &&
                    last !~ /;[ \t]*$/)
                    print ";"
                print
                if ($0 !~ /^[ \t]*$/ && $0 !~ /^[ \t]*--/) last = $0
            }'
}

# Writes $work/$fmt/{up,down}.list: one "MODE FILE" line per script, ups in
# order, downs in reverse order. MODE: tx (psql -1), plain (no -1: no
# transaction, or the script's own BEGIN/COMMIT), wrap (in a BEGIN/COMMIT
# the tool adds, script run as written).
scripts() { # fmt, dir
    local fmt=$1 dir=$2 out=$work/$1 n=0 f base mode dmode
    mkdir -p "$out"
    : > "$out/up.list"
    : > "$out/down.rev"
    if [ "$fmt" = golang-migrate ]; then
        for f in $(cd "$dir" && ls -- *.up.sql | sort -n); do
            n=$((n + 1))
            base=${f%.up.sql}
            for d in up down; do
                [ -f "$dir/$base.$d.sql" ] || continue
                sed '1s/^\xef\xbb\xbf//; s/\r$//' "$dir/$base.$d.sql" \
                    > "$out/$n.$d.sql"
                if grep -Eq '^[ \t]*-- migc:no-transaction[ \t]*$' \
                        "$out/$n.$d.sql"; then
                    mode=plain      # migc's directive
                elif grep -q 'CONCURRENTLY' "$out/$n.$d.sql"; then
                    mode=plain      # a lone CREATE INDEX CONCURRENTLY
                elif grep -Eq '^BEGIN;' "$out/$n.$d.sql"; then
                    mode=plain      # its own BEGIN; ... COMMIT;
                else
                    mode=tx
                fi
                if [ $d = up ]; then
                    echo "$mode $out/$n.up.sql" >> "$out/up.list"
                else
                    echo "$mode $out/$n.down.sql" >> "$out/down.rev"
                fi
            done
        done
    else
        local upre downre
        case $fmt in
        goose)
            upre='^[ \t]*-- [+]goose Up([ \t]|$)'
            downre='^[ \t]*-- [+]goose Down([ \t]|$)' ;;
        sql-migrate)
            upre='^[ \t]*-- [+]migrate Up([ \t]|$)'
            downre='^[ \t]*-- [+]migrate Down([ \t]|$)' ;;
        dbmate)
            upre='^[ \t]*-- migrate:up([ \t]|$)'
            downre='^[ \t]*-- migrate:down([ \t]|$)' ;;
        esac
        # By number, then by file name (sql-migrate's order for equal numbers).
        for f in $(cd "$dir" && ls -- *.sql |
                   awk '{ match($0, /^[0-9]+/);
                          print substr($0, 1, RLENGTH), $0 }' |
                   LC_ALL=C sort -k1,1n -k2,2 | cut -d' ' -f2); do
            n=$((n + 1))
            section "$dir/$f" "$upre" "$downre" up > "$out/$n.up.sql"
            section "$dir/$f" "$upre" "$downre" down > "$out/$n.down.sql"
            local marks
            marks=$(sed 's/\r$//' "$dir/$f")
            mode=tx
            dmode=tx
            case $fmt in
            goose)
                if grep -Eq '^[ \t]*-- [+]goose NO TRANSACTION[ \t]*$' <<< "$marks"
                then mode=plain; dmode=plain; fi ;;
            sql-migrate)
                grep -Eq "$upre.*notransaction" <<< "$marks" && mode=plain
                grep -Eq "$downre.*notransaction" <<< "$marks" && dmode=plain ;;
            dbmate)
                grep -Eq "$upre.*transaction:false" <<< "$marks" && mode=plain
                grep -Eq "$downre.*transaction:false" <<< "$marks" && dmode=plain ;;
            esac
            # sql-migrate's pattern: COMMIT; ... BEGIN; inside the
            # transaction the tool opens and commits.
            [ $mode = tx ] && grep -Eq '^[ \t]*COMMIT;' "$out/$n.up.sql" && mode=wrap
            [ $dmode = tx ] && grep -Eq '^[ \t]*COMMIT;' "$out/$n.down.sql" && dmode=wrap
            echo "$mode $out/$n.up.sql" >> "$out/up.list"
            echo "$dmode $out/$n.down.sql" >> "$out/down.rev"
        done
    fi
    tac "$out/down.rev" > "$out/down.list"
}

run_list() { # db, list file, log
    local db=$1 mode file
    : > "$3"
    while read -r mode file; do
        case $mode in
        tx) sql "$db" -1 -f "$file" ;;
        plain) sql "$db" -f "$file" ;;
        wrap) { echo 'BEGIN;'; cat "$file"; echo 'COMMIT;'; } | sql "$db" -f - ;;
        esac >> "$3" 2>&1 || {
            echo "  psql ($mode) failed on $file:" >&2
            sed 's/^/    /' "$3" | tail -n 20 >&2
            return 1
        }
    done < "$2"
}

# ---- one folder -----------------------------------------------------------

status_all_applied() { # json file, expected count
    python3 - "$1" "$2" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
ms = doc["migrations"]
bad = [m["id"] for m in ms if m["state"] != "applied"]
if len(ms) != int(sys.argv[2]) or bad:
    print("  status: %d migrations, not applied: %s" % (len(ms), bad),
          file=sys.stderr)
    sys.exit(1)
EOF
}
applied_rows() { # db
    sql "$1" -At -c "SELECT count(*) FROM migc_history WHERE state = 'applied'"
}

run_format() { # fmt, -d style
    local fmt=$1 style=$2
    local dir=$src/tests/fixtures/formats/$fmt
    local db=${fmt//-/_}
    local A=${db}_a B=${db}_b
    local w=$work/$fmt
    scripts "$fmt" "$dir"
    local count
    count=$(wc -l < "$w/up.list")
    createdb "$A"
    createdb "$B"
    local dA
    dA=$(url_of "$A" "$style")

    # 1. migc up on A == the tool's up scripts with psql on B.
    check "$fmt: migc up applies everything" \
        exits 0 "$w/up1" "$migc" up "$dir" -d "$dA"
    check "$fmt: migc up reports $count migrations applied" \
        test "$(grep -c '^migc: applied ' "$w/up1.err")" -eq "$count"
    check "$fmt: psql applies the up scripts on B" \
        run_list "$B" "$w/up.list" "$w/b-up.log"
    dump "$A" "$w/a-up.sql"
    dump "$B" "$w/b-up.sql"
    same "$fmt: schema after migc up equals the tool's (psql)" \
        "$w/b-up.sql" "$w/a-up.sql"

    # 2. A second up changes nothing.
    history "$A" "$w/hist1"
    check "$fmt: second migc up exits 0" \
        exits 0 "$w/up2" "$migc" up "$dir" -d "$dA"
    history "$A" "$w/hist2"
    dump "$A" "$w/a-up2.sql"
    same "$fmt: second up leaves the history unchanged" "$w/hist1" "$w/hist2"
    same "$fmt: second up leaves the schema unchanged" \
        "$w/a-up.sql" "$w/a-up2.sql"
    if has "$w/up2.err" "database is up to date"; then
        pass
    else
        fail "$fmt: second up says the database is up to date" \
             "(stderr: $(head -c 300 "$w/up2.err"))"
    fi

    # 3. Down.
    check "$fmt: psql applies the down scripts on B in reverse order" \
        run_list "$B" "$w/down.list" "$w/b-down.log"
    dump "$B" "$w/b-down.sql"
    local D=$A dD=$dA
    if [ "$fmt" = golang-migrate ]; then
        # 000008 has no down script: refused, nothing reverted.
        local args
        for args in "--all" "1"; do
            check "$fmt: down $args is refused with exit 4 (000008 has no down)" \
                exits 4 "$w/refuse" "$migc" down "$dir" $args -d "$dA"
            check "$fmt: the refusal names migration 8 and its file" \
                has "$w/refuse.err" "000008_backfill_display_names"
            check "$fmt: the refusal says there is no down script" \
                has "$w/refuse.err" "no down"
            history "$A" "$w/hist3"
            dump "$A" "$w/a-refused.sql"
            same "$fmt: refused down leaves the history unchanged" \
                "$w/hist1" "$w/hist3"
            same "$fmt: refused down leaves the schema unchanged" \
                "$w/a-up.sql" "$w/a-refused.sql"
        done
        # The seven reversible ones, on C migrated up to 000007.
        D=${db}_c
        createdb "$D"
        dD=$(url_of "$D" "$style")
        check "$fmt: up --to 7 on C" \
            exits 0 "$w/upto" "$migc" up "$dir" --to 7 -d "$dD"
        check "$fmt: down 7 on C (the migrations below 000008)" \
            exits 0 "$w/down" "$migc" down "$dir" 7 -d "$dD"
        check "$fmt: down reports 7 migrations reverted" \
            test "$(grep -c '^migc: reverted ' "$w/down.err")" -eq 7
    else
        check "$fmt: migc down --all exits 0" \
            exits 0 "$w/down" "$migc" down "$dir" --all -d "$dD"
        check "$fmt: down reports $count migrations reverted" \
            test "$(grep -c '^migc: reverted ' "$w/down.err")" -eq "$count"
    fi
    check "$fmt: no applied rows left in the history after down" \
        test "$(applied_rows "$D")" = 0
    dump "$D" "$w/a-down.sql"
    same "$fmt: schema after migc down equals the tool's downs (psql)" \
        "$w/b-down.sql" "$w/a-down.sql"

    # 4. Up again.
    check "$fmt: migc up after down exits 0" \
        exits 0 "$w/up3" "$migc" up "$dir" -d "$dD"
    dump "$D" "$w/a-up3.sql"
    same "$fmt: schema after up again equals the tool's after-up schema" \
        "$w/b-up.sql" "$w/a-up3.sql"

    # 5. status and plan print JSON.
    check "$fmt: status --json exits 0" \
        exits 0 "$w/status" "$migc" status "$dir" --json -d "$dD"
    check "$fmt: status --json is JSON" \
        python3 -m json.tool "$w/status.out" /dev/null
    check "$fmt: status shows all $count migrations applied" \
        status_all_applied "$w/status.out" "$count"
    check "$fmt: plan --json exits 0" \
        exits 0 "$w/plan" "$migc" plan "$dir" --json -d "$dD"
    check "$fmt: plan --json is JSON" \
        python3 -m json.tool "$w/plan.out" /dev/null

    # 6. up --grouped on a fresh database: the transactional migrations in
    #    groups (a migration that runs without a transaction alone between
    #    them), the same schema as the tool's, every migration recorded.
    local G="${A}_grouped" dG
    createdb "$G"
    dG=$(url_of "$G" "$style")
    check "$fmt: up --grouped exits 0" \
        exits 0 "$w/grouped" "$migc" up "$dir" --grouped -d "$dG"
    check "$fmt: up --grouped applies a group in one transaction" \
        has "$w/grouped.err" " in one transaction in "
    dump "$G" "$w/a-grouped.sql"
    same "$fmt: schema after up --grouped equals the tool's" \
        "$w/b-up.sql" "$w/a-grouped.sql"
    check "$fmt: up --grouped records all $count migrations" \
        test "$(sql "$G" -At -c "SELECT count(*) FROM migc_history WHERE state = 'applied'")" -eq "$count"
}

run_format golang-migrate url
run_format goose conninfo
run_format sql-migrate url
run_format dbmate conninfo

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
