#!/usr/bin/env bash
# Make sure a Postgres server (initdb, pg_ctl) is installed for the state-store tests.
# Debian/Ubuntu as root: installs the `postgresql` package once; elsewhere prints what to do
# (the tests that need it then skip with the same message).
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Postgres for the state-store tests (apt-get install -y postgresql)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    exit 0
fi
echo "Postgres server binaries not found; install them (Debian: apt-get install -y postgresql)" \
     "or the Postgres state-store tests will be skipped" >&2
