"""The periodic access review: who read what, per staff member and per patient.

Flags two unusual patterns for a person to look at:

- **bulk reads**: one actor reading more than ``bulk_threshold`` distinct patients'
  records within ``bulk_window`` (default 20 in an hour);
- **reads outside opening hours**: by a person (actors ``staff:*``; the phone flows
  ``ivr:*`` and jobs ``system:*`` answer at night by design), outside
  :class:`OpeningHours` (default 08:00–19:00, Monday to Saturday) in the practice's
  time zone (the event's practice, else ``default_zone``).

An action is a read when its verb (after the last dot) is in :data:`READ_VERBS`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import AuditEvent, Practice

READ_VERBS = frozenset(
    {"read", "view", "play", "listen", "list", "search", "lookup", "export", "download",
     "report"}
)
AUTOMATED_PREFIXES = ("ivr:", "system:")


@dataclass(frozen=True)
class OpeningHours:
    opens: time = time(8, 0)
    closes: time = time(19, 0)
    weekdays: frozenset[int] = frozenset(range(6))  # Monday = 0 … Saturday = 5

    def contains(self, local: datetime) -> bool:
        return local.weekday() in self.weekdays and self.opens <= local.time() < self.closes


@dataclass
class ActorSummary:
    actor: str
    reads: int = 0
    changes: int = 0
    patients: set[str] = field(default_factory=set)


@dataclass
class PatientSummary:
    label: str
    reads: int = 0
    changes: int = 0
    actors: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Flag:
    kind: str  # "bulk_read" or "off_hours"
    actor: str
    at: datetime
    text: str


@dataclass
class AccessReport:
    since: datetime
    until: datetime
    events: int
    actors: list[ActorSummary]
    patients: list[PatientSummary]
    flags: list[Flag]


def is_read(action: str) -> bool:
    return action.rsplit(".", 1)[-1] in READ_VERBS


def _patient_label(event: AuditEvent) -> str:
    if event.patient_id is not None:
        return f"patient {event.patient_id}"
    return f"erased patient ~{(event.patient_ref or '')[:12]}"


def report(
    session: Session,
    since: datetime,
    until: datetime,
    *,
    bulk_threshold: int = 20,
    bulk_window: timedelta = timedelta(hours=1),
    opening: OpeningHours | None = None,
    default_zone: str = "Europe/Paris",
) -> AccessReport:
    """Summarise the events in ``[since, until)`` and flag the unusual ones."""
    opening = opening or OpeningHours()
    zones = {pid: ZoneInfo(tz) for pid, tz in session.execute(
        select(Practice.id, Practice.timezone))}
    fallback = ZoneInfo(default_zone)
    actors: dict[str, ActorSummary] = {}
    patients: dict[str, PatientSummary] = {}
    reads_by_actor: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    flags: list[Flag] = []
    count = 0
    events = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.at >= since, AuditEvent.at < until)
        .order_by(AuditEvent.at, AuditEvent.seq)
    )
    for event in events:
        count += 1
        read = is_read(event.action)
        who = actors.setdefault(event.actor, ActorSummary(event.actor))
        who.reads += read
        who.changes += not read
        if event.patient_ref is not None:
            who.patients.add(event.patient_ref)
            whom = patients.setdefault(event.patient_ref, PatientSummary(_patient_label(event)))
            whom.reads += read
            whom.changes += not read
            whom.actors.add(event.actor)
            if read:
                reads_by_actor[event.actor].append((event.at, event.patient_ref))
        if read and not event.actor.startswith(AUTOMATED_PREFIXES):
            local = event.at.astimezone(zones.get(event.practice_id or -1, fallback))
            if not opening.contains(local):
                flags.append(Flag("off_hours", event.actor, event.at,
                                  f"{event.action} at {local:%a %Y-%m-%d %H:%M} local time"))
    for actor, reads in reads_by_actor.items():
        flags.extend(_bulk_reads(actor, reads, bulk_threshold, bulk_window))
    flags.sort(key=lambda f: (f.at, f.actor))
    return AccessReport(
        since=since,
        until=until,
        events=count,
        actors=sorted(actors.values(), key=lambda a: (-a.reads, a.actor)),
        patients=sorted(patients.values(), key=lambda p: (-len(p.actors), -p.reads, p.label)),
        flags=flags,
    )


def _bulk_reads(actor: str, reads: list[tuple[datetime, str]], threshold: int,
                window: timedelta) -> list[Flag]:
    """One flag per burst of more than ``threshold`` distinct patients within ``window``."""
    flags: list[Flag] = []
    in_window: Counter[str] = Counter()
    left = 0
    for right, (at, ref) in enumerate(reads):
        in_window[ref] += 1
        while reads[left][0] <= at - window:
            old = reads[left][1]
            in_window[old] -= 1
            if not in_window[old]:
                del in_window[old]
            left += 1
        if len(in_window) > threshold:
            start = reads[left][0]
            flags.append(Flag("bulk_read", actor, start,
                              f"read {len(in_window)} patients' records between "
                              f"{start:%Y-%m-%d %H:%M} and {at:%H:%M} UTC"))
            in_window.clear()
            left = right + 1
    return flags
