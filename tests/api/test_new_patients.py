"""Secretaries list the new patients registered by phone, confirm them or merge them."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from storage import new_patients
from storage.models import AuditEvent
from storage.patients import PatientDirectory
from tests.api.conftest import ApiWorld
from tests.api.helpers import escalate


def _provisional(world: ApiWorld, first: str, last: str, born: date) -> int:
    with world.db.session() as session:
        return new_patients.create_provisional_patient(
            session, world.demo_id, first_name=first, last_name=last, birth_date=born,
            phone="0639980077", actor="ivr:api-test").id


def test_the_to_confirm_list_confirm_and_merge(world: ApiWorld) -> None:
    world.add_user("sam", "secretary", practices=["demo"])
    world.add_user("sue", "secretary", practices=["other"])
    for login in ("sam", "sue"):
        world.ready(login)
    fresh = _provisional(world, "Zoé", "Nouvelle", date(1999, 9, 9))
    known_again = _provisional(world, "Camille", "Rousseau", date(1984, 3, 12))
    with world.db.read_session() as session:
        camille = PatientDirectory(session).by_code(world.demo_id, "100001")

    listed = world.client.get("/practices/demo/patients/provisional",
                              headers=world.headers("sam"))
    assert listed.status_code == 200, listed.text
    rows = {r["id"]: r for r in listed.json()}
    assert set(rows) == {fresh, known_again}
    assert rows[fresh]["provisional"] and rows[fresh]["possible_matches"] == []
    assert [m["id"] for m in rows[known_again]["possible_matches"]] == [camille.id]
    assert world.client.get("/practices/demo/patients/provisional",
                            headers=world.headers("sue")).status_code == 404
    assert world.client.get(f"/patients/{fresh}", headers=world.headers("sam")).json()[
        "provisional"] is True

    confirmed = world.client.post(f"/patients/{fresh}/confirm", headers=world.headers("sam"))
    assert confirmed.status_code == 200 and confirmed.json()["provisional"] is False
    assert world.client.post(f"/patients/{fresh}/confirm",
                             headers=world.headers("sam")).status_code == 409
    assert world.client.post(f"/patients/{known_again}/merge", headers=world.headers("sue"),
                             json={"into_patient_id": camille.id}).status_code == 404
    merged = world.client.post(f"/patients/{known_again}/merge", headers=world.headers("sam"),
                               json={"into_patient_id": camille.id})
    assert merged.status_code == 200, merged.text
    assert merged.json()["id"] == camille.id
    assert world.client.get(f"/patients/{known_again}",
                            headers=world.headers("sam")).status_code == 404
    assert world.client.get("/practices/demo/patients/provisional",
                            headers=world.headers("sam")).json() == []
    with world.db.read_session() as session:
        done = set(session.scalars(select(AuditEvent.action).where(
            AuditEvent.actor == "staff:sam")))
    assert {"patient.read", "patient.confirm", "patient.merge", "patient.erase"} <= done


def test_an_escalated_new_patient_is_shown_as_declared_not_verified(world: ApiWorld) -> None:
    world.add_user("sam", "secretary", practices=["demo"])
    world.ready("sam")
    fresh = _provisional(world, "Zoé", "Nouvelle", date(1999, 9, 9))
    with world.db.read_session() as session:
        camille = PatientDirectory(session).by_code(world.demo_id, "100001")
    shown = {}
    for patient in (fresh, camille.id):
        escalation = escalate(world, patient_id=patient)
        detail = world.client.get(f"/escalations/{escalation}", headers=world.headers("sam"))
        assert detail.status_code == 200, detail.text
        shown[patient] = detail.json()["caller"]
    assert shown[fresh]["last_name"] == "Nouvelle" and shown[fresh]["provisional"] is True
    assert shown[camille.id]["provisional"] is False
