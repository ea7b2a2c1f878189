#!/usr/bin/env bash
# The quick start: installs what is missing, builds migc, then checks,
# lists and compiles the example service's migrations/ into a C catalog and
# compiles that catalog with the strictest warnings.  Safe to run again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tests/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > build.configure.log 2>&1 ||
    { cat build.configure.log; exit 1; }
cmake --build build
migc=build/tools/migc/migc
mkdir -p build/quickstart

echo
echo "== migc check migrations =="
"$migc" check migrations
echo
echo "== migc list migrations =="
"$migc" list migrations
echo
echo "== migc compile migrations =="
"$migc" compile migrations -o build/quickstart/app_migrations.c \
    --header build/quickstart/app_migrations.h --name app_migrations
cc -std=c11 -Wall -Wextra -Werror -pedantic -Iinclude \
    -c build/quickstart/app_migrations.c -o build/quickstart/app_migrations.o
echo "wrote build/quickstart/app_migrations.c ($(wc -c < build/quickstart/app_migrations.c) bytes)," \
     "compiled warning-free to build/quickstart/app_migrations.o"
