#!/usr/bin/env bash
# TLS: migc connects through libpq, so every sslmode works as libpq
# documents it, and a certificate that does not verify stops it before
# anything runs.
#
# The test makes a CA and a server certificate for localhost (CN=localhost,
# subjectAltName DNS:localhost, IP:127.0.0.1) and a second, unrelated CA,
# with openssl, then starts a throwaway server of its own (initdb + pg_ctl,
# as the postgres OS user when run as root) with ssl=on, listening on
# 127.0.0.1 on a free port, whose pg_hba.conf allows TCP only through
# `hostssl` (plus the Unix socket, for the test's own checks).  Then, each
# on a fresh database, with tests/security/fixtures/tls (a migration that
# records pg_stat_ssl.ssl of its own session in a table):
#  - sslmode=verify-full with the right CA: `migc up` exits 0 and the
#    migration's session was encrypted (tls_check.ssl is true); also as a
#    postgres:// URL, and `migc status` works;
#  - sslmode=verify-full or verify-ca with the other CA: exit 3, the message
#    says the certificate did not verify, nothing applied (no table, no
#    history);
#  - verify-full to a host name the certificate does not name: exit 3, the
#    message names the mismatch, nothing applied;
#  - sslmode=require: exit 0, encrypted;
#  - sslmode=disable: the server refuses (no pg_hba.conf entry ... no
#    encryption): exit 3, nothing applied;
#  - the example service (when given) with DATABASE_URL: verify-full works,
#    the other CA and sslmode=disable fail with exit 1 and the same
#    messages.
# The server and its directory are removed at the end.
#
# usage: test_tls.sh MIGC SOURCE_DIR [DOCSERVICE]
#   PG_BINDIR picks the server binaries (default: pg_config --bindir, else
#   the newest /usr/lib/postgresql/*/bin).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
migc=$(abs "$1")
src=$(abs "$2")
service=${3:+$(abs "$3")}
fixture=$src/tests/security/fixtures/tls

# --- prerequisites -------------------------------------------------------
if ! command -v openssl > /dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
        apt-get install -y openssl > /dev/null 2>&1 ||
            { apt-get update > /dev/null 2>&1 &&
              apt-get install -y openssl > /dev/null 2>&1; }
    fi
    command -v openssl > /dev/null || {
        echo "openssl is missing (apt-get install openssl)" >&2
        echo "0 passed, 1 failed"
        exit 1
    }
fi
bindir=${PG_BINDIR:-}
if [ -z "$bindir" ] && command -v pg_config > /dev/null; then
    bindir=$(pg_config --bindir)
fi
if [ ! -x "$bindir/initdb" ]; then
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2> /dev/null | sort -V | tail -n 1)
fi
if [ ! -x "$bindir/initdb" ]; then
    echo "no PostgreSQL server binaries (set PG_BINDIR)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
port=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')

# Server programs run as postgres when we are root (initdb refuses root).
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

dir=$(mktemp -d /tmp/migc-sec-tls.XXXXXX)
chmod 755 "$dir"
started=no
cleanup() {
    if [ "$started" = yes ]; then
        as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop > /dev/null 2>&1
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

# --- certificates ----------------------------------------------------------
make_ca() { # name, CN
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 \
        -keyout "$dir/$1.key" -out "$dir/$1.crt" -subj "/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2> "$dir/openssl.log"
}
make_ca ca "migc test CA" && make_ca other_ca "migc unrelated CA" &&
openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$dir/server.key" \
    -out "$dir/server.csr" -subj "/CN=localhost" 2>> "$dir/openssl.log" &&
printf '%s\n' "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" \
    "subjectAltName=DNS:localhost,IP:127.0.0.1" > "$dir/server.ext" &&
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" \
    -CAkey "$dir/ca.key" -CAcreateserial -days 2 -sha256 \
    -extfile "$dir/server.ext" -out "$dir/server.crt" 2>> "$dir/openssl.log"
check "the certificates were made" test -s "$dir/server.crt"
check "the server certificate verifies against the CA" \
    bash -c 'openssl verify -CAfile "$1" "$2" > /dev/null' _ \
    "$dir/ca.crt" "$dir/server.crt"
chmod 600 "$dir/server.key"
if [ "$(id -u)" = 0 ]; then
    chown postgres "$dir" "$dir/server.key" "$dir/server.crt"
fi

# --- the server ------------------------------------------------------------
as_pg "$bindir/initdb" -D "$dir/data" -A trust -N -U postgres --no-locale \
    -E UTF8 > "$dir/initdb.log" 2>&1
check "initdb" test -f "$dir/data/PG_VERSION"
cat > "$dir/data/pg_hba.conf" << 'EOF'
# TCP only through TLS; the Unix socket for the test's own checks.
local    all all              trust
hostssl  all all 127.0.0.1/32 trust
hostssl  all all ::1/128      trust
EOF
started=yes
as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-k '$dir' -p $port -c listen_addresses=127.0.0.1 -c ssl=on \
        -c ssl_cert_file='$dir/server.crt' -c ssl_key_file='$dir/server.key'" \
    start > "$dir/pg_ctl.log" 2>&1
if ! check "the TLS server started" test $? -eq 0; then
    cat "$dir/pg_ctl.log" "$dir/server.log" >&2
    finish
fi

# psql through the socket (not TLS): the test's own view of the server.
sql() { # db, sql
    "$bindir/psql" -X -q -A -t -h "$dir" -p "$port" -U postgres -d "$1" -c "$2"
}
createdb() { sql postgres "CREATE DATABASE $1"; }
tcp="host=localhost port=$port user=postgres"
full="sslmode=verify-full sslrootcert=$dir/ca.crt"
other="sslmode=verify-full sslrootcert=$dir/other_ca.crt"
# Also keep libpq from using a client certificate or CRL of the machine.
export PGSSLCERT=/nonexistent PGSSLKEY=/nonexistent PGSSLCRL=

check_eq "psql over TCP with verify-full is encrypted" \
    "$("$bindir/psql" -X -A -t -d "$tcp dbname=postgres $full" \
        -c "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()" 2>&1)" t

# Objects in public of database $1 (0: nothing was applied).
objects() { sql "$1" "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"; }

run() { # label, want status, command...
    local label=$1 want=$2
    shift 2
    out=$("$@" 2>&1)
    local rc=$?
    check_eq "[$label] exit status ($out)" "$rc" "$want"
    if [ "$want" != 0 ]; then   # show what a refusal looks like
        printf '  %s (exit %s):\n' "$label" "$rc"
        printf '%s\n' "$out" | sed 's/^/      /'
    fi
}

# --- migc up over TLS ----------------------------------------------------
createdb tls_full
run "verify-full, right CA" 0 "$migc" up "$fixture" -d "$tcp dbname=tls_full $full"
check_eq "verify-full: the migration's session was encrypted" \
    "$(sql tls_full "SELECT ssl FROM tls_check")" t
check_eq "verify-full: recorded in the history" \
    "$(sql tls_full "SELECT count(*) FROM migc_history WHERE state = 'applied'")" 1
run "verify-full: status" 0 "$migc" status "$fixture" -d "$tcp dbname=tls_full $full"

createdb tls_url
run "verify-full as a URL" 0 "$migc" up "$fixture" \
    -d "postgresql://postgres@localhost:$port/tls_url?sslmode=verify-full&sslrootcert=$dir/ca.crt"
check_eq "URL: encrypted" "$(sql tls_url "SELECT ssl FROM tls_check")" t

createdb tls_other
run "verify-full, other CA" 3 "$migc" up "$fixture" -d "$tcp dbname=tls_other $other"
check "verify-full, other CA: the message says the certificate did not verify" \
    grep -q "certificate verify failed" <<< "$out"
check_eq "verify-full, other CA: nothing applied" "$(objects tls_other)" 0
run "verify-ca, other CA" 3 "$migc" up "$fixture" \
    -d "$tcp dbname=tls_other sslmode=verify-ca sslrootcert=$dir/other_ca.crt"
check "verify-ca, other CA: the message says the certificate did not verify" \
    grep -q "certificate verify failed" <<< "$out"
check_eq "verify-ca, other CA: nothing applied" "$(objects tls_other)" 0
run "status, other CA" 3 "$migc" status "$fixture" -d "$tcp dbname=tls_other $other"

createdb tls_name
run "verify-full, wrong host name" 3 "$migc" up "$fixture" \
    -d "host=not-localhost.invalid hostaddr=127.0.0.1 port=$port user=postgres dbname=tls_name $full"
check "wrong host name: the message names the mismatch" \
    grep -q 'does not match host name "not-localhost.invalid"' <<< "$out"
check_eq "wrong host name: nothing applied" "$(objects tls_name)" 0

createdb tls_require
run "require" 0 "$migc" up "$fixture" -d "$tcp dbname=tls_require sslmode=require"
check_eq "require: encrypted" "$(sql tls_require "SELECT ssl FROM tls_check")" t

createdb tls_disable
run "disable" 3 "$migc" up "$fixture" -d "$tcp dbname=tls_disable sslmode=disable"
check "disable: the server refuses an unencrypted connection" \
    grep -q 'no pg_hba.conf entry.*no encryption' <<< "$out"
check_eq "disable: nothing applied" "$(objects tls_disable)" 0

# --- the example service --------------------------------------------------
if [ -n "$service" ]; then
    empty=$dir/empty
    mkdir "$empty"
    createdb tls_svc
    run "docservice, verify-full" 0 \
        env -C "$empty" DATABASE_URL="$tcp dbname=tls_svc $full" "$service"
    check "docservice, verify-full: it did its work" \
        grep -q 'document 1 "Onboarding"' <<< "$out"
    check_eq "docservice: every migration applied" \
        "$(sql tls_svc "SELECT count(*) FROM migc_history WHERE state = 'applied'")" 14
    run "docservice --migrate-status, verify-full" 0 \
        env -C "$empty" DATABASE_URL="$tcp dbname=tls_svc $full" "$service" --migrate-status
    createdb tls_svc_other
    run "docservice, other CA" 1 \
        env -C "$empty" DATABASE_URL="$tcp dbname=tls_svc_other $other" "$service"
    check "docservice, other CA: certificate verification failed" \
        grep -q "certificate verify failed" <<< "$out"
    run "docservice --migrate-only, other CA" 1 \
        env -C "$empty" DATABASE_URL="$tcp dbname=tls_svc_other $other" "$service" --migrate-only
    check "docservice --migrate-only, other CA: certificate verification failed" \
        grep -q "certificate verify failed" <<< "$out"
    run "docservice, disable" 1 \
        env -C "$empty" DATABASE_URL="$tcp dbname=tls_svc_other sslmode=disable" "$service"
    check "docservice, disable: refused by the server" \
        grep -q 'no pg_hba.conf entry.*no encryption' <<< "$out"
    check_eq "docservice: nothing applied without a verified TLS session" \
        "$(objects tls_svc_other)" 0
fi

finish
