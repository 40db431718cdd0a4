"""``telesec audit verify | report | checkpoint`` on a real data directory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from storage import audit, identity
from storage.db import Database
from storage.keyring import Keyring, public_key_text
from storage.migrate import upgrade
from telesec.cli import app
from tests.storage.identity_helpers import make_practice


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("TELESEC_CONFIG", "TELESEC_DATABASE_URL", "TELESEC_KEYRING_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELESEC_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TELESEC_TIMEZONE", "Europe/Paris")
    return tmp_path / "var"


def test_verify_report_checkpoint(data_dir: Path) -> None:
    keyring = Keyring.create(data_dir / "keyring.json")
    url = f"sqlite:///{data_dir / 'telesec.db'}"
    upgrade(url, keyring=keyring)
    identity.install(keyring)
    db = Database(url)
    practice = make_practice(db)
    monday_night = datetime(2026, 3, 2, 21, 30, tzinfo=UTC)  # 22:30 in Paris
    with db.session() as s:
        for n in range(3):
            audit.record(s, actor="staff:ana", action="recording.play", object_type="recording",
                         object_id=f"obj{n}", purpose="callback", patient_id=7,
                         practice_id=practice, at=monday_night + timedelta(minutes=n))
    runner = CliRunner()

    key = public_key_text(keyring.checkpoint_public_key)
    result = runner.invoke(app, ["audit", "verify"])
    assert (result.exit_code, result.output.splitlines()) == (0, [
        "audit chain intact: 3 events, last checkpoint at seq none",
        f"checkpoints signed by {key} (the keyring's: pin it with --public-key)"])

    result = runner.invoke(app, ["audit", "checkpoint"])
    assert result.exit_code == 0 and result.output.startswith("checkpoint at seq 3: ")

    result = runner.invoke(app, ["audit", "report", "--since", "2026-03-02",
                                 "--until", "2026-03-02"])
    assert result.exit_code == 0, result.output
    assert "access review 2026-03-02 to 2026-03-02 (Europe/Paris): 3 events" in result.output
    assert "staff:ana" in result.output and "patient 7" in result.output
    assert "flags: 3" in result.output and "OFF HOURS" in result.output

    result = runner.invoke(app, ["audit", "verify"])  # the review itself was audited
    assert result.output.splitlines()[0] == (
        "audit chain intact: 4 events, last checkpoint at seq 3")

    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET purpose = 'x' WHERE seq = 2"))
        conn.execute(text("DELETE FROM audit_events WHERE seq >= 3"))
        conn.execute(text("UPDATE audit_head SET seq = 2, hash = "
                          "(SELECT hash FROM audit_events WHERE seq = 2)"))
    db.dispose()
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "event 2: its content does not match its hash (edited)",
        "the audit head was altered (its MAC does not match)",
        "events 3..3 are missing: deleted after the checkpoint at seq 3",
    ]


def test_bad_dates_are_one_line_errors(data_dir: Path) -> None:
    Keyring.create(data_dir / "keyring.json")
    upgrade(f"sqlite:///{data_dir / 'telesec.db'}")
    result = CliRunner().invoke(app, ["audit", "report", "--since", "last week"])
    assert result.exit_code != 0
    assert "is not a date; use YYYY-MM-DD" in str(result.exception)


def test_init_anchor_pinned_key_and_an_emptied_trail(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    anchor = tmp_path / "other-storage" / "audit-anchor.log"
    monkeypatch.setenv("TELESEC_AUDIT__ANCHOR_FILE", str(anchor))
    runner = CliRunner()
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    printed = result.output.splitlines()[-1]
    assert printed.startswith("audit checkpoint public key: ed25519:")
    key = printed.split()[4]
    assert len(anchor.read_text().splitlines()) == 1  # the keyed start, anchored
    assert runner.invoke(app, ["init"]).exit_code == 0  # again: nothing new to anchor
    assert len(anchor.read_text().splitlines()) == 1
    assert key in runner.invoke(app, ["keys", "status"]).output

    keyring = Keyring.load(data_dir / "keyring.json")
    identity.install(keyring)
    db = Database(f"sqlite:///{data_dir / 'telesec.db'}")
    with db.session() as s:
        for n in range(3):
            audit.record(s, actor="staff:ana", action="patient.read", object_type="patient",
                         object_id=None, purpose="callback", patient_id=n + 1)
    result = runner.invoke(app, ["audit", "checkpoint"])
    assert result.exit_code == 0 and result.output.splitlines()[1] == f"signed by {key}"
    assert len(anchor.read_text().splitlines()) == 2

    result = runner.invoke(app, ["audit", "verify", "--public-key", key])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "audit chain intact: 3 events, last checkpoint at seq 3; anchor: 2 checkpoints, "
        "all found in the chain, last at seq 3", f"checkpoints signed by {key} (pinned)"]

    other = public_key_text(Keyring.create(tmp_path / "x.json").checkpoint_public_key)
    result = runner.invoke(app, ["audit", "verify", "--public-key", other])
    assert result.exit_code == 1 and "is not the pinned key" in result.output
    result = runner.invoke(app, ["audit", "verify", "--public-key", "ed25519:zz"])
    assert "is not a checkpoint public key" in str(result.exception)

    with db.engine.begin() as conn:  # finding 1, word for word
        conn.execute(text("DELETE FROM audit_events"))
        conn.execute(text("DELETE FROM audit_checkpoints"))
        conn.execute(text("UPDATE audit_head SET seq=0, hash='" + "0" * 64 + "', mac=''"))
    db.dispose()
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "the audit trail has no keyed start (its head has no MAC): it was emptied, or this "
        "database was never initialised with its keyring",
        "events 1..3 are missing: deleted after the checkpoint at seq 3 kept in the anchor"]
    result = runner.invoke(app, ["init"])  # and init does not paper over it
    assert result.exit_code != 0
    assert "no keyed start" in str(result.exception)
