# Shared helpers of the security shell tests (sourced, not run).
#   check DESCRIPTION COMMAND...   counts a pass when COMMAND succeeds
#   finish                         prints "N passed, N failed", exits
#   psql_db DB ARGS...             psql on database DB of the fixture
passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() {
    failed=$((failed + 1))
    echo "FAILED: $*" >&2
}
check() {
    local what=$1
    shift
    if "$@"; then pass; else fail "$what"; fi
}
# Fails unless $1 equals $2 (shows both).
check_eq() { # description, got, want
    if [ "$2" = "$3" ]; then
        pass
    else
        fail "$1: got '$2', want '$3'"
    fi
}
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
    exit $?
}
psql_db() { # db, psql args...
    local db=$1
    shift
    PGOPTIONS='-c client_min_messages=warning' \
        "$PG_BINDIR/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" "$@"
}
# An absolute path for $1 (tests cd elsewhere).
abs() {
    case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$PWD/$1" ;;
    esac
}
