#!/usr/bin/env bash
# Set up everything and run the whole test suite (lint, then pytest on SQLite and PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/postgres.sh
.venv/bin/ruff check .
# -n 2 --dist loadgroup: see tests/conftest.py (real-time tests on one worker, in order)
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n 2 --dist loadgroup --durations=40 "$@"
