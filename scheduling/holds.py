"""Holds: a slot kept for a few minutes while a caller confirms; nobody else can take it.

A hold occupies the cells of its slot like an appointment does, so two holds (or a hold
and a booking) of the same time collide on the primary key of ``slot_cells``: the loser
is ``Refused(SLOT_TAKEN)``. An expired hold no longer counts as busy; its rows go when
someone needs the time, or with :meth:`Holds.expire_holds` (a periodic job).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import bindparam, exists, select
from sqlalchemy.exc import IntegrityError

from scheduling import audit_events, lookup, occupancy, rules
from scheduling.audit_events import Who
from scheduling.clock import now_utc
from scheduling.openings import opening_refusal
from scheduling.values import Channel, Held, Reason, Refused, Released, Slot
from scheduling.views import hold_view
from storage.db import Database
from storage.models import Hold, UTCDateTime

# The two refusals of a race, shared with the bookings that end a hold.
SLOT_TAKEN = Refused(Reason.SLOT_TAKEN, "someone else has just taken that time")
HOLD_EXPIRED = Refused(Reason.HOLD_EXPIRED, "that time was not kept any longer")


# lookup.SLOT_ROWS and EXISTS: an expired hold of the practitioner overlaps the slot
# (parameters: now, starts_at, ends_at); expired holds are dropped only when there are.
_SLOT_AND_EXPIRED = lookup.SLOT_ROWS.add_columns(
    exists().where(
        Hold.practitioner_id == bindparam("practitioner_id"),
        Hold.expires_at <= bindparam("now", type_=UTCDateTime()),
        Hold.starts_at < bindparam("ends_at", type_=UTCDateTime()),
        Hold.ends_at > bindparam("starts_at", type_=UTCDateTime()),
    )
)


class Holds:
    """Hold, release and expire holds of every practice of one database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def hold(
        self,
        slot: Slot,
        ttl: timedelta,
        *,
        actor: str,
        purpose: str | None = None,
        now: datetime | None = None,
        by: Channel = Channel.PHONE,
    ) -> Held | Refused:
        """Keep ``slot`` for ``ttl`` while the caller confirms; nobody else can take it.

        Audited as ``hold.create`` (no patient yet).
        """
        who = Who(actor, purpose)
        now = now_utc(now)
        try:
            with self.db.session() as session:
                # the slot's rows, and whether expired holds still sit on its time
                place, kind, person, (expired_here,) = lookup.slot_with(
                    session, slot, _SLOT_AND_EXPIRED,
                    {"now": now, "starts_at": slot.starts_at, "ends_at": slot.ends_at})
                refusal = rules.booking_refusal(kind, slot.starts_at, now, by) or opening_refusal(
                    session, place, person, slot.starts_at, slot.ends_at
                )
                if refusal is not None:
                    return refusal
                dropped = 0
                if expired_here is None or expired_here:  # None: no row (not known)
                    dropped = occupancy.drop_expired_holds(
                        session,
                        now,
                        practitioner_id=person.id,
                        starts_at=slot.starts_at,
                        ends_at=slot.ends_at,
                    )
                row = Hold(
                    id=secrets.token_hex(16),
                    practice_id=place.id,
                    practitioner_id=person.id,
                    visit_type_id=kind.id,
                    starts_at=slot.starts_at,
                    ends_at=slot.ends_at,
                    expires_at=now + ttl,
                )
                occupancy.hold_cells(session, row)  # the hold and its cells, written now
                detail: dict[str, object] = {
                    "practitioner_id": person.id,
                    "ttl_seconds": int(ttl.total_seconds()),
                    "by": str(by),
                }
                if dropped:
                    detail["expired_holds_dropped"] = dropped
                audit_events.record(
                    session, audit_events.HOLD_CREATE, who, object_id=row.id,
                    practice_id=place.id, detail=detail,
                )
                return Held(hold_view(session, row))
        except IntegrityError:
            return SLOT_TAKEN

    def release(self, hold_id: str, *, actor: str, purpose: str | None = None) -> Released:
        """Give a held slot back (a caller hung up or said no). Releasing twice is harmless.

        Audited as ``hold.release`` when a hold was there to release.
        """
        who = Who(actor, purpose)
        with self.db.session() as session:
            held = session.scalar(select(Hold).where(Hold.id == hold_id).with_for_update())
            if held is not None:
                occupancy.drop_holds(session, [hold_id])
                audit_events.record(
                    session, audit_events.HOLD_RELEASE, who, object_id=hold_id,
                    practice_id=held.practice_id,
                )
        return Released(hold_id)

    def expire_holds(
        self,
        now: datetime | None = None,
        *,
        actor: str = "system:hold-expiry",
        purpose: str | None = None,
    ) -> int:
        """Delete every expired hold and free its cells; returns how many went.

        Audited as one ``hold.expire`` event per practice that had expired holds.
        """
        who = Who(actor, purpose)
        with self.db.session() as session:
            expired = list(
                session.execute(
                    select(Hold.id, Hold.practice_id).where(Hold.expires_at <= now_utc(now))
                )
            )
            occupancy.drop_holds(session, [hold_id for hold_id, _ in expired])
            by_practice: dict[int, list[str]] = {}
            for hold_id, practice_id in expired:
                by_practice.setdefault(practice_id, []).append(hold_id)
            for practice_id, hold_ids in sorted(by_practice.items()):
                audit_events.record(
                    session, audit_events.HOLD_EXPIRE, who, practice_id=practice_id,
                    detail={"holds": len(hold_ids), "hold_ids": sorted(hold_ids)},
                )
            return len(expired)
