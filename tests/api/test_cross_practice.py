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
