"""After the call, on SQLite and PostgreSQL: the queue learns how the call ended, links
the voicemail left after it, keeps the number to call back sealed, records call-backs;
an emergency heard in a voicemail makes the escalation urgent and alerts staff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select, text

from ivr_flows.call import VoicemailMeta
from ivr_flows.voicemail_emergency import EmergencyVoicemails
from scheduling.practices import create_practice
from storage import escalations
from storage.db import Database
from storage.escalations import EscalationConflict
from storage.keyring import Keyring
from storage.models import Notification, NotificationKind, ObjectKind
from storage.vault import Vault


@pytest.fixture
def practice_id(db: Database) -> int:
    with db.session() as session:
        return create_practice(session, slug="p", name="Cabinet P", actor="cli:test").id


def publish(db: Database, practice_id: int, call_id: str, **extra: object) -> int:
    return escalations.publish(db, call_id=call_id, practice_id=practice_id, intent="book",
                               reason="caller_transfer", **extra)  # type: ignore[arg-type]


def test_the_number_to_call_back_is_sealed_and_opened_on_demand(
        db: Database, practice_id: int) -> None:
    kept = publish(db, practice_id, "call-1", caller_number="06 39 98 00 42")
    withheld = publish(db, practice_id, "call-2", caller_number="anonymous")
    with db.session() as session:
        raw = session.execute(text("SELECT caller_number_sealed FROM escalations WHERE id = :i"),
                              {"i": kept}).scalar_one()
    assert b"639980042" not in bytes(raw)
    assert escalations.get(db, kept).caller_number_known
    assert escalations.caller_number(db, kept) == "+33639980042"
    assert not escalations.get(db, withheld).caller_number_known
    assert escalations.caller_number(db, withheld) is None
    # the number given by a caller who withheld theirs arrives with the end of the call
    escalations.call_ended(db, "call-2", outcome="caller_hung_up",
                           caller_number="0639980043")
    assert escalations.caller_number(db, withheld) == "+33639980043"


def test_the_end_of_the_call_and_the_voicemail_reach_the_escalation(
        db: Database, practice_id: int, installed_keyring: Keyring, tmp_path: Path) -> None:
    hung_up = publish(db, practice_id, "call-3")
    answered = publish(db, practice_id, "call-4")
    assert escalations.get(db, hung_up).caller_line == "waiting"
    vault = Vault(db, installed_keyring, tmp_path / "vault")
    message = vault.put(ObjectKind.VOICEMAIL, b"\0\0" * 800, practice_id=practice_id,
                        call_id="call-3")
    before = escalations.get(db, hung_up).revision
    assert escalations.call_ended(db, "call-3", outcome="caller_hung_up") == [hung_up]
    escalations.call_ended(db, "call-4", outcome="transferred")
    gone = escalations.get(db, hung_up)
    assert gone.caller_line == "hung_up" and gone.voicemail_object_id == message
    assert gone.revision == before + 1 and gone.status == "waiting"  # still to call back
    assert escalations.get(db, answered).caller_line == "answered"
    assert escalations.call_ended(db, "call-3", outcome="completed") == []  # once


def test_call_backs_are_recorded_and_reaching_the_caller_resolves(
        db: Database, practice_id: int) -> None:
    first = publish(db, practice_id, "call-5")
    done = escalations.record_callback(db, first, "sam", "no_answer")
    assert done.status == "claimed" and done.claimed_by == "sam"
    with pytest.raises(EscalationConflict):
        escalations.record_callback(db, first, "sue", "reached")
    escalations.record_callback(db, first, "sam", "message_left")
    done = escalations.record_callback(db, first, "sam", "reached")
    assert (done.status, done.resolution) == ("resolved", "called_back")
    assert [c["outcome"] for c in done.callbacks] == ["no_answer", "message_left", "reached"]
    assert all(c["by"] == "sam" for c in done.callbacks)
    with pytest.raises(EscalationConflict):
        escalations.record_callback(db, first, "sam", "no_answer")
    with pytest.raises(ValueError):
        escalations.record_callback(db, publish(db, practice_id, "call-6"), "sam", "maybe")


def test_an_emergency_voicemail_raises_an_urgent_escalation_and_alerts_staff(
        db: Database, practice_id: int) -> None:
    hook = EmergencyVoicemails(db)
    calm = VoicemailMeta("call-7", practice_id, None, None, "fr")
    assert hook("vm-1", calm, "Bonjour, je voudrais renouveler mon ordonnance.", "tr-1") is None
    assert escalations.open_escalations(db) == []
    night = VoicemailMeta("call-8", practice_id, None, None, "fr")
    raised = hook("vm-2", night, "Docteur, mon mari ne respire plus, venez vite", "tr-2")
    found = escalations.get(db, raised)
    assert found.priority and found.voicemail_object_id == "vm-2"
    assert found.context["reason"] == "emergency_voicemail"
    assert found.context["transcript_object_id"] == "tr-2"
    # a call already on the queue becomes urgent instead of getting a second card
    waiting = publish(db, practice_id, "call-9")
    english = VoicemailMeta("call-9", practice_id, None, None, "en")
    assert hook("vm-3", english, "my wife has chest pain and cannot breathe", "tr-3") == waiting
    assert escalations.get(db, waiting).priority
    with db.session() as session:
        alerts = session.scalars(select(Notification).where(
            Notification.kind == NotificationKind.URGENT_ESCALATION)).all()
        assert sorted(a.escalation_id for a in alerts) == sorted([raised, waiting])
        assert all("respire" not in json.dumps(a.error or "") for a in alerts)


def test_key_rotation_reseals_the_numbers_to_call_back(
        db: Database, practice_id: int, installed_keyring: Keyring) -> None:
    kept = publish(db, practice_id, "call-10", caller_number="+33639980044")
    publish(db, practice_id, "call-11")  # no number: nothing to reseal
    old = installed_keyring.current_kek_id
    installed_keyring.rotate()
    assert escalations.reseal_caller_numbers(db) == 1
    assert escalations.reseal_caller_numbers(db) == 0
    with db.session() as session:
        raw = session.execute(text("SELECT caller_number_sealed FROM escalations WHERE id = :i"),
                              {"i": kept}).scalar_one()
    from storage.identity import sealed_kek_id

    assert sealed_kek_id(bytes(raw)) != old
    assert escalations.caller_number(db, kept) == "+33639980044"


def test_an_escalation_number_is_no_patient_and_outlives_an_erasure_of_the_same_id(
        db: Database, practice_id: int) -> None:
    """Row ids of escalations and patients overlap: erasing patient N must not make the
    number of escalation N unreadable (it is sealed under the KEK, not patient N's key)."""
    from datetime import date

    from storage.erasure import erase_patient
    from storage.patients import PatientDirectory

    with db.session() as session:
        patient = PatientDirectory(session).add(
            practice_id, first_name="Ana", last_name="Ruiz", birth_date=date(1980, 1, 2),
            phone="+33639980050", actor="cli:test")
    escalation = publish(db, practice_id, "call-same-id", caller_number="+33639980051")
    with db.session() as session:  # the same id in both tables: the case that must hold
        session.execute(text("UPDATE escalations SET id = :p WHERE id = :e"),
                        {"p": patient.id, "e": escalation})
        erase_patient(session, patient.id, actor="cli:test", reason="request")
    assert escalations.caller_number(db, patient.id) == "+33639980051"
