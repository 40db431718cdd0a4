"""The ``telesec keys | retention | backup`` commands, run as a person would."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from storage import identity
from storage.db import Database
from storage.keyring import Keyring
from storage.models import ObjectKind
from storage.patients import PatientDirectory
from storage.vault import Vault
from tests.storage.identity_helpers import make_practice
from tests.storage.vault_helpers import pattern

ROOT = Path(__file__).resolve().parents[2]


def _telesec(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from telesec.cli import main; main()", *args],
        cwd=Path(env["TELESEC_DATA_DIR"]).parent, env=env, capture_output=True, text=True,
        timeout=120,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    data = tmp_path / "data"
    environ = {**os.environ, "TELESEC_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
    environ.pop("TELESEC_CONFIG", None)
    for args in (["keys", "init"], ["init"]):  # an operator may make the keyring first
        done = _telesec(environ, *args)
        assert done.returncode == 0, done.stderr
    return environ


def test_keys_lifecycle_keeps_every_object_readable(env: dict[str, str]) -> None:
    data = Path(env["TELESEC_DATA_DIR"])
    keyring_path = data / "keyring.json"
    assert keyring_path.stat().st_mode & 0o777 == 0o600
    assert "already exists" in _telesec(env, "keys", "init").stderr
    ring = Keyring.load(keyring_path)
    old = ring.current_kek_id
    db = Database(f"sqlite:///{data / 'telesec.db'}")
    try:
        identity.install(ring)
        ids = [Vault(db, ring, data / "vault").put(ObjectKind.RECORDING, pattern(3000, n))
               for n in range(3)]
        refused = _telesec(env, "keys", "retire", old)
        assert refused.returncode == 2 and "still wrapped" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
        rotated = _telesec(env, "keys", "rotate")
        assert "3 data keys rewrapped" in rotated.stdout, rotated.stderr
        assert _telesec(env, "keys", "retire", old).returncode == 0
        status = _telesec(env, "keys", "status").stdout
        assert old not in status and "current  3 data keys" in status
        fresh = Keyring.load(keyring_path)
        assert list(fresh.keks) != [old]
        vault = Vault(db, fresh, data / "vault")
        for n, object_id in enumerate(ids):
            assert vault.read(object_id) == pattern(3000, n)

        assert "due: nothing" in _telesec(env, "retention", "run", "--dry-run").stdout
        archive = data.parent / "b.tsb"
        made = _telesec(env, "backup", "create", str(archive))
        assert made.returncode == 0 and "3 objects" in made.stdout, made.stderr
        restored = _telesec(env, "backup", "restore", str(archive), "--into",
                            str(data.parent / "restored"))
        assert "restored 3 objects" in restored.stdout, restored.stderr
    finally:
        identity.uninstall()
        db.dispose()


def test_exposed_keyring_is_refused_in_one_line(env: dict[str, str]) -> None:
    keyring_path = Path(env["TELESEC_DATA_DIR"]) / "keyring.json"
    keyring_path.chmod(0o644)
    done = _telesec(env, "keys", "status")
    assert done.returncode == 2
    assert "chmod 600" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_blind_index_rotation_sealing_and_status(env: dict[str, str]) -> None:
    data = Path(env["TELESEC_DATA_DIR"])
    keyring_path = data / "keyring.json"
    db = Database(f"sqlite:///{data / 'telesec.db'}")
    try:
        identity.install(Keyring.load(keyring_path))
        practice = make_practice(db)
        with db.session() as s:
            patient = PatientDirectory(s).add(practice, first_name="Inès", last_name="Roux",
                                              birth_date=date(1988, 8, 8), phone="0612121212",
                                              actor="staff:test")
        query = text("SELECT phone_index, last_name_index, full_name_index, name_birth_index "
                     "FROM patients")
        with db.engine.connect() as conn:
            before = set(conn.execute(query).one())
        done = _telesec(env, "keys", "rotate", "--blind-index")
        assert done.returncode == 0, done.stderr
        assert "1 patients reindexed" in done.stdout and "Restart" in done.stdout
        with db.engine.connect() as conn:
            assert not before & set(conn.execute(query).one())
        identity.install(Keyring.load(keyring_path))
        with db.session() as s:
            d = PatientDirectory(s)
            assert [p.id for p in d.find_by_phone(practice, "06 12 12 12 12")] == [patient.id]
            assert [p.id for p in d.find_by_birth_date_and_name(
                practice, date(1988, 8, 8), "Inès Roux")] == [patient.id]
    finally:
        identity.uninstall()
        db.dispose()
    status = _telesec(env, "keys", "status")
    assert "audit checkpoint public key: ed25519:" in status.stdout, status.stderr

    with_passphrase = {**env, "TELESEC_KEYRING_PASSPHRASE": "correct horse battery"}
    refused = _telesec(with_passphrase, "keys", "status")
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "not sealed" in refused.stderr and "telesec keys seal" in refused.stderr
    assert _telesec(with_passphrase, "keys", "seal").returncode == 0
    assert _telesec(with_passphrase, "keys", "status").returncode == 0
    assert "is sealed" in _telesec(env, "keys", "status").stderr
