"""The agenda service: the one object the phone flows, the console API and the CLI book through.

:class:`Agenda` adds nothing of its own: it is the four parts of the agenda over one
database, so a caller holds one object and calls ``agenda.find_slots``,
``agenda.hold``, ``agenda.confirm``... Each part is a module with one job:

- :mod:`scheduling.search`: the earliest free slots of a visit type (read only);
- :mod:`scheduling.holds`: keep a slot while a caller confirms, release, expire;
- :mod:`scheduling.bookings`: confirm a hold, book, cancel, move (idempotent);
- :mod:`scheduling.reads`: a patient's appointments, one appointment, a day, a practice.

Each call is one database transaction. Refusals a person can be told are returned as
:class:`scheduling.values.Refused` values; bad input raises a typed error
(:mod:`scheduling.errors`). Every change takes an ``actor`` (``staff:<login>``,
``ivr:<call id>``, ``system:<job>``, ``cli:<user>``) and an optional ``purpose`` and
writes exactly one audit event in its transaction (:mod:`scheduling.audit_events`);
refusals and idempotent replays change nothing and write nothing. See
``docs/scheduling.md``.
"""

from __future__ import annotations

from scheduling.bookings import Bookings
from scheduling.holds import Holds
from scheduling.reads import AgendaReads
from scheduling.search import SlotSearch
from storage.db import Database


class Agenda(SlotSearch, Holds, Bookings, AgendaReads):
    """Find slots, hold, confirm, cancel and move appointments of every practice."""

    def __init__(self, db: Database) -> None:
        self.db = db
