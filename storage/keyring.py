"""The keyring: key-encryption keys (KEKs) with ids, the blind-index key, the audit keys.

One JSON file, mode 0600, never in the database. Optionally sealed with a passphrase:
the key material is then encrypted with AES-256-GCM under a key derived by scrypt.
Data keys (DEKs) of vault objects are stored wrapped by a KEK id; rotation makes a new
KEK current, and the callers rewrap the DEKs they hold (no audio is re-encrypted).

Each KEK comes with a *patient key tree* (:mod:`storage.patient_keys`): the per-patient
keys that seal identity (and wrap the data keys of a patient's vault objects) are
derived from it, and erasing a patient destroys their key in every tree
(:meth:`Keyring.record_erased`).

The audit trail has two keys: the chain seed (HMAC key of the event chain) and, apart
from it, the Ed25519 seed that signs checkpoints, whose public key can be pinned.

The file also holds the *shred register*: the ids of vault objects destroyed, so that a
restore from an older backup archive does not bring them back (docs/vault-format.md).
Every change is made under an exclusive lock on ``<keyring>.lock`` after re-reading the
file, so that several processes (the engine, a CLI) can change it without losing updates.

Version 1 files (one audit seed for both audit keys, no patient key trees) still load:
the missing keys are generated once and saved, and :attr:`Keyring.notices` says so.
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
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from foundation.files import write_atomically
from storage.patient_keys import PatientKeyDestroyed, PatientKeyTree
from storage.private_files import private_dir

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
# scrypt cost: N=2^17, r=8 (128 MiB, ~0.3-1 s), the current OWASP guidance. Keyrings sealed
# with a lower cost still open and are resealed at this cost on their next save.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
_WRAP_AAD = b"telesec-dek-wrap-v1:"
_PATIENT_WRAP_AAD = b"telesec-dek-wrap-patient-v1:"
PUBLIC_KEY_PREFIX = "ed25519:"


class KeyringError(Exception):
    """The keyring is missing, unreadable, exposed or wrongly sealed; the message says why."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def public_key_text(key: Ed25519PublicKey) -> str:
    """``ed25519:<64 hex digits>``: how a checkpoint public key is printed and pinned."""
    return PUBLIC_KEY_PREFIX + key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def parse_public_key(text: str) -> Ed25519PublicKey:
    """Read a public key as printed by :func:`public_key_text` (the prefix is optional)."""
    raw = text.strip().removeprefix(PUBLIC_KEY_PREFIX)
    try:
        data = bytes.fromhex(raw)
        if len(data) != 32:
            raise ValueError
        return Ed25519PublicKey.from_public_bytes(data)
    except ValueError:
        raise KeyringError(
            f"{text!r} is not a checkpoint public key; give it as printed by "
            "`telesec keys status` (ed25519: and 64 hex digits)"
        ) from None


@dataclass
class KekEntry:
    key: bytes
    created: str
    retired: bool = False
    tree: PatientKeyTree = field(default_factory=PatientKeyTree.new, repr=False)


@dataclass
class _SealingKey:
    """The scrypt-derived key of a sealed keyring, kept so that re-reads and saves made
    by this process do not pay scrypt again (the salt is kept; nonces are fresh)."""

    passphrase: str
    salt: bytes
    n: int
    r: int
    p: int
    key: bytes


@dataclass
class Keyring:
    """Key material in memory. Create with :meth:`create`, open with :meth:`load`."""

    path: Path
    current_kek_id: str
    keks: dict[str, KekEntry]
    blind_index_key: bytes
    audit_seed: bytes  # the chain's HMAC key is derived from it
    checkpoint_seed: bytes  # Ed25519: signs checkpoints; separate from the chain key
    pseudonym_key: bytes  # patients' audit pseudonyms; never rotated
    passphrase: str | None = field(default=None, repr=False)
    shredded: dict[str, str] = field(default_factory=dict, repr=False)
    erased: dict[str, str] = field(default_factory=dict, repr=False)
    blind_index_pending: bytes | None = field(default=None, repr=False)
    notices: list[str] = field(default_factory=list, repr=False)
    _sealing: _SealingKey | None = field(default=None, repr=False)
    _missing: list[str] = field(default_factory=list, repr=False)

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
            checkpoint_seed=secrets.token_bytes(32),
            pseudonym_key=secrets.token_bytes(32),
            passphrase=passphrase,
        )
        ring.save()
        return ring

    @classmethod
    def load(cls, path: Path, passphrase: str | None = None) -> Keyring:
        """Read the keyring; refuses a file that others can read or a wrong passphrase.

        A version 1 file gets the keys it lacks (saved at once; see :attr:`notices`).
        """
        ring = cls._read(path, passphrase, None)
        if ring._missing:
            with ring._locked():  # re-read: another process may have upgraded it already
                ring._add_missing_keys()
                ring.save()
        return ring

    @classmethod
    def _read(cls, path: Path, passphrase: str | None, sealing: _SealingKey | None) -> Keyring:
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
        if outer.get("version") not in READABLE_VERSIONS:
            raise KeyringError(
                f"keyring {path} has unknown version {outer.get('version')!r}; "
                "it was written by a newer Telesec"
            )
        if "sealed" in outer:
            if not passphrase:
                raise KeyringError(
                    f"keyring {path} is sealed; give its passphrase in TELESEC_KEYRING_PASSPHRASE"
                )
            inner, sealing = _unseal(outer["sealed"], passphrase, path, sealing)
        else:
            if passphrase:
                raise KeyringError(
                    f"keyring {path} is not sealed although a passphrase is configured; "
                    "seal it with `telesec keys seal`, or unset TELESEC_KEYRING_PASSPHRASE"
                )
            inner, sealing = outer["keys"], None
        try:
            return cls._from_inner(path, inner, passphrase, sealing)
        except (KeyError, ValueError, TypeError) as exc:
            raise KeyringError(f"keyring {path} is damaged ({exc!r}); restore it") from None

    @classmethod
    def _from_inner(cls, path: Path, inner: dict[str, Any], passphrase: str | None,
                    sealing: _SealingKey | None) -> Keyring:
        missing = []
        keks = {}
        for kid, entry in inner["keks"].items():
            if "identity_tree" in entry:
                tree = PatientKeyTree.from_json(entry["identity_tree"])
            else:
                tree = PatientKeyTree.new()
                missing.append("trees")
            keks[kid] = KekEntry(_unb64(entry["key"]), entry["created"],
                                 entry.get("retired", False), tree)
        blind = _unb64(inner["blind_index_key"])
        if "checkpoint_seed" in inner:
            checkpoint_seed = _unb64(inner["checkpoint_seed"])
        else:
            checkpoint_seed = secrets.token_bytes(32)
            missing.append("checkpoint")
        if "pseudonym_key" in inner:
            pseudonym_key = _unb64(inner["pseudonym_key"])
        else:  # version 1 derived the audit pseudonyms from the blind-index key
            pseudonym_key = _hkdf(blind, "telesec:patient-pseudonym")
            missing.append("pseudonym")
        pending = inner.get("blind_index_pending")
        return cls(
            path=path,
            current_kek_id=inner["current_kek"],
            keks=keks,
            blind_index_key=blind,
            audit_seed=_unb64(inner["audit_seed"]),
            checkpoint_seed=checkpoint_seed,
            pseudonym_key=pseudonym_key,
            passphrase=passphrase,
            shredded=dict(inner.get("shredded", {})),
            erased=dict(inner.get("erased", {})),
            blind_index_pending=_unb64(pending) if pending else None,
            _sealing=sealing,
            _missing=missing,
        )

    def _add_missing_keys(self) -> None:
        """Keep what the file has now; say once what was added (version 1 files)."""
        if "checkpoint" in self._missing:
            self.notices.append(
                f"keyring {self.path}: audit checkpoints are now signed by their own key, "
                "apart from the chain key (checkpoints made before stay valid); its public "
                f"key is {public_key_text(self.checkpoint_public_key)}: keep it apart and pin "
                "it with `telesec audit verify --public-key`"
            )
        if "trees" in self._missing:
            self.notices.append(
                f"keyring {self.path}: per-patient identity keys were added; "
                "run `telesec db upgrade` to reseal patient identity under them"
            )
        self._missing = []

    def save(self) -> None:
        """Write atomically with mode 0600 (a fresh temporary file, never a reused one)."""
        inner = {
            "current_kek": self.current_kek_id,
            "keks": {
                kid: {"key": _b64(e.key), "created": e.created, "retired": e.retired,
                      "identity_tree": e.tree.to_json()}
                for kid, e in self.keks.items()
            },
            "blind_index_key": _b64(self.blind_index_key),
            "audit_seed": _b64(self.audit_seed),
            "checkpoint_seed": _b64(self.checkpoint_seed),
            "pseudonym_key": _b64(self.pseudonym_key),
            "shredded": self.shredded,
            "erased": self.erased,
        }
        if self.blind_index_pending is not None:
            inner["blind_index_pending"] = _b64(self.blind_index_pending)
        outer: dict[str, Any] = {"version": FORMAT_VERSION}
        if self.passphrase:
            outer["sealed"], self._sealing = _seal(inner, self.passphrase, self._sealing)
        else:
            outer["keys"] = inner
        directory = private_dir(self.path.parent)
        # An old Telesec wrote through a fixed "<name>.tmp": whatever is left there is a
        # stale copy of keys, maybe readable by others. It is removed, never reused.
        self.path.with_name(self.path.name + ".tmp").unlink(missing_ok=True)
        write_atomically(self.path, json.dumps(outer, indent=1).encode(), mode=0o600, sync=True)
        _fsync_dir(directory)

    def seal_with(self, passphrase: str) -> None:
        """Seal (or reseal) the file with ``passphrase``."""
        with self._locked():
            self.passphrase = passphrase
            self._sealing = None
            self.save()

    # ---- keys -------------------------------------------------------------------------
    def kek(self, kek_id: str) -> bytes:
        try:
            return self.keks[kek_id].key
        except KeyError:
            raise KeyringError(
                f"key {kek_id} is not in the keyring; it was retired or the keyring is wrong"
            ) from None

    def patient_key(self, kek_id: str, patient_id: int) -> bytes:
        """The identity key of one patient under KEK ``kek_id`` (from its key tree).

        Raises :class:`storage.patient_keys.PatientKeyDestroyed` for an erased patient.
        """
        try:
            tree = self.keks[kek_id].tree
        except KeyError:
            raise KeyringError(
                f"key {kek_id} is not in the keyring; it was retired or the keyring is wrong"
            ) from None
        return tree.key(patient_id)

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
        """Erase a patient's keys: destroy their identity key in every key tree, and put
        them on the erasure register so that a restore of an older backup erases them
        again. Done before their identity is destroyed in the database; irreversible."""
        with self._locked():
            self.erased.setdefault(str(patient_id), _now())
            for entry in self.keks.values():
                entry.tree.destroy(patient_id)
            self.save()

    def kek_created(self, kek_id: str) -> str:
        """ISO creation time of a KEK."""
        self.kek(kek_id)
        return self.keks[kek_id].created

    # ---- blind-index key rotation --------------------------------------------------------
    def begin_blind_index_rotation(self) -> bytes:
        """The next blind-index key, saved as pending (the same one if a rotation was cut)."""
        with self._locked():
            if self.blind_index_pending is None:
                self.blind_index_pending = secrets.token_bytes(32)
                self.save()
            return self.blind_index_pending

    def finish_blind_index_rotation(self) -> None:
        """Make the pending blind-index key current and forget the old one."""
        with self._locked():
            if self.blind_index_pending is None:
                raise KeyringError("no blind-index rotation is under way")
            self.blind_index_key = self.blind_index_pending
            self.blind_index_pending = None
            self.save()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the keyring's lock and bring this object up to date with the file."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        private_dir(self.path.parent)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if self.path.is_file():
                fresh = Keyring._read(self.path, self.passphrase, self._sealing)
                self.current_kek_id = fresh.current_kek_id
                self.keks = fresh.keks
                self.blind_index_key = fresh.blind_index_key
                self.blind_index_pending = fresh.blind_index_pending
                self.audit_seed = fresh.audit_seed
                if "checkpoint" not in fresh._missing:
                    self.checkpoint_seed = fresh.checkpoint_seed
                self.pseudonym_key = fresh.pseudonym_key
                self.shredded = fresh.shredded
                self.erased = fresh.erased
                self._sealing = fresh._sealing
                self._missing = [m for m in fresh._missing if m in self._missing]
            yield
        finally:
            os.close(fd)

    def wrap(self, dek: bytes, kek_id: str | None = None, *,
             patient_id: int | None = None) -> tuple[str, bytes]:
        """Encrypt a data key under a KEK (the current one by default).

        With ``patient_id``, under the KEK *and* that patient's key: the data key dies
        with the patient's erasure, in every copy of the database.
        """
        kid = kek_id or self.current_kek_id
        key, aad = self._wrapping(kid, patient_id)
        nonce = secrets.token_bytes(12)
        return kid, nonce + AESGCM(key).encrypt(nonce, dek, aad)

    def unwrap(self, kek_id: str, wrapped: bytes, *, patient_id: int | None = None) -> bytes:
        try:
            key, aad = self._wrapping(kek_id, patient_id)
        except PatientKeyDestroyed:
            raise KeyringError(f"a data key bound to patient {patient_id} does not open: "
                               "the patient was erased") from None
        try:
            return AESGCM(key).decrypt(wrapped[:12], wrapped[12:], aad)
        except InvalidTag:
            raise KeyringError(f"a data key wrapped under {kek_id} does not open") from None

    def _wrapping(self, kek_id: str, patient_id: int | None) -> tuple[bytes, bytes]:
        if patient_id is None:
            return self.kek(kek_id), _WRAP_AAD + kek_id.encode()
        leaf = self.patient_key(kek_id, patient_id)
        return (_hkdf(self.kek(kek_id) + leaf, "telesec:dek-wrap-patient-v1"),
                _PATIENT_WRAP_AAD + f"{kek_id}:{patient_id}".encode())

    def derive(self, purpose: str, kek_id: str | None = None) -> bytes:
        """A 32-byte key for one purpose (e.g. identity columns), derived from a KEK."""
        kid = kek_id or self.current_kek_id
        return _hkdf(self.kek(kid), f"telesec:{purpose}")

    # ---- audit keys --------------------------------------------------------------------
    @property
    def checkpoint_signing_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.checkpoint_seed)

    @property
    def checkpoint_public_key(self) -> Ed25519PublicKey:
        return self.checkpoint_signing_key.public_key()

    @property
    def legacy_checkpoint_public_key(self) -> Ed25519PublicKey:
        """The key that signed checkpoints before the split (derived from the chain seed)."""
        return Ed25519PrivateKey.from_private_bytes(self.audit_seed).public_key()


def _hkdf(key: bytes, info: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info.encode()).derive(key)


def _new_kek_id() -> str:
    return "k" + datetime.now(UTC).strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _scrypt_key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode())


def _seal(inner: dict[str, Any], passphrase: str,
          cached: _SealingKey | None) -> tuple[dict[str, Any], _SealingKey]:
    current = (SCRYPT_N, SCRYPT_R, SCRYPT_P)
    if cached is None or cached.passphrase != passphrase or (
            cached.n, cached.r, cached.p) != current:
        salt = secrets.token_bytes(16)
        cached = _SealingKey(passphrase, salt, *current, _scrypt_key(passphrase, salt, *current))
    nonce = secrets.token_bytes(12)
    body = AESGCM(cached.key).encrypt(nonce, json.dumps(inner).encode(), b"telesec-keyring-v1")
    return {
        "kdf": "scrypt",
        "n": cached.n,
        "r": cached.r,
        "p": cached.p,
        "salt": _b64(cached.salt),
        "nonce": _b64(nonce),
        "ciphertext": _b64(body),
    }, cached


def _unseal(sealed: dict[str, Any], passphrase: str, path: Path,
            cached: _SealingKey | None) -> tuple[dict[str, Any], _SealingKey]:
    try:
        salt, n, r, p = _unb64(sealed["salt"]), int(sealed["n"]), int(sealed["r"]), int(sealed["p"])
        if not (2 <= n <= 2**20 and 1 <= r <= 32 and 1 <= p <= 16):
            raise ValueError(f"scrypt cost n={n} r={r} p={p} is out of range")
        if cached is not None and (cached.passphrase, cached.salt, cached.n, cached.r,
                                   cached.p) == (passphrase, salt, n, r, p):
            key = cached.key
        else:
            key = _scrypt_key(passphrase, salt, n, r, p)
        body = AESGCM(key).decrypt(
            _unb64(sealed["nonce"]), _unb64(sealed["ciphertext"]), b"telesec-keyring-v1"
        )
    except InvalidTag:
        raise KeyringError(f"wrong passphrase for keyring {path}") from None
    except (KeyError, ValueError) as exc:
        raise KeyringError(f"keyring {path} is damaged ({exc}); restore it from backup") from None
    return json.loads(body), _SealingKey(passphrase, salt, n, r, p, key)
