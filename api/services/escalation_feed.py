"""Fan-out of escalation changes to the live consoles (Server-Sent Events).

One poller thread per API process reads the open escalations (waiting and claimed)
every ``interval`` seconds, or at once when :mod:`storage.escalations` signals a change
made in this process. It compares them with what it saw last (by ``revision``) and
hands each change to the listeners whose practices it concerns. Changes made by other
processes (the phone workers, other API nodes) arrive within one interval.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field

from storage import escalations
from storage.db import Database
from storage.escalations import EscalationView

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FeedEvent:
    kind: str  # "waiting", "claimed", "resolved" (gone from the open set)
    escalation: EscalationView


@dataclass(eq=False)
class Listener:
    practice_ids: frozenset[int] | None  # None: every practice
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[FeedEvent] = field(default_factory=asyncio.Queue)

    def wants(self, practice_id: int) -> bool:
        return self.practice_ids is None or practice_id in self.practice_ids


class EscalationFeed:
    def __init__(self, db: Database, interval: float = 1.0) -> None:
        self.db = db
        self.interval = interval
        self._listeners: set[Listener] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen: dict[int, EscalationView] = {}
        self._stop = False
        self._unsubscribe = escalations.subscribe(self._wake.set)
        self.polls = 0

    # ---- listeners -----------------------------------------------------------------
    def listen(self, practice_ids: frozenset[int] | None) -> Listener:
        """Register a listener of the running event loop; its queue gets the changes."""
        listener = Listener(practice_ids, asyncio.get_running_loop())
        with self._lock:
            self._listeners.add(listener)
            if self._thread is None or not self._thread.is_alive():
                self._seen = {e.id: e for e in escalations.open_escalations(self.db)}
                self._stop = False
                self._thread = threading.Thread(target=self._run, name="escalation-feed",
                                                daemon=True)
                self._thread.start()
        return listener

    def leave(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.discard(listener)

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        self._unsubscribe()

    # ---- the poller ----------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self.interval)
            self._wake.clear()
            with self._lock:
                if not self._listeners:
                    self._thread = None
                    return
            try:
                self.poll()
            except Exception as exc:  # the database is away: try again next interval
                log.warning("escalation feed poll failed: %s", type(exc).__name__)

    def poll(self) -> list[FeedEvent]:
        """Read the open escalations once and dispatch what changed."""
        self.polls += 1
        now_open = {e.id: e for e in escalations.open_escalations(self.db)}
        events: list[FeedEvent] = []
        for escalation_id, current in now_open.items():
            before = self._seen.get(escalation_id)
            if before is None or before.revision != current.revision:
                events.append(FeedEvent(current.status, current))
        for escalation_id, before in self._seen.items():
            if escalation_id not in now_open:
                done = escalations.get(self.db, escalation_id) or before
                events.append(FeedEvent("resolved", done))
        self._seen = now_open
        if events:
            with self._lock:
                listeners = list(self._listeners)
            for listener in listeners:
                for event in events:
                    if listener.wants(event.escalation.practice_id):
                        try:
                            listener.loop.call_soon_threadsafe(listener.queue.put_nowait, event)
                        except RuntimeError:  # its loop is closed: the client went away
                            self.leave(listener)
        return events
