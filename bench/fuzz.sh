#!/usr/bin/env bash
# Long fuzzing of the scanner and the loader: builds the libFuzzer targets
# with clang and AddressSanitizer + UndefinedBehaviorSanitizer, then runs
# each for SECONDS (default 600, ten minutes) from the seed corpus.  Prints
# each target's executions; a crash keeps its input in build-fuzz/
# fuzz-artifacts/ (copy it into tests/fuzz/regressions/ to keep it tested).
# usage: bench/fuzz.sh [SECONDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-600}
cmake -S "$root" -B "$root/build-fuzz" -G Ninja -DCMAKE_C_COMPILER=clang \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMIGC_FUZZ=ON \
    -DMIGC_SANITIZE=address,undefined > /dev/null
cmake --build "$root/build-fuzz" --target fuzz_split fuzz_folder
"$root/tests/fuzz/run-fuzz.sh" "$root/build-fuzz" "$seconds"
