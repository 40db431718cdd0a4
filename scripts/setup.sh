#!/usr/bin/env bash
# Install everything Telesec needs on a fresh Debian machine: system tools (as root, via
# apt-get) and a Python virtual environment in .venv with Telesec and its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(sip-tester baresip kamailio kamailio-tls-modules kamailio-websocket-modules
                 kamailio-autheph-modules rtpengine-daemon coturn iproute2 nftables
                 espeak-ng sox chromium redis-server)

missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup: missing Debian packages: ${missing[*]}; run this script as root or apt-get install them" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

# The console's third-party browser code (JsSIP for the softphone), pinned by
# console-vendor/package-lock.json and bundled into api/console/vendor/.
if ! command -v npm >/dev/null; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup: npm is missing (Debian package npm); run this script as root or install it" >&2
        exit 1
    fi
    apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
(cd console-vendor && npm ci --no-audit --no-fund --silent && npm run --silent build >/dev/null)
