#!/usr/bin/env bash
# Huge inputs: a 200 MB migration, and 100,000 migrations.  Shows that
# migc handles both without crashing and with bounded memory: prints the
# time and peak resident memory (GNU time) of `migc check` and
# `migc compile` on each.  About 2 minutes on 2 cores; needs ~3 GB of /tmp.
# usage: bench/huge.sh [MIGC]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
migc=${1:-${MIGC:-$root/build/tools/migc/migc}}
[ -x "$migc" ] || { echo "build migc first: $migc" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/migc-huge.XXXXXX")
trap 'rm -rf "$work"' EXIT

measure() { # label, command...
    local label=$1
    shift
    /usr/bin/time -f "%e s, peak RSS %M KiB, exit %x" -o "$work/time" "$@" \
        > /dev/null 2> "$work/err" || true
    printf '%-44s %s\n' "$label" "$(cat "$work/time")"
    tail -2 "$work/err" | sed 's/^/    /'
}

mkdir -p "$work/big"
printf 'CREATE TABLE big (id bigint PRIMARY KEY, payload text);\n' \
    > "$work/big/000001_big.up.sql"
awk 'BEGIN { for (i = 0; i < 2300000; i++)
    printf "INSERT INTO big VALUES (%d, '"'"'row %d: the quick brown fox jumps over the lazy dog'"'"');\n", i, i }' \
    > "$work/big/000002_seed.up.sql"
echo "200 MB migration: $(du -m "$work/big/000002_seed.up.sql" | cut -f1) MB, $(wc -l < "$work/big/000002_seed.up.sql") statements"
measure "migc check (200 MB migration)" "$migc" check "$work/big"
measure "migc compile (200 MB migration)" "$migc" compile "$work/big" -o "$work/big.c"
echo "    output: $(du -m "$work/big.c" | cut -f1) MB"
rm -f "$work/big.c"

mkdir -p "$work/many"
awk -v dir="$work/many" 'BEGIN {
    for (i = 1; i <= 100000; i++) {
        f = sprintf("%s/%06d_t%d.up.sql", dir, i, i)
        printf "CREATE TABLE t%d (id bigint PRIMARY KEY);\n", i > f
        close(f)
    }
}'
echo "100,000 migrations: $(du -sm "$work/many" | cut -f1) MB on disk"
measure "migc check (100,000 migrations)" "$migc" check "$work/many"
measure "migc compile (100,000 migrations)" "$migc" compile "$work/many" -o "$work/many.c"
echo "    output: $(du -m "$work/many.c" | cut -f1) MB"
