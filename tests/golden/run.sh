#!/usr/bin/env bash
# Golden tests of the migc command line.
#
# Each folder under tests/golden/cases/ is one case:
#   cmd              the arguments to migc, one line; @OUT@ stands for a fresh
#                    empty output folder.  Run from the repository root, so
#                    paths in diagnostics are relative and stable.
#   expected.exit    the exit status
#   expected.stdout  exact standard output   (optional: empty when absent)
#   expected.stderr  exact standard error    (optional: empty when absent)
#   expected/        exact files migc must leave in @OUT@ -- nothing more;
#                    when absent, @OUT@ must stay empty (no output, not even
#                    a temporary file)
#   migrations/      the input folder, when the case has its own
#
# MIGC_UPDATE_GOLDEN=1 rewrites the expected files from what migc does now.
#
# usage: run.sh MIGC [CASE...]
set -u
migc=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
shift
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 2

passed=0
failed=0
fail() {
    echo "FAILED [$case_name]: $*" >&2
    failed=$((failed + 1))
}

cases=("$@")
if [ ${#cases[@]} -eq 0 ]; then
    cases=("$here"/cases/*/)
fi

for case_dir in "${cases[@]}"; do
    case_dir=${case_dir%/}
    case_name=$(basename "$case_dir")
    out=$(mktemp -d "${TMPDIR:-/tmp}/migc-golden.XXXXXX")
    read -r -a args < "$case_dir/cmd"
    args=("${args[@]//@OUT@/$out}")
    "$migc" "${args[@]}" > "$out.stdout" 2> "$out.stderr" < /dev/null
    status=$?
    # The output folder's name changes every run: write it as @OUT@.
    for f in "$out.stdout" "$out.stderr" "$out"/*; do
        [ -f "$f" ] && sed -i "s#$out#@OUT@#g" "$f"
    done

    if [ "${MIGC_UPDATE_GOLDEN:-}" = 1 ]; then
        echo "$status" > "$case_dir/expected.exit"
        for stream in stdout stderr; do
            if [ -s "$out.$stream" ]; then
                cp "$out.$stream" "$case_dir/expected.$stream"
            else
                rm -f "$case_dir/expected.$stream"
            fi
        done
        rm -rf "$case_dir/expected"
        if [ -n "$(ls -A "$out")" ]; then
            cp -R "$out" "$case_dir/expected"
        fi
    fi

    ok=1
    want_status=$(cat "$case_dir/expected.exit" 2>/dev/null || echo missing)
    if [ "$status" != "$want_status" ]; then
        fail "exit status $status, expected $want_status"
        ok=0
    fi
    for stream in stdout stderr; do
        want="$case_dir/expected.$stream"
        [ -f "$want" ] || want=/dev/null
        if ! cmp -s "$out.$stream" "$want"; then
            fail "$stream differs:"
            diff -u "$want" "$out.$stream" | head -40 >&2
            ok=0
        fi
    done
    if [ -d "$case_dir/expected" ]; then
        if ! diff -r "$case_dir/expected" "$out" > "$out.diff"; then
            fail "output files differ:"
            head -40 "$out.diff" >&2
            ok=0
        fi
    elif [ -n "$(ls -A "$out")" ]; then
        fail "migc left files behind: $(ls -A "$out" | tr '\n' ' ')"
        ok=0
    fi
    [ $ok = 1 ] && passed=$((passed + 1))
    rm -rf "$out" "$out.stdout" "$out.stderr" "$out.diff"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
