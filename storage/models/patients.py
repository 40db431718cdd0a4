"""The patients table. Read and write it only through :mod:`storage.patients`.

Identity columns are sealed (see :mod:`storage.identity`), each patient's under their
own key, and found through blind indexes (phone number; last name; last and first
names; last name and birth date: never the birth date alone). They are NULL only for
an instant while a row is inserted (its id is part of the sealed values) and for ever
once the patient is erased (``erased_at`` set).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import ForeignKey

from storage.identity import EncryptedIdentity, RowBound
from storage.models.base import Base, UTCDateTime, utcnow

INDEX_LENGTH = 32


class Patient(Base):
    __tablename__ = "patients"
    __table_args__ = (
        UniqueConstraint("practice_id", "code"),
        Index("ix_patients_phone_index", "practice_id", "phone_index"),
        Index("ix_patients_last_name_index", "practice_id", "last_name_index"),
        Index("ix_patients_full_name_index", "practice_id", "full_name_index"),
        Index("ix_patients_name_birth_index", "practice_id", "name_birth_index"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(16))
    first_name_sealed: Mapped[RowBound | None] = mapped_column(
        EncryptedIdentity("patients.first_name")
    )
    last_name_sealed: Mapped[RowBound | None] = mapped_column(
        EncryptedIdentity("patients.last_name")
    )
    birth_date_sealed: Mapped[RowBound | None] = mapped_column(
        EncryptedIdentity("patients.birth_date")
    )
    phone_sealed: Mapped[RowBound | None] = mapped_column(EncryptedIdentity("patients.phone"))
    phone_index: Mapped[str | None] = mapped_column(String(INDEX_LENGTH))
    last_name_index: Mapped[str | None] = mapped_column(String(INDEX_LENGTH))
    full_name_index: Mapped[str | None] = mapped_column(String(INDEX_LENGTH))
    name_birth_index: Mapped[str | None] = mapped_column(String(INDEX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Created by the phone for a caller new to the practice: a secretary confirms or merges.
    provisional: Mapped[bool] = mapped_column(default=False, server_default=false())
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
