#!/usr/bin/env bash
# Make sure a PostgreSQL server answers for the tests (TELESEC_TEST_PG_URL, default
# postgres@127.0.0.1:5432 with trust auth). Starts the local cluster if it is down and
# installs PostgreSQL from Debian if it is missing.
set -euo pipefail

ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! command -v pg_isready >/dev/null 2>&1 || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "postgres: installing PostgreSQL from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
    version=$(ls /etc/postgresql | head -1)
    # Tests connect as postgres over loopback without a password, as on the CI machines.
    sed -i -E 's/^(host\s+all\s+all\s+127\.0\.0\.1\/32\s+)\S+/\1trust/' \
        "/etc/postgresql/$version/main/pg_hba.conf"
fi
if ! ready; then
    echo "postgres: starting the local cluster"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
    for _ in $(seq 30); do ready && break; sleep 1; done
fi
ready || { echo "postgres: no server on 127.0.0.1:5432; start PostgreSQL or set TELESEC_TEST_PG_URL" >&2; exit 1; }
