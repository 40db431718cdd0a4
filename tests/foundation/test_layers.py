"""The folder layout is the architecture: each package imports only the layers below it.

storage knows nothing of the rest; scheduling builds on storage; staff (accounts, login)
builds on both, below the API and the CLI that administer it; calendars (the
practitioners' own calendars) builds on scheduling and storage; notify sends the
storage's outbox (confirmations, staff alerts); speech stands alone;
telephony knows SIP and media, and may write into the vault; ivr_flows drives calls through
the telephony interface with scheduling, speech and storage; api serves staff over
staff, scheduling, calendars and storage. ``foundation`` (settings, errors, process and
file helpers) is the ground floor every layer may use, and it imports none of them.
``telesec`` is the composition root (CLI, wiring, call handler, jobs): it may import
anything, and nothing imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {
    "foundation": {"foundation"},
    "storage": {"storage"},
    "scheduling": {"scheduling", "storage"},
    "staff": {"staff", "scheduling", "storage"},
    "calendars": {"calendars", "scheduling", "storage"},
    "speech": {"speech"},
    "telephony": {"telephony", "storage"},
    "notify": {"notify", "storage"},
    "ivr_flows": {"ivr_flows", "scheduling", "storage", "speech", "telephony", "notify"},
    "api": {"api", "staff", "scheduling", "calendars", "storage"},
}
PROJECT = set(ALLOWED) | {"telesec"}
GROUND = "foundation"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_package_imports_a_layer_above_it() -> None:
    wrong = []
    for package, allowed in ALLOWED.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for module in imported_modules(path):
                top = module.split(".")[0]
                if top in PROJECT and top not in allowed and top != GROUND:
                    wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert wrong == []
