"""The vault file format, version 1 (docs/vault-format.md): a pure codec, no I/O.

A 72-byte header authenticated by an HMAC, then AES-256-GCM chunks whose nonces are
``prefix(7) || counter(4) || last(1)`` (the STREAM construction).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"tsvault\n"
VERSION = 1
ALGORITHM = 1
HEADER_FIELDS_LEN = 40
HEADER_LEN = 72
TAG_LEN = 16
PREFIX_LEN = 7
ID_LEN = 16
DEK_LEN = 32
MAX_CHUNK_SIZE = 1 << 24
DEFAULT_CHUNK_SIZE = 1 << 16
MAX_CHUNKS = 1 << 32
_FIELDS = struct.Struct(">8sBB3sI7s16s")


class VaultIntegrityError(Exception):
    """A vault object failed authentication or is malformed; the message is one line."""


def derive_keys(dek: bytes) -> tuple[bytes, bytes]:
    """Return ``(header_key, payload_key)`` derived from an object's data key."""
    if len(dek) != DEK_LEN:
        raise ValueError("a vault data key is 32 bytes")
    return _hkdf(dek, b"telesec-vault-v1 header"), _hkdf(dek, b"telesec-vault-v1 payload")


def _hkdf(ikm: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(ikm)


def new_dek() -> bytes:
    """A fresh random 256-bit data key."""
    return secrets.token_bytes(DEK_LEN)


def chunk_nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


@dataclass(frozen=True, slots=True)
class Header:
    chunk_size: int
    nonce_prefix: bytes
    object_id: bytes

    def encode(self, header_key: bytes) -> bytes:
        """The 72 header bytes: fields then their HMAC."""
        fields = _FIELDS.pack(
            MAGIC, VERSION, ALGORITHM, b"\0\0\0", self.chunk_size, self.nonce_prefix,
            self.object_id,
        )
        return fields + hmac.new(header_key, fields, hashlib.sha256).digest()

    @classmethod
    def decode(cls, data: bytes, header_key: bytes, expect_id: bytes | None = None) -> Header:
        """Parse and authenticate a header; raise :class:`VaultIntegrityError` if refused."""
        if len(data) < HEADER_LEN:
            raise VaultIntegrityError("vault object is shorter than its header")
        magic, version, algorithm, reserved, chunk_size, prefix, object_id = _FIELDS.unpack(
            data[:HEADER_FIELDS_LEN]
        )
        if magic != MAGIC:
            raise VaultIntegrityError("not a vault object (wrong magic)")
        if version != VERSION or algorithm != ALGORITHM:
            raise VaultIntegrityError(
                f"unknown vault format version {version} algorithm {algorithm}"
            )
        if reserved != b"\0\0\0" or not 1 <= chunk_size <= MAX_CHUNK_SIZE:
            raise VaultIntegrityError("vault header has invalid reserved bytes or chunk size")
        mac = hmac.new(header_key, data[:HEADER_FIELDS_LEN], hashlib.sha256).digest()
        if not hmac.compare_digest(mac, data[HEADER_FIELDS_LEN:HEADER_LEN]):
            raise VaultIntegrityError(
                "vault header does not authenticate (wrong key or damaged header)"
            )
        if expect_id is not None and object_id != expect_id:
            raise VaultIntegrityError("vault header names another object")
        return cls(chunk_size, prefix, object_id)


class ChunkCipher:
    """Seals and opens the chunks of one object."""

    def __init__(self, payload_key: bytes, header: Header) -> None:
        self._aead = AESGCM(payload_key)
        self._prefix = header.nonce_prefix
        self.chunk_size = header.chunk_size

    def seal(self, index: int, plaintext: bytes | bytearray | memoryview, last: bool) -> bytes:
        if index >= MAX_CHUNKS:
            raise ValueError("vault object too long (2^32 chunks)")
        return self._aead.encrypt(chunk_nonce(self._prefix, index, last), plaintext, None)

    def open(self, index: int, sealed: bytes | memoryview, last: bool) -> bytes:
        """Open chunk ``index``; raise :class:`VaultIntegrityError` naming the failure."""
        try:
            plaintext = self._aead.decrypt(chunk_nonce(self._prefix, index, last), sealed, None)
        except InvalidTag:
            if last and self.opens(index, sealed, last=False):
                raise VaultIntegrityError(
                    "vault object is cut short (its final chunk is missing)"
                ) from None
            raise VaultIntegrityError(
                f"vault chunk {index} does not authenticate (damaged, reordered or foreign)"
            ) from None
        if last and not plaintext and index != 0:
            raise VaultIntegrityError("vault object ends with an empty chunk")
        return plaintext

    def opens(self, index: int, sealed: bytes | memoryview, last: bool) -> bool:
        try:
            self._aead.decrypt(chunk_nonce(self._prefix, index, last), sealed, None)
        except InvalidTag:
            return False
        return True


class StreamEncryptor:
    """Turns plaintext fed in pieces of any size into header + sealed chunks.

    A full chunk is sealed only once more plaintext arrives (it might be the last one),
    so :meth:`update` returns sealed non-final chunks and :meth:`finish` the final one.
    """

    def __init__(
        self,
        dek: bytes,
        object_id: bytes,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        nonce_prefix: bytes | None = None,
    ) -> None:
        if not 1 <= chunk_size <= MAX_CHUNK_SIZE or len(object_id) != ID_LEN:
            raise ValueError("bad chunk size or object id")
        header_key, payload_key = derive_keys(dek)
        self.header = Header(chunk_size, nonce_prefix or secrets.token_bytes(PREFIX_LEN),
                             object_id)
        self.header_bytes = self.header.encode(header_key)
        self._cipher = ChunkCipher(payload_key, self.header)
        self._size = chunk_size
        self._buf = bytearray()
        self.chunks_sealed = 0
        self.plaintext_size = 0
        self.finished = False

    def update(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Buffer ``data``; return the non-final chunks it completed, sealed."""
        if self.finished:
            raise ValueError("stream already finished")
        view = memoryview(data).cast("B")
        self.plaintext_size += len(view)
        size, out = self._size, []
        if self._buf:
            need = size - len(self._buf)
            if len(view) <= need:  # a full buffer waits: it might be the last chunk
                self._buf += view
                return out
            self._buf += view[:need]
            view = view[need:]
            out.append(self._seal_next(self._buf))
            self._buf.clear()
        while len(view) > size:
            out.append(self._seal_next(view[:size]))
            view = view[size:]
        self._buf += view
        return out

    def _seal_next(self, plaintext: bytes | bytearray | memoryview) -> bytes:
        sealed = self._cipher.seal(self.chunks_sealed, plaintext, last=False)
        self.chunks_sealed += 1
        return sealed

    def finish(self) -> bytes:
        """Seal and return the final chunk (holding whatever is buffered)."""
        if self.finished:
            raise ValueError("stream already finished")
        sealed = self._cipher.seal(self.chunks_sealed, bytes(self._buf), last=True)
        self._buf.clear()
        self.chunks_sealed += 1
        self.finished = True
        return sealed


def encrypt(
    dek: bytes, object_id: bytes, plaintext: bytes, chunk_size: int = DEFAULT_CHUNK_SIZE,
    nonce_prefix: bytes | None = None,
) -> bytes:
    """Encrypt a whole plaintext in memory (tests, small objects)."""
    enc = StreamEncryptor(dek, object_id, chunk_size, nonce_prefix)
    parts = [enc.header_bytes, *enc.update(plaintext), enc.finish()]
    return b"".join(parts)


def chunk_layout(data_len: int, chunk_size: int, truncated: bool) -> tuple[int, int]:
    """For ``data_len`` bytes after the header: ``(number of chunks, plaintext size)``.

    Raises :class:`VaultIntegrityError` if no valid object has that length.
    """
    sealed = chunk_size + TAG_LEN
    if truncated:
        if data_len % sealed:
            raise VaultIntegrityError("truncated vault object does not end on a chunk")
        count = data_len // sealed
        return count, count * chunk_size
    if data_len < TAG_LEN:
        raise VaultIntegrityError("vault object is cut short (no final chunk)")
    count = -(-data_len // sealed)
    last = data_len - (count - 1) * sealed
    if last < TAG_LEN:
        raise VaultIntegrityError("vault object is cut short (it ends inside a chunk)")
    return count, (count - 1) * chunk_size + last - TAG_LEN


def decrypt(
    dek: bytes, blob: bytes, object_id: bytes | None = None, truncated: bool = False
) -> bytes:
    """Decrypt a whole object in memory, refusing anything the spec says to refuse."""
    return b"".join(iter_plaintext(dek, blob, object_id, truncated))


def iter_plaintext(
    dek: bytes, blob: bytes, object_id: bytes | None = None, truncated: bool = False
) -> Iterator[bytes]:
    header_key, payload_key = derive_keys(dek)
    header = Header.decode(blob, header_key, object_id)
    cipher = ChunkCipher(payload_key, header)
    count, _size = chunk_layout(len(blob) - HEADER_LEN, header.chunk_size, truncated)
    sealed = header.chunk_size + TAG_LEN
    view = memoryview(blob)
    for index in range(count):
        start = HEADER_LEN + index * sealed
        last = not truncated and index == count - 1
        yield cipher.open(index, view[start : start + sealed], last)
