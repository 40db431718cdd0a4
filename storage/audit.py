"""The audit trail: one append-only chain of events, signed checkpoints, verification.

Every read of health data and every change calls :func:`record` in the same transaction
as the read or the change. Each event's ``hash`` is HMAC-SHA256, under a key derived
from the keyring's audit seed, of a canonical JSON encoding of the event including the
previous event's hash: someone with database access but no keys can neither forge an
event nor re-chain the events after an edit. Appends lock the single ``audit_head`` row
(SELECT ... FOR UPDATE on PostgreSQL; on SQLite every write transaction already holds
the database's write lock), and ``prev_hash`` is unique, so concurrent writers never
fork the chain. :func:`checkpoint` signs (Ed25519) the head; :func:`verify` replays the
chain against the head and the checkpoints.

Patients appear in the hashed part only as a keyed pseudonym (``patient_ref``); the
plain ``patient_id`` next to it is an unhashed lookup column that erasure clears, so
erasing a patient never breaks the chain. ``detail`` must not hold health data or
identity: counts, ids of objects, reasons codes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.audit_report import AccessReport, OpeningHours, report
from storage.identity import IdentityCipher, cipher
from storage.keyring import Keyring
from storage.models import AuditCheckpoint, AuditEvent, AuditHead, utcnow

GENESIS = "0" * 64
CHAIN_VERSION = 1
_CHECKPOINT_PREFIX = "telesec-audit-checkpoint-v1"
FORBIDDEN_DETAIL_KEYS = frozenset(
    {"name", "first_name", "last_name", "birth_date", "phone", "transcript", "text"}
)


class AuditTampered(RuntimeError):
    """The audit head was changed outside this module: appends stop until it is examined."""


# ---- keys ---------------------------------------------------------------------------


def chain_key(keyring: Keyring) -> bytes:
    """The HMAC key of the event chain (derived from the audit seed, never rotated)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"telesec:audit-chain-v1"
    ).derive(keyring.audit_seed)


def _mac(key: bytes, data: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def _head_mac(key: bytes, seq: int, head_hash: str) -> str:
    return _mac(key, f"head|{seq}|{head_hash}".encode())


def _head_valid(key: bytes, head: AuditHead) -> bool:
    """The head's MAC matches; an empty chain's head (from the migration) has none."""
    if head.seq == 0 and head.hash == GENESIS and head.mac == "":
        return True
    return hmac.compare_digest(head.mac, _head_mac(key, head.seq, head.hash))


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(key: bytes, event: AuditEvent) -> str:
    """The chain hash of an event as stored (its own ``hash`` field excluded)."""
    canonical = {
        "v": CHAIN_VERSION,
        "seq": event.seq,
        "at": _iso(event.at),
        "actor": event.actor,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "purpose": event.purpose,
        "patient_ref": event.patient_ref,
        "practice_id": event.practice_id,
        "detail": event.detail,
        "prev_hash": event.prev_hash,
    }
    return _mac(key, json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode())


def _canonical_detail(detail: dict[str, Any] | None) -> str:
    detail = detail or {}
    bad = FORBIDDEN_DETAIL_KEYS.intersection(detail)
    if bad:
        raise ValueError(f"audit detail must not carry identity or health data: {sorted(bad)}")
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), default=str)


# ---- appending ----------------------------------------------------------------------


def _locked_head(session: Session) -> AuditHead:
    head = session.scalar(
        select(AuditHead)
        .where(AuditHead.id == 1)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if head is None:
        raise AuditTampered("the audit head row is missing; run `telesec audit verify`")
    return head


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | None,
    purpose: str,
    patient_id: int | None = None,
    practice_id: int | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction (who, did what, to which object, why).

    ``actor`` is ``staff:<login>``, ``ivr:<call id>`` or ``system:<job>``; ``action`` is
    ``<object>.<verb>`` (e.g. ``patient.read``, ``recording.play``, ``patient.update``).
    For ``object_type="patient"`` give ``patient_id``: the object id is not stored, the
    patient appears only as its pseudonym. Uses the process keyring
    (:func:`storage.identity.install`). The head row stays locked until the commit:
    keep audited transactions short.
    """
    for name, value in (("actor", actor), ("action", action), ("purpose", purpose)):
        if not value or not value.strip():
            raise ValueError(f"an audit event needs a {name}")
    keys: IdentityCipher = cipher()
    if object_type == "patient":
        if patient_id is None and object_id is not None:
            patient_id = int(object_id)
        object_id = None
    when = at or utcnow()
    if when.tzinfo is None:
        raise ValueError("audit time must be an aware datetime")
    key = chain_key(keys.keyring)
    head = _locked_head(session)
    if not _head_valid(key, head):
        raise AuditTampered(
            "the audit head was altered in the database; run `telesec audit verify`"
        )
    event = AuditEvent(
        seq=head.seq + 1,
        at=when.astimezone(UTC),
        actor=actor[:128],
        action=action[:64],
        object_type=object_type[:64],
        object_id=object_id[:128] if object_id is not None else None,
        purpose=purpose[:300],
        patient_ref=keys.patient_pseudonym(patient_id) if patient_id is not None else None,
        practice_id=practice_id,
        detail=_canonical_detail(detail),
        prev_hash=head.hash,
        patient_id=patient_id,
    )
    event.hash = event_hash(key, event)
    session.add(event)
    head.seq, head.hash = event.seq, event.hash
    head.mac = _head_mac(key, head.seq, head.hash)
    session.flush()
    return event


INITIAL_HEAD = {"id": 1, "seq": 0, "hash": GENESIS, "mac": ""}
"""The head row of an empty chain, written by the migration."""


# ---- checkpoints ----------------------------------------------------------------------


def _checkpoint_message(seq: int, head_hash: str, at: datetime) -> bytes:
    return f"{_CHECKPOINT_PREFIX}|{seq}|{head_hash}|{_iso(at)}".encode()


def checkpoint(session: Session, keyring: Keyring) -> AuditCheckpoint:
    """Sign the current head with the audit key and store the checkpoint."""
    head = _locked_head(session)
    if not _head_valid(chain_key(keyring), head):
        raise AuditTampered(
            "the audit head was altered in the database; run `telesec audit verify`"
        )
    at = utcnow()
    signature = keyring.audit_signing_key.sign(_checkpoint_message(head.seq, head.hash, at))
    point = AuditCheckpoint(seq=head.seq, hash=head.hash, at=at, signature=signature.hex())
    session.add(point)
    session.flush()
    return point


# ---- verification ---------------------------------------------------------------------


@dataclass
class Verification:
    events: int = 0
    last_checkpoint_seq: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        where = "none" if self.last_checkpoint_seq is None else str(self.last_checkpoint_seq)
        return f"audit chain intact: {self.events} events, last checkpoint at seq {where}"


def _events(session: Session, batch: int = 1000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq)
                .limit(batch)
            )
        )
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1].seq
        session.expunge_all()


def verify(session: Session, keyring: Keyring) -> Verification:
    """Replay the chain; every edit, insertion, deletion or forged checkpoint is a problem."""
    key = chain_key(keyring)
    pseudonyms = IdentityCipher(keyring)
    result = Verification()
    checkpoints = list(session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)))
    wanted = {cp.seq for cp in checkpoints}
    seen_hash: dict[int, str] = {0: GENESIS}
    expected_seq, prev = 1, GENESIS
    problems = result.problems
    for event in _events(session):
        if event.seq > expected_seq:
            problems.append(f"events {expected_seq}..{event.seq - 1} are missing (deleted)")
        if event.prev_hash != prev:
            problems.append(
                f"event {event.seq}: does not follow the event before it "
                "(an event was inserted or deleted)"
            )
        if not hmac.compare_digest(event.hash, event_hash(key, event)):
            problems.append(f"event {event.seq}: its content does not match its hash (edited)")
        if event.patient_id is not None and event.patient_ref != pseudonyms.patient_pseudonym(
            event.patient_id
        ):
            problems.append(f"event {event.seq}: its patient_id was changed")
        if event.seq in wanted:
            seen_hash[event.seq] = event.hash
        result.events += 1
        expected_seq, prev = event.seq + 1, event.hash
    last_seq = expected_seq - 1
    _check_head(session, key, last_seq, prev, problems)
    for cp in checkpoints:
        try:
            keyring.audit_public_key.verify(
                bytes.fromhex(cp.signature), _checkpoint_message(cp.seq, cp.hash, cp.at)
            )
        except (InvalidSignature, ValueError):
            problems.append(f"checkpoint at seq {cp.seq}: bad signature (forged or edited)")
            continue
        if cp.seq > last_seq:
            problems.append(
                f"events {last_seq + 1}..{cp.seq} are missing: deleted after the checkpoint "
                f"at seq {cp.seq}"
            )
        elif seen_hash.get(cp.seq) != cp.hash:
            problems.append(f"event {cp.seq}: differs from the signed checkpoint at that seq")
        result.last_checkpoint_seq = cp.seq
    return result


def _check_head(session: Session, key: bytes, last_seq: int, last_hash: str,
                problems: list[str]) -> None:
    head = session.get(AuditHead, 1)
    if head is None:
        problems.append("the audit head row is missing")
        return
    if not _head_valid(key, head):
        problems.append("the audit head was altered (its MAC does not match)")
    if head.seq > last_seq:
        problems.append(f"events {last_seq + 1}..{head.seq} are missing: deleted from the end")
    elif head.seq < last_seq:
        problems.append(
            f"events {head.seq + 1}..{last_seq} were added outside the audit trail"
        )
    elif head.hash != last_hash:
        problems.append(f"event {last_seq}: differs from the audit head")


__all__ = [
    "AccessReport",
    "AuditTampered",
    "OpeningHours",
    "Verification",
    "checkpoint",
    "record",
    "report",
    "verify",
]
