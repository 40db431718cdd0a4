"""Lockout of caller numbers that keep failing identity checks.

A number is locked for ``lock_minutes`` once it has failed ``after_failures`` identity
tries within ``window_minutes``. Numbers are kept only as keyed hashes, never in clear.
The engine uses :class:`DatabaseLockout` (one count for the whole worker pool);
:class:`MemoryLockout` is its fallback while the database is down (tests may inject it).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from storage import lockouts
from storage.db import Database
from storage.lockouts import LockoutPolicy
from storage.outage import DATABASE_DOWN

log = logging.getLogger(__name__)


def lockable(number: str | None) -> bool:
    """Only a real number is a lockout key: a withheld caller ('anonymous', '', a name)
    would otherwise share one key with every other withheld caller; for those the
    identity check's own per-call limit applies."""
    if not number:
        return False
    return any(ch.isdigit() for ch in number)


class CallerLockout(Protocol):
    def is_locked(self, number: str | None, now: datetime) -> bool: ...
    def record_failure(self, number: str | None, now: datetime) -> bool: ...
    def clear(self, number: str | None) -> None: ...


class MemoryLockout:
    """Lockout book kept in the process (one engine worker), thread-safe."""

    def __init__(
        self,
        *,
        after_failures: int = 6,
        window_minutes: int = 60,
        lock_minutes: int = 30,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.after_failures = after_failures
        self.window = timedelta(minutes=window_minutes)
        self.lock_for = timedelta(minutes=lock_minutes)
        self._key = secrets.token_bytes(32)
        self._failures: dict[str, deque[datetime]] = defaultdict(deque)
        self._locked_until: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def _id(self, number: str) -> str:
        return hmac.new(self._key, number.encode(), hashlib.sha256).hexdigest()

    def is_locked(self, number: str | None, now: datetime) -> bool:
        """True while ``number`` is locked out. Unknown (hidden) numbers are never locked."""
        if not lockable(number):
            return False
        with self._lock:
            until = self._locked_until.get(self._id(number))
            return until is not None and now < until

    def record_failure(self, number: str | None, now: datetime) -> bool:
        """Count one failed try; True if the number is now locked."""
        if not lockable(number):
            return False
        key = self._id(number)
        with self._lock:
            tries = self._failures[key]
            tries.append(now)
            while tries and now - tries[0] > self.window:
                tries.popleft()
            if len(tries) >= self.after_failures:
                self._locked_until[key] = now + self.lock_for
                tries.clear()
                return True
            return False

    def clear(self, number: str | None) -> None:
        """Forget failures of a number that has just been verified."""
        if not number:
            return
        with self._lock:
            self._failures.pop(self._id(number), None)


class DatabaseLockout:
    """Lockout book in the database, shared by every worker of the pool (and every node).

    Same policy and interface as :class:`MemoryLockout`. While the database is unreachable
    the counts go to an in-process :class:`MemoryLockout` (logged once per outage), so a
    caller trying numbers during an outage is still slowed down.
    """

    def __init__(
        self,
        db: Database,
        *,
        after_failures: int = 6,
        window_minutes: int = 60,
        lock_minutes: int = 30,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.policy = LockoutPolicy(after_failures, timedelta(minutes=window_minutes),
                                    timedelta(minutes=lock_minutes))
        self.fallback = MemoryLockout(after_failures=after_failures,
                                      window_minutes=window_minutes,
                                      lock_minutes=lock_minutes, clock=clock)
        self._down = False
        self._down_lock = threading.Lock()

    def is_locked(self, number: str | None, now: datetime) -> bool:
        """True while ``number`` is locked out. Unknown (hidden) numbers are never locked."""
        if not lockable(number):
            return False
        if self.fallback.is_locked(number, now):
            return True
        try:
            locked = lockouts.locked_until(self.db, lockouts.number_hash(number), now)
        except DATABASE_DOWN as exc:
            self._outage(exc)
            return False
        self._back()
        return locked is not None

    def record_failure(self, number: str | None, now: datetime) -> bool:
        """Count one failed try; True if the number is now locked."""
        if not lockable(number):
            return False
        try:
            locked = lockouts.record_failure(self.db, lockouts.number_hash(number), now,
                                             self.policy)
        except DATABASE_DOWN as exc:
            self._outage(exc)
            return self.fallback.record_failure(number, now)
        self._back()
        return locked

    def clear(self, number: str | None) -> None:
        """Forget failures of a number that has just been verified."""
        if not number:
            return
        self.fallback.clear(number)
        try:
            lockouts.clear(self.db, lockouts.number_hash(number))
        except DATABASE_DOWN as exc:
            self._outage(exc)

    def _outage(self, exc: BaseException) -> None:
        with self._down_lock:
            if self._down:
                return
            self._down = True
        log.warning("identity lockout: database unreachable (%s); failed tries are counted "
                    "in this process until it is back", type(exc).__name__)

    def _back(self) -> None:
        if self._down:
            with self._down_lock:
                self._down = False
            log.info("identity lockout: database reachable again; counts are shared again")
