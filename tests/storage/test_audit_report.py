"""The access review: summaries per actor and per patient, bulk and off-hours flags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage import audit
from storage.audit_report import OpeningHours
from storage.db import Database
from tests.storage.identity_helpers import make_practice

# Tuesday 3 March 2026, 10:00 in Paris (09:00 UTC).
TUESDAY_10H = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


def _read(s, actor: str, patient: int, at: datetime, practice: int,
          action: str = "patient.read") -> None:
    audit.record(s, actor=actor, action=action, object_type="patient", object_id=None,
                 purpose="care", patient_id=patient, practice_id=practice, at=at)


def test_review_summarises_and_flags(db: Database) -> None:
    practice = make_practice(db)
    with db.session() as s:
        for n in range(25):  # staff:bob reads 25 patients within 25 minutes
            _read(s, "staff:bob", 100 + n, TUESDAY_10H + timedelta(minutes=n), practice)
        for n in range(25):  # automated bulk lookups are flagged too
            _read(s, "ivr:call-1", 200 + n, TUESDAY_10H + timedelta(hours=3, minutes=n),
                  practice, action="patient.lookup")
        _read(s, "staff:ana", 100, TUESDAY_10H + timedelta(hours=12), practice)  # 22:00 local
        _read(s, "ivr:call-2", 101, TUESDAY_10H + timedelta(hours=13), practice)  # night call
        _read(s, "staff:ana", 101, TUESDAY_10H + timedelta(days=5), practice)  # Sunday
        audit.record(s, actor="staff:ana", action="patient.update", object_type="patient",
                     object_id=None, purpose="new phone", patient_id=100,
                     practice_id=practice, at=TUESDAY_10H + timedelta(hours=1))
        audit.record(s, actor="staff:ana", action="patient.read", object_type="patient",
                     object_id=None, purpose="x", patient_id=100, practice_id=practice,
                     at=TUESDAY_10H - timedelta(days=30))  # outside the period
        review = audit.report(s, TUESDAY_10H - timedelta(hours=10),
                              TUESDAY_10H + timedelta(days=7))
    assert review.events == 54
    by_actor = {a.actor: a for a in review.actors}
    assert (by_actor["staff:bob"].reads, len(by_actor["staff:bob"].patients)) == (25, 25)
    assert (by_actor["staff:ana"].reads, by_actor["staff:ana"].changes) == (2, 1)
    by_patient = {p.label: p for p in review.patients}
    assert by_patient["patient 100"].actors == {"staff:bob", "staff:ana"}
    assert by_patient["patient 100"].changes == 1
    flags = [(f.kind, f.actor) for f in review.flags]
    assert flags.count(("bulk_read", "staff:bob")) == 1
    assert flags.count(("bulk_read", "ivr:call-1")) == 1  # bulk is flagged for anyone
    assert flags.count(("off_hours", "staff:ana")) == 2
    assert not any(kind == "off_hours" and actor.startswith("ivr:") for kind, actor in flags)
    assert not any(actor == "staff:bob" and kind == "off_hours" for kind, actor in flags)


def test_thresholds_and_hours_are_settings(db: Database) -> None:
    practice = make_practice(db)
    with db.session() as s:
        for n in range(5):
            _read(s, "staff:bob", n, TUESDAY_10H + timedelta(minutes=20 * n), practice)
        quiet = audit.report(s, TUESDAY_10H, TUESDAY_10H + timedelta(days=1), bulk_threshold=4)
        late = audit.report(s, TUESDAY_10H, TUESDAY_10H + timedelta(days=1), bulk_threshold=2,
                            opening=OpeningHours(opens=TUESDAY_10H.time().replace(hour=11)))
    assert quiet.flags == []  # 5 reads but never more than 3 in one hour
    kinds = [f.kind for f in late.flags]
    assert kinds.count("bulk_read") == 1 and kinds.count("off_hours") == 3
