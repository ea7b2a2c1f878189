#!/usr/bin/env bash
# The whole test suite under valgrind's memcheck: every test ctest knows
# (`ctest -N`), with every program of ours that a test runs under memcheck
# -- the test programs themselves, pgfix_run, the fuzz replay programs,
# `migc` and the example service `docservice` that the shell tests run, and
# the consumer projects' programs and their migc -- and the tests' own
# checks as usual.  A test passes when it passes and memcheck found no
# invalid access, no use of uninitialized memory and no definite leak in
# any of those processes.
#
# How: the test list and each test's command and working directory come
# from `ctest --show-only=json-v1`, so a new test is covered without a
# change here.  In a test's command, every argument that is an ELF
# executable of the build folder (the test program, or a binary handed to
# a shell test, such as migc or docservice) is replaced by a wrapper
# script (BUILD/valgrind/bin/NAME) that execs it under valgrind.  Tests
# that run a program not named in their command get the generic wrapper in
# MIGC_TEST_WRAPPER (tests/consumers/test_consumers.sh), and the test that
# traces the service's file system calls learns valgrind's own files from
# MIGC_TEST_WRAPPER_FILES (tests/security/test_runtime_io.sh).  Every valgrind
# process writes its report to BUILD/valgrind/logs/TEST/PROGRAM.PID.log;
# with -q a report holds errors only, so a non-empty report fails the
# test.  A test none of whose processes ran under valgrind fails too (a
# hook that stopped working).
#
# Forked children (the replicas, herds and migrators of the C tests) are
# processes of the same valgrind.  --child-silent-after-fork=yes keeps
# their reports out, but memcheck still counts their errors and makes such
# a child exit with status 86 (--error-exitcode), which the tests check as
# a wrong exit status.  Except in the tests that kill their migrators with
# SIGKILL at random moments (KILL_TESTS below): a killed child's exit
# status is SIGKILL's, so there each forked child writes a report of its
# own (--child-silent-after-fork=no, PROGRAM.PID.log with its own pid).
# memcheck writes an error down the moment it finds it, so an error before
# the kill is in the report; a killed process reports no leaks, and its
# leaks are not errors.  MIGC_VALGRIND_CHILDREN=1 does the same for every
# test (to see the report of a child that exited 86).  Programs that are
# not ours (psql, pg_ctl, postgres, pgbouncer, strace, python3, the shell)
# run natively: no --trace-children.
#
# Scale: MIGC_TEST_QUICK=1 is set, and the tests that repeat the same work
# many times (rounds of replicas, herds of processes, kill trials, hostile
# names through the command line) run fewer repetitions, each checked in
# full; each test's header says what it reduces.  Two tests run at a time
# (MIGC_VALGRIND_JOBS, default: the number of CPUs, at most 2), the
# slowest first.
#
# usage: tests/valgrind.sh BUILD_DIR [TEST_REGEX]
#   TEST_REGEX (a regular expression on the test name) runs a subset.
#   MIGC_VALGRIND_JOBS: tests at a time; MIGC_VALGRIND_TIMEOUT: seconds a
#   test may take (default 900); MIGC_VALGRIND_CHILDREN=1: see above.
# Prints one line per test with its time, then "valgrind: N passed, N
# failed (T s)"; exits 0 only when every test passed.  A test's output is
# in BUILD/valgrind/out/TEST.log.
set -u
if [ $# -lt 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 BUILD_DIR [TEST_REGEX]" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
filter=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v valgrind > /dev/null || { echo "valgrind is missing" >&2; exit 2; }
out=$build/valgrind
rm -rf "$out"
mkdir -p "$out/bin" "$out/logs" "$out/cmd" "$out/out"

# Tests whose forked children are killed with SIGKILL (see above).
KILL_TESTS='^(test_kill|test_kill_random)$'
child_status=86
# (--child-silent-after-fork comes from $MIGC_VALGRIND_CHILD_SILENT, set
# per test when the wrapper runs.)
vg_opts="-q --error-exitcode=$child_status --leak-check=full \
--show-leak-kinds=definite --errors-for-leak-kinds=definite \
--child-silent-after-fork=\${MIGC_VALGRIND_CHILD_SILENT:-yes} \
--vgdb=no --num-callers=40"

# The generic wrapper: valgrind, then the command.  Its report goes to
# $MIGC_VALGRIND_LOGS (set per test), named after the program.
cat > "$out/bin/valgrind-wrap" << EOF
#!/bin/sh
# Runs a command under valgrind's memcheck (tests/valgrind.sh).
exec valgrind $vg_opts \\
    --log-file="\${MIGC_VALGRIND_LOGS:?}/\$(basename "\$1").%p.log" "\$@"
EOF
chmod +x "$out/bin/valgrind-wrap"

# The tests: for each, BUILD/valgrind/cmd/NAME.sh runs its command with
# our executables wrapped.  Listed slowest first, by their usual time here
# (seconds, alone on 2 CPUs; a test not listed counts as slowest).
ctest --test-dir "$build" --show-only=json-v1 > "$out/tests.json" || exit 2
python3 - "$out" "$build" "$filter" "$vg_opts" > "$out/order.txt" \
    << 'EOF' || exit 2
import json, os, re, shlex, sys
out, build, pattern, opts = sys.argv[1:5]
tests = json.load(open(os.path.join(out, 'tests.json')))['tests']
times = {
    'security_passwords': 77, 'consumers': 58, 'cli': 40,
    'security_identifiers_cli': 39, 'test_kill': 38, 'test_formats': 34,
    'golden': 30, 'security_tls': 29, 'test_kill_random': 27,
    'security_identifiers': 18, 'test_runtime': 17, 'test_pgbouncer': 14,
    'security_runtime_io': 12, 'test_catalog_apply': 7, 'test_herd64': 7,
    'test_example': 6, 'test_server_faults': 6, 'test_standby': 5,
    'test_replicas': 5, 'fuzz_split_replay': 2, 'fuzz_folder_replay': 2,
    'test_roundtrip': 1, 'test_scanner': 1,
}

def ours(path):
    """An ELF executable in the build folder."""
    if not path.startswith(build + '/') or not os.path.isfile(path):
        return False
    if not os.access(path, os.X_OK) or path.startswith(out + '/'):
        return False
    with open(path, 'rb') as f:
        return f.read(4) == b'\x7fELF'

wrappers = {}
def wrapper(path):
    if path not in wrappers:
        name = os.path.basename(path)
        while name in wrappers.values():
            name += '_'
        wrappers[path] = name
        with open(os.path.join(out, 'bin', name), 'w') as f:
            f.write('#!/bin/sh\n# %s under valgrind (tests/valgrind.sh)\n'
                    'exec valgrind %s \\\n    --log-file="${MIGC_VALGRIND_LOGS:?}'
                    '/%s.%%p.log" %s "$@"\n'
                    % (path, opts, name, shlex.quote(path)))
        os.chmod(os.path.join(out, 'bin', name), 0o755)
    return os.path.join(out, 'bin', wrappers[path])

names = []
for t in tests:
    name = t['name']
    if pattern and not re.search(pattern, name):
        continue
    props = {p['name']: p['value'] for p in t.get('properties', [])}
    cwd = props.get('WORKING_DIRECTORY', build)
    args = [wrapper(a) if ours(a) else a for a in t['command']]
    with open(os.path.join(out, 'cmd', name + '.sh'), 'w') as f:
        f.write('cd %s || exit 2\nexec %s\n'
                % (shlex.quote(cwd), ' '.join(shlex.quote(a) for a in args)))
    names.append(name)
# Slowest first; unknown times count as slow.
names.sort(key=lambda n: -times.get(n, 1e9))
print('\n'.join(names))
EOF
mapfile -t tests < "$out/order.txt"
if [ ${#tests[@]} -eq 0 ]; then
    echo "valgrind: no test matches" >&2
    exit 2
fi

jobs=${MIGC_VALGRIND_JOBS:-$(nproc)}
[ "$jobs" -gt 2 ] && [ -z "${MIGC_VALGRIND_JOBS:-}" ] && jobs=2
[ "$jobs" -ge 1 ] || jobs=1

# valgrind's own files, for the test that traces the service's file
# system calls (tests/security/test_runtime_io.sh): its temporary files
# and the reports.
own_files="/valgrind_proc_[0-9]+_(cmdline|auxv)_[0-9a-f]+\$|^$(printf '%s/' "$out" |
    sed 's/[][\.*^$+?(){}|]/\\&/g')"

# Runs one test; writes BUILD/valgrind/out/NAME.{log,status,secs}.
run_test() { # name
    local name=$1 logs=$out/logs/$1 start rc
    mkdir -p "$logs"
    local silent=yes
    if [ "${MIGC_VALGRIND_CHILDREN:-0}" = 1 ] || [[ $name =~ $KILL_TESTS ]]; then
        silent=no
    fi
    start=$(date +%s.%N)
    MIGC_VALGRIND_LOGS=$logs MIGC_TEST_QUICK=1 \
        MIGC_VALGRIND_CHILD_SILENT=$silent \
        MIGC_TEST_WRAPPER="$out/bin/valgrind-wrap" \
        MIGC_TEST_WRAPPER_FILES="$own_files" \
        timeout -k 30 "${MIGC_VALGRIND_TIMEOUT:-900}" \
        bash "$out/cmd/$name.sh" > "$out/out/$name.log" 2>&1 < /dev/null
    rc=$?
    echo "$rc" > "$out/out/$name.status"
    awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", b - a }' \
        > "$out/out/$name.secs"
}

# Judges a finished test; prints its line (and what went wrong).
passed=0
failed=0
judge() { # name
    local name=$1 logs=$out/logs/$1 rc secs reports bad=()
    rc=$(cat "$out/out/$name.status")
    secs=$(cat "$out/out/$name.secs")
    reports=$(find "$logs" -name '*.log' | wc -l)
    mapfile -t bad < <(find "$logs" -name '*.log' -size +0c | sort)
    if [ "$rc" -eq 0 ] && [ ${#bad[@]} -eq 0 ] && [ "$reports" -gt 0 ]; then
        passed=$((passed + 1))
        printf 'valgrind: %-26s ok      %6.1f s  (%d processes)\n' \
            "$name" "$secs" "$reports"
        return
    fi
    failed=$((failed + 1))
    printf 'valgrind: %-26s FAILED  %6.1f s  (exit %s, %d processes, %d reports with errors)\n' \
        "$name" "$secs" "$rc" "$reports" "${#bad[@]}" >&2
    [ "$reports" -gt 0 ] ||
        echo "  no process of this test ran under valgrind" >&2
    [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] &&
        echo "  timed out after ${MIGC_VALGRIND_TIMEOUT:-900} s" >&2
    local f
    for f in "${bad[@]:0:5}"; do
        echo "  ---- $f ----" >&2
        head -n 80 "$f" | sed 's/^/  | /' >&2
    done
    if [ "$rc" -ne 0 ]; then
        echo "  ---- tail of the test's output ($out/out/$name.log) ----" >&2
        tail -n 40 "$out/out/$name.log" | sed 's/^/  | /' >&2
        echo "  (a forked child with memcheck errors exits $child_status: rerun" \
            "with MIGC_VALGRIND_CHILDREN=1 $0 $build '^$name\$' to see its" \
            "report)" >&2
    fi
}

cd "$root"
t0=$(date +%s)
declare -A running=()  # pid -> test name
next=0
while [ $next -lt ${#tests[@]} ] || [ ${#running[@]} -gt 0 ]; do
    while [ $next -lt ${#tests[@]} ] && [ ${#running[@]} -lt "$jobs" ]; do
        run_test "${tests[$next]}" &
        running[$!]=${tests[$next]}
        next=$((next + 1))
    done
    wait -n
    for pid in "${!running[@]}"; do
        if ! kill -0 "$pid" 2> /dev/null; then
            wait "$pid"
            judge "${running[$pid]}"
            unset "running[$pid]"
        fi
    done
done
echo "valgrind: $passed passed, $failed failed ($(($(date +%s) - t0)) s)"
[ "$failed" -eq 0 ]
