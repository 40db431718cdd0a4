"""In-process token buckets: a burst of ``capacity`` then one request per ``refill`` seconds.

Used on authentication, per client address and per login. Each API process keeps its
own buckets (a front proxy should also limit in a multi-node set-up).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

MAX_KEYS = 10_000


@dataclass(frozen=True, slots=True)
class BucketRule:
    capacity: float
    refill_seconds: float  # seconds to earn one token back


@dataclass(frozen=True, slots=True)
class AuthLimits:
    per_ip: BucketRule = BucketRule(capacity=20, refill_seconds=3)
    per_login: BucketRule = BucketRule(capacity=8, refill_seconds=30)
    failure_delay_seconds: float = 0.25  # slowdown, times the failures so far


class TokenBuckets:
    """Thread-safe buckets by key; old keys are forgotten beyond :data:`MAX_KEYS`."""

    def __init__(self, rule: BucketRule, clock: Callable[[], float] = time.monotonic) -> None:
        self.rule = rule
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take a token: 0.0 if allowed, else the seconds to wait for the next one."""
        now = self.clock()
        with self._lock:
            tokens, seen = self._buckets.pop(key, (self.rule.capacity, now))
            tokens = min(self.rule.capacity, tokens + (now - seen) / self.rule.refill_seconds)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1 - tokens) * self.rule.refill_seconds
            while len(self._buckets) > MAX_KEYS:
                self._buckets.popitem(last=False)
        return wait
