#!/usr/bin/env bash
# The compiler's and the runtime's tests under valgrind's memcheck: no
# invalid access, no use of uninitialized memory, no definite leak.  Runs
# the unit tests, the golden command-line tests (migc itself under
# valgrind) and the runtime tests against PostgreSQL.
# usage: tests/valgrind.sh BUILD_DIR
set -u
build=$1
root=$(cd "$(dirname "$0")/.." && pwd)
vg=(valgrind -q --error-exitcode=99 --leak-check=full
    --errors-for-leak-kinds=definite --child-silent-after-fork=yes)
passed=0
failed=0
run() { # name, command...
    local name=$1
    shift
    if "$@" > "$build/valgrind-$name.log" 2>&1; then
        passed=$((passed + 1))
        echo "valgrind: $name ok"
    else
        failed=$((failed + 1))
        echo "valgrind: $name FAILED" >&2
        tail -40 "$build/valgrind-$name.log" >&2
    fi
}
cd "$root"
run test_scanner "${vg[@]}" "$build/tests/test_scanner"
run test_roundtrip "${vg[@]}" "$build/tests/test_roundtrip" migrations \
    tests/fixtures/formats/golang-migrate tests/fixtures/formats/goose \
    tests/fixtures/formats/sql-migrate tests/fixtures/formats/dbmate
wrapper="$build/migc-under-valgrind"
printf '#!/bin/sh\nexec %s %s "$@"\n' "${vg[*]}" "$build/tools/migc/migc" \
    > "$wrapper"
chmod +x "$wrapper"
run golden tests/golden/run.sh "$wrapper"
run test_catalog_apply "${vg[@]}" "$build/tests/test_catalog_apply"
run test_runtime "${vg[@]}" "$build/tests/test_runtime"
echo "valgrind: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
