"""Limits on authentication: token buckets per client address and per login, and a
growing delay for a login that keeps failing from one address.

The state lives in the database (:mod:`storage.throttles`), or in Redis when
``api.rate_limit_redis_url`` is set (:mod:`api.redis_limits`), so every API node shares
it: a client cannot spread its tries over the nodes. The client address
is the connection's peer unless a trusted proxy forwarded it (:mod:`api.proxies`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from storage import throttles
from storage.db import Database
from storage.throttles import BucketRule, ThrottleRule

__all__ = ["AuthLimits", "BucketRule", "DatabaseBuckets", "LoginThrottles", "ThrottleRule"]


@dataclass(frozen=True, slots=True)
class AuthLimits:
    per_ip: BucketRule = field(default_factory=lambda: BucketRule(20, refill_seconds=3))
    per_login: BucketRule = field(default_factory=lambda: BucketRule(8, refill_seconds=30))
    failure_delay_seconds: float = 0.25  # slowdown, times the failures so far
    throttle: ThrottleRule = field(default_factory=ThrottleRule)


def digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:40]


class DatabaseBuckets:
    """Token buckets of one kind (``ip`` or ``login``) in the database."""

    def __init__(self, db: Database, kind: str, rule: BucketRule,
                 clock: Callable[[], datetime]) -> None:
        self.db, self.kind, self.rule, self.clock = db, kind, rule, clock

    def take(self, key: str) -> float:
        """Take a token: 0.0 if allowed, else the seconds to wait for the next one."""
        return throttles.take_token(self.db, f"{self.kind}:{digest(key)}", self.rule,
                                    self.clock())


class LoginThrottles:
    """Failed logins counted by login *and* client address: a stranger's failures from
    elsewhere never stop the owner of an account."""

    def __init__(self, db: Database, rule: ThrottleRule,
                 clock: Callable[[], datetime]) -> None:
        self.db, self.rule, self.clock = db, rule, clock

    @staticmethod
    def key(login: str, address: str) -> str:
        return f"pair:{digest(login.lower(), address)}"

    def wait(self, login: str, address: str) -> float:
        return throttles.blocked_for(self.db, self.key(login, address), self.clock())

    def failed(self, login: str, address: str) -> int:
        return throttles.record_failure(self.db, self.key(login, address), self.rule,
                                        self.clock())

    def succeeded(self, login: str, address: str) -> None:
        throttles.clear(self.db, self.key(login, address))
