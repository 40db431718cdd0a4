"""Agenda tables: practices, practitioners, visit types, opening hours, bookings.

No double booking is enforced by the database, not by Python: every appointment or
live hold occupies the 5-minute cells of its practitioner's time (``slot_cells``), whose
primary key is (practitioner, cell start). Two overlapping visits, of any lengths,
share at least one cell, so the second insert fails on every database.
"""

from __future__ import annotations

import enum
from datetime import datetime, time

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Time,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base, UTCDateTime, utcnow

CELL_MINUTES = 5


class Practice(Base):
    __tablename__ = "practices"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    phone_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    practitioners: Mapped[list[Practitioner]] = relationship(back_populates="practice")
    visit_types: Mapped[list[VisitType]] = relationship(back_populates="practice")


class Practitioner(Base):
    __tablename__ = "practitioners"
    __table_args__ = (UniqueConstraint("practice_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200))
    specialty: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    accepts_new_patients: Mapped[bool] = mapped_column(Boolean, default=True,
                                                       server_default=true())
    alert_address: Mapped[str | None] = mapped_column(String(254))  # new voicemail alerts

    practice: Mapped[Practice] = relationship(back_populates="practitioners")
    opening: Mapped[list[OpeningTemplate]] = relationship(
        back_populates="practitioner", cascade="all, delete-orphan"
    )


class VisitType(Base):
    __tablename__ = "visit_types"
    __table_args__ = (
        UniqueConstraint("practice_id", "code"),
        CheckConstraint(f"duration_minutes > 0 AND duration_minutes % {CELL_MINUTES} = 0",
                        name="duration_whole_cells"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    phone_bookable: Mapped[bool] = mapped_column(Boolean, default=True)
    new_patients_allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    min_book_notice_minutes: Mapped[int] = mapped_column(Integer, default=60)
    min_cancel_notice_minutes: Mapped[int] = mapped_column(Integer, default=24 * 60)

    practice: Mapped[Practice] = relationship(back_populates="visit_types")


class OpeningTemplate(Base):
    """A weekly opening window of one practitioner, in the practice's local time."""

    __tablename__ = "opening_templates"
    __table_args__ = (
        CheckConstraint("weekday >= 0 AND weekday <= 6", name="weekday_range"),
        CheckConstraint("start_time < end_time", name="start_before_end"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practitioner_id: Mapped[int] = mapped_column(
        ForeignKey("practitioners.id", ondelete="CASCADE"), index=True
    )
    weekday: Mapped[int] = mapped_column(Integer)  # Monday = 0
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)

    practitioner: Mapped[Practitioner] = relationship(back_populates="opening")


class ExceptionKind(enum.StrEnum):
    HOLIDAY = "holiday"
    ABSENCE = "absence"
    BLOCKED = "blocked"


class ScheduleException(Base):
    """A closed period: a practice holiday (no practitioner) or one practitioner's absence."""

    __tablename__ = "schedule_exceptions"
    __table_args__ = (
        CheckConstraint("starts_at < ends_at", name="start_before_end"),
        Index("ix_schedule_exceptions_practice_span", "practice_id", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    practitioner_id: Mapped[int | None] = mapped_column(
        ForeignKey("practitioners.id", ondelete="CASCADE")
    )
    kind: Mapped[ExceptionKind] = mapped_column(
        Enum(ExceptionKind, native_enum=False, length=16,
             values_callable=lambda kinds: [k.value for k in kinds])
    )
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    label: Mapped[str | None] = mapped_column(String(200))


class AppointmentStatus(enum.StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    MOVED = "moved"  # replaced by another appointment (see ``Appointment.replaces_id``)


class Appointment(Base):
    __tablename__ = "appointments"
    __table_args__ = (
        CheckConstraint("starts_at < ends_at", name="start_before_end"),
        Index("ix_appointments_practitioner_start", "practitioner_id", "starts_at"),
        Index("ix_appointments_patient_start", "patient_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    practitioner_id: Mapped[int] = mapped_column(
        ForeignKey("practitioners.id", ondelete="CASCADE")
    )
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    visit_type_id: Mapped[int] = mapped_column(ForeignKey("visit_types.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[AppointmentStatus] = mapped_column(
        Enum(AppointmentStatus, native_enum=False, length=16,
             values_callable=lambda kinds: [k.value for k in kinds]),
        default=AppointmentStatus.BOOKED,
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    booked_by: Mapped[str] = mapped_column(String(64), default="phone")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(64))
    replaces_id: Mapped[int | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL")
    )


class Hold(Base):
    """A slot kept for a caller while they confirm; its cells free themselves on expiry."""

    __tablename__ = "holds"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    practitioner_id: Mapped[int] = mapped_column(
        ForeignKey("practitioners.id", ondelete="CASCADE")
    )
    visit_type_id: Mapped[int] = mapped_column(ForeignKey("visit_types.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class SlotCell(Base):
    """One occupied 5-minute cell of a practitioner's time (see the module docstring)."""

    __tablename__ = "slot_cells"
    __table_args__ = (
        CheckConstraint(
            "(appointment_id IS NULL) <> (hold_id IS NULL)", name="one_owner"
        ),
    )

    practitioner_id: Mapped[int] = mapped_column(
        ForeignKey("practitioners.id", ondelete="CASCADE"), primary_key=True
    )
    cell_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    appointment_id: Mapped[int | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )
    hold_id: Mapped[str | None] = mapped_column(
        ForeignKey("holds.id", ondelete="CASCADE"), index=True
    )
