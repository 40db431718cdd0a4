"""Retention: policies per class, the 180-day cap, crypto-shredding, audit, erasure."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from storage import audit
from storage.erasure import erase_patient
from storage.keyring import Keyring
from storage.models import AuditEvent, ObjectKind, ObjectStatus, VaultObject, utcnow
from storage.patients import PatientDirectory
from storage.retention import Retention
from storage.vault import Vault, VaultError
from storage.vault.retention_policy import RetentionPolicy
from tests.storage.identity_helpers import make_practice
from tests.storage.vault_helpers import files_under, pattern

NOW = utcnow()


def _put(vault: Vault, kind: ObjectKind, age_days: float, **meta: object) -> str:
    writer = vault.create(kind, now=NOW - timedelta(days=age_days), **meta)  # type: ignore[arg-type]
    writer.append(pattern(1500))
    writer.close()
    return writer.object_id


def test_policy_caps_recordings_at_180_days() -> None:
    assert RetentionPolicy(recording_days=400).recording_days == 180
    assert RetentionPolicy(recording_days=0).recording_days == 1
    assert RetentionPolicy().recording_days == 30
    with pytest.raises(ValueError, match="unknown retention class"):
        RetentionPolicy().expires_at("forever", NOW)


def test_run_shreds_what_is_due_and_nothing_else(vault: Vault, keyring: Keyring) -> None:
    practice = make_practice(vault.db)
    due = {
        _put(vault, ObjectKind.RECORDING, 31, practice_id=practice),
        _put(vault, ObjectKind.TRANSCRIPT, 31),
        _put(vault, ObjectKind.EXPORT, 8),
        _put(vault, ObjectKind.SPOOL, 2),
    }
    kept = {
        _put(vault, ObjectKind.RECORDING, 29),
        _put(vault, ObjectKind.EXPORT, 6),
        _put(vault, ObjectKind.VOICEMAIL, 400),  # never handled: kept
    }
    handled = _put(vault, ObjectKind.VOICEMAIL, 60)
    vault.mark_handled(handled, NOW - timedelta(days=31))
    due.add(handled)

    dry = Retention(vault).run(NOW, dry_run=True)
    assert {object_id for object_id, _ in dry.due} == due
    assert all(vault.get(i).status is ObjectStatus.COMPLETE for i in due)

    report = Retention(vault).run(NOW)
    assert report.counts() == {"recording": 1, "transcript": 1, "export": 1, "spool": 1,
                               "voicemail": 1}
    for object_id in due:
        row = vault.get(object_id)
        assert row.status is ObjectStatus.SHREDDED and row.wrapped_dek is None
        assert row.blob_path is None and row.shredded_at is not None
        with pytest.raises(VaultError, match="destroyed"):
            vault.open(object_id)
    assert set(Keyring.load(keyring.path).shredded) == due
    for object_id in kept:
        assert vault.read(object_id) == pattern(1500)
    assert len(files_under(vault.root)) == len(kept)
    with vault.db.session() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action.like("%.shred")))
        assert {e.object_id for e in events} == due
        assert audit.verify(session, keyring).intact
    assert Retention(vault).run(NOW).due == []


def test_cap_applies_to_objects_made_under_a_longer_policy(vault: Vault) -> None:
    long_lived = Vault(vault.db, vault.keyring, vault.root,
                       policy=RetentionPolicy(recording_days=180))
    old = _put(long_lived, ObjectKind.RECORDING, 100)
    assert vault.get(old).expires_at is not None
    # the policy is now 30 days: the 100-day-old recording goes at once
    assert [i for i, _ in Retention(vault).due(NOW)] == [old]
    # and a recording filed under another class still goes at 180 days
    odd = _put(long_lived, ObjectKind.RECORDING, 181, retention_class="voicemail")
    assert odd in [i for i, _ in Retention(long_lived).due(NOW)]


def test_shred_one_object_and_a_patient(vault: Vault, keyring: Keyring) -> None:
    practice = make_practice(vault.db)
    with vault.db.session() as session:
        patient = PatientDirectory(session).add(
            practice, first_name="Jeanne", last_name="Martin", birth_date=date(1970, 1, 2),
            actor="staff:test",
        )
    mine = [_put(vault, ObjectKind.VOICEMAIL, 1, patient_id=patient.id) for _ in range(2)]
    other = _put(vault, ObjectKind.RECORDING, 1)
    retention = Retention(vault)
    assert retention.shred(other, actor="staff:admin", purpose="request 42")
    assert not retention.shred(other, actor="staff:admin", purpose="request 42")
    assert sorted(retention.shred_patient(patient.id, actor="staff:admin",
                                          purpose="erasure 7")) == sorted(mine)
    with vault.db.session() as session:
        rows = session.scalars(select(VaultObject)).all()
        assert all(r.status is ObjectStatus.SHREDDED and r.patient_id is None for r in rows)
    assert files_under(vault.root) == []


def test_patient_erasure_shreds_through_the_vault(vault: Vault, keyring: Keyring) -> None:
    practice = make_practice(vault.db)
    with vault.db.session() as session:
        patient = PatientDirectory(session).add(
            practice, first_name="Paul", last_name="Durand", birth_date=date(1980, 5, 6),
            actor="staff:test",
        )
    object_id = _put(vault, ObjectKind.RECORDING, 1, patient_id=patient.id)
    with vault.db.session() as session:
        report = erase_patient(session, patient.id, "staff:dpo", "request 9", vault=vault)
    assert report.objects_shredded == 1
    assert vault.get(object_id).status is ObjectStatus.SHREDDED
    assert object_id in Keyring.load(keyring.path).shredded
    assert files_under(vault.root) == []  # deleted after the erasure's commit
