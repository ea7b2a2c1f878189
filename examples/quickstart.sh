#!/usr/bin/env bash
# The quick start.  Installs what is missing, builds migc and the example
# service (docservice, with migrations/ compiled in), then runs the service
# against a database: $DATABASE_URL when it is set, otherwise a throwaway
# PostgreSQL this script starts and removes itself.  The service migrates
# the empty database, does a little work, and then shows
# --print-schema-plan and --migrate-status.  Safe to run again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build"

if [ "${1:-}" = --demo ]; then
    # The demo itself, run with a database at hand.  It runs from an empty
    # folder: the schema lives in the binary, not in files next to it.
    service="$build/examples/docservice"
    cd "$(mktemp -d)"
    echo "== docservice (migrates, then works) =="
    "$service"
    echo
    echo "== docservice again (nothing to migrate) =="
    "$service"
    echo
    echo "== docservice --print-schema-plan =="
    "$service" --print-schema-plan
    echo
    echo "== docservice --migrate-status =="
    "$service" --migrate-status
    exit 0
fi

cd "$root"
tests/install-deps.sh
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    > "$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
cmake --build "$build" --target docservice pgfix_run
echo
if [ -n "${DATABASE_URL:-}" ]; then
    exec bash "$0" --demo
fi
echo "DATABASE_URL is not set: starting a throwaway PostgreSQL"
echo
exec "$build/tests/pgfix_run" bash "$0" --demo
