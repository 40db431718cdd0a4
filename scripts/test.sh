#!/usr/bin/env bash
# Set up everything and run the whole test suite (lint, then pytest on SQLite and PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/postgres.sh
.venv/bin/ruff check .
# -n 2: two workers; the tests that place calls run in two serial groups (tests/conftest.py).
# A short temporary base: the engines the tests start put Unix sockets in their data
# directories, and a socket path may not exceed 107 bytes.
basetemp=$(mktemp -d /tmp/ts.XXXXXX)
trap 'rm -rf "$basetemp"' EXIT
.venv/bin/python -m pytest -q -p no:cacheprovider -n 2 --durations=40 \
    --basetemp "$basetemp/t" "$@"
