"""Lockout of caller numbers that keep failing identity checks.

A number is locked for ``lock_minutes`` once it has failed ``after_failures`` identity
tries within ``window_minutes``. Numbers are kept only as keyed hashes, never in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


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
        if not number:
            return False
        with self._lock:
            until = self._locked_until.get(self._id(number))
            return until is not None and now < until

    def record_failure(self, number: str | None, now: datetime) -> bool:
        """Count one failed try; True if the number is now locked."""
        if not number:
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
