"""What a practice tells its callers, beside its agenda: one row per practice.

Everything here is written for the ear (a caller hears it read by the voice): the name
as said in the greeting, the address and how to get in, whether new patients are taken,
the numbers to call when the practice cannot help (SOS Médecins of the area, the
practice's on-call line, the pharmacy on duty), the secretaries' line a transfer rings,
the window within which a second visit of the same type goes to a secretary, and where
staff alerts go. Read it through :func:`scheduling.practice_profile.profile` (a missing
row reads as the defaults).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow

DEFAULT_DUPLICATE_WINDOW_DAYS = 0  # off unless the practice sets a window
PHARMACY_ON_DUTY = "3237"  # the national number for the pharmacie de garde


class PracticeProfile(Base):
    __tablename__ = "practice_profiles"
    __table_args__ = (
        CheckConstraint("duplicate_window_days >= 0 AND duplicate_window_days <= 365",
                        name="duplicate_window_range"),
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
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
