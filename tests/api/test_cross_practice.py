"""Objects found through caller-chosen values stay inside their practice.

A SIP Call-ID is chosen by the caller and a booking's idempotency key by the staff
client: neither may reach the objects of another practice, nor tell that they exist.
SQLite only (the rules are in Python and in the queries, not in the database).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from storage.models import AuditEvent, ObjectKind
from tests.api.conftest import ApiWorld
from tests.api.helpers import VOICEMAIL_MEDIA_TYPE, tone


def _shared_voicemail(world: ApiWorld, practice_id: int, call_id: str,
                      transcript: str | None) -> str:
    object_id = world.vault.put(ObjectKind.VOICEMAIL, tone(0.2), practice_id=practice_id,
                                call_id=call_id, media_type=VOICEMAIL_MEDIA_TYPE)
    if transcript is not None:
        world.vault.put(ObjectKind.TRANSCRIPT, transcript.encode(), practice_id=practice_id,
                        call_id=call_id, media_type="text/plain; charset=utf-8")
    return object_id


def test_a_reused_call_id_does_not_reach_another_practices_transcript(
    sqlite_world: ApiWorld,
) -> None:
    world = sqlite_world
    world.add_user("sam", "secretary", practices=["demo"])
    world.add_user("sue", "secretary", practices=["other"])
    world.ready("sam")
    world.ready("sue")
    call_id = uuid.uuid4().hex  # practice B's call; a caller of A sends the same Call-ID
    theirs = _shared_voicemail(world, world.other_id, call_id, "rappel pour Ana Autre")
    ours = _shared_voicemail(world, world.demo_id, call_id, None)

    sam = world.headers("sam")
    listed = {m["id"]: m for m in world.client.get("/voicemail", headers=sam).json()}
    assert theirs not in listed and listed[ours]["has_transcript"] is False
    assert world.client.get(f"/voicemail/{ours}", headers=sam).json()["has_transcript"] is False
    answer = world.client.get(f"/voicemail/{ours}/transcript", headers=sam)
    assert answer.status_code == 404, answer.text
    assert "Ana" not in answer.text
    # B's own secretary still reads it
    mine = world.client.get(f"/voicemail/{theirs}/transcript", headers=world.headers("sue"))
    assert mine.status_code == 200 and mine.json()["text"] == "rappel pour Ana Autre"
    with world.db.read_session() as session:
        reads = session.scalars(select(AuditEvent.actor).where(
            AuditEvent.action == "transcript.read")).all()
    assert reads == ["staff:sue"]


def _patient_of(world: ApiWorld, practice_id: int, code: str | None = None) -> int:
    from datetime import date

    from storage.patients import PatientDirectory

    with world.db.session() as session:
        directory = PatientDirectory(session)
        if code is not None:
            found = directory.by_code(practice_id, code)
        else:
            found = directory.add(practice_id, first_name="Ana", last_name="Autre",
                                  actor="cli:test", birth_date=date(1980, 1, 1))
        assert found is not None
        return found.id


def _booking(world: ApiWorld, login: str, slug: str, patient_id: int, key: str,
             index: int = 0) -> dict[str, object]:
    slots = world.client.get(f"/practices/{slug}/slots", headers=world.headers(login),
                             params={"visit_type": "consultation", "limit": 3}).json()
    return {"patient_id": patient_id, "practitioner_id": slots[index]["practitioner_id"],
            "visit_type": "consultation", "starts_at": slots[index]["starts_at"],
            "idempotency_key": key}


def test_idempotency_keys_belong_to_one_practice(sqlite_world: ApiWorld) -> None:
    world = sqlite_world
    world.add_user("sam", "secretary", practices=["demo"])
    world.add_user("sue", "secretary", practices=["other"])
    world.ready("sam")
    world.ready("sue")
    sam, sue = world.headers("sam"), world.headers("sue")
    theirs = _patient_of(world, world.demo_id, "100002")
    ours = _patient_of(world, world.other_id)
    key = "console-shared-key"
    booked = world.client.post("/practices/demo/appointments", headers=sam,
                               json=_booking(world, "sam", "demo", theirs, key))
    assert booked.status_code == 201, booked.text

    # B replays A's key with A's booking: nothing of A's appointment comes back
    stolen = world.client.post("/practices/other/appointments", headers=sue,
                               json=_booking(world, "sue", "other", theirs, key))
    assert stolen.status_code == 404, stolen.text
    assert str(booked.json()["id"]) not in stolen.text
    # B uses the same key for its own patient: an ordinary booking, not a 409 that would
    # confirm that the key exists elsewhere
    own = world.client.post("/practices/other/appointments", headers=sue,
                            json=_booking(world, "sue", "other", ours, key))
    assert own.status_code == 201, own.text
    assert own.json()["id"] != booked.json()["id"]
    moved = world.client.post(f"/appointments/{own.json()['id']}/move", headers=sue, json={
        **{k: v for k, v in _booking(world, "sue", "other", ours, key, 1).items()
           if k in ("practitioner_id", "starts_at")}, "idempotency_key": key})
    assert moved.status_code == 409  # B's own booking's key: B's own conflict
    assert moved.json()["code"] == "idempotency_key_reused"

    # A's replay of its own key answers the same appointment, and is audited
    again = world.client.post("/practices/demo/appointments", headers=sam,
                              json=_booking(world, "sam", "demo", theirs, key) | {
                                  "practitioner_id": booked.json()["practitioner_id"],
                                  "starts_at": booked.json()["starts_at"]})
    assert again.status_code == 201 and again.json()["id"] == booked.json()["id"]
    with world.db.read_session() as session:
        events = session.execute(select(AuditEvent.actor, AuditEvent.action,
                                        AuditEvent.practice_id, AuditEvent.source).where(
            AuditEvent.action.in_(("appointment.replay", "appointment.key_reused")))).all()
    assert ("staff:sam", "appointment.replay", world.demo_id, "testclient") in events
    assert ("staff:sue", "appointment.key_reused", world.other_id, "testclient") in events


def test_the_end_of_a_call_reaches_only_its_own_practices_escalations(
    sqlite_world: ApiWorld,
) -> None:
    from storage import calls, escalations
    from storage.models import Escalation

    world = sqlite_world
    call_id = uuid.uuid4().hex  # B's call; a caller of A copies its Call-ID
    calls.call_started(world.db, call_id, world.other_id)
    theirs = escalations.publish(world.db, call_id=call_id, practice_id=world.other_id,
                                 intent="book", reason="asked_for_human")
    ours = escalations.publish(world.db, call_id=call_id, practice_id=world.demo_id,
                               intent="book", reason="asked_for_human")
    _shared_voicemail(world, world.demo_id, call_id, None)
    changed = escalations.call_ended(world.db, call_id, outcome="caller_hung_up",
                                     caller_number="+33612345678", practice_id=world.demo_id)
    assert changed == [ours]
    with world.db.read_session() as session:
        other = session.get_one(Escalation, theirs)
        assert other.call_ended_at is None and other.voicemail_object_id is None
    assert escalations.caller_number(world.db, theirs) is None
    assert escalations.caller_number(world.db, ours) == "+33612345678"
