"""Patient identity: the only module that reads or writes the identity columns.

Callers deal in :class:`PatientRecord` values and never touch :class:`Patient` columns,
so that the way identity is stored (plain, or encrypted with blind indexes) can change
here without touching them.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Patient


@dataclass(frozen=True, slots=True)
class PatientRecord:
    id: int
    practice_id: int
    code: str
    first_name: str
    last_name: str
    birth_date: date
    phone: str | None


class UnknownPatient(LookupError):
    """No patient with that id in that practice."""


def normalise_phone(raw: str, default_country: str = "33") -> str:
    """Return the E.164 form of a phone number (French national numbers by default)."""
    digits = "".join(ch for ch in raw if ch.isdigit() or ch == "+")
    if digits.startswith("+"):
        return "+" + digits[1:].replace("+", "")
    if digits.startswith("00"):
        return "+" + digits[2:]
    if digits.startswith("0") and len(digits) == 10:
        return f"+{default_country}{digits[1:]}"
    return "+" + digits if digits else ""


def fold_name(name: str) -> str:
    """Case- and accent-folded name with single spaces, for comparisons and indexes."""
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    cleaned = "".join(ch if ch.isalnum() else " " for ch in bare.casefold())
    return " ".join(cleaned.split())


def _record(row: Patient) -> PatientRecord:
    return PatientRecord(
        id=row.id,
        practice_id=row.practice_id,
        code=row.code,
        first_name=row.first_name,
        last_name=row.last_name,
        birth_date=row.birth_date,
        phone=row.phone,
    )


class PatientDirectory:
    """Create, read and look up patients of any practice within one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(
        self,
        practice_id: int,
        *,
        first_name: str,
        last_name: str,
        birth_date: date,
        phone: str | None = None,
        code: str | None = None,
    ) -> PatientRecord:
        row = Patient(
            practice_id=practice_id,
            code=code or self._new_code(practice_id),
            first_name=first_name.strip(),
            last_name=last_name.strip(),
            birth_date=birth_date,
            phone=normalise_phone(phone) if phone else None,
        )
        self.session.add(row)
        self.session.flush()
        return _record(row)

    def get(self, patient_id: int, practice_id: int | None = None) -> PatientRecord:
        row = self.session.get(Patient, patient_id)
        if row is None or (practice_id is not None and row.practice_id != practice_id):
            raise UnknownPatient(f"no patient {patient_id}")
        return _record(row)

    def by_code(self, practice_id: int, code: str) -> PatientRecord | None:
        row = self.session.scalar(
            select(Patient).where(Patient.practice_id == practice_id, Patient.code == code)
        )
        return _record(row) if row else None

    def find_by_phone(self, practice_id: int, phone: str) -> list[PatientRecord]:
        wanted = normalise_phone(phone)
        rows = self.session.scalars(
            select(Patient).where(Patient.practice_id == practice_id, Patient.phone == wanted)
        )
        return [_record(r) for r in rows]

    def find_by_birth_date(self, practice_id: int, birth_date: date) -> list[PatientRecord]:
        rows = self.session.scalars(
            select(Patient).where(
                Patient.practice_id == practice_id, Patient.birth_date == birth_date
            )
        )
        return [_record(r) for r in rows]

    def find_by_name(
        self, practice_id: int, last_name: str, first_name: str | None = None
    ) -> list[PatientRecord]:
        rows = self.session.scalars(select(Patient).where(Patient.practice_id == practice_id))
        last, first = fold_name(last_name), fold_name(first_name) if first_name else None
        return [
            _record(r)
            for r in rows
            if fold_name(r.last_name) == last
            and (first is None or fold_name(r.first_name) == first)
        ]

    def update(self, patient_id: int, **fields: object) -> PatientRecord:
        row = self.session.get(Patient, patient_id)
        if row is None:
            raise UnknownPatient(f"no patient {patient_id}")
        allowed = {"first_name", "last_name", "birth_date", "phone"}
        for name, value in fields.items():
            if name not in allowed:
                raise ValueError(f"cannot update {name!r} of a patient")
            if name == "phone" and isinstance(value, str):
                value = normalise_phone(value)
            setattr(row, name, value)
        self.session.flush()
        return _record(row)

    def _new_code(self, practice_id: int) -> str:
        while True:
            code = f"{secrets.randbelow(10**6):06d}"
            if self.by_code(practice_id, code) is None:
                return code
