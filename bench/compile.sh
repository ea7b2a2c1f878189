#!/usr/bin/env bash
# bench/compile.sh -- how fast and how lean is `migc compile`?
#
# Generates (deterministically, in a temporary folder removed on exit)
# 10,000 golang-migrate migrations, about 10 MB of SQL, and measures:
#
#   1. wall time, in ONE hyperfine invocation (warmup 1, $RUNS runs) of
#        migc   `migc compile DIR -o out.c`
#        floor  every byte read and hashed: find | sort | xargs cat | sha256sum
#      and, timed once in its own invocation (it takes some 70 times as long,
#      so its noise does not matter and repeating it would triple the
#      script's time),
#        xxd    the hand-made embedding: `xxd -i` of every file into one C file
#   2. peak memory (max RSS, /usr/bin/time -v) of migc on a tiny folder, on
#      the 10,000-file folder and on a folder holding ONE 10 MB migration
#      (memory should follow the largest file, not the size of the folder);
#   3. gcc -std=c11 -O0 -c time on migc's output vs. on the xxd -i output
#      (one hyperfine invocation, warmup 1, $GCC_RUNS runs);
#   4. whether migc's outputs compile with
#      -std=c11 -Wall -Wextra -Werror -pedantic under gcc and clang.
#
# Prints a summary table and writes it as markdown to $BENCH_OUT (default
# bench/results/compile.md, with the raw hyperfine JSON beside it).
# Takes about 1.5 minutes on a 2-core machine.
#
# usage:
#   bench/compile.sh [PATH/TO/migc]
#
# environment:
#   MIGC       the migc binary (default: build/tools/migc/migc in the repo);
#              the first argument, when given, wins
#   BENCH_OUT  markdown summary file (default: bench/results/compile.md)
#   RUNS       hyperfine runs of the compile benchmark (default 5, min 5)
#   GCC_RUNS   hyperfine runs of the gcc benchmark (default 2)
#   MIGC_ARGS  extra arguments for every `migc compile` (default none), e.g.
#              "--name my_catalog"; shown in the summary when set
#   KEEP_TMP   set to 1 to keep the generated folders and outputs
#
# Needs hyperfine, GNU time, xxd, gcc, python3 (and clang for its check);
# when run as root it installs the missing Debian packages with apt-get.
#
# Exit status: 0 when everything ran and migc's output compiled cleanly;
# 1 when migc failed, or its output did not compile (the summary is still
# written in the latter case and says what failed).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$REPO/bench
MIGC=${1:-${MIGC:-$REPO/build/tools/migc/migc}}
BENCH_OUT=${BENCH_OUT:-$BENCH_DIR/results/compile.md}
RUNS=${RUNS:-5}
GCC_RUNS=${GCC_RUNS:-2}
COUNT=10000            # migrations in the big folder
BIG_BYTES=10000000     # size of the single large migration
INCLUDE=$REPO/include
read -r -a MIGC_EXTRA <<<"${MIGC_ARGS:-}"

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'compile.sh: error: %s\n' "$*" >&2; exit 1; }

# ---- prerequisites ---------------------------------------------------------

[[ -e $MIGC ]] || die "migc not found at $MIGC
  build it first:  cmake -S $REPO -B $REPO/build -G Ninja && cmake --build $REPO/build
  or point MIGC (or the first argument) at a built migc"
[[ -x $MIGC ]] || die "$MIGC is not executable"
MIGC=$(realpath "$MIGC")
(( RUNS >= 5 )) || die "RUNS must be at least 5 (got $RUNS)"

missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
[[ -x /usr/bin/time ]] || missing+=(time)
command -v xxd >/dev/null || missing+=(xxd)
command -v gcc >/dev/null || missing+=(gcc)
command -v python3 >/dev/null || missing+=(python3)
if (( ${#missing[@]} )); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        log "installing ${missing[*]}"
        apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        die "missing tools: ${missing[*]} (apt-get install -y ${missing[*]})"
    fi
fi
HAVE_CLANG=1
command -v clang >/dev/null || HAVE_CLANG=0

T=$(mktemp -d /tmp/migc-bench.XXXXXX)
if [[ ${KEEP_TMP:-0} == 1 ]]; then
    trap 'echo "kept $T" >&2' EXIT
else
    trap 'rm -rf "$T"' EXIT
fi
START=$SECONDS
RESULTS_DIR=$(dirname "$BENCH_OUT")
mkdir -p "$RESULTS_DIR"
HF_COMPILE_JSON=${BENCH_OUT%.md}.hyperfine-compile.json
HF_GCC_JSON=${BENCH_OUT%.md}.hyperfine-gcc.json
HF_XXD_JSON=${BENCH_OUT%.md}.hyperfine-xxd.json
FACTS=$T/facts      # key=value lines read by the summary at the end
: >"$FACTS"
fact() { printf '%s=%s\n' "$1" "$2" >>"$FACTS"; }
size_of() { stat -c %s "$1"; }

# Runs migc compile once; on failure prints the command, status and output
# and stops the benchmark.
migc_compile_or_die() {
    local dir=$1 out=$2 rc=0
    "$MIGC" compile "$dir" -o "$out" "${MIGC_EXTRA[@]}" >"$T/migc.log" 2>&1 || rc=$?
    if (( rc != 0 )); then
        {
            echo "compile.sh: migc failed on the generated input"
            echo "  command: $MIGC compile $dir -o $out ${MIGC_EXTRA[*]}"
            if (( rc > 128 )); then
                echo "  status:  $rc (killed by signal $((rc - 128)))"
            else
                echo "  status:  $rc"
            fi
            echo "  output (first 40 lines):"
            head -n 40 "$T/migc.log" | sed 's/^/    /'
        } >&2
        exit 1
    fi
}

# Peak RSS in KiB of a command (which must succeed).
peak_rss_kib() {
    /usr/bin/time -v -o "$T/time.txt" "$@" >/dev/null 2>"$T/rss.log" ||
        die "$* failed: $(head -n 20 "$T/rss.log")"
    awk -F': ' '/Maximum resident set size/ { print $2 }' "$T/time.txt"
}

# ---- 1. inputs -------------------------------------------------------------

log "generating $COUNT migrations, one ${BIG_BYTES}-byte migration and a tiny folder in $T"
# (each value goes through a variable so that a failure stops the script)
v=$(python3 "$BENCH_DIR/gen_migrations.py" many "$T/many" "$COUNT"); fact many_bytes "$v"
v=$(python3 "$BENCH_DIR/gen_migrations.py" one "$T/one" "$BIG_BYTES"); fact one_bytes "$v"
v=$(python3 "$BENCH_DIR/gen_migrations.py" many "$T/tiny" 1); fact tiny_bytes "$v"
fact many_files "$(find "$T/many" -name '*.sql' | wc -l)"
fact many_largest "$(find "$T/many" -name '*.sql' -printf '%s\n' | sort -n | tail -n 1)"

log "checking that migc compiles the generated folders"
migc_compile_or_die "$T/many" "$T/out.c"
migc_compile_or_die "$T/one" "$T/one.c"

# ---- 2. wall time: migc vs. the floor vs. xxd -i ---------------------------

log "hyperfine: migc vs. read+hash floor (warmup 1, $RUNS runs)"
q() { printf '%q' "$1"; }
hyperfine --warmup 1 --runs "$RUNS" --style basic \
    --export-json "$HF_COMPILE_JSON" \
    -n migc --prepare "rm -f $(q "$T/out.c")" \
    "$(q "$MIGC") compile $(q "$T/many") -o $(q "$T/out.c") ${MIGC_ARGS:-}" \
    -n floor --prepare true \
    "find $(q "$T/many") -name '*.sql' -print0 | sort -z | xargs -0 cat | sha256sum"
log "hyperfine: xxd -i (one run)"
hyperfine --runs 1 --style basic --export-json "$HF_XXD_JSON" \
    -n xxd --prepare "rm -f $(q "$T/xxd_out.c")" \
    "cd $(q "$T/many") && find . -name '*.sql' -print0 | sort -z | xargs -0 -n 1 xxd -i > $(q "$T/xxd_out.c")"
fact out_bytes "$(size_of "$T/out.c")"
fact xxd_bytes "$(size_of "$T/xxd_out.c")"
fact one_out_bytes "$(size_of "$T/one.c")"

# ---- 3. peak memory --------------------------------------------------------

log "peak memory of migc (/usr/bin/time -v)"
v=$(peak_rss_kib "$MIGC" compile "$T/tiny" -o "$T/tiny.c" "${MIGC_EXTRA[@]}"); fact rss_tiny "$v"
v=$(peak_rss_kib "$MIGC" compile "$T/many" -o "$T/rss_many.c" "${MIGC_EXTRA[@]}"); fact rss_many "$v"
v=$(peak_rss_kib "$MIGC" compile "$T/one" -o "$T/rss_one.c" "${MIGC_EXTRA[@]}"); fact rss_one "$v"

# ---- 4. the C compiler on the outputs --------------------------------------

log "checking that migc's output compiles (gcc -std=c11 -c -O0)"
OUTPUT_OK=1
if gcc -std=c11 -c -O0 -I "$INCLUDE" "$T/out.c" -o "$T/out.o" 2>"$T/gcc.log"; then
    fact gcc_plain ok
else
    OUTPUT_OK=0
    fact gcc_plain fail
    {
        echo "compile.sh: migc's output does not compile:"
        echo "  command: gcc -std=c11 -c -O0 -I $INCLUDE $T/out.c -o $T/out.o"
        head -n 20 "$T/gcc.log" | sed 's/^/    /'
        echo "  (timing gcc on the xxd -i output only)"
    } >&2
    printf 'gcc_plain_error=%s\n' \
        "$(grep -m 1 -E 'error' "$T/gcc.log" | sed "s|$T/||g")" >>"$FACTS"
fi

log "hyperfine: gcc -O0 on migc's output vs. on the xxd -i output (warmup 1, $GCC_RUNS runs)"
gcc_cmds=()
if (( OUTPUT_OK )); then
    gcc_cmds+=(-n "gcc migc output"
               "gcc -std=c11 -c -O0 -I $(q "$INCLUDE") $(q "$T/out.c") -o $(q "$T/out.o")")
fi
gcc_cmds+=(-n "gcc xxd output"
           "gcc -std=c11 -c -O0 $(q "$T/xxd_out.c") -o $(q "$T/xxd.o")")
hyperfine --warmup 1 --runs "$GCC_RUNS" --style basic \
    --export-json "$HF_GCC_JSON" "${gcc_cmds[@]}"
(( OUTPUT_OK )) && fact out_o_bytes "$(size_of "$T/out.o")"
fact xxd_o_bytes "$(size_of "$T/xxd.o")"

log "strict compile checks: -std=c11 -Wall -Wextra -Werror -pedantic"
STRICT=(-std=c11 -Wall -Wextra -Werror -pedantic -c -I "$INCLUDE")
for cc in gcc clang; do
    for which in many one; do
        src=$T/out.c
        [[ $which == one ]] && src=$T/one.c
        key=strict_${cc}_${which}
        if [[ $cc == clang && $HAVE_CLANG == 0 ]]; then
            fact "$key" "skipped (no clang)"
        elif "$cc" "${STRICT[@]}" "$src" -o /dev/null 2>"$T/strict.log"; then
            fact "$key" ok
            echo "$cc $which: ok" >&2
        else
            OUTPUT_OK=0
            fact "$key" fail
            echo "$cc $which: FAIL  ($cc ${STRICT[*]} $src)" >&2
            head -n 10 "$T/strict.log" | sed 's/^/    /' >&2
            printf '%s_error=%s\n' "$key" \
                "$(grep -m 1 -E 'error' "$T/strict.log" | sed "s|$T/||g")" >>"$FACTS"
        fi
    done
done

# ---- 5. summary ------------------------------------------------------------

fact elapsed_s "$((SECONDS - START))"
fact migc_version "$("$MIGC" --version 2>&1 | head -n 1)"
fact git_rev "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(
    git -C "$REPO" diff --quiet HEAD -- tools include 2>/dev/null || echo ' (tools/ or include/ modified)')"
fact gcc_version "$(gcc --version | head -n 1)"
fact clang_version "$( (( HAVE_CLANG )) && clang --version | head -n 1 || echo none)"
fact hyperfine_version "$(hyperfine --version)"
fact machine "$(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
fact tmp "$T"
fact migc_args "${MIGC_ARGS:-}"

python3 - "$FACTS" "$HF_COMPILE_JSON" "$HF_GCC_JSON" "$BENCH_OUT" "$HF_XXD_JSON" <<'PY'
import json, sys, time

facts_path, compile_json, gcc_json, out_path, xxd_json = sys.argv[1:]
f = {}
for line in open(facts_path, encoding="utf-8"):
    k, _, v = line.rstrip("\n").partition("=")
    f[k] = v

def results(path):
    return {r["command"]: r for r in json.load(open(path))["results"]}

c = results(compile_json)
c.update(results(xxd_json))
g = results(gcc_json)

def ms(s, unit_of=None):
    """Seconds as ms below 10 s, else s; unit_of picks the unit of another value."""
    ref = s if unit_of is None else unit_of
    return "%.0f ms" % (s * 1e3) if ref < 10 else "%.2f s" % s

def mb(n):
    return "%.2f MB" % (int(n) / 1e6)

def mib_kib(k):
    return "%.1f MiB" % (int(k) / 1024)

def row(name, r):
    u = r["median"]
    sd = "-" if r.get("stddev") is None else ms(r["stddev"], u)
    return "| %s | %s | %s ± %s | %s | %s | %d |" % (
        name, ms(r["median"]), ms(r["mean"], u), sd,
        ms(r["min"], u), ms(r["max"], u), len(r["times"]))

def ratio(a, b):
    return "%.3g×" % (a / b)

tmp = f["tmp"] + "/"
L = []
L.append("# migc compile benchmark")
L.append("")
L.append("%s; %s; %s at %s; %s; %s; %s." % (
    time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), f["machine"],
    f["migc_version"], f["git_rev"], f["hyperfine_version"],
    f["gcc_version"], f["clang_version"]))
if f["migc_args"]:
    L.append("")
    L.append("**migc run with extra arguments `%s` (MIGC_ARGS).**" % f["migc_args"])
L.append("")
L.append("Input: %s golang-migrate files (%s up/down pairs), %s in all, largest "
         "file %s bytes; single-file folder: one %s migration." % (
             "{:,}".format(int(f["many_files"])), "{:,}".format(int(f["many_files"]) // 2),
             mb(f["many_bytes"]), "{:,}".format(int(f["many_largest"])),
             mb(f["one_bytes"])))
L.append("")
L.append("## Wall time (migc and the floor in one hyperfine invocation, warmup 1; xxd once)")
L.append("")
L.append("| command | median | mean ± σ | min | max | runs |")
L.append("| --- | --- | --- | --- | --- | --- |")
L.append(row("migc compile (10,000 migrations)", c["migc"]))
L.append(row("floor: find \\| sort \\| xargs cat \\| sha256sum", c["floor"]))
L.append(row("xxd -i of every file into one C file", c["xxd"]))
L.append("")
L.append("## C compiler on the outputs (gcc -std=c11 -c -O0, one hyperfine invocation, warmup 1)")
L.append("")
L.append("| command | median | mean ± σ | min | max | runs |")
L.append("| --- | --- | --- | --- | --- | --- |")
if "gcc migc output" in g:
    L.append(row("gcc on migc output", g["gcc migc output"]))
else:
    L.append("| gcc on migc output | **does not compile** | | | | |")
L.append(row("gcc on xxd -i output", g["gcc xxd output"]))
L.append("")
L.append("## Summary")
L.append("")
L.append("| figure | value |")
L.append("| --- | --- |")
m, fl, x = c["migc"]["median"], c["floor"]["median"], c["xxd"]["median"]
L.append("| migc compile, median | %s |" % ms(m))
L.append("| floor (read + sha256 every byte), median | %s |" % ms(fl))
L.append("| xxd -i embedding, median | %s |" % ms(x))
L.append("| migc / floor | %s |" % ratio(m, fl))
L.append("| migc / xxd | %s |" % ratio(m, x))
if "gcc migc output" in g:
    gm, gx = g["gcc migc output"]["median"], g["gcc xxd output"]["median"]
    L.append("| gcc -O0 on migc output, median | %s |" % ms(gm))
    L.append("| gcc -O0 on xxd output, median | %s |" % ms(gx))
    L.append("| gcc(migc output) / gcc(xxd output) | %s |" % ratio(gm, gx))
else:
    L.append("| gcc -O0 on migc output | **fail**: `%s` |" %
             f.get("gcc_plain_error", "").replace(tmp, "").replace("|", "\\|").strip())
    L.append("| gcc -O0 on xxd output, median | %s |" % ms(g["gcc xxd output"]["median"]))
    L.append("| gcc(migc output) / gcc(xxd output) | n/a (migc output does not compile) |")
L.append("| migc peak RSS, tiny folder (1 migration, %s bytes) | %s |" % (
    "{:,}".format(int(f["tiny_bytes"])), mib_kib(f["rss_tiny"])))
L.append("| migc peak RSS, 10,000 migrations (%s) | %s |" % (
    mb(f["many_bytes"]), mib_kib(f["rss_many"])))
L.append("| migc peak RSS, one %s migration | %s |" % (
    mb(f["one_bytes"]), mib_kib(f["rss_one"])))
L.append("| migc RSS growth per migration (10,000 migrations vs. tiny) | %.2f KiB |" % (
    (int(f["rss_many"]) - int(f["rss_tiny"])) / (int(f["many_files"]) // 2)))
L.append("| migc RSS growth per input byte (one 10 MB migration vs. tiny) | %.2f B |" % (
    (int(f["rss_one"]) - int(f["rss_tiny"])) * 1024 / int(f["one_bytes"])))
L.append("| input, 10,000 migrations | %s |" % mb(f["many_bytes"]))
L.append("| migc output .c (10,000 migrations) | %s (%.2f× input) |" % (
    mb(f["out_bytes"]), int(f["out_bytes"]) / int(f["many_bytes"])))
L.append("| xxd -i output .c | %s (%.2f× input) |" % (
    mb(f["xxd_bytes"]), int(f["xxd_bytes"]) / int(f["many_bytes"])))
L.append("| migc output .c (one 10 MB migration) | %s |" % mb(f["one_out_bytes"]))
if "out_o_bytes" in f:
    L.append("| object file of migc output (-O0) | %s |" % mb(f["out_o_bytes"]))
L.append("| object file of xxd output (-O0) | %s |" % mb(f["xxd_o_bytes"]))
for cc in ("gcc", "clang"):
    for which, label in (("many", "10,000 migrations"), ("one", "one 10 MB migration")):
        k = "strict_%s_%s" % (cc, which)
        v = f[k]
        if v == "fail":
            v = "**fail**: `%s`" % f.get(k + "_error", "").replace("|", "\\|")
        L.append("| %s -std=c11 -Wall -Wextra -Werror -pedantic, %s | %s |" % (cc, label, v))
L.append("| benchmark wall time | %d s |" % int(f["elapsed_s"]))
L.append("")
text = "\n".join(L)
with open(out_path, "w", encoding="utf-8") as fh:
    fh.write(text)
print(text)
PY

log "summary written to $BENCH_OUT (hyperfine JSON: $HF_COMPILE_JSON, $HF_GCC_JSON)"
if (( ! OUTPUT_OK )); then
    echo "compile.sh: FAILED: migc's output did not compile cleanly (see above)" >&2
    exit 1
fi
