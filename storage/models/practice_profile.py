"""What a practice tells its callers, beside its agenda: one row per practice.

Everything here is written for the ear (a caller hears it read by the voice): the name
as said in the greeting, the address and how to get in, whether new patients are taken,
the numbers to call when the practice cannot help (SOS Médecins of the area, the
practice's on-call line, the pharmacy on duty), the secretaries' line a transfer rings,
the window within which a second visit of the same type goes to a secretary, where
staff alerts go, and how a transfer rings the secretaries' console softphones (all at
once, or one after another in an order of logins). Read it through
:func:`scheduling.practice_profile.profile` (a missing row reads as the defaults).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow

DEFAULT_DUPLICATE_WINDOW_DAYS = 0  # off unless the practice sets a window
DEFAULT_HUNT_SECONDS = 15
PHARMACY_ON_DUTY = "3237"  # the national number for the pharmacie de garde


class PracticeProfile(Base):
    __tablename__ = "practice_profiles"
    __table_args__ = (
        CheckConstraint("duplicate_window_days >= 0 AND duplicate_window_days <= 365",
                        name="duplicate_window_range"),
        CheckConstraint("hunt_seconds >= 5 AND hunt_seconds <= 120", name="hunt_seconds_range"),
        CheckConstraint("desk_ring IN ('ring_all', 'hunt')", name="desk_ring_known"),
    )

    practice_id: Mapped[int] = mapped_column(
        ForeignKey("practices.id", ondelete="CASCADE"), primary_key=True
    )
    spoken_name: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(500))
    access: Mapped[str | None] = mapped_column(String(500))
    accepts_new_patients: Mapped[bool] = mapped_column(default=True, server_default=true())
    secretary_line: Mapped[str | None] = mapped_column(String(255))
    sos_medecins_number: Mapped[str | None] = mapped_column(String(32))
    on_call_number: Mapped[str | None] = mapped_column(String(32))
    pharmacy_number: Mapped[str | None] = mapped_column(String(32), default=PHARMACY_ON_DUTY)
    duplicate_window_days: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_DUPLICATE_WINDOW_DAYS
    )
    privacy_contact: Mapped[str | None] = mapped_column(String(300))
    alert_recipients: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of addresses
    # a transfer rings every available page at once, or hunts: each login in turn
    desk_ring: Mapped[str] = mapped_column(String(8), default="ring_all",
                                           server_default="ring_all")
    hunt_order: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    hunt_seconds: Mapped[int] = mapped_column(Integer, default=DEFAULT_HUNT_SECONDS,
                                              server_default=str(DEFAULT_HUNT_SECONDS))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
