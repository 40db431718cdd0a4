"""The telesec command as an operator runs it: a real subprocess on a fresh data dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def telesec(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TELESEC_")}
    environ.update(TELESEC_DATA_DIR=str(data_dir), **env)
    return subprocess.run(
        [sys.executable, "-m", "telesec.cli", *args],
        capture_output=True, text=True, env=environ, cwd=data_dir.parent, timeout=120,
    )


def test_init_creates_private_data_dir_keyring_and_schema(tmp_path: Path) -> None:
    data = tmp_path / "var"
    first = telesec(data, "init")
    assert first.returncode == 0, first.stderr
    assert "keyring created" in first.stdout
    assert (data / "keyring.json").stat().st_mode & 0o777 == 0o600
    assert data.stat().st_mode & 0o777 == 0o700
    again = telesec(data, "init")
    assert again.returncode == 0 and "keyring found" in again.stdout
    status = telesec(data, "db", "status")
    head = status.stdout.split("needs ")[-1].strip()
    assert f"database schema {head};" in status.stdout


def test_commands_before_init_say_what_to_do(tmp_path: Path) -> None:
    result = telesec(tmp_path / "var", "agenda", "list", "--practice", "demo")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "telesec: the database is not initialised; run `telesec init`"
    ]


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"TELESEC_SIP__WORKERS": "many"}, "setting 'sip.workers' (TELESEC_SIP__WORKERS)"),
        (
            {"TELESEC_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
            "cannot reach the database",
        ),
    ],
)
def test_bad_configuration_is_one_line_without_traceback(
    tmp_path: Path, env: dict[str, str], needle: str
) -> None:
    result = telesec(tmp_path / "var", "init", **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_demo_seed_then_agenda_round_trip(tmp_path: Path) -> None:
    data = tmp_path / "var"
    assert telesec(data, "init").returncode == 0
    seeded = telesec(data, "demo", "seed")
    assert seeded.returncode == 0, seeded.stderr
    slots = telesec(data, "agenda", "slots", "--practice", "demo", "--visit", "consultation")
    assert slots.returncode == 0, slots.stderr
    assert "consultation" in slots.stdout
