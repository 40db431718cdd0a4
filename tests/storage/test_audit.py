"""The audit chain: appends, verification, and every kind of tampering it must find."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from storage import audit
from storage.audit_anchor import AnchorEntry, AnchorError, FileAnchor, SyslogAnchor, read_anchor
from storage.db import Database, make_engine
from storage.identity import IdentityCipher
from storage.keyring import Keyring, public_key_text
from storage.migrate import upgrade
from storage.models import AuditEvent

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _fill(db: Database, count: int, start: int = 0) -> None:
    with db.session() as s:
        for i in range(start, start + count):
            audit.record(
                s, actor=f"staff:user{i % 3}", action="patient.read", object_type="patient",
                object_id=None, purpose="call back", patient_id=100 + i, practice_id=1,
                detail={"screen": "agenda"}, at=T0 + timedelta(minutes=i),
            )


def _problems(db: Database, keyring: Keyring) -> list[str]:
    with db.session() as s:
        return audit.verify(s, keyring).problems


def test_intact_chain_verifies(db: Database, installed_keyring: Keyring) -> None:
    _fill(db, 5)
    with db.session() as s:
        audit.checkpoint(s, installed_keyring)
    _fill(db, 2, start=5)
    with db.session() as s:
        result = audit.verify(s, installed_keyring)
        events = list(s.scalars(text("SELECT seq FROM audit_events ORDER BY seq")))
    assert result.intact, result.problems
    assert result.summary() == "audit chain intact: 7 events, last checkpoint at seq 5"
    assert events == [1, 2, 3, 4, 5, 6, 7]


def test_patient_appears_only_as_pseudonym_in_hashed_fields(
    db: Database, installed_keyring: Keyring
) -> None:
    with db.session() as s:
        event = audit.record(s, actor="staff:ana", action="patient.read", object_type="patient",
                             object_id="42", purpose="booking")
        assert event.patient_id == 42 and event.object_id is None
        assert event.patient_ref == IdentityCipher(installed_keyring).patient_pseudonym(42)
        assert len(event.patient_ref) == 32 and event.patient_ref.isalnum()
    with db.session() as s, pytest.raises(ValueError, match="identity or health"):
        audit.record(s, actor="staff:ana", action="patient.read", object_type="patient",
                     object_id=None, purpose="x", patient_id=1, detail={"last_name": "X"})


def test_edited_field_is_found(db: Database, installed_keyring: Keyring) -> None:
    _fill(db, 5)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'staff:nobody' WHERE seq = 3"))
    assert _problems(db, installed_keyring) == [
        "event 3: its content does not match its hash (edited)"
    ]


def test_edited_patient_id_is_found(db: Database, installed_keyring: Keyring) -> None:
    _fill(db, 3)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET patient_id = 999 WHERE seq = 2"))
    assert _problems(db, installed_keyring) == ["event 2: its patient_id was changed"]


def test_deleted_middle_event_is_found(db: Database, installed_keyring: Keyring) -> None:
    _fill(db, 5)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 3"))
    problems = _problems(db, installed_keyring)
    assert "events 3..3 are missing (deleted)" in problems
    assert any(p.startswith("event 4: does not follow") for p in problems)


def test_inserted_event_is_found(db: Database, installed_keyring: Keyring) -> None:
    _fill(db, 3)
    with db.session() as s:  # an insider appends a plausible event, head and all
        last = s.get(AuditEvent, 3)
        assert last is not None
        s.execute(text(
            "INSERT INTO audit_events (seq, at, actor, action, object_type, purpose, detail, "
            "prev_hash, hash) VALUES (4, :at, 'staff:x', 'patient.read', 'patient', 'x', "
            "'{}', :prev, :hash)"), {"at": T0.replace(tzinfo=None), "prev": last.hash,
                                     "hash": "f" * 64})
        s.execute(text("UPDATE audit_head SET seq = 4, hash = :h"), {"h": "f" * 64})
    problems = _problems(db, installed_keyring)
    assert "event 4: its content does not match its hash (edited)" in problems
    assert "the audit head was altered (its MAC does not match)" in problems


def test_deleted_tail_is_found_against_head_and_checkpoint(
    db: Database, installed_keyring: Keyring
) -> None:
    _fill(db, 6)
    with db.session() as s:
        audit.checkpoint(s, installed_keyring)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq > 4"))
    assert "events 5..6 are missing: deleted from the end" in _problems(db, installed_keyring)
    with db.engine.begin() as conn:  # the insider also rolls the head back to event 4
        head = conn.execute(text("SELECT hash FROM audit_events WHERE seq = 4")).scalar()
        conn.execute(text("UPDATE audit_head SET seq = 4, hash = :h"), {"h": head})
    problems = _problems(db, installed_keyring)
    assert "events 5..6 are missing: deleted after the checkpoint at seq 6" in problems
    assert "the audit head was altered (its MAC does not match)" in problems
    with db.session() as s, pytest.raises(audit.AuditTampered):
        audit.record(s, actor="staff:a", action="patient.read", object_type="patient",
                     object_id=None, purpose="x", patient_id=1)


def test_forged_checkpoint_is_found(db: Database, installed_keyring: Keyring) -> None:
    _fill(db, 4)
    with db.session() as s:
        audit.checkpoint(s, installed_keyring)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_checkpoints SET seq = 9"))
    assert _problems(db, installed_keyring) == [
        "checkpoint at seq 9: bad signature (forged or edited)"
    ]
    forger = Keyring.create(installed_keyring.path.with_name("forger.json"))
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_checkpoints"))
    _insert_checkpoint(db, installed_keyring)  # control: the same construction, right key
    assert _problems(db, installed_keyring) == []
    _insert_checkpoint(db, forger)
    assert _problems(db, installed_keyring) == [
        "checkpoint at seq 4: bad signature (forged or edited)"
    ]
    with db.engine.begin() as conn:  # a checkpoint forged under the right key's name
        conn.execute(text("UPDATE audit_checkpoints SET public_key = :k"),
                     {"k": public_key_text(installed_keyring.checkpoint_public_key)})
    assert _problems(db, installed_keyring) == [
        "checkpoint at seq 4: bad signature (forged or edited)"
    ]
    with db.engine.begin() as conn:  # made before the keys were split: still valid
        conn.execute(text("DELETE FROM audit_checkpoints"))
    _insert_checkpoint(db, installed_keyring, legacy=True)
    assert _problems(db, installed_keyring) == []
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_checkpoints"))
    _insert_checkpoint(db, forger, legacy=True)
    assert _problems(db, installed_keyring) == [
        "checkpoint at seq 4: bad signature (forged or edited)"
    ]


def _insert_checkpoint(db: Database, signer: Keyring, *, legacy: bool = False) -> None:
    """A checkpoint made by hand; ``legacy``: signed by the chain seed's key with no key
    named, as every checkpoint was before the checkpoint key was split from it."""
    at = T0 + timedelta(days=1)
    with db.session() as s:
        head = s.execute(text("SELECT seq, hash FROM audit_head")).one()
        message = f"telesec-audit-checkpoint-v1|{head.seq}|{head.hash}|"
        message += at.isoformat(timespec="microseconds")
        key = (Ed25519PrivateKey.from_private_bytes(signer.audit_seed) if legacy
               else signer.checkpoint_signing_key)
        s.execute(text("INSERT INTO audit_checkpoints (seq, hash, at, signature, public_key) "
                       "VALUES (:seq, :hash, :at, :sig, :key)"),
                  {"seq": head.seq, "hash": head.hash, "at": at.replace(tzinfo=None),
                   "sig": key.sign(message.encode()).hex(),
                   "key": None if legacy else public_key_text(key.public_key())})


@pytest.mark.parametrize("threads,per_thread", [(6, 15)])
def test_concurrent_writers_do_not_fork_the_chain(
    db: Database, installed_keyring: Keyring, threads: int, per_thread: int
) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def write(worker: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                with db.session() as s:
                    audit.record(s, actor=f"ivr:call{worker}", action="patient.lookup",
                                 object_type="patient", object_id=None, purpose="verify caller",
                                 patient_id=worker * 1000 + i)
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert errors == []
    with db.session() as s:
        result = audit.verify(s, installed_keyring)
    assert result.intact, result.problems
    assert result.events == threads * per_thread


def _wipe(db: Database) -> None:
    """Finding 1: someone with write access to the database and no keys empties the trail."""
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events"))
        conn.execute(text("DELETE FROM audit_checkpoints"))
        conn.execute(text("UPDATE audit_head SET seq = 0, hash = :h, mac = ''"), {"h": "0" * 64})


def test_an_emptied_trail_is_not_intact(db: Database, installed_keyring: Keyring) -> None:
    _fill(db, 4)
    _wipe(db)
    with db.session() as s:
        result = audit.verify(s, installed_keyring)
    assert not result.intact
    assert result.problems == [
        "the audit trail has no keyed start (its head has no MAC): it was emptied, or this "
        "database was never initialised with its keyring"]
    with db.session() as s, pytest.raises(audit.AuditTampered, match="no keyed start"):
        _record_one(s)  # appends do not quietly start a new trail over the wiped one
    with db.session() as s:
        assert audit.seal_genesis(s, installed_keyring) is True  # what `telesec init` does
    # ... which is why the anchor exists: see test_the_anchor_proves_...


def test_a_new_trail_is_keyed_from_its_start(database_url: str,
                                             installed_keyring: Keyring) -> None:
    upgrade(database_url)  # the process keyring keys the empty head
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            head = conn.execute(text("SELECT seq, hash, mac FROM audit_head")).one()
    finally:
        engine.dispose()
    assert (head.seq, head.hash) == (0, "0" * 64) and len(head.mac) == 64


def _record_one(s: object) -> None:
    audit.record(s, actor="staff:a", action="patient.read",  # type: ignore[arg-type]
                 object_type="patient", object_id=None, purpose="x", patient_id=1)


def test_the_anchor_proves_no_suffix_and_no_history_was_removed(
    db: Database, installed_keyring: Keyring, tmp_path: Path
) -> None:
    anchor = FileAnchor(tmp_path / "other-disk" / "audit-anchor.log")
    with db.session() as s:
        audit.checkpoint(s, installed_keyring, [anchor])  # at init: seq 0
        genesis_head = s.execute(text("SELECT seq, hash, mac FROM audit_head")).one()
    _fill(db, 6)
    with db.session() as s:
        audit.checkpoint(s, installed_keyring, [anchor])
    _fill(db, 2, start=6)
    entries, damaged = read_anchor(anchor.path)
    assert [e.seq for e in entries] == [0, 6] and damaged == []
    assert (anchor.path.stat().st_mode & 0o777, anchor.path.parent.stat().st_mode & 0o777) == (
        0o600, 0o700)
    with db.session() as s:
        result = audit.verify(s, installed_keyring, anchor=entries)
    assert result.intact, result.problems
    assert result.summary().endswith("anchor: 2 checkpoints, all found in the chain, "
                                     "last at seq 6")

    # a suffix removed, with the head, checkpoints and all put back as they were at seq 4
    with db.engine.begin() as conn:
        kept = conn.execute(text("SELECT hash FROM audit_events WHERE seq = 4")).scalar()
        conn.execute(text("DELETE FROM audit_events WHERE seq > 4"))
        conn.execute(text("DELETE FROM audit_checkpoints WHERE seq > 4"))
        conn.execute(text("UPDATE audit_head SET seq = 4, hash = :h, mac = :m"),
                     {"h": kept, "m": _head_mac_of(installed_keyring, 4, kept)})
    with db.session() as s:
        assert audit.verify(s, installed_keyring).intact  # the database alone cannot tell
        problems = audit.verify(s, installed_keyring, anchor=entries).problems
    assert problems == ["events 5..6 are missing: deleted after the checkpoint at seq 6 "
                        "kept in the anchor"]

    # the whole history removed, and the keyed empty head of day one put back
    _wipe(db)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_head SET mac = :m"), {"m": genesis_head.mac})
    with db.session() as s:
        assert audit.verify(s, installed_keyring).intact
        problems = audit.verify(s, installed_keyring, anchor=entries).problems
    assert problems == ["events 1..6 are missing: deleted after the checkpoint at seq 6 "
                        "kept in the anchor"]

    # the anchor itself: a forged line, an edited line, an empty anchor
    forged = AnchorEntry(seq=9, hash="f" * 64, at=T0, public_key=entries[1].public_key,
                         signature=entries[1].signature)
    with db.session() as s:
        problems = audit.verify(s, installed_keyring, anchor=[entries[0], forged]).problems
        assert problems == [f"anchored checkpoint at seq 9: not signed by the checkpoint key "
                            f"{entries[1].public_key} (forged, edited or another key)"]
        assert audit.verify(s, installed_keyring, anchor=[]).problems == [
            "the anchor holds no checkpoint: check the --anchor path (every `telesec init` "
            "and checkpoint appends to it)"]


def _head_mac_of(keyring: Keyring, seq: int, head_hash: str) -> str:
    """What someone holding the chain key could write (the insider of the threat model)."""
    return audit._head_mac(audit.chain_key(keyring), seq, head_hash)


def test_a_pinned_public_key_refuses_a_replaced_checkpoint_key(
    db: Database, installed_keyring: Keyring, tmp_path: Path
) -> None:
    pinned = installed_keyring.checkpoint_public_key
    anchor = FileAnchor(tmp_path / "anchor.log")
    _fill(db, 3)
    with db.session() as s:
        audit.checkpoint(s, installed_keyring, [anchor])
        assert audit.verify(s, installed_keyring, public_key=pinned,
                            anchor=read_anchor(anchor.path)[0]).intact
    # an insider with the keyring rewrites history, re-signs it with a key of their own
    # and puts that key in the keyring
    impostor = Keyring.create(tmp_path / "impostor.json")
    installed_keyring.checkpoint_seed = impostor.checkpoint_seed
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_checkpoints"))
    with db.session() as s:
        audit.checkpoint(s, installed_keyring)
        assert audit.verify(s, installed_keyring).intact  # unpinned, it looks fine
        problems = audit.verify(s, installed_keyring, public_key=pinned).problems
    assert problems[0].startswith("the keyring's checkpoint key ed25519:")
    assert problems[1:] == ["checkpoint at seq 3: bad signature (forged or edited)"]


def test_a_patient_id_removed_from_an_event_is_found(db: Database,
                                                    installed_keyring: Keyring) -> None:
    # finding 10: NULL in patient_id hid events from "who read my record" undetected
    _fill(db, 3)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET patient_id = NULL WHERE seq = 2"))
    assert _problems(db, installed_keyring) == [
        "event 2: its patient_id was removed, and that patient was never erased"]
    with db.engine.begin() as conn:  # a forged erasure event cannot excuse it
        conn.execute(text("UPDATE audit_events SET action = 'patient.erase' WHERE seq = 3"))
    assert "event 2: its patient_id was removed, and that patient was never erased" in (
        _problems(db, installed_keyring))


def test_the_source_of_a_request_is_covered_by_the_chain(db: Database,
                                                         installed_keyring: Keyring) -> None:
    with db.session() as s:
        audit.record(s, actor="staff:ana", action="auth.login_failed", object_type="staff",
                     object_id="ana", purpose="sign in", source="192.0.2.7")
        _record_one(s)
    assert _problems(db, installed_keyring) == []
    for change in ("source = '192.0.2.8'", "source = NULL"):
        with db.engine.begin() as conn:
            conn.execute(text(f"UPDATE audit_events SET {change} WHERE seq = 1"))
        assert _problems(db, installed_keyring) == [
            "event 1: its content does not match its hash (edited)"]
    with db.session() as s, pytest.raises(ValueError, match="64"):
        audit.record(s, actor="staff:a", action="x.y", object_type="x", object_id=None,
                     purpose="x", source="x" * 65)


def test_checkpoints_reach_a_syslog_anchor(db: Database, installed_keyring: Keyring,
                                           tmp_path: Path) -> None:
    address = tmp_path / "log.sock"
    collector = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    collector.bind(str(address))
    collector.settimeout(5)
    try:
        _fill(db, 2)
        with db.session() as s:
            point = audit.checkpoint(s, installed_keyring, [SyslogAnchor(f"unix:{address}")])
        datagram = collector.recv(4096).decode()
    finally:
        collector.close()
    assert datagram.startswith("<110>telesec: telesec-audit-checkpoint {")
    syslog_file = tmp_path / "messages"  # as a collector writes it, with other lines around
    syslog_file.write_text(f"Dec  4 10:00:00 host cron[1]: something else\n"
                           f"Dec  4 10:00:01 host {datagram[5:]}\n")
    entries, damaged = read_anchor(syslog_file)
    assert damaged == [] and [(e.seq, e.hash) for e in entries] == [(point.seq, point.hash)]
    with db.session() as s:
        assert audit.verify(s, installed_keyring, anchor=entries).intact
    with pytest.raises(AnchorError, match="unix:/dev/log or udp:HOST:PORT"):
        SyslogAnchor("tcp:somewhere")
