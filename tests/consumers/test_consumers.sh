#!/usr/bin/env bash
# The four ways a project uses migc, each built for real in a temporary
# folder and run against a fresh database:
#   subdirectory/  add_subdirectory(<migc source> migc) + add_migrations()
#   fetchcontent/  FetchContent from a tarball of the working tree
#   find_package/  find_package(migc CONFIG) after `cmake --install --prefix`,
#                  with a second executable on migc::runtime_shared
#   makefile/      a plain Makefile: the installed migc command + pkg-config
# Each consumer's binary must apply its migrations and print "ok <name>".
#
# Then add_migrations()'s build behaviour, on the subdirectory consumer:
#   Ninja:  (1) an unchanged rebuild does no work; (2) editing a migration
#           regenerates the catalog and the binary applies the new content;
#           (3) adding and removing a migration file are picked up by a plain
#           `cmake --build`; (4) a regeneration that changes nothing (a
#           touched migration, a README added) recompiles none of the
#           consumer's objects, and the build after it does no work.
#   Make:   (1) to (3), where (1) means migc does not run again.
#
# usage: pgfix_run test_consumers.sh REPO_ROOT
#   (pgfix_run exports DATABASE_URL, PGHOST, PGPORT, PGUSER, PG_BINDIR)
# Everything is built under a temporary folder, removed at exit unless
# MIGC_CONSUMERS_KEEP=1.  Prints "N passed, N failed" last.
#
# MIGC_TEST_WRAPPER (set by tests/valgrind.sh): a command prefix (split on
# spaces) put before every program of migc's that the test runs -- each
# consumer binary, and migc wherever a build runs it: the CMake builds get
# a launcher for their custom commands (the global property
# RULE_LAUNCH_CUSTOM, set from a CMAKE_PROJECT_INCLUDE file) that runs
# migc under the prefix and any other command as it is, and the Makefile
# build finds first on PATH a `migc` that runs the installed one under
# the prefix.  The builds and the checks are otherwise the same.
set -u

if [ $# -lt 1 ] || [ ! -f "$1/cmake/migcAddMigrations.cmake" ]; then
    echo "usage: pgfix_run $0 REPO_ROOT" >&2
    exit 2
fi
root=$(cd "$1" && pwd)
here="$root/tests/consumers"
for v in PGHOST PGPORT PGUSER PG_BINDIR; do
    if [ -z "${!v:-}" ]; then
        echo "$v is not set: run this under pgfix_run" >&2
        exit 2
    fi
done
psql="$PG_BINDIR/psql"
jobs=2
work=$(mktemp -d "${TMPDIR:-/tmp}/migc-consumers.XXXXXX")
if [ "${MIGC_CONSUMERS_KEEP:-0}" = 1 ]; then
    echo "keeping $work"
else
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work/src" "$work/logs"

# MIGC_TEST_WRAPPER: the prefix, and the CMake builds' launcher.
wrap=()
cmake_wrap=()
if [ -n "${MIGC_TEST_WRAPPER:-}" ]; then
    read -r -a wrap <<< "$MIGC_TEST_WRAPPER"
    mkdir -p "$work/wrap/bin"
    cat > "$work/wrap/launch" << 'LAUNCH'
#!/bin/sh
# RULE_LAUNCH_CUSTOM: migc under $MIGC_TEST_WRAPPER, anything else as is.
case ${1##*/} in
migc) exec $MIGC_TEST_WRAPPER "$@" ;;
esac
exec "$@"
LAUNCH
    chmod +x "$work/wrap/launch"
    printf 'set_property(GLOBAL PROPERTY RULE_LAUNCH_CUSTOM "%s")\n' \
        "$work/wrap/launch" > "$work/wrap/launch.cmake"
    cmake_wrap=(-DCMAKE_PROJECT_INCLUDE="$work/wrap/launch.cmake")
fi
# The consumers share their program: ../common beside each copy.
cp -R "$here/common" "$work/src/common"

passed=0
failed=0
started=$(date +%s)
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

# Runs a command with its output in $work/logs/NAME.log (the last output is
# also in $out); on failure prints the command and the log's tail.
out=""
nlog=0
run() { # name, command...
    local name=$1
    shift
    nlog=$((nlog + 1))
    out="$work/logs/$(printf %02d $nlog)-$name.log"
    "$@" > "$out" 2>&1
    local rc=$?
    if [ $rc -ne 0 ]; then
        echo "  command failed (exit $rc): $*"
        tail -n 40 "$out" | sed 's/^/  | /'
    fi
    return $rc
}
# A check that runs a command: pass or fail by its status.
step() { # description, name, command...
    local what=$1
    shift
    if run "$@"; then pass "$what"; return 0; else fail "$what"; return 1; fi
}
# Checks on the last output.
out_has() { # description, fixed string
    if grep -qF -- "$2" "$out"; then
        pass "$1"
    else
        fail "$1: no \"$2\" in the output of the last command:"
        tail -n 40 "$out" | sed 's/^/  | /'
    fi
}
out_lacks() { # description, extended regex
    if grep -qE -- "$2" "$out"; then
        fail "$1: the output of the last command has /$2/:"
        grep -E -- "$2" "$out" | head -n 20 | sed 's/^/  | /'
    else
        pass "$1"
    fi
}
file_has() { # description, file, fixed string
    if grep -qF -- "$3" "$2" 2> /dev/null; then pass "$1"; else
        fail "$1: no \"$3\" in $2"; fi
}
file_lacks() { # description, file, fixed string
    if [ -f "$2" ] && ! grep -qF -- "$3" "$2"; then pass "$1"; else
        fail "$1: \"$3\" still in $2 (or no file)"; fi
}

# psql on database $1.
sql() { # db, psql args...
    local db=$1
    shift
    PGOPTIONS='-c client_min_messages=warning' \
        "$psql" -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"
}
ndb=0
db=""
# A fresh, empty database; its name in $db.
newdb() {
    ndb=$((ndb + 1))
    db="consumer_$ndb"
    sql postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
}
# Runs a consumer binary on a fresh database: exit 0 and "ok NAME".
# The database stays in $db for further checks.
run_consumer() { # description, binary, name
    if ! newdb; then fail "$1: cannot create a database"; return 1; fi
    if run "run-$3" env DATABASE_URL="host=$PGHOST port=$PGPORT user=$PGUSER dbname=$db" \
        ${wrap[@]+"${wrap[@]}"} "$2" &&
        grep -qx "ok $3" "$out"; then
        pass "$1"
        return 0
    fi
    fail "$1: expected exit 0 and \"ok $3\""
    sed 's/^/  | /' "$out" | tail -n 40
    return 1
}
# Checks a query's single value on $db.
db_value() { # description, expected, query
    local got
    got=$(sql "$db" -At -c "$3" 2>&1)
    if [ "$got" = "$2" ]; then pass "$1"; else
        fail "$1: $3 gave \"$got\", expected \"$2\""; fi
}
has_column() { # table, column
    echo "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '$1' AND column_name = '$2'"
}
has_table() { # table
    echo "SELECT to_regclass('public.$1') IS NOT NULL"
}
# Timestamps may have a one-second granularity: edit only after a tick.
tick() { sleep 1; }
section() { echo; echo "== $* ($(($(date +%s) - started))s) =="; }

# The subdirectory consumer's migrations after each edit of the tests below.
edit_notes() { # migrations dir
    sed -i 's/body text NOT NULL/body text NOT NULL, edited_marker text/' \
        "$1/000001_create_notes.up.sql"
}
add_tags() { # migrations dir
    printf 'CREATE TABLE tags (name text PRIMARY KEY);\n' \
        > "$1/000003_create_tags.up.sql"
    printf 'DROP TABLE tags;\n' > "$1/000003_create_tags.down.sql"
}
remove_tags() { # migrations dir
    rm -f "$1/000003_create_tags.up.sql" "$1/000003_create_tags.down.sql"
}

# add_subdirectory() with generator $1; the build-behaviour checks.
subdirectory() { # generator, tag
    local gen=$1 tag=$2
    local src="$work/src/subdirectory-$tag" bld="$work/build/subdirectory-$tag"
    local catalog="$bld/migc/consumer/consumer_migrations.c"
    local mig="$src/migrations"
    cp -R "$here/subdirectory" "$src"
    section "subdirectory, $gen"
    step "subdirectory/$tag: configure (add_subdirectory)" configure \
        cmake -S "$src" -B "$bld" -G "$gen" -DMIGC_SOURCE_DIR="$root" \
        ${cmake_wrap[@]+"${cmake_wrap[@]}"} || return
    step "subdirectory/$tag: build" build cmake --build "$bld" -j $jobs || return
    run_consumer "subdirectory/$tag: consumer applies its migrations" \
        "$bld/consumer" subdirectory || return
    db_value "subdirectory/$tag: created_at column (migration 2) applied" 1 \
        "$(has_column notes created_at)"

    # (1) an unchanged rebuild
    if step "(1) subdirectory/$tag: unchanged rebuild succeeds" rebuild \
        cmake --build "$bld" -j $jobs; then
        if [ "$gen" = Ninja ]; then
            out_has "(1) subdirectory/$tag: unchanged rebuild does no work" \
                "ninja: no work to do."
        else
            out_lacks "(1) subdirectory/$tag: unchanged rebuild does not run migc" \
                "Compiling migrations"
            out_lacks "(1) subdirectory/$tag: unchanged rebuild compiles and links nothing" \
                "Building C object|Linking C"
        fi
    fi

    # (2) editing a migration
    cp "$catalog" "$work/catalog-before-edit-$tag.c"
    tick
    edit_notes "$mig"
    if step "(2) subdirectory/$tag: build after editing a migration" \
        edit cmake --build "$bld" -j $jobs; then
        out_has "(2) subdirectory/$tag: the edit ran migc" "Compiling migrations"
        if cmp -s "$catalog" "$work/catalog-before-edit-$tag.c"; then
            fail "(2) subdirectory/$tag: the catalog did not change after the edit"
        else
            pass "(2) subdirectory/$tag: the catalog changed after the edit"
        fi
        file_has "(2) subdirectory/$tag: the catalog has the edited SQL" \
            "$catalog" "edited_marker"
        if run_consumer "(2) subdirectory/$tag: edited consumer runs" \
            "$bld/consumer" subdirectory; then
            db_value "(2) subdirectory/$tag: the edited migration was applied" 1 \
                "$(has_column notes edited_marker)"
        fi
    fi
    cp "$catalog" "$work/catalog-after-edit-$tag.c"

    # (3) adding and removing a migration file
    tick
    add_tags "$mig"
    if step "(3) subdirectory/$tag: build after adding a migration" \
        add cmake --build "$bld" -j $jobs; then
        file_has "(3) subdirectory/$tag: the catalog has the added migration" \
            "$catalog" "000003_create_tags.up.sql"
        if run_consumer "(3) subdirectory/$tag: consumer with the added migration runs" \
            "$bld/consumer" subdirectory; then
            db_value "(3) subdirectory/$tag: the added migration was applied" t \
                "$(has_table tags)"
        fi
    fi
    tick
    remove_tags "$mig"
    if step "(3) subdirectory/$tag: build after removing a migration" \
        remove cmake --build "$bld" -j $jobs; then
        file_lacks "(3) subdirectory/$tag: the catalog lost the removed migration" \
            "$catalog" "000003_create_tags"
        if cmp -s "$catalog" "$work/catalog-after-edit-$tag.c"; then
            pass "(3) subdirectory/$tag: the catalog is byte-identical to before the addition"
        else
            fail "(3) subdirectory/$tag: the catalog differs from before the addition"
        fi
        if run_consumer "(3) subdirectory/$tag: consumer without the removed migration runs" \
            "$bld/consumer" subdirectory; then
            db_value "(3) subdirectory/$tag: the removed migration was not applied" f \
                "$(has_table tags)"
        fi
    fi
    if step "(3) subdirectory/$tag: the build after the removal is stable" \
        after-remove cmake --build "$bld" -j $jobs; then
        if [ "$gen" = Ninja ]; then
            out_has "(3) subdirectory/$tag: the build after the removal does no work" \
                "ninja: no work to do."
        else
            out_lacks "(3) subdirectory/$tag: the build after the removal does not run migc" \
                "Compiling migrations"
        fi
    fi

    [ "$gen" = Ninja ] || return 0
    # (4) a regeneration that changes nothing
    local how
    for how in touch readme; do
        local stamp
        stamp=$(stat -c %y "$catalog")
        tick
        if [ $how = touch ]; then
            touch "$mig/000002_add_notes_created_at.up.sql"
            how="touched migration"
        else
            printf '# Notes\n' > "$mig/README.md"
            how="README.md added"
        fi
        if step "(4) subdirectory/$tag: build after no-op change ($how)" \
            noop cmake --build "$bld" -j $jobs; then
            out_has "(4) subdirectory/$tag: $how: migc ran" "Compiling migrations"
            out_lacks "(4) subdirectory/$tag: $how: no object recompiled, nothing relinked" \
                "Building C object|Linking C"
            if [ "$(stat -c %y "$catalog")" = "$stamp" ]; then
                pass "(4) subdirectory/$tag: $how: the catalog was left untouched"
            else
                fail "(4) subdirectory/$tag: $how: the catalog's time stamp changed"
            fi
        fi
        if step "(4) subdirectory/$tag: $how: the next build succeeds" \
            noop-next cmake --build "$bld" -j $jobs; then
            out_has "(4) subdirectory/$tag: $how: the next build does no work" \
                "ninja: no work to do."
        fi
    done
}

# FetchContent from a tarball of the working tree (tracked and untracked,
# not ignored: no build folders).
fetchcontent() {
    local src="$work/src/fetchcontent" bld="$work/build/fetchcontent"
    local tarball="$work/migc-src.tar.gz"
    section "fetchcontent"
    cp -R "$here/fetchcontent" "$src"
    mkdir -p "$work/tree"
    if git -C "$root" rev-parse --is-inside-work-tree > /dev/null 2>&1; then
        (cd "$root" && git ls-files -z --cached --others --exclude-standard |
            while IFS= read -r -d '' f; do
                [ -f "$f" ] && printf '%s\0' "$f"
            done | tar --null -T - -cf - | tar -C "$work/tree" -xf -)
    else
        tar -C "$root" --exclude='./build*' --exclude='./_build*' \
            --exclude=./.git -cf - . | tar -C "$work/tree" -xf -
    fi
    step "fetchcontent: tarball of the source tree" tarball \
        tar -C "$work/tree" -czf "$tarball" . || return
    local sha
    sha=$(sha256sum "$tarball" | cut -d' ' -f1)
    step "fetchcontent: configure (FetchContent_Declare URL file://)" configure \
        cmake -S "$src" -B "$bld" -G Ninja -DMIGC_URL="file://$tarball" \
        -DMIGC_URL_SHA256="$sha" ${cmake_wrap[@]+"${cmake_wrap[@]}"} || return
    step "fetchcontent: build" build cmake --build "$bld" -j $jobs || return
    run_consumer "fetchcontent: consumer applies its migrations" \
        "$bld/consumer" fetchcontent
    step "fetchcontent: unchanged rebuild succeeds" rebuild \
        cmake --build "$bld" -j $jobs &&
        out_has "fetchcontent: unchanged rebuild does no work" "ninja: no work to do."
}

# Configures, builds and installs migc into $prefix.
prefix="$work/prefix"
installed=0
install_migc() {
    local bld="$work/build/migc"
    section "install migc"
    step "install: configure migc" configure \
        cmake -S "$root" -B "$bld" -G Ninja -DMIGC_BUILD_TESTS=OFF \
        -DMIGC_BUILD_EXAMPLES=OFF || return
    step "install: build migc" build cmake --build "$bld" -j $jobs || return
    step "install: cmake --install --prefix" install \
        cmake --install "$bld" --prefix "$prefix" || return
    installed=1
}

find_package_consumer() {
    local src="$work/src/find_package" bld="$work/build/find_package"
    section "find_package"
    [ $installed = 1 ] || { fail "find_package: migc is not installed"; return; }
    cp -R "$here/find_package" "$src"
    step "find_package: configure (find_package(migc 0.1 CONFIG))" configure \
        cmake -S "$src" -B "$bld" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
        ${cmake_wrap[@]+"${cmake_wrap[@]}"} || return
    local dir
    dir=$(sed -n 's/^migc_DIR:PATH=//p' "$bld/CMakeCache.txt")
    case $dir in
    "$prefix"/*) pass "find_package: found the installed package ($dir)" ;;
    *) fail "find_package: migc_DIR is \"$dir\", not under $prefix" ;;
    esac
    step "find_package: build" build cmake --build "$bld" -j $jobs || return
    run_consumer "find_package: consumer (static runtime) applies its migrations" \
        "$bld/consumer" find_package
    db_value "find_package: the no-transaction index migration was applied" t \
        "SELECT to_regclass('public.ledger_entries_account_idx') IS NOT NULL"
    if ldd "$bld/consumer" | grep -q 'libmigc\.so'; then
        fail "find_package: consumer links libmigc.so, expected the static runtime"
    else
        pass "find_package: consumer has the runtime linked in statically"
    fi
    run_consumer "find_package: consumer_shared (migc::runtime_shared) applies its migrations" \
        "$bld/consumer_shared" find_package_shared
    local lib
    lib=$(ldd "$bld/consumer_shared" | sed -n 's/^[[:space:]]*libmigc\.so[^ ]* => \([^ ]*\) .*/\1/p')
    case $lib in
    "$prefix"/*) pass "find_package: consumer_shared loads $lib" ;;
    *) fail "find_package: consumer_shared loads \"$lib\", not the installed libmigc.so"
       ldd "$bld/consumer_shared" | sed 's/^/  | /' ;;
    esac
    step "find_package: unchanged rebuild succeeds" rebuild \
        cmake --build "$bld" -j $jobs &&
        out_has "find_package: unchanged rebuild does no work" "ninja: no work to do."
}

makefile_consumer() {
    local src="$work/src/makefile"
    section "makefile (pkg-config)"
    [ $installed = 1 ] || { fail "makefile: migc is not installed"; return; }
    cp -R "$here/makefile" "$src"
    local pc
    pc=$(find "$prefix" -name migc.pc | head -n 1)
    if [ -z "$pc" ]; then fail "makefile: no migc.pc installed"; return; fi
    local path=$prefix/bin:$PATH
    if [ ${#wrap[@]} -gt 0 ]; then   # the installed migc, wrapped
        printf '#!/bin/sh\nexec %s "%s" "$@"\n' "$MIGC_TEST_WRAPPER" \
            "$prefix/bin/migc" > "$work/wrap/bin/migc"
        chmod +x "$work/wrap/bin/migc"
        path=$work/wrap/bin:$path
    fi
    local mk=(env "PATH=$path" "PKG_CONFIG_PATH=$(dirname "$pc")"
              make -C "$src")
    if run pkg-config env "PKG_CONFIG_PATH=$(dirname "$pc")" \
        pkg-config --cflags --libs migc; then
        echo "  pkg-config --cflags --libs migc: $(cat "$out")"
    fi
    # The installed migc.pc must describe the prefix it was installed to.
    local v val
    for v in includedir libdir; do
        val=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --variable=$v migc)
        case $val in
        "$prefix"/*) pass "makefile: migc.pc's $v is in the install prefix" ;;
        *) fail "makefile: migc.pc's $v is \"$val\", not under the install prefix $prefix ($pc has: $(grep '^prefix=' "$pc"))" ;;
        esac
    done
    step "makefile: make" make "${mk[@]}" || return
    out_has "makefile: make ran the installed migc" "migc compile migrations"
    run_consumer "makefile: consumer applies its migrations" "$src/consumer" makefile
    db_value "makefile: the kind column (migration 2) was applied" 1 \
        "$(has_column events kind)"
    step "makefile: make again" make-again "${mk[@]}" &&
        out_lacks "makefile: an unchanged make does not run migc or cc" \
            "migc compile|-o consumer"
    cp "$src/catalog.c" "$work/makefile-catalog-before.c"
    tick
    sed -i "s/DEFAULT 'unknown'/DEFAULT 'edited_kind'/" \
        "$src/migrations/000002_add_events_kind.up.sql"
    if step "makefile: make after editing a migration" make-edit "${mk[@]}"; then
        if cmp -s "$src/catalog.c" "$work/makefile-catalog-before.c"; then
            fail "makefile: the catalog did not change after the edit"
        else
            pass "makefile: the catalog changed after the edit"
        fi
        if run_consumer "makefile: edited consumer runs" "$src/consumer" makefile; then
            db_value "makefile: the edited migration was applied" "'edited_kind'::text" \
                "SELECT column_default FROM information_schema.columns WHERE table_name = 'events' AND column_name = 'kind'"
        fi
    fi
}

subdirectory Ninja ninja
subdirectory "Unix Makefiles" make
fetchcontent
install_migc
find_package_consumer
makefile_consumer

echo
echo "consumers: $(($(date +%s) - started))s, logs in $work/logs$([ "${MIGC_CONSUMERS_KEEP:-0}" = 1 ] || echo ' (removed)')"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
