"""Patient identity: the only module that reads or writes the identity columns.

Callers deal in :class:`PatientRecord` values and never touch :class:`Patient` columns.
Names, birth dates and phone numbers are sealed columns (:mod:`storage.identity`), each
patient under their own key. The lookups go through blind indexes of the normalised
values, then the rows found are opened and compared with the query again (a truncated
index can, in theory, collide). The indexes are: the phone number, the last name, the
last and first names together, and the last name with the birth date. No index holds a
birth date alone (a few tens of thousands of guesses would give it back to whoever has
the key): a search by birth date alone opens the birth dates of the practice.

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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import LargeBinary, Select, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from storage import audit
from storage.identity import (
    FORMAT_VERSION,
    IdentityCipher,
    IdentityErased,
    IdentityTampered,
    RowBound,
    cipher,
    sealed_kek_id,
    sealed_version,
)
from storage.models import Patient, utcnow

IDENTITY_FIELDS = ("first_name", "last_name", "birth_date", "phone")
INDEX_COLUMNS = ("phone_index", "last_name_index", "full_name_index", "name_birth_index")


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


def identity_indexes(seal: IdentityCipher, practice_id: int, *, first_name: str,
                     last_name: str, birth_date: str, phone: str | None) -> dict[str, str | None]:
    """The blind indexes of one patient (column name -> index), from normalised values.

    The birth date is never indexed alone, only with the last name.
    """
    last, first = fold_name(last_name), fold_name(first_name)
    return {
        "phone_index": seal.blind_index("phone", practice_id, phone) if phone else None,
        "last_name_index": seal.blind_index("last_name", practice_id, last),
        "full_name_index": seal.blind_index("full_name", practice_id, f"{last}|{first}"),
        "name_birth_index": seal.blind_index(
            "last_name+birth_date", practice_id, f"{last}|{birth_date}"
        ),
    }


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
    try:
        first, last, born = (_open(row, f) for f in ("first_name", "last_name", "birth_date"))
        phone = _open(row, "phone")
    except IdentityErased:  # key destroyed: an erasure whose transaction did not finish
        raise UnknownPatient(f"no patient {row.id}") from None
    if first is None or last is None or born is None:
        raise UnknownPatient(f"no patient {row.id}")
    return PatientRecord(
        id=row.id,
        practice_id=row.practice_id,
        code=row.code,
        first_name=first,
        last_name=last,
        birth_date=date.fromisoformat(born),
        phone=phone,
    )


def _seal(row: Patient, field: str, text: str | None) -> None:
    setattr(row, f"{field}_sealed", None if text is None else RowBound(row.id, text))


def _index(row: Patient, values: dict[str, str | None], seal: IdentityCipher | None = None) -> None:
    """Set every index column of ``row`` from its plaintext ``values`` (all four fields)."""
    first, last, born = values["first_name"], values["last_name"], values["birth_date"]
    assert first is not None and last is not None and born is not None
    indexes = identity_indexes(seal or cipher(), row.practice_id, first_name=first,
                               last_name=last, birth_date=born, phone=values["phone"])
    for column, value in indexes.items():
        setattr(row, column, value)


def said_name_matches(said: str, first_name: str, last_name: str) -> bool:
    """Whether a name said on the phone names this patient: the last name, the first and
    last names, or anything that ends with the last name ("Jean-Pierre Dupont")."""
    wanted = fold_name(said)
    last = fold_name(last_name)
    return (last == wanted or fold_name(f"{first_name} {last_name}") == wanted
            or wanted.endswith(" " + last))


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
            _seal(row, field, text)
        _index(row, values)
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
        if row is None:
            return None
        try:
            return _record(row)
        except UnknownPatient:
            return None

    def find_by_phone(self, practice_id: int, phone: str) -> list[PatientRecord]:
        wanted = normalise_phone(phone)
        if not wanted:
            return []
        seal = cipher()
        return self._find(
            practice_id, Patient.phone_index, [seal.blind_index("phone", practice_id, wanted)],
            lambda r: r.phone == wanted,
        )

    def find_by_birth_date(self, practice_id: int, birth_date: date) -> list[PatientRecord]:
        """Patients born on ``birth_date`` (a staff search).

        No index holds a birth date alone: this opens the birth date of every live
        patient of the practice (about 10 µs each). The phone flows, which always have
        a number or a name too, use :meth:`find_by_phone` or
        :meth:`find_by_birth_date_and_name`.
        """
        wanted = birth_date.isoformat()
        seal = cipher()
        column = type_coerce(Patient.__table__.c.birth_date_sealed, LargeBinary)
        query = select(Patient.id, column).where(
            Patient.practice_id == practice_id, Patient.erased_at.is_(None)
        )
        matching = []
        for row_id, blob in self.session.execute(query):
            if blob is None:
                continue
            try:
                bound = seal.open("patients.birth_date", bytes(blob))
            except IdentityErased:
                continue
            if bound.text == wanted:
                if bound.row_id != row_id:
                    raise IdentityTampered(f"patient {row_id}: its birth_date was sealed for "
                                           "another row (moved in the database)")
                matching.append(row_id)
        if not matching:
            return []
        rows = self.session.scalars(
            select(Patient).where(Patient.id.in_(matching)).order_by(Patient.id)
        )
        return [_record(row) for row in rows]

    def find_by_birth_date_and_name(
        self, practice_id: int, birth_date: date, said_name: str
    ) -> list[PatientRecord]:
        """Patients born on ``birth_date`` whose name is what a caller said or spelled:
        the last name, the first and last names, or words ending with the last name
        (:func:`said_name_matches`). Found through the name + birth date index."""
        wanted = fold_name(said_name)
        if not wanted:
            return []
        words = wanted.split()
        seal = cipher()
        born = birth_date.isoformat()
        indexes = sorted({
            seal.blind_index("last_name+birth_date", practice_id,
                             f"{' '.join(words[i:])}|{born}")
            for i in range(len(words))
        })
        return self._find(
            practice_id, Patient.name_birth_index, indexes,
            lambda r: r.birth_date == birth_date
            and said_name_matches(said_name, r.first_name, r.last_name),
        )

    def find_by_name(
        self, practice_id: int, last_name: str, first_name: str | None = None
    ) -> list[PatientRecord]:
        seal = cipher()
        last = fold_name(last_name)
        if first_name:
            first = fold_name(first_name)
            index = seal.blind_index("full_name", practice_id, f"{last}|{first}")
            return self._find(
                practice_id, Patient.full_name_index, [index],
                lambda r: fold_name(r.last_name) == last and fold_name(r.first_name) == first,
            )
        index = seal.blind_index("last_name", practice_id, last)
        return self._find(practice_id, Patient.last_name_index, [index],
                          lambda r: fold_name(r.last_name) == last)

    def update(
        self, patient_id: int, *, actor: str, purpose: str | None = None, **fields: object
    ) -> PatientRecord:
        """Change identity fields; audited as ``patient.update`` (field names, no values)."""
        row = self.session.get(Patient, patient_id)
        if row is None or row.erased_at is not None:
            raise UnknownPatient(f"no patient {patient_id}")
        for name in fields:
            if name not in IDENTITY_FIELDS:
                raise ValueError(f"cannot update {name!r} of a patient")
        values = {f: _open(row, f) for f in IDENTITY_FIELDS}
        if values["last_name"] is None:  # key destroyed: an erasure that did not finish
            raise UnknownPatient(f"no patient {patient_id}")
        for name, value in fields.items():
            values[name] = _clean(name, value)
            _seal(row, name, values[name])
        if fields:
            _index(row, values)
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
            _seal(row, field, None)
        for column in INDEX_COLUMNS:
            setattr(row, column, None)
        row.code = f"~{row.id}"[:16]
        row.erased_at = utcnow()
        self.session.flush()

    def reseal_all(self, batch: int = 500) -> int:
        """Re-encrypt identity values sealed under an older KEK (or in the format before
        per-patient keys); returns the rows changed."""
        current = cipher().keyring.current_kek_id
        sealed = [Patient.__table__.c[f"{f}_sealed"] for f in IDENTITY_FIELDS]
        stale: list[int] = []
        query = select(Patient.id, *(type_coerce(c, LargeBinary) for c in sealed))
        for row_id, *blobs in self.session.execute(query):
            if any(b is not None and (sealed_kek_id(bytes(b)) != current
                                      or sealed_version(bytes(b)) != FORMAT_VERSION)
                   for b in blobs):
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

    def reindex_all(self, seal: IdentityCipher, batch: int = 500) -> int:
        """Recompute every live patient's blind indexes with ``seal``'s blind-index key
        (a rotation of that key); returns the rows changed."""
        ids = list(self.session.scalars(
            select(Patient.id).where(Patient.erased_at.is_(None)).order_by(Patient.id)
        ))
        done = 0
        for start in range(0, len(ids), batch):
            rows = self.session.scalars(
                select(Patient).where(Patient.id.in_(ids[start : start + batch]))
            )
            for row in rows:
                try:
                    values = {f: _open(row, f) for f in IDENTITY_FIELDS}
                except IdentityErased:
                    continue
                if values["first_name"] is None:
                    continue
                _index(row, values, seal)
                done += 1
            self.session.flush()
        return done

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

    def _find(self, practice_id: int, column: Any, indexes: list[str],
              keep: Callable[[PatientRecord], bool]) -> list[PatientRecord]:
        query = self._live(practice_id).where(column.in_(indexes)).order_by(Patient.id)
        found = []
        for row in self.session.scalars(query):
            try:
                record = _record(row)
            except UnknownPatient:
                continue
            if keep(record):
                found.append(record)
        return found

    def _new_code(self, practice_id: int) -> str:
        while True:
            code = f"{secrets.randbelow(10**6):06d}"
            taken = self.session.scalar(
                select(Patient.id).where(Patient.practice_id == practice_id, Patient.code == code)
            )
            if taken is None:
                return code
