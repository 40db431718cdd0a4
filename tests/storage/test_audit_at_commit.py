"""Events appended at the commit (``record_at_commit``): the same chain, the head lock last."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select, text

from storage import audit
from storage.db import Database
from storage.keyring import Keyring
from storage.models import AuditEvent, AuditHead, Practice

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _queue(s, i: int, *, patient_id: int | None = None) -> None:  # type: ignore[no-untyped-def]
    audit.record_at_commit(
        s, actor=f"ivr:call{i}", action="hold.create", object_type="hold", object_id=f"h{i}",
        purpose="keep a slot", patient_id=patient_id, practice_id=1, detail={"n": i},
        at=T0 + timedelta(minutes=i))


def _actions(db: Database) -> list[tuple[int, str]]:
    with db.read_session() as s:
        return list(s.execute(select(AuditEvent.seq, AuditEvent.actor).order_by(AuditEvent.seq)))


def test_queued_and_immediate_events_make_one_intact_chain(
    db: Database, installed_keyring: Keyring
) -> None:
    with db.session() as s:
        _queue(s, 1)
        _queue(s, 2, patient_id=7)
        with db.read_session() as other:  # nothing locked nor written before the commit
            assert other.get(AuditHead, 1).seq == 0
        audit.record(s, actor="staff:ana", action="patient.read", object_type="patient",
                     object_id=None, purpose="x", patient_id=7, at=T0)  # after the queued ones
        _queue(s, 3)
    with db.session() as s:
        _queue(s, 4)
        assert s.scalar(select(AuditEvent.seq).where(AuditEvent.actor == "ivr:call4")) == 5
        audit.checkpoint(s, installed_keyring)
    assert _actions(db) == [(1, "ivr:call1"), (2, "ivr:call2"), (3, "staff:ana"),
                            (4, "ivr:call3"), (5, "ivr:call4")]
    with db.session() as s:
        result = audit.verify(s, installed_keyring)
    assert result.intact, result.problems
    assert (result.events, result.last_checkpoint_seq) == (5, 5)


def test_a_rolled_back_change_leaves_no_event(db: Database) -> None:
    with pytest.raises(RuntimeError), db.session() as s:
        _queue(s, 1)
        raise RuntimeError("the change failed")
    session = db._sessions()
    with session.begin():
        _queue(session, 2)
        session.rollback()
    with session.begin():
        _queue(session, 3)
    session.close()
    assert _actions(db) == [(1, "ivr:call3")]


def test_a_tampered_head_fails_the_commit_and_the_change(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_head SET mac = :m"), {"m": "f" * 64})
    with pytest.raises(audit.AuditTampered), db.session() as s:
        s.add(Practice(slug="p", name="P", timezone="Europe/Paris"))
        _queue(s, 1)
    with db.read_session() as s:
        assert s.scalar(select(Practice.id)) is None
    assert _actions(db) == []


def test_the_head_is_locked_last_and_written_in_one_statement(db: Database) -> None:
    statements: list[str] = []

    def log(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split())[:40])

    event.listen(db.engine, "before_cursor_execute", log)
    with db.session() as s:
        _queue(s, 1)
        _queue(s, 2)
        s.add(Practice(slug="p", name="P", timezone="Europe/Paris"))  # flushed at the commit
    event.remove(db.engine, "before_cursor_execute", log)
    mine = [st for st in statements if not st.startswith(("BEGIN", "PRAGMA"))]
    assert mine[0].startswith("INSERT INTO practices")
    assert mine[1].startswith("SELECT audit_head.id")
    writes = 1 if db.engine.dialect.name == "postgresql" else 2  # SQLite: no DML in WITH
    assert len(mine) == 2 + writes
    assert _actions(db) == [(1, "ivr:call1"), (2, "ivr:call2")]


def test_concurrent_commits_do_not_fork_the_chain(
    db: Database, installed_keyring: Keyring
) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def write(worker: int) -> None:
        try:
            start.wait()
            for i in range(10):
                with db.session() as s:
                    _queue(s, worker * 100 + i, patient_id=worker)
                    _queue(s, worker * 100 + 50 + i)
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert errors == []
    with db.session() as s:
        result = audit.verify(s, installed_keyring)
    assert result.intact, result.problems
    assert result.events == 80
