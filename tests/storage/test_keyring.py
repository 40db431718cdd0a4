"""The keyring file: permissions, sealing, rotation, retirement, the shred register."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from storage.keyring import Keyring, KeyringError


def test_created_with_mode_0600_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    ring = Keyring.create(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    again = Keyring.load(path)
    assert again.current_kek_id == ring.current_kek_id
    assert again.blind_index_key == ring.blind_index_key
    kek_id, wrapped = ring.wrap(b"k" * 32)
    assert again.unwrap(kek_id, wrapped) == b"k" * 32
    with pytest.raises(KeyringError, match="already exists"):
        Keyring.create(path)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_refuses_a_file_others_can_read(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "keyring.json"
    Keyring.create(path)
    path.chmod(mode)
    with pytest.raises(KeyringError, match="chmod 600"):
        Keyring.load(path)


def test_sealed_with_a_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    ring = Keyring.create(path, passphrase="correct horse")
    text = path.read_text()
    assert json.loads(text)["sealed"]["kdf"] == "scrypt"
    for secret in (ring.kek(ring.current_kek_id), ring.blind_index_key, ring.audit_seed):
        assert secret.hex() not in text
        assert __import__("base64").b64encode(secret).decode() not in text
    assert Keyring.load(path, "correct horse").audit_seed == ring.audit_seed
    with pytest.raises(KeyringError, match="wrong passphrase"):
        Keyring.load(path, "wrong horse")
    with pytest.raises(KeyringError, match="sealed"):
        Keyring.load(path)


def test_rotate_then_retire(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    ring = Keyring.create(path)
    old = ring.current_kek_id
    kid, wrapped = ring.wrap(b"d" * 32)
    new = ring.rotate()
    assert new != old and ring.current_kek_id == new
    assert ring.unwrap(kid, wrapped) == b"d" * 32  # old keys still open until retired
    with pytest.raises(KeyringError, match="current"):
        ring.retire(new)
    ring.retire(old)
    loaded = Keyring.load(path)
    assert list(loaded.keks) == [new]
    with pytest.raises(KeyringError, match="not in the keyring"):
        loaded.unwrap(kid, wrapped)


def test_changes_from_two_processes_are_merged(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    first = Keyring.create(path)
    second = Keyring.load(path)
    first.record_shredded(["a" * 32])
    new = second.rotate()  # second had not seen the shred: it must not lose it
    second.record_shredded(["b" * 32])
    loaded = Keyring.load(path)
    assert set(loaded.shredded) == {"a" * 32, "b" * 32}
    assert loaded.current_kek_id == new


def test_retire_prunes_shred_entries_older_than_every_remaining_key(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    ring = Keyring.create(path)
    old = ring.current_kek_id
    ring.record_shredded(["a" * 32])
    ring.shredded["a" * 32] = "2000-01-01T00:00:00+00:00"  # shredded long ago
    ring.save()
    ring.rotate()
    ring.record_shredded(["b" * 32])
    ring.retire(old)
    assert set(Keyring.load(path).shredded) == {"b" * 32}


def test_wrapped_key_is_bound_to_its_key_id(tmp_path: Path) -> None:
    ring = Keyring.create(tmp_path / "keyring.json")
    kid, wrapped = ring.wrap(b"x" * 32)
    damaged = bytearray(wrapped)
    damaged[20] ^= 1
    with pytest.raises(KeyringError, match="does not open"):
        ring.unwrap(kid, bytes(damaged))
