"""Typed errors for bad input to the agenda. Refusals a caller can be told are values.

These are raised before anything is written, or inside a transaction that is then rolled
back, so the database is left unchanged. Each kind of mistake has its own class so that
a caller handles it by type, never by matching the message: the API answers each with
its own status in one place (:mod:`api.errors`), the CLI prints the message as one line.
An unknown patient is :class:`storage.patients.UnknownPatient`, raised by the patient
directory the agenda asks.
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


class InvalidSlot(SchedulingError):
    """A slot that cannot exist (wrong length, not on the 5-minute grid, naive time...)."""


class IdempotencyKeyReused(SchedulingError):
    """An idempotency key already used for a different request (another patient or move).

    The same request with the same key is a replay and answers the first result; this is
    a client bug: it must pick a new key for a new request.
    """

    def __init__(self) -> None:
        super().__init__(
            "this idempotency key was already used for another request; use a new key"
        )


class OverlappingException(SchedulingError):
    """A closure that overlaps an existing one for the same practitioner or practice."""


class PracticeConfigError(SchedulingError):
    """A practice definition (file or mapping) that cannot be applied."""


class InvalidProfileValue(PracticeConfigError):
    """A value of a practice's profile or a doctor's options that is not valid as given."""
