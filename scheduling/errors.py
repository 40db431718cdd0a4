"""Typed errors for bad administrative input. Refusals a caller can be told are values.

These are raised before anything is written, or inside a transaction that is then rolled
back, so the database is left unchanged.
"""

from __future__ import annotations


class SchedulingError(Exception):
    """Bad input to the agenda (unknown name, impossible slot, broken configuration)."""


class UnknownPractice(SchedulingError):
    """No practice with that slug or id."""


class UnknownPractitioner(SchedulingError):
    """No practitioner with that slug or id in the practice."""


class UnknownVisitType(SchedulingError):
    """No visit type with that code in the practice."""


class UnknownPatient(SchedulingError):
    """No patient with that id or code in the practice."""


class InvalidSlot(SchedulingError):
    """A slot that cannot exist (wrong length, not on the 5-minute grid, naive time...)."""


class OverlappingException(SchedulingError):
    """A closure that overlaps an existing one for the same practitioner or practice."""


class PracticeConfigError(SchedulingError):
    """A practice definition (file or mapping) that cannot be applied."""
