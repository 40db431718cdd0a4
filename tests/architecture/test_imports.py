"""The folder layout is the architecture: no import cycle between modules, and each package
imports only its own modules and the layers below it.

The layers, lowest first, as the tree really is:

- ``foundation``: settings, errors, logging, process and file helpers; the ground floor.
- ``storage``: the database, the vault, the keyring, the audit trail.
- ``scheduling`` (the agenda), ``speech`` (recognition server and client), ``telephony``
  (SIP and media, the workers, the supervisor; it knows no flow), ``notify`` (the outbox's
  messages): each on storage, none on another.
- ``calendars`` (the practitioners' own calendars) and ``staff`` (accounts, login), on the
  agenda.
- ``ivr_flows`` drives calls through the telephony interface with the agenda, speech and
  notifications; ``api`` serves staff over staff, scheduling and calendars. Neither knows
  the other.
- ``telesec``: the composition root (CLI, wiring, call handler, jobs).
- ``bench``: benchmark scripts, over everything.
"""

from __future__ import annotations

from pathlib import Path

from tests.architecture.import_graph import cycles, import_graph, upward_imports

ROOT = Path(__file__).resolve().parents[2]
LAYERS: list[set[str]] = [
    {"foundation"},
    {"storage"},
    {"scheduling", "speech", "telephony", "notify"},
    {"calendars", "staff"},
    {"ivr_flows", "api"},
    {"telesec"},
    {"bench"},
]
PACKAGES = [package for layer in LAYERS for package in sorted(layer)]


def test_every_top_level_package_has_a_layer() -> None:
    on_disk = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert on_disk <= set(PACKAGES), f"put {sorted(on_disk - set(PACKAGES))} in LAYERS"


def test_no_import_cycle_between_modules() -> None:
    graph = import_graph(ROOT, PACKAGES)
    assert {"foundation.settings", "telesec.cli", "bench.sip_load"} <= set(graph)
    assert cycles(graph) == []


def test_no_package_imports_a_layer_above_it_or_beside_it() -> None:
    assert upward_imports(import_graph(ROOT, PACKAGES), LAYERS) == []


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_checks_see_a_cycle_through_a_package_and_an_upward_function_import(
    tmp_path: Path,
) -> None:
    _tree(tmp_path, {
        "low/__init__.py": "from low.a import A\n",
        "low/a.py": "from low import b\nA = 1\n",
        "low/b.py": "def f():\n    from high.c import C\n",
        "high/__init__.py": "",
        "high/c.py": "from .d import D\nC = D\n",
        "high/d.py": "D = 2\n",
    })
    graph = import_graph(tmp_path, ["low", "high"])
    assert graph["high.c"] == {"high.d"}
    assert cycles(graph) == [["low", "low.a"]]
    assert upward_imports(graph, [{"low"}, {"high"}]) == ["low.b imports high.c"]
