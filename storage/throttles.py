"""Token buckets and login throttles in the database: one state for every API node.

Each call is one short write transaction (the row locked: ``SELECT ... FOR UPDATE`` on
PostgreSQL, the write lock of ``BEGIN IMMEDIATE`` on SQLite), so two nodes taking a
token from the same bucket at once both count. Keys are short strings chosen by the
caller (:mod:`api.ratelimit` hashes logins); rows untouched for a day are purged.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Insert, delete
from sqlalchemy.dialects import postgresql, sqlite

from storage.db import Database
from storage.models import LoginThrottle, RateBucket

STALE_AFTER = timedelta(days=1)
PURGE_ONE_IN = 200  # purge stale rows on about one call in this many


@dataclass(frozen=True, slots=True)
class BucketRule:
    capacity: float
    refill_seconds: float  # seconds to earn one token back


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    """From the ``free_failures``-th failure on, each one blocks the pair for
    ``first_delay``, doubled per further failure, up to ``max_delay``; ``forget_after`` without a
    failure starts the count again."""

    free_failures: int = 5
    first_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(minutes=15)
    forget_after: timedelta = timedelta(hours=1)


def take_token(db: Database, key: str, rule: BucketRule, now: datetime) -> float:
    """Take a token from bucket ``key``: 0.0 if allowed, else seconds until the next one."""
    with db.session() as session:
        session.execute(_insert_missing(db, RateBucket, key=key, tokens=rule.capacity,
                                        seen_at=now))
        row = session.get(RateBucket, key, with_for_update=True, populate_existing=True)
        assert row is not None  # purged only after a day without use
        elapsed = max(0.0, (now - row.seen_at).total_seconds())
        tokens = min(rule.capacity, row.tokens + elapsed / rule.refill_seconds)
        if tokens >= 1:
            row.tokens, wait = tokens - 1, 0.0
        else:
            row.tokens, wait = tokens, (1 - tokens) * rule.refill_seconds
        row.seen_at = max(now, row.seen_at)
    _maybe_purge(db, now)
    return wait


def blocked_for(db: Database, key: str, now: datetime) -> float:
    """Seconds before the pair ``key`` may try to log in again (0.0: now)."""
    with db.read_session() as session:
        row = session.get(LoginThrottle, key)
        until = row.blocked_until if row is not None else None
    return (until - now).total_seconds() if until is not None and until > now else 0.0


def record_failure(db: Database, key: str, rule: ThrottleRule, now: datetime) -> int:
    """Count one failed login of the pair ``key``; returns its failures so far."""
    with db.session() as session:
        session.execute(_insert_missing(db, LoginThrottle, key=key, failures=0))
        row = session.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
        assert row is not None
        if row.last_failure_at is not None and now - row.last_failure_at > rule.forget_after:
            row.failures, row.blocked_until = 0, None
        row.failures += 1
        row.last_failure_at = now
        beyond = row.failures - rule.free_failures
        if beyond >= 0:
            delay = min(rule.first_delay * 2 ** min(beyond, 20), rule.max_delay)
            row.blocked_until = now + delay
        return row.failures


def clear(db: Database, key: str) -> None:
    """A success: the pair starts again from zero."""
    with db.session() as session:
        session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


def _maybe_purge(db: Database, now: datetime) -> None:
    if random.randrange(PURGE_ONE_IN):
        return
    with db.session() as session:
        session.execute(delete(RateBucket).where(RateBucket.seen_at < now - STALE_AFTER))
        session.execute(delete(LoginThrottle).where(
            LoginThrottle.last_failure_at < now - STALE_AFTER))


def _insert_missing(db: Database, table: type, **values: object) -> Insert:
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).values(**values).on_conflict_do_nothing(index_elements=["key"])
