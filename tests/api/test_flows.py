"""The staff API's main flows, on SQLite and PostgreSQL, with a real keyring and vault."""

from __future__ import annotations

import io
import json
import struct
import tarfile
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from storage.models import AuditEvent, Practitioner
from storage.patients import PatientDirectory
from tests.api.conftest import ApiWorld
from tests.api.helpers import escalate, finished_call, voicemail


def _staff(world: ApiWorld) -> None:
    world.add_user("ada", "admin")
    world.add_user("sam", "secretary", practices=["demo"])
    world.add_user("lambert", "doctor", practices=["demo"], practitioner="dr-lambert")
    for login in ("ada", "sam", "lambert"):
        world.ready(login)


def _patient(world: ApiWorld, code: str = "100001") -> int:
    with world.db.read_session() as session:
        record = PatientDirectory(session).by_code(world.demo_id, code)
    assert record is not None
    return record.id


def _practitioner(world: ApiWorld, slug: str) -> int:
    with world.db.read_session() as session:
        found = session.scalar(select(Practitioner.id).where(Practitioner.slug == slug))
    assert found is not None
    return found


def _actions(world: ApiWorld, actor: str) -> list[str]:
    with world.db.read_session() as session:
        return list(session.scalars(select(AuditEvent.action).where(
            AuditEvent.actor == actor).order_by(AuditEvent.seq)))


def test_admin_configures_a_practice(world: ApiWorld) -> None:
    _staff(world)
    admin = world.headers("ada")
    made = world.client.post("/practices", headers=admin, json={
        "slug": "nord", "name": "Cabinet du Nord", "timezone": "Europe/Paris"})
    assert made.status_code == 201, made.text
    again = world.client.post("/practices", headers=admin, json={"slug": "nord", "name": "X"})
    assert again.status_code == 409
    person = world.client.post("/practices/nord/practitioners", headers=admin,
                               json={"slug": "dr-nord", "name": "Docteur Nord"})
    assert person.status_code == 201
    opening = world.client.put(
        f"/practices/nord/practitioners/{person.json()['id']}/opening", headers=admin,
        json={"opening": {"mon": ["08:30-12:00", "14:00-18:00"], "sat": ["09:00-12:00"]}})
    assert opening.status_code == 200
    assert opening.json()["opening"] == {"mon": ["08:30-12:00", "14:00-18:00"],
                                         "sat": ["09:00-12:00"]}
    bad = world.client.put(f"/practices/nord/practitioners/{person.json()['id']}/opening",
                           headers=admin, json={"opening": {"mon": ["12:00-08:00"]}})
    assert bad.status_code == 422
    kind = world.client.post("/practices/nord/visit-types", headers=admin, json={
        "code": "consultation", "label": "Consultation", "duration_minutes": 20})
    assert kind.status_code == 201
    detail = world.client.get("/practices/nord", headers=admin).json()
    assert [p["slug"] for p in detail["practitioners"]] == ["dr-nord"]
    assert [k["code"] for k in detail["visit_types"]] == ["consultation"]
    assert "practice.create" in _actions(world, "staff:ada")


def test_secretary_searches_books_moves_and_cancels(world: ApiWorld) -> None:
    _staff(world)
    sam = world.headers("sam")
    patient = _patient(world, "100002")
    slots = world.client.get("/practices/demo/slots", headers=sam,
                             params={"visit_type": "consultation", "limit": 3})
    assert slots.status_code == 200 and len(slots.json()) == 3
    first, second = slots.json()[0], slots.json()[1]
    booking = {"patient_id": patient, "practitioner_id": first["practitioner_id"],
               "visit_type": "consultation", "starts_at": first["starts_at"],
               "idempotency_key": "console-0001"}
    booked = world.client.post("/practices/demo/appointments", headers=sam, json=booking)
    assert booked.status_code == 201, booked.text
    appointment = booked.json()
    replay = world.client.post("/practices/demo/appointments", headers=sam, json=booking)
    assert replay.status_code == 201 and replay.json()["id"] == appointment["id"]
    taken = world.client.post("/practices/demo/appointments", headers=sam, json={
        **booking, "patient_id": _patient(world, "100003"), "idempotency_key": "console-0002"})
    assert taken.status_code == 409 and taken.json()["code"] == "slot_taken"
    local_day = datetime.fromisoformat(first["starts_at"]).astimezone().date()
    day = world.client.get("/practices/demo/agenda", headers=sam,
                           params={"day": local_day.isoformat()})
    assert appointment["id"] in [a["id"] for a in day.json()]
    moved = world.client.post(f"/appointments/{appointment['id']}/move", headers=sam, json={
        "practitioner_id": second["practitioner_id"], "starts_at": second["starts_at"],
        "idempotency_key": "console-move-1"})
    assert moved.status_code == 200, moved.text
    new_id = moved.json()["new"]["id"]
    assert moved.json()["old"]["status"] == "moved"
    cancelled = world.client.post(f"/appointments/{new_id}/cancel", headers=sam)
    assert cancelled.status_code in (200, 409)  # staff may cancel late; the rule decides
    if cancelled.status_code == 200:
        assert cancelled.json()["status"] == "cancelled"
    # on the first slot, freed by the move (the second stays taken when the rule refuses
    # a late cancel, and a taken slot answers 409 before the patient is looked up)
    unknown_patient = world.client.post("/practices/demo/appointments", headers=sam, json={
        **booking, "patient_id": 999999, "idempotency_key": "console-0003"})
    assert unknown_patient.status_code == 404
    assert "agenda.read" in _actions(world, "staff:sam")


def test_a_reused_idempotency_key_is_409_and_changes_nothing(world: ApiWorld) -> None:
    _staff(world)
    sam = world.headers("sam")
    slots = world.client.get("/practices/demo/slots", headers=sam,
                             params={"visit_type": "consultation", "limit": 3}).json()
    booking = {"patient_id": _patient(world, "100002"),
               "practitioner_id": slots[0]["practitioner_id"], "visit_type": "consultation",
               "starts_at": slots[0]["starts_at"], "idempotency_key": "console-k1"}
    booked = world.client.post("/practices/demo/appointments", headers=sam, json=booking)
    assert booked.status_code == 201, booked.text
    before = _actions(world, "staff:sam")
    other = world.client.post("/practices/demo/appointments", headers=sam, json={
        **booking, "patient_id": _patient(world, "100003"), "starts_at": slots[1]["starts_at"],
        "practitioner_id": slots[1]["practitioner_id"]})
    assert other.status_code == 409, other.text
    assert other.json()["code"] == "idempotency_key_reused"
    assert "already used for another request" in other.json()["message"]
    moved = world.client.post(f"/appointments/{booked.json()['id']}/move", headers=sam, json={
        "practitioner_id": slots[2]["practitioner_id"], "starts_at": slots[2]["starts_at"],
        "idempotency_key": "console-k1"})  # the key of the booking, not of a move
    assert moved.status_code == 409 and moved.json()["code"] == "idempotency_key_reused"
    # nothing was written: no appointment, no hold left behind, no audit event
    after = _actions(world, "staff:sam")
    assert after[len(before):].count("appointment.book") == 0
    assert "appointment.move" not in after[len(before):]
    free = world.client.get("/practices/demo/slots", headers=sam,
                            params={"visit_type": "consultation", "limit": 3}).json()
    assert slots[1]["starts_at"] in [s["starts_at"] for s in free]


def test_account_errors_are_answered_by_type(world: ApiWorld) -> None:
    _staff(world)
    admin = world.headers("ada")
    ghost = world.client.patch("/users/ghost", headers=admin, json={"practice_ids": []})
    assert ghost.status_code == 404 and ghost.json()["code"] == "not_found"
    twice = world.client.post("/users", headers=admin, json={"login": "sam", "role": "admin"})
    assert twice.status_code == 409 and twice.json()["message"] == "a user 'sam' already exists"
    box = world.client.patch("/users/sam", headers=admin, json={"shared_box": True})
    assert box.status_code == 409 and box.json()["code"] == "conflict"
    nowhere = world.client.post("/users", headers=admin, json={
        "login": "newbie", "role": "secretary", "practices": ["nowhere"]})
    assert nowhere.status_code == 404
    wrong = world.client.post("/auth/password", headers=world.headers("sam"), json={
        "current_password": "not the password", "new_password": "a long new passphrase"})
    assert wrong.status_code == 400 and wrong.json() == {
        "code": "bad_request", "message": "the current password is wrong"}


def test_patients_are_created_found_and_every_read_is_audited(world: ApiWorld) -> None:
    _staff(world)
    sam = world.headers("sam")
    made = world.client.post("/practices/demo/patients", headers=sam, json={
        "first_name": "Éloïse", "last_name": "Dupont-Laval", "birth_date": "1990-04-02",
        "phone": "06 39 98 00 99"})
    assert made.status_code == 201, made.text
    patient = made.json()
    assert patient["phone"] == "+33639980099"
    by_name = world.client.get("/practices/demo/patients", headers=sam,
                               params={"last_name": "dupont laval", "first_name": "eloise"})
    assert [p["id"] for p in by_name.json()] == [patient["id"]]
    by_birth = world.client.get("/practices/demo/patients", headers=sam,
                                params={"birth_date": "1990-04-02"})
    assert patient["id"] in [p["id"] for p in by_birth.json()]
    by_phone = world.client.get("/practices/demo/patients", headers=sam,
                                params={"phone": "+33 6 39 98 00 99"})
    assert [p["id"] for p in by_phone.json()] == [patient["id"]]
    two = world.client.get("/practices/demo/patients", headers=sam,
                           params={"phone": "0639980099", "birth_date": "1990-04-02"})
    assert two.status_code == 422
    changed = world.client.patch(f"/patients/{patient['id']}", headers=sam,
                                 json={"last_name": "Durand"})
    assert changed.status_code == 200 and changed.json()["last_name"] == "Durand"
    assert world.client.get(f"/patients/{patient['id']}", headers=sam).status_code == 200
    with world.db.read_session() as session:
        events = session.scalars(select(AuditEvent).where(
            AuditEvent.patient_id == patient["id"]).order_by(AuditEvent.seq)).all()
    actions = [e.action for e in events]
    assert actions.count("patient.search") == 3 and "patient.read" in actions
    assert any(a.startswith("patient.") and a.endswith(("create", "add")) for a in actions)
    assert any(a == "patient.update" for a in actions)
    assert all("Dupont" not in e.detail and "Éloïse" not in e.detail for e in events)


def _stream(world: ApiWorld, headers: dict[str, str], events: int) -> list[tuple[str, dict]]:
    result: dict[str, str] = {}

    def listen() -> None:
        answer = world.client.get("/escalations/stream", headers=headers,
                                  params={"max_events": events, "max_seconds": 20})
        result["type"] = answer.headers["content-type"]
        result["body"] = answer.text

    thread = threading.Thread(target=listen)
    thread.start()
    deadline = time.monotonic() + 10
    while world.app.state.context.feed.listeners == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    return thread, result  # type: ignore[return-value]


def _parse_sse(body: str) -> list[tuple[str, dict]]:
    found = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines()
                     if not line.startswith(":"))
        if "event" in lines:
            found.append((lines["event"], json.loads(lines["data"])))
    return found


def test_escalations_stream_live_then_claim_and_resolve(world: ApiWorld) -> None:
    _staff(world)
    sam = world.headers("sam")
    patient = _patient(world)
    waiting = escalate(world)  # already waiting when the console connects
    thread, result = _stream(world, sam, events=3)
    live = escalate(world, patient_id=patient, transcript="je voudrais parler au docteur")
    escalate(world, practice_id=world.other_id)  # another practice: not for sam
    time.sleep(0.1)
    claimed = world.client.post(f"/escalations/{live}/claim", headers=sam)
    assert claimed.status_code == 200 and claimed.json()["claimed_by"] == "sam"
    thread.join(20)
    assert result["type"].startswith("text/event-stream")
    events = _parse_sse(result["body"])
    assert events[0][0] == "snapshot"
    assert [e["id"] for e in events[0][1]["escalations"]] == [waiting]
    assert events[1][0] == "waiting" and events[1][1]["id"] == live
    assert events[1][1]["patient_id"] == patient and events[1][1]["intent"] == "book"
    assert "docteur" not in result["body"]  # what was said never goes down the stream
    assert events[2][0] == "claimed" and events[2][1]["id"] == live

    again = world.client.post(f"/escalations/{live}/claim", headers=sam)
    assert again.status_code == 409
    detail = world.client.get(f"/escalations/{live}", headers=sam).json()
    assert detail["caller"]["patient_id"] == patient
    assert detail["transcript"] == "je voudrais parler au docteur"
    resolved = world.client.post(f"/escalations/{live}/resolve", headers=sam,
                                 json={"resolution": "called_back"})
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    queue = world.client.get("/escalations", headers=sam).json()
    assert [e["id"] for e in queue] == [waiting]
    actions = _actions(world, "staff:sam")
    assert {"patient.read", "transcript.read", "escalation.claim",
            "escalation.resolve"} <= set(actions)


def _wav_fields(data: bytes) -> tuple[int, int, int]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    channels, rate = struct.unpack("<HI", data[22:28])
    return channels, rate, struct.unpack("<I", data[40:44])[0]


def test_voicemail_inbox_playback_with_ranges_transcript_and_handled(world: ApiWorld) -> None:
    _staff(world)
    doctor = world.headers("lambert")
    mine, pcm = voicemail(world, _practitioner(world, "dr-lambert"), seconds=3.0,
                          transcript="rappelez-moi pour les résultats")
    voicemail(world, _practitioner(world, "dr-moreau"))
    inbox = world.client.get("/voicemail", headers=doctor).json()
    assert [m["id"] for m in inbox] == [mine]
    assert inbox[0]["duration_seconds"] == 3.0 and inbox[0]["has_transcript"]

    whole = world.client.get(f"/voicemail/{mine}/audio", headers=doctor)
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/wav"
    assert whole.headers["accept-ranges"] == "bytes"
    assert _wav_fields(whole.content) == (1, 16000, len(pcm))
    assert whole.content[44:] == pcm
    total = 44 + len(pcm)
    part = world.client.get(f"/voicemail/{mine}/audio",
                            headers={**doctor, "Range": "bytes=40-70099"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 40-70099/{total}"
    assert part.content == whole.content[40:70100]
    tail = world.client.get(f"/voicemail/{mine}/audio", headers={**doctor, "Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == pcm[-10:]
    beyond = world.client.get(f"/voicemail/{mine}/audio",
                              headers={**doctor, "Range": f"bytes={total}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{total}"

    text = world.client.get(f"/voicemail/{mine}/transcript", headers=doctor)
    assert text.json()["text"] == "rappelez-moi pour les résultats"
    assert world.client.post(f"/voicemail/{mine}/handled", headers=doctor).status_code == 200
    assert world.client.get("/voicemail", headers=doctor,
                            params={"handled": "false"}).json() == []
    actions = _actions(world, "staff:lambert")
    assert actions.count("voicemail.play") == 4 - 1  # the 416 served nothing
    assert "transcript.read" in actions and "voicemail.mark_handled" in actions


def test_calls_log_transcripts_and_recordings(world: ApiWorld) -> None:
    _staff(world)
    sam, admin = world.headers("sam"), world.headers("ada")
    patient = _patient(world)
    call_id = finished_call(world, patient_id=patient, transcript="je veux un rendez-vous",
                            recording=b"\x01\x00" * 32000)
    finished_call(world, practice_id=world.other_id)
    mine = world.client.get("/calls", headers=sam).json()
    assert [c["id"] for c in mine] == [call_id]
    assert mine[0]["verified"] and mine[0]["intent"] == "book" and mine[0]["has_transcript"]
    assert len(world.client.get("/calls", headers=admin).json()) == 2
    assert world.client.get(f"/calls/{call_id}/transcript", headers=admin).status_code == 403
    text = world.client.get(f"/calls/{call_id}/transcript", headers=sam)
    assert text.json()["text"] == "je veux un rendez-vous"
    recordings = world.client.get("/recordings", headers=sam).json()
    assert [r["call_id"] for r in recordings] == [call_id]
    audio = world.client.get(f"/recordings/{recordings[0]['id']}/audio", headers=sam)
    assert audio.status_code == 200 and _wav_fields(audio.content)[:2] == (2, 16000)
    assert {"transcript.read", "recording.play"} <= set(_actions(world, "staff:sam"))


def test_audit_verify_report_and_retention(world: ApiWorld) -> None:
    _staff(world)
    admin = world.headers("ada")
    world.client.get(f"/patients/{_patient(world)}", headers=world.headers("sam"))
    verified = world.client.get("/audit/verify", headers=admin).json()
    assert verified["intact"] and verified["events"] > 0
    events = world.client.get("/audit/events", headers=admin,
                              params={"actor": "staff:sam", "action": "patient.read"}).json()
    assert len(events) == 1 and events[0]["patient_id"] == _patient(world)
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    review = world.client.get("/audit/report", headers=admin, params={"since": since})
    assert review.status_code == 200
    assert any(a["actor"] == "staff:sam" and a["reads"] >= 1 for a in review.json()["actors"])
    retention = world.client.get("/retention", headers=admin).json()
    assert retention["recording_days"] == 30 and retention["recording_cap_days"] == 180


def test_gdpr_export_then_erase(world: ApiWorld) -> None:
    _staff(world)
    admin = world.headers("ada")
    patient = _patient(world)
    voicemail(world, None, patient_id=patient, transcript="message")
    finished_call(world, patient_id=patient)
    made = world.client.post(f"/gdpr/patients/{patient}/export", headers=admin,
                             json={"reason": "request 2026-17"})
    assert made.status_code == 201, made.text
    download = world.client.get(f"/gdpr/exports/{made.json()['object_id']}", headers=admin)
    assert download.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(download.content)) as tar:
        names = tar.getnames()
        identity = json.loads(tar.extractfile("patient.json").read())  # type: ignore[union-attr]
    assert identity["last_name"] == "Rousseau"
    assert {"appointments.json", "calls.json", "access_log.json"} <= set(names)
    assert any(n.startswith("objects/voicemail-") and n.endswith(".wav") for n in names)
    assert any(n.startswith("objects/transcript-") for n in names)

    erased = world.client.post(f"/gdpr/patients/{patient}/erase", headers=admin,
                               json={"reason": "request 2026-18"})
    assert erased.status_code == 200, erased.text
    assert erased.json()["objects_shredded"] >= 3  # voicemail, transcript, export
    assert world.client.get(f"/patients/{patient}",
                            headers=world.headers("sam")).status_code == 404
    assert world.client.get(f"/gdpr/exports/{made.json()['object_id']}",
                            headers=admin).status_code == 404
    assert world.client.get("/audit/verify", headers=admin).json()["intact"]


def test_health_metrics_and_security_headers(world: ApiWorld) -> None:
    escalate(world)
    escalate(world, practice_id=world.other_id)
    finished_call(world)
    from storage import calls

    calls.call_started(world.db, "live-call-1", world.demo_id)
    health = world.client.get("/health")
    assert health.json() == {"status": "ok", "database": "ok", "trunks": {}}
    for name in ("content-security-policy", "x-content-type-options", "referrer-policy",
                 "x-frame-options"):
        assert name in health.headers
    assert "strict-transport-security" not in health.headers  # plain HTTP here
    tls = world.client.get("https://testserver/health")
    assert tls.headers["strict-transport-security"].startswith("max-age=")
    metrics = world.client.get("/metrics").text
    assert "telesec_active_calls 3.0" in metrics  # two escalated calls, one live
    assert "telesec_escalations_waiting_total 2.0" in metrics
    assert "telesec_recognition_delay_seconds 0.24" in metrics


def test_hostile_input_gets_clear_4xx_json(world: ApiWorld) -> None:
    _staff(world)
    sam = world.headers("sam")
    probes = [
        world.client.post("/practices/demo/patients", headers={**sam, "Content-Type":
                          "application/json"}, content=b"{not json"),
        world.client.post("/practices/demo/patients", headers=sam, json={
            "first_name": "A\x00", "last_name": "B", "birth_date": "1990-01-01"}),
        world.client.post("/practices/demo/patients", headers=sam, json={
            "first_name": "A", "last_name": "B", "birth_date": "1990-01-01", "admin": True}),
        world.client.get("/patients/99999999999999999999", headers=sam),
        world.client.get("/patients/-1", headers=sam),
        world.client.get("/practices/demo/slots", headers=sam,
                         params={"visit_type": "consultation", "after": "2026-01-01T10:00"}),
        world.client.get("/practices/demo/slots", headers=sam, params={"visit_type": "nope"}),
        world.client.get("/practices/demo/patients", headers=sam,
                         params={"last_name": "x" * 5000}),
        world.client.get("/voicemail/../../etc/passwd", headers=sam),
        world.client.get("/practices/DEMO", headers=sam),
        world.client.post("/escalations/1/resolve", headers=sam, json={"resolution": "<b>"}),
    ]
    for answer in probes:
        assert 400 <= answer.status_code < 500, (answer.request.url, answer.text)
        assert answer.headers["content-type"].startswith("application/json")
        body = answer.json()
        assert set(body) >= {"code", "message"} and "Traceback" not in answer.text
    assert world.client.get("/practices", headers=sam).status_code == 200
