"""The login limits of :mod:`api.ratelimit` kept in Redis instead of the database
(``api.rate_limit_redis_url``): the same rules, one state for every API node that uses
the same Redis. Each update is one Lua script, atomic on the server; keys expire after a
day without use. Logins are hashed as in the database store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import redis

from api.ratelimit import LoginThrottles, digest
from storage.throttles import BucketRule, ThrottleRule

PREFIX = "telesec:limits:"
TTL_SECONDS = 86_400

_TAKE = """
local capacity, refill, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'seen')
local tokens = tonumber(state[1]) or capacity
local seen = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - seen) / refill)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) * refill end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'seen', tostring(math.max(now, seen)))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return tostring(wait)
"""

_FAIL = """
local free, first, most = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local forget, now = tonumber(ARGV[4]), tonumber(ARGV[5])
local state = redis.call('HMGET', KEYS[1], 'failures', 'last')
local failures = tonumber(state[1]) or 0
local last = tonumber(state[2])
local blocked = 0
if last and now - last > forget then failures = 0 end
failures = failures + 1
if failures >= free then
  blocked = now + math.min(first * 2 ^ math.min(failures - free, 20), most)
end
redis.call('HSET', KEYS[1], 'failures', failures, 'last', tostring(now),
           'blocked', tostring(blocked))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
return failures
"""


class RedisBuckets:
    """Token buckets of one kind (``ip`` or ``login``) in Redis."""

    def __init__(self, client: redis.Redis, kind: str, rule: BucketRule,
                 clock: Callable[[], datetime]) -> None:
        self.client, self.kind, self.rule, self.clock = client, kind, rule, clock
        self._take = client.register_script(_TAKE)

    def take(self, key: str) -> float:
        return float(self._take(keys=[f"{PREFIX}{self.kind}:{digest(key)}"], args=[
            self.rule.capacity, self.rule.refill_seconds, self.clock().timestamp(),
            TTL_SECONDS]))


class RedisThrottles(LoginThrottles):
    """Failed logins by login and client address, in Redis."""

    def __init__(self, client: redis.Redis, rule: ThrottleRule,
                 clock: Callable[[], datetime]) -> None:
        self.client, self.rule, self.clock = client, rule, clock
        self._fail = client.register_script(_FAIL)

    def _key(self, login: str, address: str) -> str:
        return PREFIX + self.key(login, address)

    def wait(self, login: str, address: str) -> float:
        blocked = self.client.hget(self._key(login, address), "blocked")
        return max(0.0, float(blocked) - self.clock().timestamp()) if blocked else 0.0

    def failed(self, login: str, address: str) -> int:
        rule = self.rule
        return int(self._fail(keys=[self._key(login, address)], args=[
            rule.free_failures, rule.first_delay.total_seconds(),
            rule.max_delay.total_seconds(), rule.forget_after.total_seconds(),
            self.clock().timestamp(), TTL_SECONDS]))

    def succeeded(self, login: str, address: str) -> None:
        self.client.delete(self._key(login, address))


def redis_limits(url: str, limits: object, clock: Callable[[], datetime]
                 ) -> tuple[RedisBuckets, RedisBuckets, RedisThrottles]:
    """The per-address and per-login buckets and the throttles over the Redis at ``url``."""
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    return (RedisBuckets(client, "ip", limits.per_ip, clock),  # type: ignore[attr-defined]
            RedisBuckets(client, "login", limits.per_login, clock),  # type: ignore[attr-defined]
            RedisThrottles(client, limits.throttle, clock))  # type: ignore[attr-defined]
