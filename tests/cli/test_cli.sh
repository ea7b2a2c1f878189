#!/usr/bin/env bash
# Command-line behaviour of migc that golden files cannot show:
#  - byte-identical output for a copy of a folder with CRLF line endings and
#    a UTF-8 BOM, and for the same folder at another path;
#  - an unchanged result does not rewrite the output (same inode and mtime);
#  - a failed compile leaves an existing output untouched and no temp files;
#  - the output compiles with -std=c11 -Wall -Wextra -Werror -pedantic under
#    gcc and clang for a multi-megabyte data migration and for 10,000
#    migrations, and with gcc for a folder whose name has a "*" in it;
#  - `migc new` follows each folder's style.
#
# usage: test_cli.sh MIGC SOURCE_DIR
set -u
migc=$1
src=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/migc-cli.XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
check() { # description, command...
    local what=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAILED: $what" >&2
    fi
}
compiles() { # compiler, file
    "$1" -std=c11 -Wall -Wextra -Werror -pedantic -I"$src/include" \
        -c "$2" -o "$2.$1.o"
}

# ---- determinism -------------------------------------------------------
for fmt in golang-migrate goose sql-migrate dbmate; do
    orig="$src/tests/fixtures/formats/$fmt"
    copy="$work/crlf/$fmt"
    mkdir -p "$copy"
    for f in "$orig"/*; do
        # LF -> CRLF (files already in CRLF stay so), and a BOM in front
        # (unless there is one already).
        sed '1s/^\xef\xbb\xbf//; s/\r$//; s/$/\r/' "$f" \
            > "$copy/$(basename "$f").tmp"
        printf '\xef\xbb\xbf' | cat - "$copy/$(basename "$f").tmp" \
            > "$copy/$(basename "$f")"
        rm "$copy/$(basename "$f").tmp"
    done
    "$migc" compile "$orig" -o "$work/$fmt.orig.c" 2>/dev/null
    "$migc" compile "$copy" -o "$work/$fmt.crlf.c" 2>/dev/null
    check "$fmt: CRLF+BOM copy compiles to identical bytes" \
        cmp "$work/$fmt.orig.c" "$work/$fmt.crlf.c"
    "$migc" compile "$orig" -o "$work/$fmt.again.c" 2>/dev/null
    check "$fmt: two runs give identical bytes" \
        cmp "$work/$fmt.orig.c" "$work/$fmt.again.c"
    check "$fmt: output has no absolute path" \
        bash -c "! grep -q -e '$src' -e '$work' '$work/$fmt.orig.c'"
done

# ---- no needless rewrite ------------------------------------------------
out="$work/app.c"
"$migc" compile "$src/migrations" -o "$out" --header "$work/app.h" 2>/dev/null
before=$(stat -c '%i %Y.%y' "$out" "$work/app.h")
sleep 1.1
"$migc" compile "$src/migrations" -o "$out" --header "$work/app.h" 2>/dev/null
check "unchanged result leaves the output untouched" \
    test "$before" = "$(stat -c '%i %Y.%y' "$out" "$work/app.h")"

# ---- failures leave nothing behind ----------------------------------------
bad="$work/bad"
cp -R "$src/migrations" "$bad"
printf "SELECT 'oops;\n" > "$bad/000099_broken.up.sql"
cp "$out" "$work/app.c.saved"
"$migc" compile "$bad" -o "$out" 2>/dev/null
check "a failed compile exits 1" test $? -eq 1
check "a failed compile keeps the previous output" cmp "$out" "$work/app.c.saved"
check "a failed compile leaves no temporary file" \
    test -z "$(find "$work" -maxdepth 1 -name '*.tmp.*')"
"$migc" compile "$src/migrations" -o "$work/no-such-dir/out.c" 2>/dev/null
check "an unwritable output exits 3" test $? -eq 3

# ---- a multi-megabyte data migration ----------------------------------------
big="$work/big"
mkdir -p "$big"
printf 'CREATE TABLE readings (id bigint PRIMARY KEY, station text, note text);\n' \
    > "$big/000001_readings.up.sql"
printf 'DROP TABLE readings;\n' > "$big/000001_readings.down.sql"
awk 'BEGIN {
    for (i = 0; i < 30000; i++)
        printf "INSERT INTO readings VALUES (%d, '"'"'station-%d'"'"', '"'"'it'"''"'s; reading ✓ %d\\\\n'"'"');\n", i, i % 97, i
}' > "$big/000002_seed_readings.up.sql"
printf 'DELETE FROM readings;\n' > "$big/000002_seed_readings.down.sql"
size=$(stat -c %s "$big/000002_seed_readings.up.sql")
check "the data migration is over 2 MB ($size bytes)" test "$size" -gt 2000000
"$migc" compile "$big" -o "$work/big.c" 2>/dev/null
check "migc compiles the data migration" test $? -eq 0
check "gcc compiles its catalog with -pedantic -Werror" compiles gcc "$work/big.c"
check "clang compiles its catalog with -pedantic -Werror" compiles clang "$work/big.c"
count=$("$migc" list "$big" --json | grep -o '"statements": [0-9]*' | sed -n 3p)
check "the data migration has 30000 statements" test "$count" = '"statements": 30000'

# ---- 10,000 migrations ------------------------------------------------------
many="$work/many"
mkdir -p "$many"
awk -v dir="$many" 'BEGIN {
    for (i = 1; i <= 10000; i++) {
        up = sprintf("%s/%06d_table_%d.up.sql", dir, i, i)
        printf "CREATE TABLE t%d (id bigint PRIMARY KEY, v text);\nCREATE INDEX t%d_v ON t%d (v);\n", i, i, i > up
        close(up)
        down = sprintf("%s/%06d_table_%d.down.sql", dir, i, i)
        printf "DROP TABLE t%d;\n", i > down
        close(down)
    }
}'
"$migc" compile "$many" -o "$work/many.c" --header "$work/many.h" 2>/dev/null
check "migc compiles 10,000 migrations" test $? -eq 0
check "gcc compiles the 10,000-migration catalog with -pedantic -Werror" \
    compiles gcc "$work/many.c"
check "clang compiles the 10,000-migration catalog with -pedantic -Werror" \
    compiles clang "$work/many.c"

# ---- names that look like C ------------------------------------------------
# The folder's name is written into comments of the generated file: a "*/"
# in it must not end them early.
odd="$work/odd*"
mkdir -p "$odd"
printf 'CREATE TABLE odd (id int);\n' > "$odd/000001_odd.up.sql"
"$migc" compile "$odd" -o "$work/odd.c" 2>/dev/null
check "migc compiles a folder named 'odd*'" test $? -eq 0
check "gcc compiles the catalog of 'odd*' with -pedantic -Werror" \
    compiles gcc "$work/odd.c"

# ---- migc new -----------------------------------------------------------------
n="$work/new-empty"
check "new in a missing folder creates a golang-migrate pair" \
    bash -c "'$migc' new '$n' 'create users' >/dev/null &&
             test -f '$n/000001_create_users.up.sql' &&
             test -f '$n/000001_create_users.down.sql'"
check "new continues the sequence" \
    bash -c "'$migc' new '$n' add_email | grep -q '000002_add_email.up.sql'"
g="$work/new-goose"
cp -R "$src/tests/fixtures/formats/goose" "$g"
check "new in a goose timestamp folder writes an annotated timestamp file" \
    bash -c "f=\$('$migc' new '$g' next_step) && [[ \$(basename \"\$f\") =~ ^20[0-9]{12}_next_step\\.sql\$ ]] &&
             grep -q '^-- +goose Up' \"\$f\" && grep -q '^-- +goose Down' \"\$f\""
check "the goose folder still checks" bash -c "'$migc' check '$g' >/dev/null 2>&1"
s="$work/new-sqlm"
mkdir -p "$s"
printf -- '-- +migrate Up\nSELECT 1;\n' > "$s/7-first.sql"
check "new in sql-migrate continues numbers with its separator" \
    bash -c "'$migc' new '$s' second | grep -q '/8-second.sql'"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
