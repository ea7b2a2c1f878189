#!/usr/bin/env bash
# Runs each libFuzzer target for a bounded time on the seed corpus.
# A crash, leak, hang or sanitizer report fails the run; the input that
# caused it is saved in the artifacts folder to become a regression test
# (copy it into tests/fuzz/regressions/split or .../folder).
# usage: run-fuzz.sh FUZZ_BUILD_DIR SECONDS_PER_TARGET
set -euo pipefail
build=$1
seconds=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/migc-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$src/tests/fuzz/make-corpus.sh" "$src" "$work/seeds"
# Inputs that fail are kept (beside the build) to become regression tests.
artifacts=${FUZZ_ARTIFACTS:-$build/fuzz-artifacts}
mkdir -p "$artifacts"
status=0
for target in split folder; do
    mkdir -p "$work/corpus-$target"
    cp "$work/seeds/$target"/* "$work/corpus-$target/" 2>/dev/null || true
    cp "$src/tests/fuzz/regressions/$target"/* "$work/corpus-$target/" 2>/dev/null || true
    echo "fuzzing $target for ${seconds}s"
    if ! "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" \
            -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
            -artifact_prefix="$artifacts/$target-" -print_final_stats=1 \
            "$work/corpus-$target" 2> "$work/$target.log"; then
        status=1
        grep -v -E '^#[0-9]+' "$work/$target.log" | tail -40 >&2
        echo "fuzz_$target failed; inputs kept in $artifacts" >&2
    fi
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$work/$target.log" || true
done
exit $status
