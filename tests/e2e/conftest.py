"""One Telesec engine for the end-to-end tests: a fresh data directory and a real worker.

`telesec init`, `telesec demo seed` and `telesec prompts synth --lang fr` run as a user
would; the worker runs the real handler (`telesec.call_handler:answer`) on a free
loopback port with ``TELESEC_DATA_DIR`` pointing at the data directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from foundation.settings import Settings, load_settings
from storage import identity
from storage.db import Database
from storage.keyring import Keyring
from telesec.wiring import open_database
from tests.telephony.peers import REPO, Worker, start_worker

DEMO_NUMBER = "+33199000000"  # scheduling/demo_practice.yaml


@dataclass
class Engine:
    data_dir: Path
    env: dict[str, str]
    worker: Worker
    settings: Settings
    db: Database

    def logs(self) -> str:
        return self.worker.stderr()


def _telesec(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "telesec.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"telesec {' '.join(args)}: {done.stderr}"
    return done.stdout


def _flow_open_all_day(data_dir: Path) -> None:
    """The demo practice's own flow: the default one, without the opening-hours check.

    The calls may run at any hour; the practice's hours are tested elsewhere.
    """
    text = (REPO / "ivr_flows" / "flows" / "default_fr.yaml").read_text()
    start, end = text.index("  hours:\n"), text.index("  intake:\n")
    text = text[:start] + text[end:]
    assert text.count("next: hours") == 1
    text = text.replace("next: hours", "next: intake")
    target = data_dir / "flows" / "demo.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


@pytest.fixture(scope="package")
def engine(tmp_path_factory: pytest.TempPathFactory):
    data_dir = tmp_path_factory.mktemp("e2e-data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELESEC_")}
    env["TELESEC_DATA_DIR"] = str(data_dir)
    _telesec(env, "init")
    _telesec(env, "demo", "seed")
    # hermetic: the demo's secretaries' line is a fixed loopback port; ring nobody
    _telesec(env, "practice", "set", "demo", "secretary_line=none")
    _telesec(env, "prompts", "synth", "--lang", "fr")
    _flow_open_all_day(data_dir)
    _telesec(env, "flows", "check", str(data_dir / "flows" / "demo.yaml"))
    run_dir = tmp_path_factory.mktemp("e2e-worker")
    worker = start_worker(run_dir, "telesec.call_handler:answer", "--log-level", "DEBUG",
                          "--rtp-timeout", "20", env={"TELESEC_DATA_DIR": str(data_dir)})
    settings = load_settings(data_dir=data_dir)
    db = open_database(settings)
    try:
        yield Engine(data_dir, env, worker, settings, db)
    finally:
        db.dispose()
        assert worker.terminate() == 0


@pytest.fixture(autouse=True)
def installed_keyring(request: pytest.FixtureRequest,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keyring]:
    """The engine's own keyring (so a test reads what the calls wrote), else a fresh one."""
    if "engine" in request.fixturenames:
        engine: Engine = request.getfixturevalue("engine")
        ring = Keyring.load(engine.settings.effective_keyring_path)
    else:
        ring = Keyring.create(tmp_path_factory.mktemp("keys") / "keyring.json")
    identity.install(ring)
    yield ring
    identity.uninstall()
