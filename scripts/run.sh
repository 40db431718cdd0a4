#!/usr/bin/env bash
# Set up and run Telesec on its embedded default: SQLite and a local vault under ./var,
# a keyring created on first run, and the demo practice.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TELESEC_DATA_DIR=${TELESEC_DATA_DIR:-var}
.venv/bin/telesec init
.venv/bin/telesec demo seed
exec .venv/bin/telesec serve "$@"
