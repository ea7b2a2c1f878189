#!/usr/bin/env bash
# Builds the seed corpora of the fuzz targets from the repository's
# migrations, format fixtures and golden cases: every construct the scanner
# knows appears in them.
#   OUT/split/   one file per migration file, prefixed with a format byte
#   OUT/folder/  one archive per folder ("name\n" content "\0" ...)
# usage: make-corpus.sh SOURCE_DIR OUT
set -euo pipefail
src=$1
out=$2
mkdir -p "$out/split" "$out/folder"
n=0
format_byte() {
    case "$1" in
        *goose*) printf '\002' ;;
        *sql-migrate*) printf '\003' ;;
        *dbmate*) printf '\004' ;;
        *) printf '\001' ;;
    esac
}
folders=("$src/migrations" "$src"/tests/fixtures/formats/*/ "$src"/tests/golden/cases/*/migrations/)
for dir in "${folders[@]}"; do
    [ -d "$dir" ] || continue
    archive="$out/folder/$n"
    : > "$archive"
    for f in "$dir"/*; do
        [ -f "$f" ] || continue
        { format_byte "$dir"; cat "$f"; } > "$out/split/$n-$(basename "$f")"
        { printf '%s\n' "$(basename "$f")"; head -c 4000 "$f"; printf '\0'; } >> "$archive"
    done
    n=$((n + 1))
done
