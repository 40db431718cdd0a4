"""The patients service of the flows: who a caller may be, from what they said or keyed.

Each lookup is one short read of storage's patient directory (identity is sealed there
and found through blind indexes). Reads are not audited here: the step that reads knows
why and records it (``verify_identity`` audits every try).
"""

from __future__ import annotations

from datetime import date

from storage.db import Database
from storage.patients import PatientDirectory, PatientRecord


class PatientLookup:
    """Finds a practice's patients by phone number, patient code, or birth date and name."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def by_phone(self, practice_id: int, number: str) -> list[PatientRecord]:
        """The patients whose phone number is ``number`` (any usual form)."""
        with self.db.session() as session:
            return PatientDirectory(session).find_by_phone(practice_id, number)

    def by_code(self, practice_id: int, code: str) -> PatientRecord | None:
        """The patient with this patient code, if any."""
        with self.db.session() as session:
            return PatientDirectory(session).by_code(practice_id, code)

    def by_birth_date_and_name(self, practice_id: int, born: date,
                               name: str) -> list[PatientRecord]:
        """The patients born on ``born`` whose name is ``name`` as a caller says it: the
        surname, the first name and surname, or words ending with the surname (case and
        accents do not count; ``storage.patients.said_name_matches``)."""
        with self.db.session() as session:
            return PatientDirectory(session).find_by_birth_date_and_name(practice_id, born, name)
