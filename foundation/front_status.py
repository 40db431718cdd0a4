"""The front's SIP accounts' state, as a small JSON file every process can read.

The supervisor (which talks to Kamailio) writes ``trunks.json`` in the front's run
directory every few seconds; ``telesec trunks status``, the API's health endpoint and its
metrics read it without talking to Kamailio themselves. An old file means the front is
not running: its trunks then read as ``unknown``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from foundation.settings import Settings

STATUS_FILE = "trunks.json"

STATE_MEANING = {
    "registered": "registered",
    "registering": "registering (challenge in progress)",
    "failed": "registration refused or unanswered; retried every 30 s",
    "disabled": "disabled",
    "down": "not registered",
    "ip": "IP trunk (no registration)",
    "unknown": "unknown: the front is not running here (start `telesec serve`)",
}
"""What each trunk state means, for people (CLI, console)."""
STALE_AFTER_S = 60.0


def front_run_dir(settings: Settings) -> Path:
    """Where this machine's front keeps its run files (config, sockets, status)."""
    return settings.data_path / "run" / f"front-{settings.sip.listen_port}"


def write_trunk_status(run_dir: Path, trunks: list[dict[str, Any]]) -> None:
    """Replace the status file atomically (name, state, registered, expires_s per trunk)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    temporary = run_dir / (STATUS_FILE + ".new")
    temporary.write_text(json.dumps({"at": time.time(), "trunks": trunks}))
    os.replace(temporary, run_dir / STATUS_FILE)


def read_trunk_status(settings: Settings, run_dir: Path | None = None) -> dict[str, str]:
    """``{trunk name: state}`` for every configured trunk (``unknown`` without a fresh file)."""
    states = {trunk.name: "unknown" for trunk in settings.sip.trunks}
    path = (run_dir or front_run_dir(settings)) / STATUS_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return states
    if time.time() - float(data.get("at", 0)) > STALE_AFTER_S:
        return states
    for entry in data.get("trunks", []):
        name = str(entry.get("name", ""))
        if name in states:
            states[name] = str(entry.get("state", "unknown"))
    return states
