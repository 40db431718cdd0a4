"""Encrypted identity columns and blind indexes.

A sealed identity value (a name, a birth date, a phone number) is AES-256-GCM under the
key of its patient: ``keyring.patient_key(kek_id, row_id)``, a leaf of the KEK's
puncturable key tree (:mod:`storage.patient_keys`). Erasing the patient destroys that
key, so every copy of the value anywhere (WAL, backups, old row versions) is noise.
Layout::

    version (1 byte = 2) | kek id length (1 byte) | kek id (ASCII) | row id (8 bytes, big
    endian) | nonce (12 bytes) | ciphertext + tag (16 bytes)

The associated data is ``b"telesec-identity-v2|" + field + b"|" + header`` where
``header`` is everything before the nonce: a value moved to another column fails to
open, and a value moved to another row opens (under the key of the row it names) with
that row id, which :class:`storage.patients.PatientDirectory` compares with the row it
read it from. Version 1 values are sealed under a key derived from the KEK itself: patient
identity sealed before schema 0006 (they still open, so that the migration can reseal
them), and the sealed columns of rows that are no patient's (an escalation's number to
call back: ``EncryptedIdentity(..., per_patient=False)``), whose row ids must not pick a
patient's key.

Blind indexes are HMAC-SHA256 (blind-index key) of ``kind|practice id|normalised value``,
truncated to 16 bytes (32 hex digits): equal values in one practice give equal indexes,
nothing else can be learned without the key, and the same phone number in two practices
gives unrelated indexes. The blind-index key can be rotated (every index recomputed).

The keys reach the column type through one process-wide cipher that the composition root
installs with :func:`install` once the keyring is loaded; using an encrypted column
before that raises :class:`IdentityKeysMissing` with the fix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from storage.keyring import Keyring, KeyringError
from storage.patient_keys import PatientKeyDestroyed

FORMAT_VERSION = 2
LEGACY_VERSION = 1
BLIND_INDEX_BYTES = 16
_AAD_PREFIX = {LEGACY_VERSION: b"telesec-identity-v1|", FORMAT_VERSION: b"telesec-identity-v2|"}
_NONCE_BYTES = 12


class IdentityKeysMissing(RuntimeError):
    """An encrypted identity column was used before a keyring was installed."""


class IdentityTampered(ValueError):
    """A sealed identity value does not open: edited, moved, or sealed under another key."""


class IdentityErased(IdentityTampered):
    """A sealed identity value of a patient whose key was destroyed (erased): noise."""


@dataclass(frozen=True, slots=True)
class RowBound:
    """A plaintext identity value together with the row id it belongs to."""

    row_id: int
    text: str = dataclasses.field(repr=False)  # never in an error message or a log


class IdentityCipher:
    """Seals and opens identity values and computes blind indexes from one keyring.

    ``blind_index_key`` overrides the keyring's (a blind-index rotation computes the
    new indexes with the pending key).
    """

    def __init__(self, keyring: Keyring, *, blind_index_key: bytes | None = None) -> None:
        self.keyring = keyring
        self._legacy: dict[str, AESGCM] = {}
        self._lock = threading.Lock()
        self._blind_key = blind_index_key or keyring.blind_index_key
        self._pseudonym_key = keyring.pseudonym_key

    def _legacy_aead(self, kek_id: str) -> AESGCM:
        with self._lock:
            aead = self._legacy.get(kek_id)
            if aead is None:
                aead = AESGCM(self.keyring.derive("identity", kek_id))
                self._legacy[kek_id] = aead
            return aead

    def seal(self, field: str, row_id: int, text: str, *, per_patient: bool = True) -> bytes:
        """Encrypt ``text`` for column ``field`` of row ``row_id``: under that patient's key
        (from the current KEK's tree), or with ``per_patient=False`` (a row that is no
        patient) under the current KEK's identity key."""
        kek_id = self.keyring.current_kek_id
        kid = kek_id.encode("ascii")
        version = FORMAT_VERSION if per_patient else LEGACY_VERSION
        header = bytes([version, len(kid)]) + kid + row_id.to_bytes(8, "big")
        nonce = secrets.token_bytes(_NONCE_BYTES)
        if not per_patient:
            aead = self._legacy_aead(kek_id)
        else:
            try:
                aead = AESGCM(self.keyring.patient_key(kek_id, row_id))
            except PatientKeyDestroyed:
                raise IdentityErased(f"patient {row_id} was erased; nothing can be sealed "
                                     "for them") from None
        body = aead.encrypt(nonce, text.encode("utf-8"), _aad(version, field, header))
        return header + nonce + body

    def open(self, field: str, blob: bytes) -> RowBound:
        """Decrypt a sealed value of column ``field``; returns it with its bound row id.

        :class:`IdentityErased` if the patient's key was destroyed.
        """
        version, header, kek_id, row_id = _parse_header(blob)
        nonce = blob[len(header) : len(header) + _NONCE_BYTES]
        body = blob[len(header) + _NONCE_BYTES :]
        try:
            if version == LEGACY_VERSION:
                aead = self._legacy_aead(kek_id)
            else:
                aead = AESGCM(self.keyring.patient_key(kek_id, row_id))
        except KeyringError:
            raise IdentityTampered(
                f"a sealed {field} value names key {kek_id!r}, which this keyring does not "
                "have (the value was edited, the key retired too early, or the keyring is wrong)"
            ) from None
        except PatientKeyDestroyed:
            raise IdentityErased(
                f"a sealed {field} value belongs to an erased patient: its key was destroyed"
            ) from None
        except ValueError:
            raise IdentityTampered(f"a sealed {field} value names no possible row") from None
        try:
            text = aead.decrypt(nonce, body, _aad(version, field, header))
        except InvalidTag:
            raise IdentityTampered(
                f"a sealed {field} value does not open: it was edited or moved"
            ) from None
        return RowBound(row_id, text.decode("utf-8"))

    def blind_index(self, kind: str, practice_id: int, normalised: str) -> str:
        """Keyed index of a normalised value (``kind`` is e.g. ``phone``, ``last_name``)."""
        message = f"{kind}|{practice_id}|{normalised}".encode()
        return hmac.new(self._blind_key, message, hashlib.sha256).hexdigest()[
            : BLIND_INDEX_BYTES * 2
        ]

    def patient_pseudonym(self, patient_id: int) -> str:
        """Stable keyed pseudonym of a patient id, used in the audit trail."""
        digest = hmac.new(self._pseudonym_key, str(patient_id).encode(), hashlib.sha256)
        return digest.hexdigest()[:32]


def sealed_kek_id(blob: bytes) -> str:
    """The id of the KEK a sealed value was encrypted under (for rotation)."""
    return _parse_header(blob)[2]


def sealed_version(blob: bytes) -> int:
    """The format version of a sealed value (1: under the KEK; 2: under the patient's key)."""
    return _parse_header(blob)[0]


def _aad(version: int, field: str, header: bytes) -> bytes:
    return _AAD_PREFIX[version] + field.encode("ascii") + b"|" + header


def _parse_header(blob: bytes) -> tuple[int, bytes, str, int]:
    if len(blob) < 2 or blob[0] not in _AAD_PREFIX:
        raise IdentityTampered("a sealed identity value has an unknown format")
    end = 2 + blob[1]
    if len(blob) < end + 8 + _NONCE_BYTES + 16:
        raise IdentityTampered("a sealed identity value is cut short")
    kek_id = blob[2:end].decode("ascii", errors="replace")
    row_id = int.from_bytes(blob[end : end + 8], "big")
    return blob[0], blob[: end + 8], kek_id, row_id


# ---- the process-wide cipher ----------------------------------------------------------

_installed: IdentityCipher | None = None


def install(keyring: Keyring) -> IdentityCipher:
    """Make ``keyring`` the one used by encrypted columns in this process."""
    global _installed
    _installed = IdentityCipher(keyring)
    return _installed


def installed_keyring() -> Keyring | None:
    """The keyring installed in this process, if any."""
    return _installed.keyring if _installed is not None else None


def uninstall() -> None:
    """Forget the installed keyring (tests, shutdown)."""
    global _installed
    _installed = None


def cipher() -> IdentityCipher:
    """The installed cipher, or a clear error if the keyring was never loaded."""
    if _installed is None:
        raise IdentityKeysMissing(
            "patient identity is encrypted and no keyring is loaded; "
            "load it with storage.identity.install(keyring) (telesec does this at start-up)"
        )
    return _installed


class EncryptedIdentity(TypeDecorator[RowBound]):
    """A column holding one sealed identity value; Python side is :class:`RowBound`
    (None for a value of an erased patient: its key is destroyed).

    ``field`` names the column in the associated data (e.g. ``"patients.last_name"``).
    ``per_patient=False`` for a table whose rows are not patients: its values are sealed
    under the KEK, not under the key of the patient whose id happens to be the row's.
    """

    impl = LargeBinary
    cache_ok = True

    def __init__(self, field: str, *, per_patient: bool = True) -> None:
        super().__init__()
        self.field = field
        self.per_patient = per_patient

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, RowBound):
            raise TypeError(
                f"{self.field} takes a RowBound(row_id, text), not {type(value).__name__}"
            )
        return cipher().seal(self.field, value.row_id, value.text,
                             per_patient=self.per_patient)

    def process_result_value(self, value: Any, dialect: Dialect) -> RowBound | None:
        if value is None:
            return None
        try:
            return cipher().open(self.field, bytes(value))
        except IdentityErased:
            return None  # the patient's key is destroyed: the value is noise, i.e. gone

    def compare_values(self, x: Any, y: Any) -> bool:
        return bool(x == y)
