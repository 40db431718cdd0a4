"""The audit trail: one append-only chain of events, signed checkpoints, verification.

Every read of health data and every change calls :func:`record` in the same transaction
as the read or the change. Each event's ``hash`` is HMAC-SHA256, under a key derived
from the keyring's audit seed, of a canonical JSON encoding of the event including the
previous event's hash: someone with database access but no keys can neither forge an
event nor re-chain the events after an edit. Appends lock the single ``audit_head`` row
(SELECT ... FOR UPDATE on PostgreSQL; on SQLite every write transaction already holds
the database's write lock), and ``prev_hash`` is unique, so concurrent writers never
fork the chain. :func:`record_at_commit` builds the event at once and appends it when
the transaction commits, with every event queued in the transaction: the head is then
locked last, after the transaction's other writes, and written with the events in one
statement (PostgreSQL), so that concurrent writers wait on it the shortest time. The
head is keyed from the start: :func:`seal_genesis` MACs the empty
head when the database is created, and an unkeyed head is never accepted again.

:func:`checkpoint` signs the head with the Ed25519 checkpoint key (separate from the
chain key; its public key can be pinned) and appends the checkpoint to the anchors
outside the database (:mod:`storage.audit_anchor`); :func:`verify` replays the chain
against the head, the checkpoints and the anchors.

Patients appear in the hashed part only as a keyed pseudonym (``patient_ref``); the
plain ``patient_id`` next to it is an unhashed lookup column that erasure clears, so
erasing a patient never breaks the chain; :func:`verify` checks that a non-empty
``patient_id`` matches the pseudonym and that an empty one belongs to a patient whose
erasure (``patient.erase``) is in the chain. ``detail`` must not hold health data or
identity: counts, ids of objects, reasons codes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NotRequired, Protocol, TypedDict, Unpack

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Insert, bindparam, func, insert, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from storage.audit_anchor import AnchorEntry, AuditAnchor, append_all
from storage.audit_report import AccessReport, OpeningHours, report
from storage.identity import IdentityCipher, cipher
from storage.keyring import Keyring, public_key_text
from storage.models import AuditCheckpoint, AuditEvent, AuditHead, utcnow

GENESIS = "0" * 64
CHAIN_VERSION = 1
_CHECKPOINT_PREFIX = "telesec-audit-checkpoint-v1"
FORBIDDEN_DETAIL_KEYS = frozenset(
    {"name", "first_name", "last_name", "birth_date", "phone", "transcript", "text"}
)


class AuditTampered(RuntimeError):
    """The audit head was changed outside this module: appends stop until it is examined."""


class HeadState(Protocol):
    """The head as read: its ORM row, or the row of a Core query."""

    @property
    def seq(self) -> int: ...
    @property
    def hash(self) -> str: ...
    @property
    def mac(self) -> str: ...


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


def _head_valid(key: bytes, head: HeadState) -> bool:
    """The head's MAC matches. An unkeyed head is never valid, not even an empty one."""
    return bool(head.mac) and hmac.compare_digest(head.mac, _head_mac(key, head.seq, head.hash))


def _unsealed(head: HeadState) -> bool:
    return head.seq == 0 and head.hash == GENESIS and head.mac == ""


_UNSEALED = ("the audit trail has no keyed start (its head has no MAC): it was emptied, or "
             "this database was never initialised with its keyring")


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
    if event.source is not None:  # added in schema 0006; older events hash as before
        canonical["source"] = event.source
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


class EventFields(TypedDict):
    """What an event says, as :func:`record` and :func:`record_at_commit` take it."""

    actor: str
    action: str
    object_type: str
    object_id: str | None
    purpose: str
    patient_id: NotRequired[int | None]
    practice_id: NotRequired[int | None]
    detail: NotRequired[dict[str, Any] | None]
    at: NotRequired[datetime | None]
    source: NotRequired[str | None]


def record(session: Session, **fields: Unpack[EventFields]) -> AuditEvent:
    """Append one event in the caller's transaction (who, did what, to which object, why).

    ``actor`` is ``staff:<login>``, ``ivr:<call id>`` or ``system:<job>``; ``action`` is
    ``<object>.<verb>`` (e.g. ``patient.read``, ``recording.play``, ``patient.update``).
    For ``object_type="patient"`` give ``patient_id``: the object id is not stored, the
    patient appears only as its pseudonym. Uses the process keyring
    (:func:`storage.identity.install`). The event is written now, after any queued
    earlier in the transaction (:func:`record_at_commit` then :func:`append_pending`),
    and the head row stays locked until the commit: keep audited transactions short, or
    use :func:`record_at_commit`. ``source`` says where a request came from (e.g. the
    client address of a staff request; at most 64 characters). Returns the event as
    written (its seq and hash set).
    """
    record_at_commit(session, **fields)
    event: AuditEvent = session.info[_PENDING][-1]
    session.flush()  # the transaction's changes so far are written first, as they were
    append_pending(session)
    return event


def record_at_commit(session: Session, **fields: Unpack[EventFields]) -> None:
    """Like :func:`record`, but the event joins the chain when the transaction commits.

    The event is checked and built now (a bad detail raises here); the head row is
    locked only at the commit, after everything else of the transaction was written,
    and every event queued in the transaction is appended in one statement
    (:func:`append_pending`). The chain is the same as with :func:`record`: same
    hashes, same head MAC, in the same transaction. A tampered head
    (:class:`AuditTampered`) then fails the commit, and the change rolls back.
    Reading the audit tables through this session appends the queued events first.
    """
    session.info.setdefault(_PENDING, []).append(_new_event(fields))


_PENDING = "telesec.audit.pending"


def _new_event(fields: EventFields) -> AuditEvent:
    """An event checked and filled in, not yet chained (no seq, previous hash or hash)."""
    actor, action, purpose = fields["actor"], fields["action"], fields["purpose"]
    object_type, object_id = fields["object_type"], fields["object_id"]
    patient_id, source = fields.get("patient_id"), fields.get("source")
    for name, value in (("actor", actor), ("action", action), ("purpose", purpose)):
        if not value or not value.strip():
            raise ValueError(f"an audit event needs a {name}")
    keys: IdentityCipher = cipher()
    if object_type == "patient":
        if patient_id is None and object_id is not None:
            patient_id = int(object_id)
        object_id = None
    when = fields.get("at") or utcnow()
    if when.tzinfo is None:
        raise ValueError("audit time must be an aware datetime")
    if source is not None and len(source) > 64:
        raise ValueError("an audit source is at most 64 characters")
    return AuditEvent(
        at=when.astimezone(UTC),
        actor=actor[:128],
        action=action[:64],
        object_type=object_type[:64],
        object_id=object_id[:128] if object_id is not None else None,
        purpose=purpose[:300],
        patient_ref=keys.patient_pseudonym(patient_id) if patient_id is not None else None,
        practice_id=fields.get("practice_id"),
        detail=_canonical_detail(fields.get("detail")),
        patient_id=patient_id,
        source=source,
    )


def _chain(key: bytes, head: HeadState, events: Sequence[AuditEvent]) -> None:
    """Give ``events`` their seq, previous hash and hash, after ``head``."""
    seq, prev = head.seq, head.hash
    for event in events:
        seq += 1
        event.seq, event.prev_hash = seq, prev
        event.hash = prev = event_hash(key, event)


_EVENTS = AuditEvent.__table__
_HEAD = AuditHead.__table__
_EVENT_COLUMNS = tuple(column.key for column in _EVENTS.columns)
# Built once (Core, no ORM objects): the statements of every audited commit. SQLAlchemy
# then finds them compiled in its cache, and psycopg prepares them on the server.
_LOCK_HEAD = (select(_HEAD.c.id, _HEAD.c.seq, _HEAD.c.hash, _HEAD.c.mac)
              .where(_HEAD.c.id == 1).with_for_update())
_NEW_HEAD = (update(_HEAD).where(_HEAD.c.id == 1)
             .values(seq=bindparam("head_seq"), hash=bindparam("head_hash"),
                     mac=bindparam("head_mac")))


@lru_cache(maxsize=16)
def _insert_events(count: int, with_head: bool) -> Insert:
    """INSERT of ``count`` events (parameters ``<column>_<i>``); ``with_head``: with the
    head's UPDATE in a WITH clause (PostgreSQL), so events and head go in one statement."""
    rows = [
        {name: bindparam(f"{name}_{i}", type_=_EVENTS.c[name].type) for name in _EVENT_COLUMNS}
        for i in range(count)
    ]
    # one row as a dict: SQLAlchemy caches its compiled form (not a multi-row VALUES)
    statement = insert(_EVENTS).values(rows[0] if count == 1 else rows)
    if with_head:
        statement = statement.add_cte(_NEW_HEAD.returning(_HEAD.c.id).cte("new_head"))
    return statement


def append_pending(session: Session) -> int:
    """Append the events :func:`record_at_commit` queued in ``session``; returns how many.

    Runs by itself before every commit (the session's other changes are flushed first,
    so the head lock is the transaction's last lock) and before any read of the audit
    tables through the session. Locks the head, checks its MAC, chains the events and
    writes them with the new head: on PostgreSQL in one statement (the head's UPDATE
    in a WITH clause of the events' INSERT), on SQLite in two.
    """
    events = session.info.pop(_PENDING, None)
    if not events:
        return 0
    key = chain_key(cipher().keyring)
    conn = session.connection()
    head = conn.execute(_LOCK_HEAD).one_or_none()
    if head is None:
        raise AuditTampered("the audit head row is missing; run `telesec audit verify`")
    _check_head_before_append(key, head)
    _chain(key, head, events)
    last = events[-1]
    mac = _head_mac(key, last.seq, last.hash)
    values: dict[str, Any] = {"head_seq": last.seq, "head_hash": last.hash, "head_mac": mac}
    for i, one in enumerate(events):
        values.update((f"{name}_{i}", getattr(one, name)) for name in _EVENT_COLUMNS)
    if conn.dialect.name == "postgresql":
        conn.execute(_insert_events(len(events), True), values)
    else:
        conn.execute(_insert_events(len(events), False), values)
        conn.execute(_NEW_HEAD, values)
    loaded = session.identity_map.get(identity_key(AuditHead, 1))
    if loaded is not None:  # the head as the session knows it is the head as written
        for name, value in (("seq", last.seq), ("hash", last.hash), ("mac", mac)):
            set_committed_value(loaded, name, value)
    return len(events)


_AUDIT_TABLES = frozenset({AuditEvent, AuditHead, AuditCheckpoint})


@sa_event.listens_for(Session, "before_commit")
def _append_before_commit(session: Session) -> None:
    if session.info.get(_PENDING):
        session.flush()  # every other change first: the head lock comes last
        append_pending(session)


@sa_event.listens_for(Session, "do_orm_execute")
def _append_before_audit_statement(state: ORMExecuteState) -> None:
    if state.session.info.get(_PENDING) and any(
        mapper.class_ in _AUDIT_TABLES for mapper in state.all_mappers
    ):
        append_pending(state.session)


@sa_event.listens_for(Session, "after_transaction_end")
def _forget_pending(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # rolled back (or committed): nothing stays queued
        session.info.pop(_PENDING, None)


def _check_head_before_append(key: bytes, head: HeadState) -> None:
    if _unsealed(head):
        raise AuditTampered(f"{_UNSEALED}; run `telesec audit verify` (with --anchor)")
    if not _head_valid(key, head):
        raise AuditTampered(
            "the audit head was altered in the database; run `telesec audit verify`"
        )


INITIAL_HEAD = {"id": 1, "seq": 0, "hash": GENESIS, "mac": ""}
"""The head row of an empty chain, written by the migration; :func:`seal_genesis` keys it."""


def seal_genesis(session: Session, keyring: Keyring) -> bool:
    """Key the head of a new, empty chain (``telesec init``, :func:`storage.migrate.upgrade`).

    Returns True if it was done now, False if the head was already keyed. Refuses
    (:class:`AuditTampered`) a head without a MAC next to events or checkpoints: that
    trail was emptied, and keying it again would hide it.
    """
    head = _locked_head(session)
    if not _unsealed(head):
        return False
    events = session.scalar(select(func.count()).select_from(AuditEvent))
    points = session.scalar(select(func.count()).select_from(AuditCheckpoint))
    if events or points:
        raise AuditTampered(f"{_UNSEALED}; run `telesec audit verify`")
    head.mac = _head_mac(chain_key(keyring), head.seq, head.hash)
    session.flush()
    return True


def refuse_start_over(session: Session, anchored: Sequence[AnchorEntry]) -> None:
    """Refuse (:class:`AuditTampered`) to key an empty head that the anchor says had events
    (``telesec init`` must not start a new trail over one that was emptied)."""
    last = max((entry.seq for entry in anchored), default=0)
    head = session.get(AuditHead, 1)
    if last > 0 and head is not None and _unsealed(head):
        raise AuditTampered(
            f"{_UNSEALED}, while the audit anchor holds checkpoints up to seq {last}; "
            "run `telesec audit verify`. To start a new trail in a new database anyway, "
            "move the anchor file aside first"
        )


# ---- checkpoints ----------------------------------------------------------------------


def _checkpoint_message(seq: int, head_hash: str, at: datetime) -> bytes:
    return f"{_CHECKPOINT_PREFIX}|{seq}|{head_hash}|{_iso(at)}".encode()


def checkpoint(session: Session, keyring: Keyring, anchors: Iterable[AuditAnchor] = (),
               *, only_if_moved: bool = False) -> AuditCheckpoint:
    """Sign the current head with the checkpoint key, store it and append it to ``anchors``.

    With ``only_if_moved``, a head already covered by the last checkpoint is not signed
    again (the periodic job); that last checkpoint is returned.
    """
    head = _locked_head(session)
    _check_head_before_append(chain_key(keyring), head)
    if only_if_moved:
        last = session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc())
                              .limit(1))
        if last is not None and (last.seq, last.hash) == (head.seq, head.hash):
            return last
    at = utcnow()
    signature = keyring.checkpoint_signing_key.sign(_checkpoint_message(head.seq, head.hash, at))
    key_text = public_key_text(keyring.checkpoint_public_key)
    point = AuditCheckpoint(seq=head.seq, hash=head.hash, at=at, signature=signature.hex(),
                            public_key=key_text)
    session.add(point)
    session.flush()
    append_all(anchors, AnchorEntry(seq=point.seq, hash=point.hash, at=at,
                                    public_key=key_text, signature=point.signature))
    return point


# ---- verification ---------------------------------------------------------------------


@dataclass
class Verification:
    events: int = 0
    last_checkpoint_seq: int | None = None
    anchored: int | None = None  # checkpoints read from the anchor (None: no anchor given)
    last_anchored_seq: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        where = "none" if self.last_checkpoint_seq is None else str(self.last_checkpoint_seq)
        text = f"audit chain intact: {self.events} events, last checkpoint at seq {where}"
        if self.anchored is not None:
            text += (f"; anchor: {self.anchored} checkpoints, all found in the chain, "
                     f"last at seq {self.last_anchored_seq}")
        return text


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


def verify(session: Session, keyring: Keyring, *, public_key: Ed25519PublicKey | None = None,
           anchor: Sequence[AnchorEntry] | None = None) -> Verification:
    """Replay the chain; every edit, insertion, deletion or forged checkpoint is a problem.

    ``public_key`` pins the checkpoint key (instead of trusting the keyring's): every
    checkpoint, in the database or the anchor, must be signed by it. ``anchor`` is the
    list of checkpoints kept outside the database: each must be found in the chain, so
    that no suffix, and not the whole history, can have been removed.
    """
    key = chain_key(keyring)
    pseudonyms = IdentityCipher(keyring)
    trusted = public_key or keyring.checkpoint_public_key
    trusted_text = public_key_text(trusted)
    result = Verification()
    problems = result.problems
    if public_key is not None and public_key_text(keyring.checkpoint_public_key) != trusted_text:
        problems.append(
            "the keyring's checkpoint key "
            f"{public_key_text(keyring.checkpoint_public_key)} is not the pinned key "
            f"{trusted_text}: the keyring was replaced, or the pin is wrong"
        )
    checkpoints = list(session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)))
    anchored = list(anchor) if anchor is not None else []
    wanted = {cp.seq for cp in checkpoints} | {entry.seq for entry in anchored}
    seen_hash: dict[int, str] = {0: GENESIS}
    erased_refs: set[str] = set()
    cleared: list[tuple[int, str]] = []
    expected_seq, prev = 1, GENESIS
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
        elif event.action == "patient.erase" and event.patient_ref is not None:
            erased_refs.add(event.patient_ref)
        if event.patient_id is not None:
            if event.patient_ref != pseudonyms.patient_pseudonym(event.patient_id):
                problems.append(f"event {event.seq}: its patient_id was changed")
        elif event.patient_ref is not None:
            cleared.append((event.seq, event.patient_ref))
        if event.seq in wanted:
            seen_hash[event.seq] = event.hash
        result.events += 1
        expected_seq, prev = event.seq + 1, event.hash
    for seq, ref in cleared:
        if ref not in erased_refs:
            problems.append(
                f"event {seq}: its patient_id was removed, and that patient was never erased"
            )
    last_seq = expected_seq - 1
    _check_head(session, key, last_seq, prev, problems)
    for cp in checkpoints:
        if not _signed(cp.public_key, cp.signature, cp.seq, cp.hash, cp.at, keyring,
                       trusted_text, trusted):
            problems.append(f"checkpoint at seq {cp.seq}: bad signature (forged or edited)")
            continue
        _check_against_chain(cp.seq, cp.hash, last_seq, seen_hash, problems,
                             f"the checkpoint at seq {cp.seq}")
        result.last_checkpoint_seq = cp.seq
    if anchor is not None:
        _check_anchor(anchored, last_seq, seen_hash, trusted_text, trusted, result)
    return result


def _signed(key_text: str | None, signature: str, seq: int, head_hash: str, at: datetime,
            keyring: Keyring, trusted_text: str, trusted: Ed25519PublicKey) -> bool:
    """A checkpoint's signature is valid under the key it names: the trusted (pinned or
    keyring) key, or, for those made before the keys were split, the chain seed's key."""
    if key_text is None:
        signer = keyring.legacy_checkpoint_public_key
    elif key_text == trusted_text:
        signer = trusted
    else:
        return False
    try:
        signer.verify(bytes.fromhex(signature), _checkpoint_message(seq, head_hash, at))
    except (InvalidSignature, ValueError):
        return False
    return True


def _check_against_chain(seq: int, head_hash: str, last_seq: int, seen_hash: dict[int, str],
                         problems: list[str], what: str) -> None:
    if seq > last_seq:
        problems.append(f"events {last_seq + 1}..{seq} are missing: deleted after {what}")
    elif seen_hash.get(seq) != head_hash:
        problems.append(f"event {seq}: differs from {what}")


def _check_anchor(entries: list[AnchorEntry], last_seq: int, seen_hash: dict[int, str],
                  trusted_text: str, trusted: Ed25519PublicKey, result: Verification) -> None:
    problems = result.problems
    if not entries:
        problems.append("the anchor holds no checkpoint: check the --anchor path (every "
                        "`telesec init` and checkpoint appends to it)")
    good = [e for e in entries
            if e.public_key == trusted_text and _anchor_signed(e, trusted)]
    for entry in entries:
        if entry not in good:
            problems.append(f"anchored checkpoint at seq {entry.seq}: not signed by the "
                            f"checkpoint key {trusted_text} (forged, edited or another key)")
    for entry in good:
        _check_against_chain(entry.seq, entry.hash, last_seq, seen_hash, problems,
                             f"the checkpoint at seq {entry.seq} kept in the anchor")
    result.anchored = len(good)
    result.last_anchored_seq = max((e.seq for e in good), default=None)


def _anchor_signed(entry: AnchorEntry, trusted: Ed25519PublicKey) -> bool:
    try:
        trusted.verify(bytes.fromhex(entry.signature),
                       _checkpoint_message(entry.seq, entry.hash, entry.at))
    except (InvalidSignature, ValueError):
        return False
    return True


def _check_head(session: Session, key: bytes, last_seq: int, last_hash: str,
                problems: list[str]) -> None:
    head = session.get(AuditHead, 1)
    if head is None:
        problems.append("the audit head row is missing")
        return
    if _unsealed(head):
        problems.append(_UNSEALED)
    elif not _head_valid(key, head):
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
    "append_pending",
    "checkpoint",
    "record",
    "record_at_commit",
    "report",
    "seal_genesis",
    "verify",
]
