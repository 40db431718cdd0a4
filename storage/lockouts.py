"""Failed identity tries per caller number, in the database: one count for the whole pool.

Every worker (and every engine node on the shared PostgreSQL) reads and updates the same
row, so a number that fails on one worker and calls again on another is still counted.
The number is kept only as a keyed hash (:func:`number_hash`), never in clear.

The window is fixed, not sliding: it starts at the first failure and lasts
``window``; ``after_failures`` failures inside it lock the number for ``lock_for``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Insert, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from storage.db import Database
from storage.identity import cipher
from storage.models import IdentityLockout
from storage.patients import normalise_phone

HASH_KIND = "caller_lockout"  # the blind-index kind: unrelated to the patients' phone index
ALL_PRACTICES = 0  # a lockout covers the number whatever practice it calls


@dataclass(frozen=True)
class LockoutPolicy:
    """When a number is locked: ``after_failures`` within ``window``, for ``lock_for``."""

    after_failures: int = 6
    window: timedelta = timedelta(minutes=60)
    lock_for: timedelta = timedelta(minutes=30)


def number_hash(number: str) -> str:
    """Keyed HMAC of the E.164 form of ``number`` (the process keyring's blind-index key)."""
    normalised = normalise_phone(number) or number.strip()
    return cipher().blind_index(HASH_KIND, ALL_PRACTICES, normalised)


def locked_until(db: Database, digest: str, now: datetime) -> datetime | None:
    """When the lock on ``digest`` ends, or None if it is not locked at ``now``."""
    with db.read_session() as session:
        until = session.scalar(
            select(IdentityLockout.locked_until).where(IdentityLockout.number_hash == digest)
        )
    return until if until is not None and now < until else None


def record_failure(db: Database, digest: str, now: datetime, policy: LockoutPolicy) -> bool:
    """Count one failed try of ``digest``; True if the number is now locked."""
    with db.session() as session:
        row = None
        for _ in range(3):  # the row may be purged by another worker between the two
            session.execute(_insert_missing(db, digest))
            row = session.get(IdentityLockout, digest, with_for_update=True,
                              populate_existing=True)
            if row is not None:
                break
        if row is None:
            raise RuntimeError("identity lockout row vanished three times in a row")
        if row.window_start is None or now - row.window_start > policy.window:
            row.failures, row.window_start = 0, now
        row.failures += 1
        locked = row.failures >= policy.after_failures
        if locked:
            row.failures, row.window_start = 0, None
            row.locked_until = now + policy.lock_for
    purge_stale(db, now, policy)
    return locked


def clear(db: Database, digest: str) -> None:
    """Forget the failures of a number just verified (a lock in force stays)."""
    with db.session() as session:
        session.execute(update(IdentityLockout).where(IdentityLockout.number_hash == digest)
                        .values(failures=0, window_start=None))


def purge_stale(db: Database, now: datetime, policy: LockoutPolicy) -> int:
    """Delete rows with neither a lock in force nor failures in a live window."""
    stale = (
        select(IdentityLockout.number_hash)
        .where(or_(IdentityLockout.window_start.is_(None),
                   IdentityLockout.window_start < now - policy.window))
        .where(or_(IdentityLockout.locked_until.is_(None),
                   IdentityLockout.locked_until <= now))
        .with_for_update(skip_locked=True)  # rows another worker is updating are left alone
    )
    with db.session() as session:
        result = session.execute(
            delete(IdentityLockout).where(IdentityLockout.number_hash.in_(stale))
        )
        return int(getattr(result, "rowcount", 0) or 0)


def _insert_missing(db: Database, digest: str) -> Insert:
    """INSERT the row for ``digest`` unless it exists (no error, no lock wait on SQLite)."""
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(IdentityLockout).values(
        number_hash=digest, failures=0
    ).on_conflict_do_nothing(index_elements=["number_hash"])
