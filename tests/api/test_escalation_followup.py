"""The queue after the call, through the API: hung-up callers, the voicemail they left,
the number to call back revealed on demand (audited), and call-backs with their outcome."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from storage import calls, escalations
from storage.models import AuditEvent, ObjectKind
from tests.api.conftest import ApiWorld


def test_a_hung_up_caller_is_called_back(world: ApiWorld) -> None:
    world.add_user("sam", "secretary", practices=["demo"])
    world.add_user("sue", "secretary", practices=["other"])
    for login in ("sam", "sue"):
        world.ready(login)
    call_id = uuid.uuid4().hex
    calls.call_started(world.db, call_id, world.demo_id)
    escalation = escalations.publish(world.db, call_id=call_id, practice_id=world.demo_id,
                                     intent="book", reason="caller_transfer",
                                     caller_number="+33639980088")
    message = world.vault.put(ObjectKind.VOICEMAIL, b"\0\0" * 1600,
                              practice_id=world.demo_id, call_id=call_id)
    escalations.call_ended(world.db, call_id, outcome="caller_hung_up")

    (listed,) = world.client.get("/escalations", headers=world.headers("sam")).json()
    assert listed["caller_line"] == "hung_up" and listed["caller_number_known"]
    assert listed["voicemail_object_id"] == message and "+336" not in str(listed)
    assert world.client.get(f"/escalations/{escalation}/caller-number",
                            headers=world.headers("sue")).status_code == 404
    revealed = world.client.get(f"/escalations/{escalation}/caller-number",
                                headers=world.headers("sam"))
    assert revealed.status_code == 200 and revealed.json() == {"number": "+33639980088"}
    with world.db.read_session() as session:
        reads = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "escalation.caller_number.read")).all()
        assert [(e.actor, e.object_id) for e in reads] == [("staff:sam", str(escalation))]
        assert "639980088" not in reads[0].detail

    tried = world.client.post(f"/escalations/{escalation}/callbacks",
                              headers=world.headers("sam"), json={"outcome": "no_answer"})
    assert tried.status_code == 200, tried.text
    assert tried.json()["status"] == "claimed"
    assert [c["outcome"] for c in tried.json()["callbacks"]] == ["no_answer"]
    assert world.client.post(f"/escalations/{escalation}/callbacks",
                             headers=world.headers("sam"),
                             json={"outcome": "maybe"}).status_code == 422
    reached = world.client.post(f"/escalations/{escalation}/callbacks",
                                headers=world.headers("sam"), json={"outcome": "reached"})
    assert reached.json()["status"] == "resolved"
    assert reached.json()["resolution"] == "called_back"
    assert world.client.post(f"/escalations/{escalation}/callbacks",
                             headers=world.headers("sam"),
                             json={"outcome": "no_answer"}).status_code == 409
    assert world.client.get("/escalations", headers=world.headers("sam")).json() == []
