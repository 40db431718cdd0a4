"""Someone with write access to a copy of the database and no keys wipes the audit
trail with SQL: the anchor kept elsewhere and the pinned public key both catch it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx

from tests.security.conftest import Served


def _copy(served: Served, target: Path) -> Path:
    """A consistent copy of the live database (WAL included), as a backup would take."""
    target.mkdir()
    for name in ("keyring.json",):
        (target / name).write_bytes((served.data_dir / name).read_bytes())
        (target / name).chmod(0o600)
    source = sqlite3.connect(served.data_dir / "telesec.db")
    copy = sqlite3.connect(target / "telesec.db")
    source.backup(copy)
    source.close()
    copy.close()
    return target


def test_a_wiped_audit_trail_is_detected(served: Served, tmp_path: Path) -> None:
    sam = served.login("sam")  # a few audited actions, then a checkpoint to the anchor
    assert httpx.get(f"{served.base}/practices/demo/patients", headers=sam, timeout=60,
                     params={"birth_date": "1984-03-12"}).status_code == 200
    code, output = served.cli("audit", "checkpoint")
    assert code == 0, output
    code, output = served.cli("audit", "verify", "--public-key", served.public_key)
    assert code == 0, output  # the real trail verifies

    copy = _copy(served, tmp_path / "copy")
    with sqlite3.connect(copy / "telesec.db") as db:
        db.execute("DELETE FROM audit_events")
        db.execute("DELETE FROM audit_checkpoints")
        db.execute("UPDATE audit_head SET seq=0, hash=?, mac=''", ("0" * 64,))
    on_copy = {"TELESEC_DATA_DIR": str(copy), "TELESEC_AUDIT__ANCHOR_FILE": None}

    code, output = served.cli("audit", "verify", "--anchor", str(served.anchor), **on_copy)
    assert code == 1 and "missing" in output, output
    code, output = served.cli("audit", "verify", "--public-key", served.public_key,
                              **on_copy)
    assert code == 1 and "no keyed start" in output, output
