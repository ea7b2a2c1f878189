#!/usr/bin/env bash
# Replays the seed corpus and the kept regression inputs through a fuzz
# target built without libFuzzer (see replay.c).
# usage: replay.sh REPLAY_BINARY split|folder SOURCE_DIR
set -euo pipefail
bin=$1
target=$2
src=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/migc-replay.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$src/tests/fuzz/make-corpus.sh" "$src" "$work"
files=("$work/$target"/*)
for f in "$src/tests/fuzz/regressions/$target"/*; do
    [ -f "$f" ] && files+=("$f")
done
exec "$bin" "${files[@]}"
