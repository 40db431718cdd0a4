"""One calendar sync: publish what the outbox holds, read the calendar, import busy time.

:class:`CalendarSync` is what ``telesec serve``'s calendar job (``run_due``, every few
seconds: outbox, then the calendars whose period came or whose sync was asked for) and
``telesec calendars sync`` (``sync_now``) run. The network is read first, outside any
transaction; the iCalendar data is expanded in Python; then one transaction writes the
result (:mod:`calendars.importer`). A server that fails leaves the last imported busy time
in place (slot search keeps using it), a one-line error on the link for ``status`` and
the console, and a log line naming ids only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from calendars.busy_time import (
    UnreadableCalendarData,
    busy_spans,
    owner_addresses,
    parse_calendar,
    split_feed,
)
from calendars.credentials import CalendarSourceInvalid, open_sealed
from calendars.importer import Fetched, ImportResult, apply_import
from calendars.publisher import DrainReport, OutboxDrain
from calendars.remote import CalDavCollection, CalendarServerError, IcsFeed, Listing
from foundation.settings import CalendarSettings
from storage.db import Database
from storage.keyring import Keyring
from storage.models import (
    CalendarKind,
    CalendarLink,
    CalendarPublication,
    CalendarRemoteEvent,
    Practice,
    utcnow,
)

log = logging.getLogger(__name__)

PAST = timedelta(days=1)
REEXPAND_EVERY = timedelta(days=7)


@dataclass
class SyncReport:
    link_id: int
    practitioner_id: int
    ok: bool
    message: str
    requests: int
    seconds: float
    imported: ImportResult | None = None
    network_seconds: float = 0.0  # of ``seconds``: talking to the calendar server

    def line(self) -> str:
        state = "ok" if self.ok else "FAILED"
        return (f"practitioner {self.practitioner_id}: {state} in {self.seconds:.1f} s, "
                f"{self.requests} HTTP requests: {self.message}")


@dataclass
class _LinkState:
    link_id: int
    practitioner_id: int
    kind: CalendarKind
    source: Any
    zone: ZoneInfo
    owners: frozenset[str]
    token: str | None
    mode: str | None
    source_etag: str | None
    expanded_until: datetime | None
    known: dict[str, tuple[str | None, bool]]  # path -> (etag, open-ended)
    published: set[str]


class CalendarSync:
    """Publishes and imports for every linked calendar of the database."""

    def __init__(
        self,
        db: Database,
        keyring: Keyring,
        settings: CalendarSettings | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        open_caldav: Callable[..., CalDavCollection] = CalDavCollection,
        open_ics: Callable[..., IcsFeed] = IcsFeed,
    ) -> None:
        self.db = db
        self.keyring = keyring
        self.settings = settings or CalendarSettings()
        self.clock = clock
        self.open_caldav = open_caldav
        self.open_ics = open_ics
        self.outbox = OutboxDrain(db, keyring, timeout=self.settings.timeout_seconds,
                                  open_collection=open_caldav, clock=clock)

    @property
    def interval(self) -> timedelta:
        return timedelta(seconds=self.settings.sync_interval_seconds)

    # ----- what the job and the CLI run -------------------------------------------------

    def run_due(self) -> list[SyncReport]:
        """The periodic job: drain the outbox, then sync the calendars that are due."""
        self.publish()
        now = self.clock()
        with self.db.read_session() as session:
            due = [row.id for row in session.scalars(select(CalendarLink)) if _due(
                row, now, self.interval)]
        return [r for r in (self.sync_link(i, only_if_due=True) for i in due) if r]

    def sync_now(self, practice_id: int | None = None,
                 practitioner_id: int | None = None) -> list[SyncReport]:
        """Publish, then sync the chosen calendars at once (``telesec calendars sync``)."""
        self.publish()
        with self.db.read_session() as session:
            query = select(CalendarLink.id).order_by(CalendarLink.practitioner_id)
            if practice_id is not None:
                query = query.where(CalendarLink.practice_id == practice_id)
            if practitioner_id is not None:
                query = query.where(CalendarLink.practitioner_id == practitioner_id)
            ids = list(session.scalars(query))
        return [r for r in (self.sync_link(i) for i in ids) if r]

    def publish(self) -> DrainReport:
        """Send the queued appointment changes to the calendars (nothing queued: no I/O)."""
        if not self.outbox.pending():
            return DrainReport()
        report = self.outbox.drain()
        if report.published or report.removed:
            log.info("calendar publishing: %s", report.summary())
        return report

    # ----- one calendar ----------------------------------------------------------------

    def sync_link(self, link_id: int, *, only_if_due: bool = False) -> SyncReport | None:
        """Read one calendar and import it; None if another node has just done it."""
        began = time.perf_counter()
        now = self.clock()
        with self.db.session() as session:
            link = session.get(CalendarLink, link_id, with_for_update=True)
            if link is None or (only_if_due and not _due(link, now, self.interval)):
                return None
            link.last_attempt_at = now
            link.sync_requested_at = None
            practitioner_id = link.practitioner_id
        requests = 0
        try:
            state = self._state(link_id)
            window_end = now + timedelta(days=self.settings.horizon_days)
            reexpand = (state.expanded_until is None
                        or state.expanded_until < window_end - REEXPAND_EVERY)
            talking = time.perf_counter()
            if state.kind is CalendarKind.CALDAV:
                with self.open_caldav(state.source, timeout=self.settings.timeout_seconds
                                      ) as client:
                    try:
                        listing, objects = self._read_caldav(client, state, reexpand)
                    finally:
                        requests = client.requests
                talked = time.perf_counter() - talking
                fetched = [self._parse(state, path, etag, data, now, window_end)
                           for path, etag, data in objects]
                changes: dict[str, Any] = {
                    "deleted": listing.deleted, "listed": listing.changed,
                    "complete": listing.complete, "token": listing.token,
                    "mode": listing.mode, "source_etag": None}
            else:
                with self.open_ics(state.source, timeout=self.settings.timeout_seconds
                                   ) as feed:
                    try:
                        changes, fetched = self._read_ics(feed, state, reexpand, now,
                                                          window_end)
                    finally:
                        requests = feed.requests
                talked = time.perf_counter() - talking
            with self.db.session() as session:
                result = apply_import(
                    session, link_id, fetched=fetched, now=now, requests=requests,
                    expanded_until=window_end if reexpand else None, **changes)
        except (CalendarServerError, CalendarSourceInvalid, UnreadableCalendarData) as exc:
            return self._failed(link_id, practitioner_id, str(exc), now, requests, began)
        seconds = time.perf_counter() - began
        log.info("calendar sync of practitioner %d: %s (%d HTTP requests, %.1f s)",
                 practitioner_id, result.summary(), requests, seconds)
        return SyncReport(link_id, practitioner_id, True, result.summary(), requests, seconds,
                          result, talked)

    def _state(self, link_id: int) -> _LinkState:
        with self.db.read_session() as session:
            link = session.get_one(CalendarLink, link_id)
            zone = ZoneInfo(session.get_one(Practice, link.practice_id).timezone)
            known = {href: (etag, open_ended) for href, etag, open_ended in session.execute(
                select(CalendarRemoteEvent.href, CalendarRemoteEvent.etag,
                       CalendarRemoteEvent.open_ended)
                .where(CalendarRemoteEvent.link_id == link_id))}
            published = set(session.scalars(select(CalendarPublication.href).where(
                CalendarPublication.link_id == link_id)))
            return _LinkState(
                link_id, link.practitioner_id, link.kind,
                open_sealed(self.keyring, link.practitioner_id, link.sealed_source), zone,
                owner_addresses(link.owner_addresses), link.sync_token, link.sync_mode,
                link.source_etag, link.expanded_until, known, published)

    def _read_caldav(self, client: CalDavCollection, state: _LinkState,
                     reexpand: bool) -> tuple[Listing, list[tuple[str, str | None, str]]]:
        listing = client.listing(state.token, state.mode)
        wanted = {p: listing.changed[p] for p in _changed(listing.changed, state)}
        if reexpand:
            wanted |= {p: etag for p, (etag, open_ended) in state.known.items()
                       if open_ended and p not in listing.deleted and p not in wanted}
        objects = client.fetch(wanted)
        return listing, [(o.path, o.etag, o.data) for o in objects]

    def _read_ics(self, feed: IcsFeed, state: _LinkState, reexpand: bool, now: datetime,
                  window_end: datetime) -> tuple[dict[str, Any], list[Fetched]]:
        body, etag = feed.fetch(None if reexpand else state.source_etag)
        if body is None:  # 304: nothing changed
            return ({"deleted": set(), "listed": None, "complete": False, "token": None,
                     "mode": "ics", "source_etag": etag}, [])
        resources = {f"uid:{uid}"[:1000]: value
                     for uid, value in split_feed(parse_calendar(body)).items()}
        listed: dict[str, str | None] = {path: digest for path, (digest, _c) in resources.items()}
        wanted = _changed(listed, state)
        if reexpand:
            wanted |= {p for p, (_e, open_ended) in state.known.items()
                       if open_ended and p in listed}
        fetched = [self._parse_calendar(state, path, listed[path], resources[path][1], now,
                                        window_end) for path in sorted(wanted)]
        return ({"deleted": set(), "listed": listed, "complete": True, "token": None,
                 "mode": "ics", "source_etag": etag}, fetched)

    def _parse(self, state: _LinkState, path: str, etag: str | None, data: str,
               now: datetime, window_end: datetime) -> Fetched:
        try:
            calendar = parse_calendar(data)
        except UnreadableCalendarData:
            log.warning("calendar of practitioner %d: one event is not iCalendar data; "
                        "skipped", state.practitioner_id)
            return Fetched(path, etag, None)
        return self._parse_calendar(state, path, etag, calendar, now, window_end)

    def _parse_calendar(self, state: _LinkState, path: str, etag: str | None, calendar: Any,
                        now: datetime, window_end: datetime) -> Fetched:
        try:
            resource = busy_spans(calendar, zone=state.zone, start=now - PAST, end=window_end,
                                  owners=state.owners)
        except Exception as exc:  # a broken rule or date in one event must not stop the rest
            log.warning("calendar of practitioner %d: one event could not be expanded (%s); "
                        "skipped", state.practitioner_id, type(exc).__name__)
            return Fetched(path, etag, None)
        return Fetched(path, etag, resource)

    def _failed(self, link_id: int, practitioner_id: int, message: str, now: datetime,
                requests: int, began: float) -> SyncReport:
        with self.db.session() as session:
            link = session.get(CalendarLink, link_id)
            imported = None
            if link is not None:
                link.last_error = message[:300]
                link.last_error_at = now
                link.failures = (link.failures or 0) + 1
                link.last_requests = requests
                imported = link.last_success_at
        since = imported.strftime("%Y-%m-%d %H:%M UTC") if imported else "never"
        log.warning("calendar sync of practitioner %d failed: %s; slot search uses the busy "
                    "time imported at %s", practitioner_id, message, since)
        return SyncReport(link_id, practitioner_id, False, message, requests,
                          time.perf_counter() - began)


def _changed(listed: dict[str, str | None], state: _LinkState) -> set[str]:
    """Listed objects that are not Telesec's own and whose version is new to us."""
    return {path for path, etag in listed.items()
            if path not in state.published
            and (path not in state.known or etag is None or state.known[path][0] != etag)}


def _due(link: CalendarLink, now: datetime, interval: timedelta) -> bool:
    if link.sync_requested_at is not None or link.last_attempt_at is None:
        return True
    return now - link.last_attempt_at >= interval
