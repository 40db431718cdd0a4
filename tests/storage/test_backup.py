"""Backups: round trip into an empty data dir, shreds after the backup stay shredded."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from storage import audit
from storage.backup import BackupError, create_backup, restore_backup
from storage.db import Database
from storage.erasure import erase_patient
from storage.keyring import Keyring
from storage.models import ObjectKind, ObjectStatus
from storage.patients import PatientDirectory
from storage.retention import Retention
from storage.vault import Vault, VaultError, VaultIntegrityError
from tests.storage.identity_helpers import make_practice
from tests.storage.vault_helpers import files_under, pattern


def _fill(vault: Vault) -> tuple[dict[str, bytes], int]:
    practice = make_practice(vault.db)
    with vault.db.session() as session:
        patient = PatientDirectory(session).add(
            practice, first_name="Élise", last_name="Bernard", birth_date=date(1990, 3, 4),
            phone="06 12 34 56 78",
            actor="staff:test",
        )
    objects = {}
    for n, size in enumerate([0, 900, 5000, 70_000]):
        data = pattern(size, seed=n)
        objects[vault.put(ObjectKind.RECORDING, data, practice_id=practice,
                          patient_id=patient.id)] = data
    return objects, patient.id


def test_round_trip_into_an_empty_dir(vault: Vault, keyring: Keyring, tmp_path: Path) -> None:
    objects, patient_id = _fill(vault)
    truncated = vault.create(ObjectKind.VOICEMAIL)  # still being written: not in the archive
    truncated.append(pattern(3000))
    archive = tmp_path / "backup.tsb"
    summary = create_backup(vault.db, vault.root, keyring, archive)
    assert summary.objects == len(objects)
    content = archive.read_bytes()
    for data in objects.values():
        assert not data or data[:32] not in content
    assert b"Bernard" not in content

    gone = next(iter(objects))
    Retention(vault).shred(gone, actor="staff:dpo", purpose="erasure request")
    truncated.abort()

    into = tmp_path / "restored"
    result = restore_backup(archive, Keyring.load(keyring.path), into)
    assert result.kept_destroyed == 2  # the shredded one, and the half-written one
    assert result.objects == len(objects) - 1
    restored = Database(result.database_url)
    try:
        again = Vault(restored, keyring, into / "vault")
        for object_id, data in objects.items():
            if object_id == gone:
                assert again.get(object_id).status is ObjectStatus.SHREDDED
                assert again.get(object_id).wrapped_dek is None
                with pytest.raises(VaultError, match="destroyed"):
                    again.read(object_id)
            else:
                assert again.read(object_id) == data
        assert not any(gone in p.name for p in files_under(into))
        with restored.session() as session:
            assert PatientDirectory(session).get(patient_id).last_name == "Bernard"
            assert audit.verify(session, keyring).intact
    finally:
        restored.dispose()


def test_refusals(vault: Vault, keyring: Keyring, tmp_path: Path) -> None:
    vault.put(ObjectKind.TRANSCRIPT, pattern(200_000))
    archive = tmp_path / "backup.tsb"
    create_backup(vault.db, vault.root, keyring, archive)
    with pytest.raises(BackupError, match="already exists"):
        create_backup(vault.db, vault.root, keyring, archive)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    with pytest.raises(BackupError, match="not empty"):
        restore_backup(archive, keyring, busy)
    with pytest.raises(BackupError, match="cannot be opened"):
        restore_backup(archive, Keyring.create(tmp_path / "other.json"), tmp_path / "r1")
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x10
    damaged = tmp_path / "damaged.tsb"
    damaged.write_bytes(bytes(data))
    with pytest.raises(VaultIntegrityError):
        restore_backup(damaged, keyring, tmp_path / "r2")
    cut = tmp_path / "cut.tsb"
    cut.write_bytes(archive.read_bytes()[:-2000])
    with pytest.raises(VaultIntegrityError):
        restore_backup(cut, keyring, tmp_path / "r3")


def test_retired_key_makes_old_archives_noise(
    vault: Vault, keyring: Keyring, tmp_path: Path
) -> None:
    vault.put(ObjectKind.RECORDING, pattern(1000))
    archive = tmp_path / "old.tsb"
    create_backup(vault.db, vault.root, keyring, archive)
    old = keyring.current_kek_id
    keyring.rotate()
    vault.rewrap_all()
    keyring.retire(old)
    with pytest.raises(BackupError, match="cannot be opened"):
        restore_backup(archive, keyring, tmp_path / "r")


def test_a_patient_erased_after_the_backup_stays_erased_after_a_restore(
    vault: Vault, keyring: Keyring, tmp_path: Path
) -> None:
    objects, patient_id = _fill(vault)
    archive = tmp_path / "backup.tsb"
    create_backup(vault.db, vault.root, keyring, archive)
    with vault.db.session() as session:
        erase_patient(session, patient_id, actor="staff:dpo", reason="GDPR request 42",
                      vault=vault)

    into = tmp_path / "restored"
    result = restore_backup(archive, Keyring.load(keyring.path), into)
    assert result.objects == 0  # every object of the patient was shredded by the erasure
    restored = Database(result.database_url)
    try:
        with restored.session() as session:
            with pytest.raises(LookupError):
                PatientDirectory(session).get(patient_id)
            assert audit.verify(session, keyring).intact
        again = Vault(restored, keyring, into / "vault")
        for object_id in objects:
            assert again.get(object_id).status is ObjectStatus.SHREDDED
    finally:
        restored.dispose()
