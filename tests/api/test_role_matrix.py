"""The whole access matrix: roles x endpoints x objects (own vs other practice or doctor).

Objects a caller may not see answer 404 (as if they did not exist); endpoints a role
may not use answer 403; no session answers 401. Every route of the app is in the table.
SQLite only (the rules are in Python, not in SQL).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi.routing import APIRoute
from sqlalchemy import select

from storage.models import Appointment, Practitioner
from storage.patients import PatientDirectory
from tests.api.conftest import ApiWorld
from tests.api.helpers import escalate, finished_call, voicemail

ROLES = ("anon", "lambert", "moreau", "sue", "sam", "ada")


@dataclass
class Case:
    method: str
    path: str
    expect: dict[str, int | tuple[int, ...]]
    body: dict[str, object] | None = None
    default: int | None = None  # for roles not named

    def expected(self, role: str) -> tuple[int, ...]:
        value = self.expect.get(role, self.default)
        if value is None:
            value = 401 if role == "anon" else 403
        if role == "anon" and role not in self.expect:
            value = 401
        return value if isinstance(value, tuple) else (value,)


def _world_objects(world: ApiWorld) -> dict[str, object]:
    with world.db.session() as session:
        ids = {p.slug: p.id for p in session.scalars(select(Practitioner))}
        directory = PatientDirectory(session)
        p1 = directory.by_code(world.demo_id, "100001")
        erasable = directory.by_code(world.demo_id, "100012")
        p2 = directory.add(world.other_id, first_name="Ana", last_name="Autre", actor="cli:test",
                           birth_date=datetime(1980, 1, 1).date())
        a_lam = session.scalar(select(Appointment.id).where(
            Appointment.practitioner_id == ids["dr-lambert"],
            Appointment.starts_at > datetime.now(UTC)))
    assert p1 and erasable and a_lam
    c1 = finished_call(world, patient_id=p1.id, transcript="bonjour", recording=b"\0\0" * 800)
    c2 = finished_call(world, practice_id=world.other_id, transcript="hello",
                       recording=b"\0\0" * 800)
    from storage.models import CallRecord

    with world.db.read_session() as session:
        r1 = session.get_one(CallRecord, c1).recording_object_id
        r2 = session.get_one(CallRecord, c2).recording_object_id
    export = world.client.post(f"/gdpr/patients/{p1.id}/export", headers=world.headers("ada"),
                               json={"reason": "matrix"}).json()["object_id"]
    return {
        "lam": ids["dr-lambert"], "mor": ids["dr-moreau"], "p1": p1.id, "p2": p2.id,
        "erasable": erasable.id, "a_lam": a_lam, "c1": c1, "c2": c2, "r1": r1, "r2": r2,
        "e1": escalate(world, patient_id=p1.id, transcript="aidez-moi"),
        "e2": escalate(world, practice_id=world.other_id),
        "v_lam": voicemail(world, ids["dr-lambert"], transcript="pour lambert")[0],
        "v_mor": voicemail(world, ids["dr-moreau"])[0],
        "v_shared": voicemail(world, None)[0],
        "v_other": voicemail(world, None, practice_id=world.other_id)[0],
        "x1": export,
        "day": (datetime.now(UTC) + timedelta(days=1)).date().isoformat(),
    }


def _cases(o: dict[str, object]) -> list[Case]:
    staff_ok = {"lambert": 200, "moreau": 200, "sue": 200, "sam": 200, "ada": 200}
    demo_sec = {"sam": 200, "sue": 404}
    other_sec = {"sam": 404, "sue": 200}
    return [
        Case("GET", "/health", {"anon": 200}, default=200),
        Case("GET", "/metrics", {"anon": 200}, default=200),
        Case("GET", "/auth/me", staff_ok),
        Case("POST", "/auth/recovery-codes", staff_ok),
        Case("POST", "/auth/password", {"anon": 401}, default=400,
             body={"current_password": "wrong", "new_password": "another long one"}),
        Case("POST", "/auth/login", {"anon": 401}, default=401,
             body={"login": "sam", "password": "wrong", "totp_code": "123456"}),
        Case("GET", "/practices", staff_ok),
        Case("POST", "/practices", {"ada": 201}, body={"slug": "matrix", "name": "M"}),
        Case("GET", "/practices/demo", {**staff_ok, "sue": 404}),
        Case("GET", "/practices/other", {"ada": 200, "sue": 200, "sam": 404, "lambert": 404,
                                         "moreau": 404}),
        Case("POST", "/practices/demo/practitioners", {"ada": 201},
             body={"slug": "dr-matrix", "name": "Dr Matrix"}),
        Case("POST", "/practices/other/visit-types", {"ada": 201},
             body={"code": "matrix", "label": "M", "duration_minutes": 15}),
        Case("GET", f"/practices/demo/practitioners/{o['lam']}/opening",
             {**staff_ok, "sue": 404}),
        Case("PUT", f"/practices/demo/practitioners/{o['lam']}/opening", {"ada": 200},
             body={"opening": {"mon": ["08:30-12:00", "14:00-18:30"],
                               "tue": ["08:30-12:00", "14:00-18:30"]}}),
        Case("GET", "/practices/demo/profile", {**staff_ok, "sue": 404}),
        Case("PATCH", "/practices/demo/profile", {"ada": 200}, body={"on_call_number": "3624"}),
        Case("PATCH", f"/practices/demo/practitioners/{o['mor']}", {"ada": 200},
             body={"accepts_new_patients": True}),
        Case("GET", "/practices/demo/slots?visit_type=consultation", demo_sec),
        Case("GET", "/practices/other/slots?visit_type=consultation", other_sec),
        Case("GET", f"/practices/demo/agenda?day={o['day']}",
             {"sam": 200, "sue": 404, "lambert": 200, "moreau": 200}),
        Case("GET", f"/practices/demo/agenda?day={o['day']}&practitioner_id={o['mor']}",
             {"sam": 200, "sue": 404, "lambert": 404, "moreau": 200}),
        Case("POST", "/practices/demo/appointments", {"sam": 404, "sue": 404},
             body={"patient_id": o["p1"], "practitioner_id": 999, "visit_type":
                   "consultation", "starts_at": "2030-01-07T08:00:00Z",
                   "idempotency_key": "matrix-book-1"}),
        Case("POST", "/practices/other/appointments", {"sam": 404, "sue": 404},
             body={"patient_id": o["p1"], "practitioner_id": o["lam"], "visit_type":
                   "consultation", "starts_at": "2030-01-07T08:00:00Z",
                   "idempotency_key": "matrix-book-2"}),
        Case("GET", f"/appointments/{o['a_lam']}",
             {"sam": 200, "sue": 404, "lambert": 200, "moreau": 404}),
        Case("POST", f"/appointments/{o['a_lam']}/move", {"sue": 404, "sam": 404},
             body={"practitioner_id": 999999, "starts_at": "2030-01-07T08:00:00Z",
                   "idempotency_key": "matrix-move-1"}),
        Case("POST", f"/appointments/{o['a_lam']}/cancel", {"sue": 404, "sam": (200, 409)}),
        Case("POST", "/practices/demo/patients", {"sam": 201, "sue": 404},
             body={"first_name": "Nouveau", "last_name": "Patient",
                   "birth_date": "2000-02-02"}),
        Case("GET", "/practices/demo/patients?birth_date=1984-03-12", demo_sec),
        Case("GET", "/practices/other/patients?birth_date=1980-01-01", other_sec),
        Case("GET", f"/patients/{o['p1']}", {"sam": 200, "sue": 404, "lambert": 200,
                                             "moreau": 200}),
        Case("GET", f"/patients/{o['p2']}", {"sam": 404, "sue": 200, "lambert": 404,
                                             "moreau": 404}),
        Case("PATCH", f"/patients/{o['p1']}", demo_sec, body={"phone": "0639980001"}),
        Case("GET", "/practices/demo/patients/provisional", demo_sec),
        Case("POST", f"/patients/{o['p1']}/confirm", {"sam": 409, "sue": 404}),
        Case("POST", f"/patients/{o['p1']}/merge", {"sam": 409, "sue": 404},
             body={"into_patient_id": o["p1"]}),
        Case("GET", "/calls", {"ada": 200, "sam": 200, "sue": 200}),
        Case("GET", f"/calls/{o['c1']}", {"ada": 200, **demo_sec}),
        Case("GET", f"/calls/{o['c1']}/transcript", demo_sec),
        Case("GET", f"/calls/{o['c2']}/transcript", other_sec),
        Case("GET", "/recordings", {"sam": 200, "sue": 200}),
        Case("GET", f"/recordings/{o['r1']}/audio", demo_sec),
        Case("GET", f"/recordings/{o['r2']}/audio", other_sec),
        Case("GET", "/escalations", {"sam": 200, "sue": 200}),
        Case("GET", "/escalations/stream?max_events=1", {"sam": 200, "sue": 200}),
        Case("GET", f"/escalations/{o['e1']}", demo_sec),
        Case("POST", f"/escalations/{o['e2']}/claim", other_sec),
        Case("GET", f"/escalations/{o['e1']}/caller-number", demo_sec),
        Case("POST", f"/escalations/{o['e2']}/callbacks", other_sec,
             body={"outcome": "no_answer"}),
        Case("POST", f"/escalations/{o['e1']}/resolve", demo_sec,
             body={"resolution": "handled"}),
        Case("GET", "/voicemail", {"lambert": 200, "moreau": 200, "sam": 200, "sue": 200}),
        Case("GET", f"/voicemail/{o['v_lam']}", {"lambert": 200, "moreau": 404, "sam": 404,
                                                 "sue": 404}),
        Case("GET", f"/voicemail/{o['v_lam']}/audio",
             {"lambert": 200, "moreau": 404, "sam": 404, "sue": 404}),
        Case("GET", f"/voicemail/{o['v_mor']}/audio",
             {"lambert": 404, "moreau": 200, "sam": 404, "sue": 404}),
        Case("GET", f"/voicemail/{o['v_shared']}/audio",
             {"lambert": 404, "moreau": 200, "sam": 200, "sue": 404}),
        Case("GET", f"/voicemail/{o['v_other']}/audio",
             {"lambert": 404, "moreau": 404, "sam": 404, "sue": 200}),
        Case("GET", f"/voicemail/{o['v_lam']}/transcript",
             {"lambert": 200, "moreau": 404, "sam": 404, "sue": 404}),
        Case("POST", f"/voicemail/{o['v_lam']}/handled",
             {"lambert": 200, "moreau": 404, "sam": 404, "sue": 404}),
        Case("GET", "/users", {"ada": 200}),
        Case("POST", "/users", {"ada": 201}, body={"login": "newbie", "role": "admin"}),
        Case("GET", "/users/dummy", {"ada": 200}),
        Case("PATCH", "/users/dummy", {"ada": 200}, body={"practice_ids": [1]}),
        Case("POST", "/users/dummy/reset-mfa", {"ada": 200}),
        Case("POST", "/users/dummy/disable", {"ada": 200}),
        Case("POST", "/users/dummy/enable", {"ada": 200}),
        Case("GET", "/audit/events", {"ada": 200}),
        Case("GET", "/audit/verify", {"ada": 200}),
        Case("GET", "/audit/report?since=2020-01-01T00:00:00Z", {"ada": 200}),
        Case("GET", "/retention", {"ada": 200}),
        Case("POST", f"/gdpr/patients/{o['p1']}/export", {"ada": 201},
             body={"reason": "matrix"}),
        Case("GET", f"/gdpr/exports/{o['x1']}", {"ada": 200}),
        Case("POST", f"/gdpr/patients/{o['erasable']}/erase", {"ada": 200},
             body={"reason": "matrix"}),
        Case("GET", "/practices/demo/calendars", {**staff_ok, "sue": 404}),
        Case("GET", "/practices/other/calendars", {"ada": 200, "sue": 200, "sam": 404,
                                                   "lambert": 404, "moreau": 404}),
        Case("PUT", f"/practices/demo/practitioners/{o['lam']}/calendar", {"ada": 200},
             body={"kind": "ics", "url": "https://calendar.invalid/lambert.ics"}),
        Case("PUT", f"/practices/other/practitioners/{o['lam']}/calendar", {"ada": 404},
             body={"kind": "ics", "url": "https://calendar.invalid/lambert.ics"}),
        Case("POST", "/practices/demo/calendars/sync", {"ada": 200, "sam": 200, "sue": 404}),
        Case("PUT", "/practices/demo/calendar-settings", {"ada": 200},
             body={"tentative_blocks": True}),
        Case("GET", f"/practices/demo/calendar-conflicts?day={o['day']}",
             {"sam": 200, "sue": 404, "lambert": 200, "moreau": 200}),
        Case("DELETE", f"/practices/demo/practitioners/{o['lam']}/calendar", {"ada": 200}),
        Case("POST", "/auth/logout", staff_ok),
    ]


def _template(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_every_role_on_every_endpoint_and_object(sqlite_world: ApiWorld) -> None:
    world = sqlite_world
    world.add_user("ada", "admin")
    world.add_user("sam", "secretary", practices=["demo"])
    world.add_user("sue", "secretary", practices=["other"])
    world.add_user("lambert", "doctor", practices=["demo"], practitioner="dr-lambert")
    world.add_user("moreau", "doctor", practices=["demo"], practitioner="dr-moreau",
                   shared_box=True)
    world.add_user("dummy", "secretary", practices=["demo"])
    for login in ("ada", "sam", "sue", "lambert", "moreau"):
        world.ready(login)
    objects = _world_objects(world)
    cases = _cases(objects)

    routes = {(m, _template(r.path)) for r in world.app.routes if isinstance(r, APIRoute)
              for m in r.methods}
    covered = {(c.method, _template(c.path.split("?")[0])) for c in cases}
    assert routes - covered == set(), "every route must be in the matrix"

    failures = []
    for role in ROLES:
        headers = {} if role == "anon" else world.headers(role)
        for case in cases:
            answer = world.client.request(case.method, case.path, headers=headers,
                                          json=case.body)
            if answer.status_code not in case.expected(role):
                failures.append(f"{role:8} {case.method:5} {case.path}: "
                                f"{answer.status_code}, expected {case.expected(role)}")
            if answer.status_code >= 400:
                assert answer.json()["code"], answer.text
    assert not failures, "\n".join(failures)
