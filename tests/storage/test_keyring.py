"""The keyring file: permissions, sealing, rotation, retirement, the shred register."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from storage.keyring import Keyring, KeyringError, public_key_text
from storage.patient_keys import PatientKeyDestroyed


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


def test_a_stale_readable_tmp_file_never_makes_the_keyring_readable(tmp_path: Path) -> None:
    # finding 12: an old "<keyring>.tmp" left at 0644 was reused by the save, mode and all
    path = tmp_path / "keyring.json"
    ring = Keyring.create(path)
    stale = tmp_path / "keyring.json.tmp"
    stale.write_text("a copy of keys from a crashed save")
    stale.chmod(0o644)
    old_umask = os.umask(0)
    try:
        ring.record_shredded(["c" * 32])  # a save
    finally:
        os.umask(old_umask)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert not stale.exists()  # the stale copy of keys is removed, not reused
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert set(Keyring.load(path).shredded) == {"c" * 32}


def test_scrypt_cost_is_current_and_older_keyrings_are_resealed_on_save(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    ring = Keyring.create(path, passphrase="correct horse")
    sealed = json.loads(path.read_text())["sealed"]
    assert (sealed["n"], sealed["r"], sealed["p"]) == (2**17, 8, 1)
    # a keyring sealed at the old cost (N=2^15) still opens, and is resealed on next save
    inner = {"current_kek": ring.current_kek_id,
             "keks": {k: {"key": _b64(e.key), "created": e.created, "retired": False}
                      for k, e in ring.keks.items()},
             "blind_index_key": _b64(ring.blind_index_key), "audit_seed": _b64(ring.audit_seed),
             "checkpoint_seed": _b64(ring.checkpoint_seed),
             "pseudonym_key": _b64(ring.pseudonym_key), "shredded": {}, "erased": {}}
    salt, nonce = os.urandom(16), os.urandom(12)
    key = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(b"correct horse")
    body = AESGCM(key).encrypt(nonce, json.dumps(inner).encode(), b"telesec-keyring-v1")
    path.write_text(json.dumps({"version": 2, "sealed": {
        "kdf": "scrypt", "n": 2**15, "r": 8, "p": 1, "salt": _b64(salt), "nonce": _b64(nonce),
        "ciphertext": _b64(body)}}))
    old = Keyring.load(path, "correct horse")
    assert old.audit_seed == ring.audit_seed
    old.record_shredded(["d" * 32])
    assert json.loads(path.read_text())["sealed"]["n"] == 2**17
    assert set(Keyring.load(path, "correct horse").shredded) == {"d" * 32}


def test_an_unsealed_keyring_is_refused_when_a_passphrase_is_configured(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    Keyring.create(path)
    with pytest.raises(KeyringError) as refused:
        Keyring.load(path, "correct horse")
    message = str(refused.value)
    assert "not sealed" in message and "telesec keys seal" in message and "\n" not in message
    ring = Keyring.load(path)
    ring.seal_with("correct horse")
    assert "sealed" in json.loads(path.read_text())
    assert Keyring.load(path, "correct horse").audit_seed == ring.audit_seed


def _version_1_keyring(path: Path) -> dict[str, object]:
    """A keyring file as Telesec wrote it before this version: one audit seed."""
    inner = {"current_kek": "k1", "keks": {"k1": {"key": _b64(b"K" * 32),
                                                  "created": "2026-01-01T00:00:00+00:00",
                                                  "retired": False}},
             "blind_index_key": _b64(b"B" * 32), "audit_seed": _b64(b"A" * 32),
             "shredded": {}, "erased": {"7": "2026-01-02T00:00:00+00:00"}}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"version": 1, "keys": inner}, handle)
    return inner


def test_a_version_1_keyring_gets_its_own_checkpoint_key_once(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    _version_1_keyring(path)
    ring = Keyring.load(path)
    assert len(ring.notices) == 2 and "own key" in ring.notices[0]
    assert public_key_text(ring.checkpoint_public_key) in ring.notices[0]
    assert ring.checkpoint_seed != ring.audit_seed  # the split: two independent keys
    # checkpoints made before the split keep verifying under the chain seed's key
    legacy = Ed25519PrivateKey.from_private_bytes(b"A" * 32).public_key()
    assert public_key_text(ring.legacy_checkpoint_public_key) == public_key_text(legacy)
    # audit pseudonyms of version 1 (from the blind-index key) are kept
    old_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"telesec:patient-pseudonym").derive(b"B" * 32)
    assert ring.pseudonym_key == old_key
    again = Keyring.load(path)  # saved at once: said once
    assert again.notices == []
    assert json.loads(path.read_text())["version"] == 2
    assert again.checkpoint_seed == ring.checkpoint_seed
    assert again.patient_key("k1", 5) == ring.patient_key("k1", 5)
    assert again.kek("k1") == b"K" * 32 and set(again.erased) == {"7"}


def test_erasure_destroys_the_patient_key_in_every_tree(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    ring = Keyring.create(path)
    first = ring.current_kek_id
    ring.rotate()
    keep = {kid: ring.patient_key(kid, 12) for kid in ring.keks}
    ring.record_erased(11)
    loaded = Keyring.load(path)
    for kid in ring.keks:
        with pytest.raises(PatientKeyDestroyed):
            loaded.patient_key(kid, 11)
        assert loaded.patient_key(kid, 12) == keep[kid]
    assert "11" in loaded.erased
    assert loaded.patient_key(first, 12) != loaded.patient_key(loaded.current_kek_id, 12)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
