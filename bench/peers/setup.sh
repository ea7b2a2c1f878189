#!/usr/bin/env bash
# bench/peers/setup.sh -- install the peer migration tools that migc is
# benchmarked against, at pinned versions, and print "name version" per tool.
#
#   npm (exact versions, package.json + package-lock.json beside this file,
#   installed with npm into $PEERS_DIR, default /var/tmp/migc-bench-peers):
#     dbmate 2.36.0 (ships the Go binary), node-pg-migrate 9.0.0,
#     postgrator-cli 9.1.1 on postgrator 8.0.0, pg 8.23.1
#   Debian (apt-get; the version is whatever bookworm has, recorded and
#   compared with the one this benchmark was set up with):
#     sqitch + libdbd-pg-perl, alembic + python3-psycopg2
#
# Idempotent: does nothing (but print the versions) when everything is
# already there.  Needs root for apt-get (only when a package is missing).
# stdout: one line per tool, e.g. "dbmate 2.36.0"; everything else: stderr.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEERS_DIR=${PEERS_DIR:-/var/tmp/migc-bench-peers}

# Debian packages and the versions the benchmark was set up with.
APT_PKGS=(sqitch libdbd-pg-perl alembic python3-psycopg2)
declare -A APT_EXPECTED=(
    [sqitch]=1.3.1-1
    [libdbd-pg-perl]=3.16.0-2
    [alembic]=1.8.1-2
    [python3-psycopg2]=2.9.5-1+b1
)

log() { printf 'peers/setup: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

installed_version() {  # prints the installed version of a Debian package, or nothing
    dpkg-query -W -f='${db:Status-Abbrev} ${Version}\n' "$1" 2>/dev/null |
        awk '$1 == "ii" { print $2 }'
}

# --- Debian packages --------------------------------------------------------
missing=()
for p in "${APT_PKGS[@]}"; do
    [[ -n $(installed_version "$p") ]] || missing+=("$p")
done
if ((${#missing[@]})); then
    [[ $(id -u) -eq 0 ]] || die "missing Debian packages (${missing[*]}); run as root"
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y "${missing[@]}" >&2
fi
for p in "${APT_PKGS[@]}"; do
    v=$(installed_version "$p")
    [[ -n $v ]] || die "$p is not installed"
    [[ $v == "${APT_EXPECTED[$p]}" ]] ||
        log "warning: $p is $v, the benchmark was set up with ${APT_EXPECTED[$p]}"
done

# --- npm packages -----------------------------------------------------------
command -v node >/dev/null || die "node is not installed (apt-get install nodejs npm)"
command -v npm >/dev/null || die "npm is not installed (apt-get install npm)"
mkdir -p "$PEERS_DIR"
stamp="$PEERS_DIR/.migc-bench-peers.sha256"
want=$(cat "$HERE/package.json" "$HERE/package-lock.json" | sha256sum | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" && -x $PEERS_DIR/node_modules/.bin/dbmate &&
      -x $PEERS_DIR/node_modules/.bin/node-pg-migrate && -x $PEERS_DIR/node_modules/.bin/postgrator ]]; then
    log "npm packages already installed in $PEERS_DIR"
else
    log "npm install into $PEERS_DIR"
    rm -f "$stamp"
    cp "$HERE/package.json" "$HERE/package-lock.json" "$PEERS_DIR/"
    # npm ci would be the natural choice, but this npm (11.x) leaves the
    # other platforms' @dbmate/* optional packages out of the lockfile and
    # then refuses it; npm install honours the lockfile all the same.
    npm install --prefix "$PEERS_DIR" --no-audit --no-fund --no-save >&2
    printf '%s\n' "$want" >"$stamp"
fi

# --- versions ----------------------------------------------------------------
pkg_version() {  # version field of an installed npm package
    node -e 'process.stdout.write(require(process.argv[1]).version)' \
        "$PEERS_DIR/node_modules/$1/package.json"
}
bin=$PEERS_DIR/node_modules/.bin
dbmate_v=$("$bin/dbmate" --version | awk '{ print $NF }')
[[ $dbmate_v == "$(pkg_version dbmate)" ]] || die "dbmate binary reports $dbmate_v"
"$bin/node-pg-migrate" --version >/dev/null
"$bin/postgrator" --version >/dev/null
sqitch --version >/dev/null
alembic --version >/dev/null

log "drivers: pg $(pkg_version pg), postgrator library $(pkg_version postgrator)," \
    "libdbd-pg-perl $(installed_version libdbd-pg-perl)," \
    "python3-psycopg2 $(installed_version python3-psycopg2)"
echo "dbmate $dbmate_v"
echo "node-pg-migrate $(pkg_version node-pg-migrate)"
echo "postgrator-cli $(pkg_version postgrator-cli)"
echo "sqitch $(installed_version sqitch)"
echo "alembic $(installed_version alembic)"
