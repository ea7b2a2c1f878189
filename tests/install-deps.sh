#!/usr/bin/env bash
# Installs what building and testing migc needs on Debian or Ubuntu, when
# it is missing: a C compiler, CMake and Ninja, re2c (the scanner
# generator), libpq and OpenSSL headers, the PostgreSQL server (the tests
# start throwaway clusters), clang (libFuzzer and a second compiler), xxd,
# python3 (tests parse JSON output with it), pgbouncer, openssl and
# strace (reliability and security tests), valgrind (memory checks),
# hyperfine and GNU time (benchmarks).  Safe to run again: it installs
# nothing when everything is there.
set -euo pipefail
packages=(build-essential cmake ninja-build pkg-config re2c libpq-dev
          libssl-dev postgresql postgresql-contrib clang xxd hyperfine time
          python3 pgbouncer openssl strace valgrind)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
        sudo=(sudo)
    else
        echo "error: not root and no sudo; install: ${missing[*]}" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
