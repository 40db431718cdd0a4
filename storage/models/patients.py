"""The patients table. Read and write it only through :mod:`storage.patients`.

Identity columns are sealed (see :mod:`storage.identity`) and found through blind
indexes. They are NULL only for an instant while a row is inserted (its id is part of
the sealed values) and for ever once the patient is erased (``erased_at`` set).
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
        Index("ix_patients_birth_date_index", "practice_id", "birth_date_index"),
        Index("ix_patients_last_name_index", "practice_id", "last_name_index"),
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
    first_name_index: Mapped[str | None] = mapped_column(String(INDEX_LENGTH))
    last_name_index: Mapped[str | None] = mapped_column(String(INDEX_LENGTH))
    birth_date_index: Mapped[str | None] = mapped_column(String(INDEX_LENGTH))
    phone_index: Mapped[str | None] = mapped_column(String(INDEX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Created by the phone for a caller new to the practice: a secretary confirms or merges.
    provisional: Mapped[bool] = mapped_column(default=False, server_default=false())
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
