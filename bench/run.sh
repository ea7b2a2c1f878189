#!/usr/bin/env bash
# bench/run.sh -- the benchmark of migc against the physical floors and the
# tools its users would pick instead, in one run.
#
# It installs what is missing (Debian packages, the pinned peer tools),
# builds migc in Release mode into build-bench/, and runs bench/bench.py,
# which starts a throwaway PostgreSQL, measures apply / no-op / status for
# N = 100, 1,000 and 10,000 migrations, round trips, sizes and memory, and
# the compiler (bench/compile.sh), then writes bench/results/benchmarks.md.
#
# usage: bench/run.sh [--quick]
#   --quick   N = 10 and 100 only, one round: a check that everything runs
# environment: BENCH_OUT (default bench/results/benchmarks.md), BENCH_NS
#   (e.g. "100 1000"), BENCH_SKIP_COMPILER=1 (leave bench/compile.sh out)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=$repo/build-bench

"$repo/tests/install-deps.sh"
peer_versions=$("$repo/bench/peers/setup.sh")

cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DMIGC_BUILD_TESTS=OFF -DMIGC_BUILD_EXAMPLES=ON >"$build.configure.log" 2>&1 ||
    { cat "$build.configure.log"; exit 1; }
cmake --build "$build" >"$build.build.log" 2>&1 ||
    { cat "$build.build.log"; exit 1; }

exec python3 "$repo/bench/bench.py" --repo "$repo" --build "$build" \
    --peer-versions "$peer_versions" "$@"
