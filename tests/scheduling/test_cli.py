"""``telesec demo seed`` and ``telesec agenda ...`` on a fresh data directory (SQLite)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from foundation.errors import TelesecError
from foundation.settings import load_settings
from storage.db import Database
from storage.keyring import Keyring
from storage.models import AuditEvent
from telesec.cli import app

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("TELESEC_CONFIG", "TELESEC_DATABASE_URL", "TELESEC_KEYRING_PATH",
                 "TELESEC_KEYRING_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TELESEC_DATA_DIR", str(tmp_path / "var"))
    assert runner.invoke(app, ["init"]).exit_code == 0
    keyring_path = load_settings().effective_keyring_path
    if not keyring_path.exists():  # `telesec init` creates it in recent versions
        Keyring.create(keyring_path)
    return tmp_path / "var"


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_demo_seed_then_slots_book_list_cancel(data_dir: Path) -> None:
    code, out = run("demo", "seed")
    assert code == 0 and "12 patients" in out
    code, out = run("demo", "seed")
    assert code == 0 and "0 patients and 0 appointments" in out

    code, out = run("agenda", "slots", "--practice", "demo", "--visit", "consultation",
                    "--doctor", "dr-moreau", "--part", "afternoon", "--limit", "2")
    assert code == 0, out
    lines = out.strip().splitlines()
    assert len(lines) == 2 and all("Moreau" in line for line in lines)
    start = re.search(r"--slot-start (\S+)\)", lines[0]).group(1)
    day = start[:10]
    assert int(start[11:13]) >= 12

    code, out = run("agenda", "slots", "--practice", "demo", "--visit", "consultation",
                    "--day", day, "--limit", "50")
    assert code == 0 and all(line.startswith(day) for line in out.strip().splitlines())

    code, out = run("agenda", "book", "--practice", "demo", "--slot-start", start,
                    "--doctor", "dr-moreau", "--visit", "consultation", "--patient", "100005")
    assert code == 0, out
    appointment_id = re.search(r"#(\d+)", out).group(1)
    code, again = run("agenda", "book", "--practice", "demo", "--slot-start", start,
                      "--doctor", "dr-moreau", "--visit", "consultation", "--patient", "100005")
    assert code == 0 and f"#{appointment_id}" in again  # same request, booked once
    code, out = run("agenda", "book", "--practice", "demo", "--slot-start", start,
                    "--doctor", "dr-moreau", "--visit", "consultation", "--patient", "100006")
    assert code == 1 and "slot_taken" in out

    code, out = run("agenda", "list", "--practice", "demo", "--day", day)
    assert code == 0 and f"#{appointment_id}" in out and "patient 100005" in out
    assert "Marchand" not in out

    code, out = run("agenda", "cancel", appointment_id)
    assert code == 0 and "cancelled" in out
    code, out = run("agenda", "cancel", appointment_id)
    assert code == 1 and out.strip().count("\n") == 0 and "already_cancelled" in out

    code, out = run("audit", "verify")
    assert code == 0 and "intact" in out, out
    by_actor = audit_actions()
    assert by_actor["system:demo-seed"] >= {"practice.create", "patient.create",
                                            "appointment.import", "appointment.book"}
    cli = next(actor for actor in by_actor if actor.startswith("cli:"))
    assert by_actor[cli] == {"patient.lookup", "hold.create", "appointment.book",
                             "appointment.list", "appointment.cancel"}


def audit_actions() -> dict[str, set[str]]:
    """The actions in the audit trail of the configured database, per actor."""
    db = Database(load_settings().effective_database_url)
    try:
        with db.session() as session:
            rows = session.execute(select(AuditEvent.actor, AuditEvent.action))
            found: dict[str, set[str]] = {}
            for actor, action in rows:
                found.setdefault(actor, set()).add(action)
            return found
    finally:
        db.dispose()


def test_refusals_and_bad_input_are_one_line(data_dir: Path) -> None:
    run("demo", "seed")
    code, out = run("agenda", "book", "--practice", "demo", "--slot-start", "2020-01-06T09:00",
                    "--doctor", "dr-moreau", "--visit", "consultation", "--patient", "100001")
    assert code == 1 and "in_the_past" in out
    code, out = run("agenda", "book", "--practice", "demo", "--slot-start", "2099-01-05T13:00",
                    "--doctor", "dr-moreau", "--visit", "consultation", "--patient", "100001")
    assert code == 1 and "outside_opening_hours" in out
    with pytest.raises(TelesecError, match="no practice 'nowhere'"):
        run("agenda", "slots", "--practice", "nowhere", "--visit", "consultation")
    with pytest.raises(TelesecError, match="no visit type 'massage'"):
        run("agenda", "slots", "--practice", "demo", "--visit", "massage")
    with pytest.raises(TelesecError, match="YYYY-MM-DD"):
        run("agenda", "list", "--practice", "demo", "--day", "tomorrow")
    with pytest.raises(TelesecError, match="no patient with code"):
        run("agenda", "book", "--practice", "demo", "--slot-start", "2099-01-05T09:00",
            "--doctor", "dr-moreau", "--visit", "consultation", "--patient", "999999")


def test_a_reused_idempotency_key_is_one_line_and_books_nothing(data_dir: Path) -> None:
    run("demo", "seed")
    code, out = run("agenda", "slots", "--practice", "demo", "--visit", "consultation",
                    "--doctor", "dr-moreau", "--limit", "2")
    assert code == 0, out
    first, second = re.findall(r"--slot-start (\S+)\)", out)
    book = ["agenda", "book", "--practice", "demo", "--doctor", "dr-moreau",
            "--visit", "consultation", "--key", "desk-1"]
    code, out = run(*book, "--slot-start", first, "--patient", "100005")
    assert code == 0, out
    reused = subprocess.run(
        [sys.executable, "-m", "telesec.cli", *book, "--slot-start", second,
         "--patient", "100006"],
        capture_output=True, text=True, timeout=120,
    )
    assert reused.returncode == 2
    assert reused.stderr.strip().splitlines() == [
        "telesec: this idempotency key was already used for another request; use a new key"
    ]
    code, out = run("agenda", "slots", "--practice", "demo", "--visit", "consultation",
                    "--doctor", "dr-moreau", "--limit", "1")
    assert code == 0 and f"--slot-start {second})" in out  # still free


def test_practice_show_set_and_doctor(data_dir: Path) -> None:
    assert run("demo", "seed")[0] == 0
    code, out = run("practice", "show", "demo")
    assert code == 0, out
    assert "secretary_line: sip:secretariat@127.0.0.1:5070" in out
    assert "doctor dr-lambert: does not take new patients" in out
    code, out = run("practice", "set", "demo", "secretary_line=none",
                    "alert_recipients=a@b.invalid, +33639980099", "duplicate_window_days=0")
    assert code == 0, out
    code, out = run("practice", "show", "demo")
    assert "secretary_line: \n" in out and "duplicate_window_days: 0" in out
    assert "alert_recipients: a@b.invalid, +33639980099" in out
    code, out = run("practice", "doctor", "demo", "dr-lambert", "--new-patients")
    assert code == 0 and "dr-lambert: takes new patients" in out
    with pytest.raises(TelesecError, match="secretary_line: a SIP address"):
        run("practice", "set", "demo", "secretary_line=accueil")
    with pytest.raises(TelesecError, match="FIELD=VALUE"):
        run("practice", "set", "demo", "colour=blue")
