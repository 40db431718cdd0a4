"""Periodic jobs of a running engine: hold expiry, retention, audit checkpoints, the
notification outbox (booking confirmations, staff alerts: ``notify.dispatch``) and the
practitioners' calendars.

Each job runs on its own period in a background thread; a failing job is logged (no
health data: the exception type only) and retried at its next period, never fatal.
The calendar sync has a runner (thread) of its own: a slow or unreachable calendar
server must not hold up hold expiry or the vault's jobs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from calendars.sync import CalendarSync
from notify.dispatch import OutboxDispatcher
from notify.notifier import Notifier
from scheduling.service import Agenda
from storage import audit, outbox
from storage.audit_anchor import AuditAnchor
from storage.retention import Retention
from storage.vault import Vault
from storage.vault.spool import VaultSpool

log = logging.getLogger(__name__)


@dataclass
class Job:
    name: str
    period_s: float
    run: Callable[[], object]
    next_at: float = 0.0
    runs: int = 0
    failures: int = 0


def engine_jobs(agenda: Agenda, vault: Vault, notifier: Notifier | None = None, *,
                anchors: Sequence[AuditAnchor] = ()) -> list[Job]:
    """The jobs every engine node runs (the outbox is sent only with a ``notifier``);
    audit checkpoints also go to ``anchors``."""

    def checkpoint() -> None:
        with vault.db.session() as session:
            audit.checkpoint(session, vault.keyring, anchors, only_if_moved=True)

    return [
        Job("hold-expiry", 30.0, agenda.expire_holds),
        Job("vault-spool", 30.0, VaultSpool(vault).land),  # before recovery: see spool.py
        Job("vault-recovery", 300.0, vault.recover),
        Job("retention", 3600.0, lambda: Retention(vault).run()),
        Job("audit-checkpoint", 600.0, checkpoint),
        *([Job("notifications", 10.0, OutboxDispatcher(vault.db, notifier).run),
           Job("notifications-purge", 86400.0, lambda: outbox.purge_finished(vault.db))]
          if notifier is not None else []),
    ]


def calendar_jobs(sync: CalendarSync, period_s: float) -> list[Job]:
    """Publish queued appointments, sync calendars that are due or asked for (issue 18)."""
    return [Job("calendar-sync", period_s, sync.run_due)]


class JobRunner:
    """Runs jobs on their periods in a daemon thread until :meth:`stop`."""

    def __init__(self, jobs: list[Job], name: str = "jobs") -> None:
        self.jobs = jobs
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def run_due(self, now: float | None = None) -> None:
        """Run every job whose time has come (also used by tests)."""
        now = time.monotonic() if now is None else now
        for job in self.jobs:
            if now < job.next_at:
                continue
            job.next_at = now + job.period_s
            try:
                job.run()
                job.runs += 1
            except Exception as exc:
                job.failures += 1
                log.error("job %s failed (%s); retrying in %.0f s",
                          job.name, type(exc).__name__, job.period_s)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_due()
            self._stop.wait(1.0)
