"""The keyring: key-encryption keys (KEKs) with ids, the blind-index key, the audit key.

One JSON file, mode 0600, never in the database. Optionally sealed with a passphrase:
the key material is then encrypted with AES-256-GCM under a key derived by scrypt.
Data keys (DEKs) of vault objects are stored wrapped by a KEK id; rotation makes a new
KEK current, and the callers rewrap the DEKs they hold (no audio is re-encrypted).

The file also holds the *shred register*: the ids of vault objects destroyed, so that a
restore from an older backup archive does not bring them back (docs/vault-format.md).
Every change is made under an exclusive lock on ``<keyring>.lock`` after re-reading the
file, so that several processes (the engine, a CLI) can change it without losing updates.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from foundation.files import write_atomically

FORMAT_VERSION = 1
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_WRAP_AAD = b"telesec-dek-wrap-v1:"


class KeyringError(Exception):
    """The keyring is missing, unreadable, exposed or wrongly sealed; the message says why."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass
class KekEntry:
    key: bytes
    created: str
    retired: bool = False


@dataclass
class Keyring:
    """Key material in memory. Create with :meth:`create`, open with :meth:`load`."""

    path: Path
    current_kek_id: str
    keks: dict[str, KekEntry]
    blind_index_key: bytes
    audit_seed: bytes
    passphrase: str | None = field(default=None, repr=False)
    shredded: dict[str, str] = field(default_factory=dict, repr=False)
    erased: dict[str, str] = field(default_factory=dict, repr=False)

    # ---- life cycle -------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, passphrase: str | None = None) -> Keyring:
        """Generate fresh keys and write them to ``path``; refuses to overwrite."""
        if path.exists():
            raise KeyringError(
                f"a keyring already exists at {path}; use `telesec keys rotate` to add a key"
            )
        kek_id = _new_kek_id()
        ring = cls(
            path=path,
            current_kek_id=kek_id,
            keks={kek_id: KekEntry(secrets.token_bytes(32), _now())},
            blind_index_key=secrets.token_bytes(32),
            audit_seed=secrets.token_bytes(32),
            passphrase=passphrase,
        )
        ring.save()
        return ring

    @classmethod
    def load(cls, path: Path, passphrase: str | None = None) -> Keyring:
        """Read the keyring; refuses a file that others can read or a wrong passphrase."""
        if not path.is_file():
            raise KeyringError(f"no keyring at {path}; create one with `telesec keys init`")
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise KeyringError(
                f"keyring {path} is readable by others (mode {mode:o}); run `chmod 600 {path}`"
            )
        try:
            outer = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise KeyringError(
                f"keyring {path} is unreadable ({exc}); restore it from backup"
            ) from None
        if outer.get("version") != FORMAT_VERSION:
            raise KeyringError(f"keyring {path} has unknown version {outer.get('version')!r}")
        if "sealed" in outer:
            if not passphrase:
                raise KeyringError(
                    f"keyring {path} is sealed; give its passphrase in TELESEC_KEYRING_PASSPHRASE"
                )
            inner = _unseal(outer["sealed"], passphrase, path)
        else:
            inner = outer["keys"]
        try:
            return cls(
                path=path,
                current_kek_id=inner["current_kek"],
                keks={
                    kid: KekEntry(_unb64(e["key"]), e["created"], e.get("retired", False))
                    for kid, e in inner["keks"].items()
                },
                blind_index_key=_unb64(inner["blind_index_key"]),
                audit_seed=_unb64(inner["audit_seed"]),
                passphrase=passphrase,
                shredded=dict(inner.get("shredded", {})),
                erased=dict(inner.get("erased", {})),
            )
        except (KeyError, ValueError) as exc:
            raise KeyringError(f"keyring {path} is damaged (missing {exc}); restore it") from None

    def save(self) -> None:
        """Write atomically with mode 0600."""
        inner = {
            "current_kek": self.current_kek_id,
            "keks": {
                kid: {"key": _b64(e.key), "created": e.created, "retired": e.retired}
                for kid, e in self.keks.items()
            },
            "blind_index_key": _b64(self.blind_index_key),
            "audit_seed": _b64(self.audit_seed),
            "shredded": self.shredded,
            "erased": self.erased,
        }
        outer: dict[str, Any] = {"version": FORMAT_VERSION}
        if self.passphrase:
            outer["sealed"] = _seal(inner, self.passphrase)
        else:
            outer["keys"] = inner
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, json.dumps(outer, indent=1).encode(), mode=0o600, sync=True)

    # ---- keys -------------------------------------------------------------------------
    def kek(self, kek_id: str) -> bytes:
        try:
            return self.keks[kek_id].key
        except KeyError:
            raise KeyringError(
                f"key {kek_id} is not in the keyring; it was retired or the keyring is wrong"
            ) from None

    def rotate(self) -> str:
        """Make a new KEK current and save; returns its id. Rewrap DEKs afterwards."""
        kek_id = _new_kek_id()
        with self._locked():
            self.keks[kek_id] = KekEntry(secrets.token_bytes(32), _now())
            self.current_kek_id = kek_id
            self.save()
        return kek_id

    def retire(self, kek_id: str) -> None:
        """Forget an old KEK once no DEK is wrapped under it any more.

        Shred-register entries older than every remaining KEK are pruned: no backup
        archive that could still be opened was made before them.
        """
        with self._locked():
            if kek_id == self.current_kek_id:
                raise KeyringError(f"key {kek_id} is current; rotate before retiring it")
            self.kek(kek_id)
            del self.keks[kek_id]
            oldest = min(entry.created for entry in self.keks.values())
            self.shredded = {oid: at for oid, at in self.shredded.items() if at >= oldest}
            self.erased = {pid: at for pid, at in self.erased.items() if at >= oldest}
            self.save()

    def record_shredded(self, object_ids: Iterable[str]) -> None:
        """Put vault object ids on the shred register (before their keys are destroyed)."""
        ids = list(object_ids)
        if not ids:
            return
        with self._locked():
            now = _now()
            for object_id in ids:
                self.shredded.setdefault(object_id, now)
            self.save()

    def record_erased(self, patient_id: int) -> None:
        """Put a patient on the erasure register, so a restore of an older backup erases
        them again (before their identity is destroyed, like the shred register)."""
        with self._locked():
            self.erased.setdefault(str(patient_id), _now())
            self.save()

    def kek_created(self, kek_id: str) -> str:
        """ISO creation time of a KEK."""
        self.kek(kek_id)
        return self.keks[kek_id].created

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the keyring's lock and bring this object up to date with the file."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if self.path.is_file():
                fresh = Keyring.load(self.path, self.passphrase)
                self.current_kek_id = fresh.current_kek_id
                self.keks = fresh.keks
                self.shredded = fresh.shredded
                self.erased = fresh.erased
            yield
        finally:
            os.close(fd)

    def wrap(self, dek: bytes, kek_id: str | None = None) -> tuple[str, bytes]:
        """Encrypt a data key under a KEK (the current one by default)."""
        kid = kek_id or self.current_kek_id
        nonce = secrets.token_bytes(12)
        return kid, nonce + AESGCM(self.kek(kid)).encrypt(nonce, dek, _WRAP_AAD + kid.encode())

    def unwrap(self, kek_id: str, wrapped: bytes) -> bytes:
        try:
            return AESGCM(self.kek(kek_id)).decrypt(
                wrapped[:12], wrapped[12:], _WRAP_AAD + kek_id.encode()
            )
        except InvalidTag:
            raise KeyringError(f"a data key wrapped under {kek_id} does not open") from None

    def derive(self, purpose: str, kek_id: str | None = None) -> bytes:
        """A 32-byte key for one purpose (e.g. identity columns), derived from a KEK."""
        kid = kek_id or self.current_kek_id
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=f"telesec:{purpose}".encode()
        ).derive(self.kek(kid))

    @property
    def audit_signing_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.audit_seed)

    @property
    def audit_public_key(self) -> Ed25519PublicKey:
        return self.audit_signing_key.public_key()


def _new_kek_id() -> str:
    return "k" + datetime.now(UTC).strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _scrypt_key(passphrase: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(
        passphrase.encode()
    )


def _seal(inner: dict[str, Any], passphrase: str) -> dict[str, Any]:
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    body = AESGCM(_scrypt_key(passphrase, salt)).encrypt(
        nonce, json.dumps(inner).encode(), b"telesec-keyring-v1"
    )
    return {
        "kdf": "scrypt",
        "n": SCRYPT_N,
        "r": SCRYPT_R,
        "p": SCRYPT_P,
        "salt": _b64(salt),
        "nonce": _b64(nonce),
        "ciphertext": _b64(body),
    }


def _unseal(sealed: dict[str, Any], passphrase: str, path: Path) -> dict[str, Any]:
    try:
        key = Scrypt(
            salt=_unb64(sealed["salt"]), length=32, n=sealed["n"], r=sealed["r"], p=sealed["p"]
        ).derive(passphrase.encode())
        body = AESGCM(key).decrypt(
            _unb64(sealed["nonce"]), _unb64(sealed["ciphertext"]), b"telesec-keyring-v1"
        )
    except InvalidTag:
        raise KeyringError(f"wrong passphrase for keyring {path}") from None
    except (KeyError, ValueError) as exc:
        raise KeyringError(f"keyring {path} is damaged ({exc}); restore it from backup") from None
    return json.loads(body)
