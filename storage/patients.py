"""Patient identity: the only module that reads or writes the identity columns.

Callers deal in :class:`PatientRecord` values and never touch :class:`Patient` columns.
Names, birth dates and phone numbers are sealed columns (:mod:`storage.identity`); the
lookups go through blind indexes of the normalised values, then the rows found are
opened and compared with the query again (a truncated index can, in theory, collide).

Changes are audited here, in the caller's transaction: :meth:`PatientDirectory.add`
(``patient.create``) and :meth:`PatientDirectory.update` (``patient.update``, the names
of the fields changed as detail) take the ``actor``. Erasure on request is
:func:`storage.erasure.erase_patient` (``patient.erase``), which builds on this module.
Reads through this directory are not audited here: the caller knows who reads and why,
and records it with :func:`storage.audit.record`.
"""

from __future__ import annotations

import dataclasses
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import LargeBinary, Select, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from storage import audit
from storage.identity import IdentityTampered, RowBound, cipher, sealed_kek_id
from storage.models import Patient, utcnow

IDENTITY_FIELDS = ("first_name", "last_name", "birth_date", "phone")


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """A patient's identity in clear; its repr shows no identity (safe in a log line)."""

    id: int
    practice_id: int
    code: str
    first_name: str = dataclasses.field(repr=False)
    last_name: str = dataclasses.field(repr=False)
    birth_date: date = dataclasses.field(repr=False)
    phone: str | None = dataclasses.field(repr=False)


class UnknownPatient(LookupError):
    """No patient with that id in that practice (or the patient was erased)."""


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


def _index_form(field: str, value: str) -> str:
    """The normalised text a blind index of ``field`` is computed over."""
    return fold_name(value) if field in ("first_name", "last_name") else value


def _open(row: Patient, field: str) -> str | None:
    bound: RowBound | None = getattr(row, f"{field}_sealed")
    if bound is None:
        return None
    if bound.row_id != row.id:
        raise IdentityTampered(
            f"patient {row.id}: its {field} was sealed for another row (moved in the database)"
        )
    return bound.text


def _record(row: Patient) -> PatientRecord:
    first, last, born = (_open(row, f) for f in ("first_name", "last_name", "birth_date"))
    if first is None or last is None or born is None:
        raise UnknownPatient(f"no patient {row.id}")
    return PatientRecord(
        id=row.id,
        practice_id=row.practice_id,
        code=row.code,
        first_name=first,
        last_name=last,
        birth_date=date.fromisoformat(born),
        phone=_open(row, "phone"),
    )


def _set_identity(row: Patient, field: str, text: str | None) -> None:
    if text is None:
        setattr(row, f"{field}_sealed", None)
        setattr(row, f"{field}_index", None)
        return
    setattr(row, f"{field}_sealed", RowBound(row.id, text))
    setattr(
        row,
        f"{field}_index",
        cipher().blind_index(field, row.practice_id, _index_form(field, text)),
    )


def _clean(field: str, value: object) -> str | None:
    if value is None:
        if field == "phone":
            return None
        raise ValueError(f"a patient's {field} cannot be empty")
    if field == "birth_date":
        if not isinstance(value, date):
            raise ValueError("birth_date must be a date")
        return value.isoformat()
    if not isinstance(value, str):
        raise ValueError(f"{field} must be text")
    if field == "phone":
        return normalise_phone(value) or None
    text = value.strip()
    if not text:
        raise ValueError(f"a patient's {field} cannot be empty")
    return text


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
        actor: str,
        purpose: str | None = None,
    ) -> PatientRecord:
        """A new patient of ``practice_id``; audited as ``patient.create`` by ``actor``."""
        values = {
            "first_name": _clean("first_name", first_name),
            "last_name": _clean("last_name", last_name),
            "birth_date": _clean("birth_date", birth_date),
            "phone": _clean("phone", phone),
        }
        cipher()  # fail before inserting anything if no keyring is loaded
        row = Patient(practice_id=practice_id, code=code or self._new_code(practice_id))
        self.session.add(row)
        self.session.flush()  # the row id is sealed into every identity value
        for field, text in values.items():
            _set_identity(row, field, text)
        self.session.flush()
        self._audit(actor, "patient.create", purpose or "register a patient", row, None)
        return _record(row)

    def get(self, patient_id: int, practice_id: int | None = None) -> PatientRecord:
        row = self.session.get(Patient, patient_id)
        if (
            row is None
            or row.erased_at is not None
            or (practice_id is not None and row.practice_id != practice_id)
        ):
            raise UnknownPatient(f"no patient {patient_id}")
        return _record(row)

    def by_code(self, practice_id: int, code: str) -> PatientRecord | None:
        row = self.session.scalar(
            self._live(practice_id).where(Patient.code == code)
        )
        return _record(row) if row else None

    def find_by_phone(self, practice_id: int, phone: str) -> list[PatientRecord]:
        wanted = normalise_phone(phone)
        if not wanted:
            return []
        return self._find(practice_id, {"phone": wanted})

    def find_by_birth_date(self, practice_id: int, birth_date: date) -> list[PatientRecord]:
        return self._find(practice_id, {"birth_date": birth_date.isoformat()})

    def find_by_name(
        self, practice_id: int, last_name: str, first_name: str | None = None
    ) -> list[PatientRecord]:
        wanted = {"last_name": last_name}
        if first_name:
            wanted["first_name"] = first_name
        return self._find(practice_id, wanted)

    def update(
        self, patient_id: int, *, actor: str, purpose: str | None = None, **fields: object
    ) -> PatientRecord:
        """Change identity fields; audited as ``patient.update`` (field names, no values)."""
        row = self.session.get(Patient, patient_id)
        if row is None or row.erased_at is not None:
            raise UnknownPatient(f"no patient {patient_id}")
        for name, value in fields.items():
            if name not in IDENTITY_FIELDS:
                raise ValueError(f"cannot update {name!r} of a patient")
            _set_identity(row, name, _clean(name, value))
        self.session.flush()
        if fields:
            self._audit(
                actor, "patient.update", purpose or "correct a patient's identity", row,
                {"fields": sorted(fields)},
            )
        return _record(row)

    def destroy_identity(self, patient_id: int) -> None:
        """Destroy the identity of a patient, keeping an empty row (its id is never reused).

        Part of :func:`storage.erasure.erase_patient`; call that, not this.
        """
        row = self.session.get(Patient, patient_id)
        if row is None:
            raise UnknownPatient(f"no patient {patient_id}")
        for field in IDENTITY_FIELDS:
            _set_identity(row, field, None)
        row.code = f"~{row.id}"[:16]
        row.erased_at = utcnow()
        self.session.flush()

    def reseal_all(self, batch: int = 500) -> int:
        """Re-encrypt identity values sealed under an older KEK; returns the rows changed."""
        current = cipher().keyring.current_kek_id
        sealed = [Patient.__table__.c[f"{f}_sealed"] for f in IDENTITY_FIELDS]
        stale: list[int] = []
        query = select(Patient.id, *(type_coerce(c, LargeBinary) for c in sealed))
        for row_id, *blobs in self.session.execute(query):
            if any(b is not None and sealed_kek_id(bytes(b)) != current for b in blobs):
                stale.append(row_id)
        for start in range(0, len(stale), batch):
            rows = self.session.scalars(
                select(Patient).where(Patient.id.in_(stale[start : start + batch]))
            )
            for row in rows:
                for field in IDENTITY_FIELDS:
                    if getattr(row, f"{field}_sealed") is not None:
                        flag_modified(row, f"{field}_sealed")
            self.session.flush()
        return len(stale)

    # ---- internals ------------------------------------------------------------------
    def _audit(
        self, actor: str, action: str, purpose: str, row: Patient, detail: dict[str, Any] | None
    ) -> None:
        audit.record(
            self.session,
            actor=actor,
            action=action,
            object_type="patient",
            object_id=None,
            purpose=purpose,
            patient_id=row.id,
            practice_id=row.practice_id,
            detail=detail,
        )

    def _live(self, practice_id: int) -> Select[tuple[Patient]]:
        return select(Patient).where(
            Patient.practice_id == practice_id, Patient.erased_at.is_(None)
        )

    def _find(self, practice_id: int, wanted: dict[str, Any]) -> list[PatientRecord]:
        seal = cipher()
        forms = {f: _index_form(f, v) for f, v in wanted.items()}
        query = self._live(practice_id)
        for field, form in forms.items():
            column = getattr(Patient, f"{field}_index")
            query = query.where(column == seal.blind_index(field, practice_id, form))
        found = []
        for row in self.session.scalars(query.order_by(Patient.id)):
            if all(_index_form(f, _open(row, f) or "") == form for f, form in forms.items()):
                found.append(_record(row))
        return found

    def _new_code(self, practice_id: int) -> str:
        while True:
            code = f"{secrets.randbelow(10**6):06d}"
            taken = self.session.scalar(
                select(Patient.id).where(Patient.practice_id == practice_id, Patient.code == code)
            )
            if taken is None:
                return code
