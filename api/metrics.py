"""Prometheus metrics, computed from the database at each scrape (so every API process
reports the same figures): active calls, escalations waiting, recognition delay."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from storage.db import Database
from storage.models import CallRecord, Escalation, EscalationStatus, utcnow

ACTIVE_WINDOW = timedelta(hours=4)  # a call with no end after this is a lost record
DELAY_WINDOW = timedelta(minutes=15)


class TelesecCollector(Collector):
    def __init__(self, db: Database, listeners: Callable[[], int] = lambda: 0) -> None:
        self.db = db
        self.listeners = listeners

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
        yield GaugeMetricFamily("telesec_api_stream_listeners",
                                "Consoles listening to the escalation stream (this process)",
                                value=self.listeners())


def registry_for(db: Database, listeners: Callable[[], int]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TelesecCollector(db, listeners))
    return registry
