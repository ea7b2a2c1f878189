#!/usr/bin/env bash
# The runtime never touches the file system and sends the server only what
# it should.  The example service (docservice, which embeds migrations/)
# runs from an empty folder against a fresh database, seven times: a first
# start (applies the 14 migrations, then does its work), a second start
# (nothing to migrate), --migrate-status, --migrate-status=json,
# --print-schema-plan, --migrate-down=all and --migrate-only.
#
# 1. Each run is traced with `strace -f` (open, openat, openat2, creat and
#    every call that creates, renames, removes or links a file).  The service
#    must not open anything under the repository's migrations/ folder (nor
#    any path mentioning "migrations" or ending in .sql), must not open any
#    file for writing (O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND) other
#    than /dev/null-like devices, and must make none of the other calls.
#    The folder it ran from stays empty.
# 2. The database has log_statement = 'all'.  Every statement the server
#    logs for it during each run must be either a statement of the catalog
#    (a verbatim slice, whitespace aside, of migrations/*.up.sql -- or
#    *.down.sql during --migrate-down), or migc's bookkeeping (mentions
#    migc_history, pg_catalog.set_config, pg_try_advisory_lock /
#    pg_advisory_unlock, pg_settings / current_setting, pg_is_in_recovery,
#    pg_namespace, the head's pg_sequence_last_value / pg_trigger, or is
#    BEGIN / COMMIT / ROLLBACK / SET / RESET), or the
#    service's own work (users, repositories, documents, document_versions).
#    Anything else is listed as a failure.  As a control, every up script
#    must have been seen at least once, and so must some bookkeeping.
#
# usage: pgfix_run test_runtime_io.sh DOCSERVICE SOURCE_DIR
#   MIGC_TEST_WRAPPER_FILES (set by tests/valgrind.sh, where DOCSERVICE is
#   a wrapper that runs the service under valgrind): an extended regular
#   expression (Python's re) for the paths of the wrapper's own files --
#   valgrind's temporary files and its report.  A traced call whose every
#   path matches it is left out of check 1; nothing else changes.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
service=$(abs "$1")
src=$(abs "$2")

if ! command -v strace > /dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
        apt-get install -y strace > /dev/null 2>&1 ||
            { apt-get update > /dev/null 2>&1 &&
              apt-get install -y strace > /dev/null 2>&1; }
    fi
    command -v strace > /dev/null || {
        echo "strace is missing (apt-get install strace)" >&2
        echo "0 passed, 1 failed"
        exit 1
    }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/migc-sec-io.XXXXXX")
trap 'rm -rf "$work"' EXIT
empty=$work/empty
mkdir "$empty" "$work/traces"
log=$PGFIX_SERVER_LOG

# A known log line prefix, with the database and application names.
prefix='%m [%p] <%d> <%a> '
psql_db postgres -c "ALTER SYSTEM SET log_line_prefix = '$prefix'" \
    -c "SELECT pg_reload_conf()" > /dev/null
for _ in $(seq 100); do
    [ "$(psql_db postgres -c "SHOW log_line_prefix")" = "$prefix" ] && break
    sleep 0.1
done
check_eq "the log line prefix is in effect" \
    "$(psql_db postgres -c "SHOW log_line_prefix")" "$prefix"
psql_db postgres -c "CREATE DATABASE rt_io" \
    -c "ALTER DATABASE rt_io SET log_statement = 'all'"
url="host=$PGHOST port=$PGPORT user=$PGUSER dbname=rt_io application_name=migc_sec_io"

# run NAME ARGS...: one traced run; its log window goes to windows.txt as
# "name start end kind" (kind: down when down scripts may run).
: > "$work/windows.txt"
run() {
    local name=$1 kind=up
    shift
    case "$*" in *--migrate-down*) kind=down ;; esac
    local start end rc
    start=$(stat -c %s "$log")
    # LeakSanitizer cannot run under ptrace: in a sanitizer build, leaks
    # are left to the other tests.
    (cd "$empty" && DATABASE_URL=$url \
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        strace -f -qq -o "$work/traces/$name" \
        -e trace=open,openat,openat2,creat,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat,rmdir,link,linkat,symlink,symlinkat,truncate,mknod,mknodat \
        "$service" "$@") > "$work/$name.out" 2>&1
    rc=$?
    check_eq "[$name] exit status ($(tail -n 3 "$work/$name.out"))" "$rc" 0
    sleep 0.3   # the server writes its log asynchronously to us
    end=$(stat -c %s "$log")
    echo "$name $start $end $kind" >> "$work/windows.txt"
}
run first-start
check "first start: applied 14 migrations" \
    test "$(grep -c 'migc: applied' "$work/first-start.out")" = 14
check "first start: did its work" \
    grep -q 'document 1 "Onboarding"' "$work/first-start.out"
run second-start
check "second start: nothing to migrate" \
    grep -q "up to date" "$work/second-start.out"
run status --migrate-status
run status-json --migrate-status=json
run plan --print-schema-plan
run down-all --migrate-down=all
run migrate-only --migrate-only
check_eq "the folder the service ran from is still empty" \
    "$(ls -A "$empty")" ""

# --- 1. the system calls ---------------------------------------------------
python3 - "$work/traces" "$src/migrations" "${MIGC_TEST_WRAPPER_FILES:-}" \
    > "$work/syscalls.txt" << 'EOF'
import os, re, sys
traces, migrations = sys.argv[1], os.path.realpath(sys.argv[2])
wrapper_files = re.compile(sys.argv[3]) if sys.argv[3] else None
devices = re.compile(r'^/dev/(null|zero|u?random|tty|pts/\d+|stdout|stderr)$')
write_flags = ('O_WRONLY', 'O_RDWR', 'O_CREAT', 'O_TRUNC', 'O_APPEND')
opens = 0
bad = []
for name in sorted(os.listdir(traces)):
    for line in open(os.path.join(traces, name), errors='replace'):
        m = re.match(r'^(\d+\s+)?(\w+)\((.*)$', line)
        if not m:
            continue
        call, rest = m.group(2), m.group(3)
        paths = re.findall(r'"((?:[^"\\]|\\.)*)"', rest)
        if wrapper_files and paths and all(wrapper_files.search(p)
                                           for p in paths):
            continue
        if call in ('open', 'openat', 'openat2'):
            opens += 1
            path = paths[0] if paths else ''
            full = os.path.realpath(path) if path.startswith('/') else path
            if (full.startswith(migrations + '/') or full == migrations or
                    'migrations' in path or path.endswith('.sql')):
                bad.append(f'{name}: opened a migration file: {line.strip()}')
            flags = rest.split(', ')[1:] if call == 'open' else rest.split(', ')[2:]
            flags = ' '.join(flags)
            if any(f in flags for f in write_flags) and not devices.match(path):
                bad.append(f'{name}: opened for writing: {line.strip()}')
        else:
            bad.append(f'{name}: {call}: {line.strip()}')
print(f'opens {opens}')
for b in bad:
    print(b)
EOF
opens=$(sed -n 's/^opens //p' "$work/syscalls.txt")
check "strace saw the service open files (the trace works)" test "${opens:-0}" -gt 10
bad=$(grep -v '^opens ' "$work/syscalls.txt")
check_eq "no migration file opened, nothing opened for writing, no file created, renamed or removed" \
    "$bad" ""

# --- 2. the statements the server received ----------------------------------
python3 - "$log" "$work/windows.txt" "$src/migrations" > "$work/statements.txt" << 'EOF'
import os, re, sys
log_path, windows_path, migrations = sys.argv[1:4]
data = open(log_path, 'rb').read()

def norm(s):
    return ' '.join(s.split())

scripts = {'up': {}, 'down': {}}
for f in sorted(os.listdir(migrations)):
    for kind in ('up', 'down'):
        if f.endswith(f'.{kind}.sql'):
            scripts[kind][f] = norm(open(os.path.join(migrations, f)).read())

record_start = re.compile(
    r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \S+ \[(\d+)\] <([^>]*)> <([^>]*)> '
    r'(\w+):  (.*)$')
statement = re.compile(r'^(statement|execute [^:]*): (.*)$', re.S)
bookkeeping = [re.compile(p, re.I | re.S) for p in (
    r'migc_history', r'pg_catalog\.set_config', r'pg_try_advisory_lock',
    r'pg_advisory_unlock', r'pg_settings', r'current_setting',
    r'pg_is_in_recovery', r'pg_namespace', r'pg_sequence_last_value', r'pg_trigger',
    r'^\s*(BEGIN|COMMIT|ROLLBACK|SET|RESET)\b')]
work = re.compile(r'\b(users|repositories|documents|document_versions)\b', re.I)

seen_scripts = set()
counts = {'catalog': 0, 'bookkeeping': 0, 'work': 0}
apps = set()
problems = []
for line in open(windows_path):
    name, start, end, kind = line.split()
    text = data[int(start):int(end)].decode('utf-8', 'replace')
    records = []
    for raw in text.split('\n'):
        m = record_start.match(raw)
        if m:
            records.append([m.group(3), m.group(4), m.group(5), m.group(6)])
        elif records and raw:
            records[-1][3] += '\n' + raw   # a statement's next line
    for db, app, level, msg in records:
        if level != 'LOG' or db != 'rt_io':
            continue
        m = statement.match(msg)
        if not m:
            continue
        apps.add(app)
        sql = m.group(2)
        n = norm(sql)
        hit = [f for f, body in scripts[kind].items() if n and n in body]
        if hit and len(n) > 8:
            counts['catalog'] += 1
            seen_scripts.update(hit)
        elif any(p.search(sql) for p in bookkeeping):
            counts['bookkeeping'] += 1
        elif work.search(sql):
            counts['work'] += 1
        else:
            problems.append(f'{name}: unexpected statement from {app!r}: {sql}')
print('counts', counts['catalog'], counts['bookkeeping'], counts['work'])
print('apps', ','.join(sorted(apps)))
for f in sorted(scripts['up']):
    if f not in seen_scripts:
        problems.append(f'control: no statement of {f} was seen in the log')
for p in problems:
    print('problem', p)
EOF
read -r _ n_catalog n_bookkeeping n_work < <(grep '^counts ' "$work/statements.txt")
echo "  statements logged: ${n_catalog:-0} from the catalog, ${n_bookkeeping:-0} bookkeeping, ${n_work:-0} the service's work"
check "catalog statements were logged" test "${n_catalog:-0}" -gt 0
check "bookkeeping statements were logged" test "${n_bookkeeping:-0}" -gt 0
check "the service's work was logged" test "${n_work:-0}" -gt 0
check_eq "every statement came from the service's connection" \
    "$(sed -n 's/^apps //p' "$work/statements.txt")" migc_sec_io
problems=$(sed -n 's/^problem //p' "$work/statements.txt")
check_eq "only catalog, bookkeeping and work statements; every up script seen" \
    "$problems" ""

finish
