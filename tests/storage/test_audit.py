"""The audit chain: appends, verification, and every kind of tampering it must find."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from storage import audit
from storage.db import Database
from storage.identity import IdentityCipher
from storage.keyring import Keyring
from storage.models import AuditEvent

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _fill(db: Database, count: int, start: int = 0) -> None:
    with db.session() as s:
        for i in range(start, start + count):
            audit.record(
                s, actor=f"staff:user{i % 3}", action="patient.read", object_type="patient",
                object_id=None, purpose="call back", patient_id=100 + i, practice_id=1,
                detail={"screen": "agenda"}, at=T0 + timedelta(minutes=i),
            )


def _problems(db: Database, keyring: Keyring) -> list[str]:
    with db.session() as s:
        return audit.verify(s, keyring).problems


def test_intact_chain_verifies(db: Database, installed_keyring: Keyring) -> None:
    _fill(db, 5)
    with db.session() as s:
        audit.checkpoint(s, installed_keyring)
    _fill(db, 2, start=5)
    with db.session() as s:
        result = audit.verify(s, installed_keyring)
        events = list(s.scalars(text("SELECT seq FROM audit_events ORDER BY seq")))
    assert result.intact, result.problems
    assert result.summary() == "audit chain intact: 7 events, last checkpoint at seq 5"
    assert events == [1, 2, 3, 4, 5, 6, 7]


def test_patient_appears_only_as_pseudonym_in_hashed_fields(
    db: Database, installed_keyring: Keyring
) -> None:
    with db.session() as s:
        event = audit.record(s, actor="staff:ana", action="patient.read", object_type="patient",
                             object_id="42", purpose="booking")
        assert event.patient_id == 42 and event.object_id is None
        assert event.patient_ref == IdentityCipher(installed_keyring).patient_pseudonym(42)
        assert len(event.patient_ref) == 32 and event.patient_ref.isalnum()
    with db.session() as s, pytest.raises(ValueError, match="identity or health"):
        audit.record(s, actor="staff:ana", action="patient.read", object_type="patient",
                     object_id=None, purpose="x", patient_id=1, detail={"last_name": "X"})


def test_edited_field_is_found(db: Database, installed_keyring: Keyring) -> None:
    _fill(db, 5)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'staff:nobody' WHERE seq = 3"))
    assert _problems(db, installed_keyring) == [
        "event 3: its content does not match its hash (edited)"
    ]


def test_edited_patient_id_is_found(db: Database, installed_keyring: Keyring) -> None:
    _fill(db, 3)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET patient_id = 999 WHERE seq = 2"))
    assert _problems(db, installed_keyring) == ["event 2: its patient_id was changed"]


def test_deleted_middle_event_is_found(db: Database, installed_keyring: Keyring) -> None:
    _fill(db, 5)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 3"))
    problems = _problems(db, installed_keyring)
    assert "events 3..3 are missing (deleted)" in problems
    assert any(p.startswith("event 4: does not follow") for p in problems)


def test_inserted_event_is_found(db: Database, installed_keyring: Keyring) -> None:
    _fill(db, 3)
    with db.session() as s:  # an insider appends a plausible event, head and all
        last = s.get(AuditEvent, 3)
        assert last is not None
        s.execute(text(
            "INSERT INTO audit_events (seq, at, actor, action, object_type, purpose, detail, "
            "prev_hash, hash) VALUES (4, :at, 'staff:x', 'patient.read', 'patient', 'x', "
            "'{}', :prev, :hash)"), {"at": T0.replace(tzinfo=None), "prev": last.hash,
                                     "hash": "f" * 64})
        s.execute(text("UPDATE audit_head SET seq = 4, hash = :h"), {"h": "f" * 64})
    problems = _problems(db, installed_keyring)
    assert "event 4: its content does not match its hash (edited)" in problems
    assert "the audit head was altered (its MAC does not match)" in problems


def test_deleted_tail_is_found_against_head_and_checkpoint(
    db: Database, installed_keyring: Keyring
) -> None:
    _fill(db, 6)
    with db.session() as s:
        audit.checkpoint(s, installed_keyring)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq > 4"))
    assert "events 5..6 are missing: deleted from the end" in _problems(db, installed_keyring)
    with db.engine.begin() as conn:  # the insider also rolls the head back to event 4
        head = conn.execute(text("SELECT hash FROM audit_events WHERE seq = 4")).scalar()
        conn.execute(text("UPDATE audit_head SET seq = 4, hash = :h"), {"h": head})
    problems = _problems(db, installed_keyring)
    assert "events 5..6 are missing: deleted after the checkpoint at seq 6" in problems
    assert "the audit head was altered (its MAC does not match)" in problems
    with db.session() as s, pytest.raises(audit.AuditTampered):
        audit.record(s, actor="staff:a", action="patient.read", object_type="patient",
                     object_id=None, purpose="x", patient_id=1)


def test_forged_checkpoint_is_found(db: Database, installed_keyring: Keyring) -> None:
    _fill(db, 4)
    with db.session() as s:
        audit.checkpoint(s, installed_keyring)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_checkpoints SET seq = 9"))
    assert _problems(db, installed_keyring) == [
        "checkpoint at seq 9: bad signature (forged or edited)"
    ]
    forger = Keyring.create(installed_keyring.path.with_name("forger.json"))
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_checkpoints"))
    _insert_checkpoint(db, installed_keyring)  # control: the same construction, right key
    assert _problems(db, installed_keyring) == []
    _insert_checkpoint(db, forger)
    assert _problems(db, installed_keyring) == [
        "checkpoint at seq 4: bad signature (forged or edited)"
    ]


def _insert_checkpoint(db: Database, signer: Keyring) -> None:
    at = T0 + timedelta(days=1)
    with db.session() as s:
        head = s.execute(text("SELECT seq, hash FROM audit_head")).one()
        message = f"telesec-audit-checkpoint-v1|{head.seq}|{head.hash}|"
        message += at.isoformat(timespec="microseconds")
        s.execute(text("INSERT INTO audit_checkpoints (seq, hash, at, signature) "
                       "VALUES (:seq, :hash, :at, :sig)"),
                  {"seq": head.seq, "hash": head.hash, "at": at.replace(tzinfo=None),
                   "sig": signer.audit_signing_key.sign(message.encode()).hex()})


@pytest.mark.parametrize("threads,per_thread", [(6, 15)])
def test_concurrent_writers_do_not_fork_the_chain(
    db: Database, installed_keyring: Keyring, threads: int, per_thread: int
) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def write(worker: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                with db.session() as s:
                    audit.record(s, actor=f"ivr:call{worker}", action="patient.lookup",
                                 object_type="patient", object_id=None, purpose="verify caller",
                                 patient_id=worker * 1000 + i)
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert errors == []
    with db.session() as s:
        result = audit.verify(s, installed_keyring)
    assert result.intact, result.problems
    assert result.events == threads * per_thread
