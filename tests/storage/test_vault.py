"""The vault over a real database (SQLite and PostgreSQL) and a real directory."""

from __future__ import annotations

import stat
import threading
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.erasure import erase_patient
from storage.keyring import Keyring, KeyringError
from storage.models import ObjectKind, ObjectStatus, utcnow
from storage.patients import PatientDirectory
from storage.vault import Vault, VaultError, VaultIntegrityError
from tests.storage.identity_helpers import make_practice
from tests.storage.vault_helpers import files_under, pattern


def _write(vault: Vault, data: bytes, piece: int = 333, **meta: object) -> str:
    writer = vault.create(ObjectKind.RECORDING, **meta)  # type: ignore[arg-type]
    for start in range(0, len(data), piece):
        writer.append(data[start : start + piece])
    assert writer.close() == len(data)
    return writer.object_id


@pytest.mark.parametrize("size", [0, 1, 1024, 1025, 5000])
def test_round_trip_and_metadata(vault: Vault, size: int) -> None:
    data = pattern(size)
    object_id = _write(vault, data, call_id="call-1", media_type="audio/L16")
    row = vault.get(object_id)
    assert row.status is ObjectStatus.COMPLETE and row.size == size
    assert row.expires_at is not None and row.completed_at is not None
    assert vault.read(object_id) == data
    blob = vault.path(row.blob_path or "")
    assert stat.S_IMODE(blob.stat().st_mode) == 0o600
    assert [p.suffix for p in files_under(vault.root)] == [".tsv"]


def test_reader_starts_anywhere(vault: Vault) -> None:
    data = pattern(5000)
    object_id = _write(vault, data)
    with vault.open(object_id) as reader:
        for offset in (0, 1, 1023, 1024, 2047, 4999, 5000):
            reader.seek(offset)
            assert reader.read(700) == data[offset : offset + 700]
        assert b"".join(reader.iter_range(1500, 3100)) == data[1500:3100]
        assert b"".join(reader) == data


def test_abort_and_failed_block_leave_nothing(vault: Vault) -> None:
    writer = vault.create(ObjectKind.VOICEMAIL)
    writer.append(pattern(3000))
    writer.abort()
    with pytest.raises(VaultError, match="no vault object"):
        vault.get(writer.object_id)
    with pytest.raises(RuntimeError), vault.create(ObjectKind.TRANSCRIPT) as other:
        other.append(b"partial")
        raise RuntimeError("caller failed")
    with pytest.raises(VaultError):
        vault.get(other.object_id)
    assert files_under(vault.root) == []


def test_no_plaintext_on_disk_while_writing_or_after(vault: Vault, tmp_path: Path) -> None:
    data = pattern(20_000, seed=99)
    writer = vault.create(ObjectKind.RECORDING)
    writer.append(data[:15_000])
    windows = [data[i : i + 24] for i in range(0, 20_000 - 24, 997)]

    def assert_clean() -> None:
        for path in files_under(tmp_path):
            content = path.read_bytes()
            assert not any(w in content for w in windows), path

    assert_clean()
    writer.append(data[15_000:])
    writer.close()
    assert_clean()


def test_damage_on_disk_is_reported(vault: Vault) -> None:
    object_id = _write(vault, pattern(4000))
    blob = vault.path(vault.get(object_id).blob_path or "")
    original = blob.read_bytes()
    damaged = bytearray(original)
    damaged[2000] ^= 0x04
    blob.write_bytes(bytes(damaged))
    with pytest.raises(VaultIntegrityError, match="chunk 1 does not authenticate"):
        vault.read(object_id)
    blob.write_bytes(original[: 72 + 3 * 1040])  # the final chunk cut off
    with pytest.raises(VaultIntegrityError):  # the database size no longer matches
        vault.read(object_id)


def test_concurrent_writers(vault: Vault) -> None:
    results: dict[int, str] = {}

    def record(n: int) -> None:
        results[n] = _write(vault, pattern(3000, seed=n), piece=160)

    threads = [threading.Thread(target=record, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n, object_id in results.items():
        assert vault.read(object_id) == pattern(3000, seed=n)


def test_rotate_rewrap_retire_keeps_every_object(vault: Vault, keyring: Keyring) -> None:
    ids = [_write(vault, pattern(2000, seed=n)) for n in range(3)]
    blobs = {p: p.read_bytes() for p in files_under(vault.root)}
    old = keyring.current_kek_id
    new = keyring.rotate()
    assert vault.keys_in_use() == {old: 3}
    assert vault.rewrap_all(batch=2) == 3
    assert vault.keys_in_use() == {new: 3}
    keyring.retire(old)
    reloaded = Keyring.load(keyring.path)
    assert old not in reloaded.keks
    fresh = Vault(vault.db, reloaded, vault.root, chunk_size=1024)
    for n, object_id in enumerate(ids):
        assert fresh.read(object_id) == pattern(2000, seed=n)
    assert {p: p.read_bytes() for p in files_under(vault.root)} == blobs


def test_voicemail_expiry_starts_when_handled(vault: Vault) -> None:
    writer = vault.create(ObjectKind.VOICEMAIL)
    writer.append(b"RIFF")
    writer.close()
    assert vault.get(writer.object_id).expires_at is None
    handled = utcnow()
    vault.mark_handled(writer.object_id, handled)
    assert vault.get(writer.object_id).expires_at == handled + timedelta(days=30)


def test_still_writing_cannot_be_opened(vault: Vault) -> None:
    writer = vault.create(ObjectKind.RECORDING)
    with pytest.raises(VaultError, match="still being written"):
        vault.open(writer.object_id)
    writer.abort()


def test_a_patients_objects_die_with_the_patient_in_every_copy(vault: Vault,
                                                               keyring: Keyring) -> None:
    practice = make_practice(vault.db)
    with vault.db.session() as s:
        d = PatientDirectory(s)
        gone = d.add(practice, first_name="A", last_name="B", birth_date=date(1961, 4, 23),
                     actor="staff:t").id
        kept = d.add(practice, first_name="C", last_name="D", birth_date=date(1970, 1, 1),
                     actor="staff:t").id
    voicemail = vault.put(ObjectKind.VOICEMAIL, b"message", patient_id=gone)
    recording = vault.put(ObjectKind.RECORDING, b"call")  # the caller is not known yet
    vault.link_patient(recording, gone)  # verified during the call
    theirs = vault.put(ObjectKind.VOICEMAIL, b"other", patient_id=kept)
    legacy = vault.put(ObjectKind.VOICEMAIL, b"made before 0006")
    with vault.db.engine.begin() as conn:  # as made before schema 0006: the KEK alone
        conn.execute(text("UPDATE vault_objects SET patient_id = :p WHERE id = :i"),
                     {"p": kept, "i": legacy})
        copy = {r.id: r for r in conn.execute(text(
            "SELECT id, kek_id, wrapped_dek, key_patient_id FROM vault_objects"))}
    assert copy[voicemail].key_patient_id == copy[recording].key_patient_id == gone
    assert vault.read(recording) == b"call"
    with pytest.raises(KeyringError):  # bound: the KEK alone does not open it
        keyring.unwrap(copy[voicemail].kek_id, bytes(copy[voicemail].wrapped_dek))

    with vault.db.session() as s:
        erase_patient(s, gone, actor="staff:dpo", reason="request", vault=vault)
    for object_id in (voicemail, recording):  # a copy from before: noise
        row = copy[object_id]
        with pytest.raises(KeyringError, match="erased"):
            keyring.unwrap(row.kek_id, bytes(row.wrapped_dek), patient_id=gone)
    assert vault.read(theirs) == b"other"

    before = keyring.current_kek_id
    keyring.rotate()
    assert vault.rewrap_all() == 2  # the live ones; the legacy one is bound to its patient
    assert vault.get(legacy).key_patient_id == kept and vault.read(legacy) == b"made before 0006"
    assert vault.get(voicemail).key_patient_id is None  # a tombstone: no key, no link
    assert vault.keys_in_use() == {keyring.current_kek_id: 2} and before in keyring.keks
