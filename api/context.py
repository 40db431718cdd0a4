"""What the routers work with: the database, keys, vault, services and settings of one app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry

from api.metrics import registry_for
from api.ratelimit import AuthLimits, DatabaseBuckets, LoginThrottles
from api.services.escalation_feed import EscalationFeed
from api.services.sessions import Sessions
from foundation.front_status import read_trunk_status
from foundation.settings import Settings
from scheduling.service import Agenda
from staff.accounts import Accounts
from staff.login import Authenticator
from storage.db import Database
from storage.keyring import Keyring
from storage.models import utcnow
from storage.vault import Vault
from storage.vault.retention_policy import RetentionPolicy

SESSION_COOKIE = "telesec_session"
CSRF_COOKIE = "telesec_csrf"
CSRF_HEADER = "x-csrf-token"


@dataclass
class ApiContext:
    settings: Settings
    db: Database
    keyring: Keyring
    vault: Vault
    limits: AuthLimits
    clock: Callable[[], datetime] = utcnow
    accounts: Accounts = field(init=False)
    authenticator: Authenticator = field(init=False)
    sessions: Sessions = field(init=False)
    agenda: Agenda = field(init=False)
    feed: EscalationFeed = field(init=False)
    ip_buckets: DatabaseBuckets = field(init=False)
    login_buckets: DatabaseBuckets = field(init=False)
    login_throttles: LoginThrottles = field(init=False)
    metrics: CollectorRegistry = field(init=False)

    def __post_init__(self) -> None:
        api = self.settings.api
        self.accounts = Accounts(self.db, self.keyring)
        self.authenticator = Authenticator(self.db, self.keyring)
        self.sessions = Sessions(self.db, timedelta(minutes=api.session_idle_minutes),
                                 timedelta(hours=api.session_max_hours))
        self.agenda = Agenda(self.db)
        self.feed = EscalationFeed(self.db)
        now = lambda: self.clock()  # noqa: E731 (tests replace the clock)
        if api.rate_limit_redis_url:
            from api.redis_limits import redis_limits  # only where Redis is configured

            self.ip_buckets, self.login_buckets, self.login_throttles = redis_limits(  # type: ignore[assignment]
                api.rate_limit_redis_url, self.limits, now)
        else:
            self.ip_buckets = DatabaseBuckets(self.db, "ip", self.limits.per_ip, now)
            self.login_buckets = DatabaseBuckets(self.db, "login", self.limits.per_login, now)
            self.login_throttles = LoginThrottles(self.db, self.limits.throttle, now)
        self.metrics = registry_for(self.db, lambda: self.feed.listeners,
                                    vault_dir=self.vault.root,
                                    trunks=lambda: read_trunk_status(self.settings))

    @property
    def policy(self) -> RetentionPolicy:
        return self.vault.policy
