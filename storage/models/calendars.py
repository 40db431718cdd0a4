"""Practitioners' own calendars: links, imported busy time, the publication outbox, conflicts.

A practitioner's calendar (CalDAV collection or read-only ICS address) is linked once
(``calendar_links``); its address and credentials are sealed with the keyring, only the
server's host name is kept in clear for people. What a sync imports is busy time, never
the events' text: per remote resource its href and ETag (``calendar_remote_events``), and
the busy periods it expands to (``imported_busy``), which slot search reads like closures.

Publishing goes through ``calendar_outbox``: a row is written in the transaction of each
booking, move or cancellation, and drained by the sync job; ``calendar_publications``
remembers where each appointment (by the first appointment of its chain of moves) is
published. ``calendar_conflicts`` lists booked appointments that an imported busy period
overlaps, for a secretary to move.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow


class CalendarKind(enum.StrEnum):
    CALDAV = "caldav"  # two-way: busy time in, appointments out
    ICS = "ics"  # read-only address of an iCalendar file


class Attendance(enum.StrEnum):
    """How sure a busy period is: the practice decides whether tentative/declined block."""

    BUSY = "busy"
    TENTATIVE = "tentative"
    DECLINED = "declined"


def _enum(kind: type[enum.StrEnum]) -> Enum:
    return Enum(kind, native_enum=False, length=16,
                values_callable=lambda kinds: [k.value for k in kinds])


class CalendarLink(Base):
    """One practitioner's calendar and the state of its synchronisation."""

    __tablename__ = "calendar_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    practitioner_id: Mapped[int] = mapped_column(
        ForeignKey("practitioners.id", ondelete="CASCADE"), unique=True
    )
    kind: Mapped[CalendarKind] = mapped_column(_enum(CalendarKind))
    server: Mapped[str] = mapped_column(String(255))  # host name only, for people
    sealed_source: Mapped[bytes] = mapped_column(LargeBinary)  # address + credentials
    owner_addresses: Mapped[str | None] = mapped_column(String(500))  # the doctor's mailto:s
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    sync_mode: Mapped[str | None] = mapped_column(String(16))  # sync-token, etag, ics
    sync_token: Mapped[str | None] = mapped_column(String(1000))
    source_etag: Mapped[str | None] = mapped_column(String(255))
    expanded_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sync_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(300))
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    events_count: Mapped[int] = mapped_column(Integer, default=0)
    busy_count: Mapped[int] = mapped_column(Integer, default=0)
    last_changes: Mapped[str | None] = mapped_column(String(300))
    last_requests: Mapped[int] = mapped_column(Integer, default=0)


class CalendarRemoteEvent(Base):
    """One resource of the remote calendar as last seen: where it is and its version."""

    __tablename__ = "calendar_remote_events"
    __table_args__ = (UniqueConstraint("link_id", "href"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(
        ForeignKey("calendar_links.id", ondelete="CASCADE"), index=True
    )
    href: Mapped[str] = mapped_column(String(1000))
    etag: Mapped[str | None] = mapped_column(String(255))
    # recurs, or lies beyond the imported window: read again when the window moves
    open_ended: Mapped[bool] = mapped_column(Boolean, default=False)


class ImportedBusy(Base):
    """A busy period of a practitioner imported from their calendar (no text kept)."""

    __tablename__ = "imported_busy"
    __table_args__ = (
        CheckConstraint("starts_at < ends_at", name="start_before_end"),
        Index("ix_imported_busy_practitioner_span", "practitioner_id", "ends_at", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("calendar_links.id", ondelete="CASCADE"))
    remote_event_id: Mapped[int] = mapped_column(
        ForeignKey("calendar_remote_events.id", ondelete="CASCADE"), index=True
    )
    practitioner_id: Mapped[int] = mapped_column(
        ForeignKey("practitioners.id", ondelete="CASCADE")
    )
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attendance: Mapped[Attendance] = mapped_column(_enum(Attendance), default=Attendance.BUSY)


class PracticeCalendarSettings(Base):
    """What a practice lets calendars do; changed by admins, every change audited."""

    __tablename__ = "practice_calendar_settings"

    practice_id: Mapped[int] = mapped_column(
        ForeignKey("practices.id", ondelete="CASCADE"), primary_key=True
    )
    tentative_blocks: Mapped[bool] = mapped_column(Boolean, default=True)
    declined_blocks: Mapped[bool] = mapped_column(Boolean, default=False)
    publish_patient_identity: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(128))


class CalendarOutbox(Base):
    """An appointment whose state must reach the calendars (written with the booking)."""

    __tablename__ = "calendar_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    root_appointment_id: Mapped[int] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )
    appointment_id: Mapped[int] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))


class CalendarPublication(Base):
    """Where an appointment (its chain of moves) is published, and the version put there."""

    __tablename__ = "calendar_publications"
    __table_args__ = (UniqueConstraint("link_id", "root_appointment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("calendar_links.id", ondelete="CASCADE"))
    # NULL once the appointment is deleted (a patient's erasure): the event is then
    # removed from the calendar by the next drain, then this row
    root_appointment_id: Mapped[int | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL"), index=True
    )
    appointment_id: Mapped[int] = mapped_column(Integer)
    href: Mapped[str] = mapped_column(String(1000))
    etag: Mapped[str | None] = mapped_column(String(255))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CalendarConflict(Base):
    """A booked appointment overlapped by a busy period of the practitioner's calendar."""

    __tablename__ = "calendar_conflicts"
    __table_args__ = (UniqueConstraint("appointment_id", "remote_event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )
    remote_event_id: Mapped[int] = mapped_column(
        ForeignKey("calendar_remote_events.id", ondelete="CASCADE")
    )
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    practitioner_id: Mapped[int] = mapped_column(
        ForeignKey("practitioners.id", ondelete="CASCADE")
    )
    busy_starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    busy_ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
