"""What a practice tells its callers, beside the agenda: read it, change it (audited).

A practice's profile (``storage.models.PracticeProfile``) holds texts written for the
ear and the practice's settings for the phone: the name said in the greeting, address
and access, whether new patients are taken, SOS Médecins, the on-call line and the
pharmacy on duty, the secretaries' line, the duplicate-visit window, the privacy
contact, the addresses that get staff alerts, and how a transfer rings the secretaries'
console softphones (``ring_all``, or ``hunt``: ``hunt_order`` logins, ``hunt_seconds``
each). Each practitioner says whether they take new patients and where their voicemail alerts go.

A practice without a profile row reads as the defaults. Changes are audited as
``practice_profile.update`` / ``practitioner.update`` with the names of the fields
changed (never their values: an alert address is personal data of a staff member).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.orm import Session

from scheduling import audit_events
from scheduling.errors import InvalidProfileValue, PracticeConfigError
from storage.models import PracticeProfile, Practitioner, utcnow
from storage.models.practice_profile import (
    DEFAULT_DUPLICATE_WINDOW_DAYS,
    DEFAULT_HUNT_SECONDS,
    PHARMACY_ON_DUTY,
)

SAMU = "15"  # medical emergencies (SAMU), France
EUROPEAN_EMERGENCY = "112"
SOS_MEDECINS_NATIONAL = "3624"
PHONE_LIKE = re.compile(r"^\+?[0-9][0-9 .]{1,19}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,63}$")
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
LINE = re.compile(r"^(sips?:|tel:)[^\s]{1,250}$")
MAX_RECIPIENTS = 10
LOGIN = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")  # a staff login (staff.accounts)
MAX_HUNT = 20


def check_recipient(address: str) -> str:
    """An alert recipient: an e-mail address or an E.164 mobile number; else ValueError."""
    value = address.strip()
    if EMAIL.match(value) or E164.match(value):
        return value
    raise ValueError(f"{value[:40]!r} is neither an e-mail address nor a number like +33612345678")


class ProfileDefinition(BaseModel):
    """The profile as written in a practice file (``profile:``) or sent to the API."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spoken_name: str | None = Field(None, min_length=1, max_length=200)
    address: str | None = Field(None, min_length=1, max_length=500)
    access: str | None = Field(None, min_length=1, max_length=500)
    accepts_new_patients: bool = True
    secretary_line: str | None = Field(None, max_length=255)
    sos_medecins_number: str | None = Field(None, max_length=32)
    on_call_number: str | None = Field(None, max_length=32)
    pharmacy_number: str | None = Field(PHARMACY_ON_DUTY, max_length=32)
    duplicate_window_days: int = Field(DEFAULT_DUPLICATE_WINDOW_DAYS, ge=0, le=365)
    privacy_contact: str | None = Field(None, min_length=1, max_length=300)
    alert_recipients: list[str] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    desk_ring: Literal["ring_all", "hunt"] = "ring_all"
    hunt_order: list[str] = Field(default_factory=list, max_length=MAX_HUNT)
    hunt_seconds: int = Field(DEFAULT_HUNT_SECONDS, ge=5, le=120)

    @field_validator("spoken_name", "address", "access", "privacy_contact")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError("control characters are not allowed")
        return value

    @field_validator("secretary_line")
    @classmethod
    def _line(cls, value: str | None) -> str | None:
        if value is not None and not LINE.match(value):
            raise ValueError("a SIP address such as sip:secretariat@192.0.2.10:5070 (or tel:)")
        return value

    @field_validator("sos_medecins_number", "on_call_number", "pharmacy_number")
    @classmethod
    def _number(cls, value: str | None) -> str | None:
        if value is not None and not PHONE_LIKE.match(value):
            raise ValueError("a phone number: digits, spaces, an optional leading +")
        return value

    @field_validator("alert_recipients")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        return [check_recipient(v) for v in value]

    @field_validator("hunt_order")
    @classmethod
    def _logins(cls, value: list[str]) -> list[str]:
        for login in value:
            if not LOGIN.match(login):
                raise ValueError(f"{login[:40]!r} is not a staff login (like alice or m.dupont)")
        if len(set(value)) != len(value):
            raise ValueError("each login once")
        return value

    @model_validator(mode="after")
    def _hunt_has_order(self) -> ProfileDefinition:
        if self.desk_ring == "hunt" and not self.hunt_order:
            raise ValueError("a hunt needs the secretaries' logins in the order they ring")
        return self


@dataclass(frozen=True, slots=True)
class ProfileView:
    practice_id: int
    spoken_name: str | None
    address: str | None
    access: str | None
    accepts_new_patients: bool
    secretary_line: str | None
    sos_medecins_number: str | None
    on_call_number: str | None
    pharmacy_number: str | None
    duplicate_window_days: int
    privacy_contact: str | None
    alert_recipients: tuple[str, ...]
    desk_ring: str = "ring_all"
    hunt_order: tuple[str, ...] = ()
    hunt_seconds: int = DEFAULT_HUNT_SECONDS

    def as_definition(self) -> dict[str, Any]:
        fields = {name: getattr(self, name) for name in ProfileDefinition.model_fields}
        fields["alert_recipients"] = list(self.alert_recipients)
        fields["hunt_order"] = list(self.hunt_order)
        return fields


FIELDS = tuple(ProfileDefinition.model_fields)
JSON_FIELDS = ("alert_recipients", "hunt_order")


def profile(session: Session, practice_id: int) -> ProfileView:
    """The practice's profile (the defaults when it has none)."""
    return view_of(practice_id, session.get(PracticeProfile, practice_id))


def view_of(practice_id: int, row: PracticeProfile | None) -> ProfileView:
    """The profile of a row already read (None: the practice has none, the defaults)."""
    if row is None:
        return _view(practice_id, ProfileDefinition())
    return ProfileView(
        practice_id=practice_id, spoken_name=row.spoken_name, address=row.address,
        access=row.access, accepts_new_patients=row.accepts_new_patients,
        secretary_line=row.secretary_line, sos_medecins_number=row.sos_medecins_number,
        on_call_number=row.on_call_number, pharmacy_number=row.pharmacy_number,
        duplicate_window_days=row.duplicate_window_days, privacy_contact=row.privacy_contact,
        alert_recipients=tuple(json.loads(row.alert_recipients or "[]")),
        desk_ring=row.desk_ring or "ring_all",
        hunt_order=tuple(json.loads(row.hunt_order or "[]")),
        hunt_seconds=row.hunt_seconds or DEFAULT_HUNT_SECONDS,
    )


def parse_profile(data: Any, source: str = "practice profile") -> ProfileDefinition:
    """Validate a profile; any problem is one :class:`InvalidProfileValue` line."""
    try:
        return ProfileDefinition.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'top level'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise InvalidProfileValue(f"{source}: {problems}") from None


def update_profile(
    session: Session,
    practice_id: int,
    changes: dict[str, Any],
    *,
    actor: str,
    purpose: str | None = None,
) -> ProfileView:
    """Change some fields of the profile (the others stay); audited when anything changed."""
    audit_events.require_actor(actor)
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise InvalidProfileValue(
            f"unknown profile field {unknown[0]!r}; known: {', '.join(FIELDS)}")
    current = profile(session, practice_id)
    wanted = parse_profile({**current.as_definition(), **changes})
    return set_profile(session, practice_id, wanted, actor=actor, purpose=purpose)


def set_profile(
    session: Session,
    practice_id: int,
    definition: ProfileDefinition,
    *,
    actor: str,
    purpose: str | None = None,
) -> ProfileView:
    """Make the profile exactly ``definition``; audited with the names of changed fields."""
    audit_events.require_actor(actor)
    row = session.get(PracticeProfile, practice_id)
    if row is None:
        row = PracticeProfile(practice_id=practice_id, alert_recipients="[]",
                              pharmacy_number=PHARMACY_ON_DUTY,
                              duplicate_window_days=DEFAULT_DUPLICATE_WINDOW_DAYS,
                              accepts_new_patients=True)
        session.add(row)
        before = ProfileDefinition()
    else:
        before = parse_profile(profile(session, practice_id).as_definition())
    changed = [name for name in FIELDS if getattr(before, name) != getattr(definition, name)]
    new_row = row.updated_at is None
    for name in FIELDS:
        value = getattr(definition, name)
        setattr(row, name, json.dumps(value) if name in JSON_FIELDS else value)
    if changed or new_row:
        row.updated_at = utcnow()
        session.flush()
    if changed:
        audit_events.record(
            session,
            audit_events.Action("practice_profile.update", "practice",
                                "practice set-up"),
            audit_events.Who(actor, purpose),
            object_id=practice_id,
            practice_id=practice_id,
            detail={"fields": sorted(changed)},
        )
    return profile(session, practice_id)


def set_practitioner_options(
    session: Session,
    practitioner_id: int,
    *,
    accepts_new_patients: bool | None = None,
    alert_address: Any = ...,  # ``...``: leave it as it is
    actor: str,
    purpose: str | None = None,
) -> Practitioner:
    """Whether a doctor takes new patients and where their voicemail alerts go (audited)."""
    audit_events.require_actor(actor)
    person = session.get(Practitioner, practitioner_id)
    if person is None:
        raise PracticeConfigError(f"no practitioner {practitioner_id}")
    changed = []
    if accepts_new_patients is not None and person.accepts_new_patients != accepts_new_patients:
        person.accepts_new_patients = accepts_new_patients
        changed.append("accepts_new_patients")
    if alert_address is not ...:
        address = None
        if alert_address is not None:
            try:
                address = check_recipient(str(alert_address))
            except ValueError as exc:
                raise InvalidProfileValue(f"alert_address: {exc}") from None
        if person.alert_address != address:
            person.alert_address = address
            changed.append("alert_address")
    if changed:
        session.flush()
        audit_events.record(
            session,
            audit_events.Action("practitioner.update", "practitioner",
                                "practice set-up"),
            audit_events.Who(actor, purpose),
            object_id=person.id,
            practice_id=person.practice_id,
            detail={"fields": changed},
        )
    return person


def _view(practice_id: int, definition: ProfileDefinition) -> ProfileView:
    values = definition.model_dump()
    values["alert_recipients"] = tuple(values["alert_recipients"])
    values["hunt_order"] = tuple(values["hunt_order"])
    return ProfileView(practice_id=practice_id, **values)
