"""Prometheus metrics, computed from the database at each scrape (so every API process
reports the same figures): active calls, escalations waiting, recognition delay, lost
recordings; plus the free space of the vault's disk."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import and_, func, select

from storage.db import Database
from storage.models import CallRecord, Escalation, EscalationStatus, VaultObject, utcnow

ACTIVE_WINDOW = timedelta(hours=4)  # a call with no end after this is a lost record
DELAY_WINDOW = timedelta(minutes=15)
LOST_WINDOW = timedelta(hours=1)


class TelesecCollector(Collector):
    def __init__(self, db: Database, listeners: Callable[[], int] = lambda: 0,
                 vault_dir: Path | None = None,
                 trunks: Callable[[], dict[str, str]] = dict) -> None:
        self.db = db
        self.listeners = listeners
        self.vault_dir = vault_dir
        self.trunks = trunks

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = utcnow()
        with self.db.read_session() as session:
            active = session.scalar(select(func.count()).select_from(CallRecord).where(
                CallRecord.ended_at.is_(None), CallRecord.started_at > now - ACTIVE_WINDOW))
            waiting = dict(session.execute(
                select(Escalation.practice_id, func.count()).where(
                    Escalation.status == EscalationStatus.WAITING
                ).group_by(Escalation.practice_id)).all())
            delay = session.scalar(select(func.avg(CallRecord.recognition_delay_ms)).where(
                CallRecord.ended_at > now - DELAY_WINDOW,
                CallRecord.recognition_delay_ms.is_not(None)))
            # a call's recording whose vault object is gone: the writer failed (disk full)
            lost = session.scalar(
                select(func.count()).select_from(CallRecord)
                .outerjoin(VaultObject, VaultObject.id == CallRecord.recording_object_id)
                .where(and_(CallRecord.ended_at > now - LOST_WINDOW,
                            CallRecord.recording_object_id.is_not(None),
                            VaultObject.id.is_(None))))
        yield GaugeMetricFamily("telesec_active_calls", "Calls in progress", value=active or 0)
        family = GaugeMetricFamily("telesec_escalations_waiting",
                                   "Escalated calls waiting for a human",
                                   labels=["practice_id"])
        for practice_id, count in sorted(waiting.items()):
            family.add_metric([str(practice_id)], count)
        yield family
        yield GaugeMetricFamily("telesec_escalations_waiting_total",
                                "Escalated calls waiting for a human, all practices",
                                value=sum(waiting.values()))
        yield GaugeMetricFamily(
            "telesec_recognition_delay_seconds",
            "Mean speech recognition delay of the calls ended in the last 15 minutes",
            value=float(delay or 0) / 1000.0)
        yield GaugeMetricFamily(
            "telesec_recordings_lost",
            "Calls ended in the last hour whose recording stopped on a vault write failure",
            value=lost or 0)
        if self.vault_dir is not None:
            yield GaugeMetricFamily("telesec_vault_free_bytes",
                                    "Free space on the disk holding the vault",
                                    value=_free_bytes(self.vault_dir))
        trunk_family = GaugeMetricFamily(
            "telesec_trunk_registered",
            "1 while the front holds a registration for the SIP account (IP trunks: 1)",
            labels=["trunk"])
        for name, state in sorted(self.trunks().items()):
            trunk_family.add_metric([name], 1 if state in ("registered", "ip") else 0)
        yield trunk_family
        yield GaugeMetricFamily("telesec_api_stream_listeners",
                                "Consoles listening to the escalation stream (this process)",
                                value=self.listeners())


def _free_bytes(path: Path) -> int:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free
    return 0


def registry_for(db: Database, listeners: Callable[[], int],
                 vault_dir: Path | None = None,
                 trunks: Callable[[], dict[str, str]] = dict) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TelesecCollector(db, listeners, vault_dir, trunks))
    return registry
