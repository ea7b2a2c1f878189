#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. installs missing packages (tests/install-deps.sh);
#   2. a plain build (gcc, warnings as errors) and every test;
#   3. every test again under valgrind's memcheck (tests/valgrind.sh);
#   4. an AddressSanitizer + UndefinedBehaviorSanitizer build and every test;
#   5. a clang build with libFuzzer, and each fuzz target for a bounded time
#      (MIGC_FUZZ_SECONDS, default 60).
# Tests that need PostgreSQL start their own throwaway cluster.
# Build folders: build/, build-asan/, build-fuzz/ at the repository root.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tests/install-deps.sh
jobs=$(nproc)
total=0

configure_and_build() { # dir, cmake args...
    local dir=$1
    shift
    cmake -S "$root" -B "$root/$dir" -G Ninja "$@" > "$root/$dir.configure.log" 2>&1 ||
        { cat "$root/$dir.configure.log"; return 1; }
    cmake --build "$root/$dir" -j "$jobs"
}

run_ctest() { # dir
    local log="$root/$1.ctest.log"
    ctest --test-dir "$root/$1" --output-on-failure -j "$jobs" 2>&1 | tee "$log"
    local n
    n=$(sed -n 's/.*tests passed, 0 tests failed out of \([0-9]*\).*/\1/p' "$log")
    [ -n "$n" ] || return 1
    total=$((total + n))
}

echo "== plain build (gcc) =="
configure_and_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
run_ctest build

echo "== valgrind (memcheck) =="
tests/valgrind.sh "$root/build" 2>&1 | tee "$root/build.valgrind.log"
n=$(sed -n 's/^valgrind: \([0-9]*\) passed, 0 failed.*/\1/p' "$root/build.valgrind.log")
[ -n "$n" ] || exit 1
total=$((total + n))

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build =="
configure_and_build build-asan -DCMAKE_BUILD_TYPE=Debug \
    -DMIGC_SANITIZE=address,undefined
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_ctest build-asan

echo "== clang build with libFuzzer =="
configure_and_build build-fuzz -DCMAKE_C_COMPILER=clang \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMIGC_FUZZ=ON \
    -DMIGC_SANITIZE=address,undefined
tests/fuzz/run-fuzz.sh build-fuzz "${MIGC_FUZZ_SECONDS:-60}"
total=$((total + 2))

echo "suite: $total passed, 0 failed"
