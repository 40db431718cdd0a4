"""Schema 0008 on a database with data: nothing referring to a changed table is lost
(SQLite must not copy tables: a dropped copy cascades), and the new columns get their
defaults; the way back keeps the rows too. SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import text

from storage.db import Database, make_engine
from storage.keyring import Keyring
from storage.migrate import downgrade, upgrade

ROWS = (
    "INSERT INTO practices (id, slug, name, timezone, created_at) "
    "VALUES (1, 'p', 'P', 'Europe/Paris', '2026-01-01 00:00:00')",
    "INSERT INTO practitioners (id, practice_id, slug, display_name, active) "
    "VALUES (1, 1, 'dr', 'Dr', true)",
    "INSERT INTO visit_types (id, practice_id, code, label, duration_minutes, phone_bookable, "
    "new_patients_allowed, min_book_notice_minutes, min_cancel_notice_minutes) "
    "VALUES (1, 1, 'c', 'C', 15, true, true, 0, 0)",
    "INSERT INTO patients (id, practice_id, code, created_at) "
    "VALUES (1, 1, '000001', '2026-01-01 00:00:00')",
    "INSERT INTO appointments (id, practice_id, practitioner_id, patient_id, visit_type_id, "
    "starts_at, ends_at, status, booked_by, created_at) VALUES (1, 1, 1, 1, 1, "
    "'2026-03-02 09:00:00', '2026-03-02 09:15:00', 'booked', 'phone', '2026-01-01 00:00:00')",
    "INSERT INTO escalations (id, call_id, practice_id, status, priority, patient_id, context, "
    "revision, created_at) VALUES (1, 'c1', 1, 'waiting', false, 1, '{}', 1, "
    "'2026-01-01 00:00:00')",
)
COUNT = ("SELECT (SELECT count(*) FROM appointments) + (SELECT count(*) FROM escalations) "
         "+ (SELECT count(*) FROM patients) + (SELECT count(*) FROM practitioners)")


def test_0008_keeps_every_row_both_ways(database_url: str, installed_keyring: Keyring) -> None:
    upgrade(database_url, "0005", keyring=installed_keyring)
    engine = make_engine(database_url)
    with engine.begin() as conn:
        for statement in ROWS:
            conn.execute(text(statement))
    engine.dispose()
    upgrade(database_url, keyring=installed_keyring)
    db = Database(database_url)
    with db.engine.connect() as conn:
        assert conn.execute(text(COUNT)).scalar() == 4
        assert conn.execute(text("SELECT accepts_new_patients FROM practitioners")).scalar()
        assert not conn.execute(text("SELECT provisional FROM patients")).scalar()
        assert conn.execute(text("SELECT callbacks FROM escalations")).scalar() == "[]"
    db.dispose()
    downgrade(database_url, "0005", keyring=installed_keyring)
    engine = make_engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(text(COUNT)).scalar() == 4
    engine.dispose()
