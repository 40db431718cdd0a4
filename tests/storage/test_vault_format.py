"""The vault codec against docs/vault-format.md: vectors, tampering, truncation."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.vault import format as fmt
from storage.vault.format import VaultIntegrityError
from tests.storage import vault_vectors

VECTORS = vault_vectors.parse()
GOOD = [v for v in VECTORS if "vector" in v]
REFUSED = [v for v in VECTORS if "refused" in v]


def test_document_holds_the_vectors() -> None:
    assert len(GOOD) == 3 and len(REFUSED) == 5
    assert vault_vectors.render().strip() in vault_vectors.DOC.read_text()


def _independent_encrypt(v: dict[str, str]) -> bytes:
    """The spec, written again with bare primitives (not the codec under test)."""
    dek, prefix = bytes.fromhex(v["dek"]), bytes.fromhex(v["nonce_prefix"])
    size, plaintext = int(v["chunk_size"]), bytes.fromhex(v["plaintext"])

    def hkdf(info: bytes) -> bytes:
        return HKDF(hashes.SHA256(), 32, None, info).derive(dek)

    fields = (b"tsvault\n" + b"\x01\x01\x00\x00\x00" + size.to_bytes(4, "big") + prefix
              + bytes.fromhex(v["object_id"]))
    out = fields + hmac.new(hkdf(b"telesec-vault-v1 header"), fields, hashlib.sha256).digest()
    aead = AESGCM(hkdf(b"telesec-vault-v1 payload"))
    pieces = [plaintext[i : i + size] for i in range(0, len(plaintext), size)] or [b""]
    for index, piece in enumerate(pieces):
        last = b"\x01" if index == len(pieces) - 1 else b"\x00"
        out += aead.encrypt(prefix + index.to_bytes(4, "big") + last, piece, None)
    return out


@pytest.mark.parametrize("v", GOOD, ids=[v["vector"] for v in GOOD])
def test_good_vectors_both_ways(v: dict[str, str]) -> None:
    dek, oid = bytes.fromhex(v["dek"]), bytes.fromhex(v["object_id"])
    expected = bytes.fromhex(v["file"])
    assert _independent_encrypt(v) == expected
    made = fmt.encrypt(dek, oid, bytes.fromhex(v["plaintext"]), int(v["chunk_size"]),
                       bytes.fromhex(v["nonce_prefix"]))
    assert made == expected
    assert fmt.decrypt(dek, expected, oid) == bytes.fromhex(v["plaintext"])


@pytest.mark.parametrize("v", REFUSED, ids=[v["refused"] for v in REFUSED])
def test_refused_vectors(v: dict[str, str]) -> None:
    with pytest.raises(VaultIntegrityError):
        fmt.decrypt(bytes.fromhex(v["dek"]), bytes.fromhex(v["file"]),
                    bytes.fromhex(v["object_id"]))


DEK, OID = vault_vectors.DEK, vault_vectors.OBJECT_ID
PLAIN = bytes(range(256)) * 3  # 768 bytes
BLOB = fmt.encrypt(DEK, OID, PLAIN, 100)
SEALED = 100 + fmt.TAG_LEN
CHUNKS = [BLOB[fmt.HEADER_LEN + i * SEALED : fmt.HEADER_LEN + (i + 1) * SEALED]
          for i in range(8)]
HEADER = BLOB[: fmt.HEADER_LEN]


def test_every_flipped_bit_is_refused() -> None:
    for position in range(len(BLOB)):
        for bit in (0x01, 0x80):
            damaged = bytearray(BLOB)
            damaged[position] ^= bit
            with pytest.raises(VaultIntegrityError):
                fmt.decrypt(DEK, bytes(damaged), OID)


@pytest.mark.parametrize(
    ("name", "chunks", "message"),
    [
        ("reordered", [CHUNKS[1], CHUNKS[0], *CHUNKS[2:]], "chunk 0 does not authenticate"),
        ("dropped middle", [*CHUNKS[:3], *CHUNKS[4:]], "chunk 3 does not authenticate"),
        ("duplicated", [*CHUNKS[:3], CHUNKS[2], *CHUNKS[3:]], "chunk 3 does not authenticate"),
        ("final dropped", CHUNKS[:7], "cut short"),
        ("extra after final", [*CHUNKS, CHUNKS[0]], "does not authenticate"),
    ],
)
def test_chunk_games_are_refused(name: str, chunks: list[bytes], message: str) -> None:
    with pytest.raises(VaultIntegrityError, match=message):
        fmt.decrypt(DEK, HEADER + b"".join(chunks), OID)


def test_cut_inside_a_chunk_is_refused() -> None:
    for cut in (1, 10, SEALED - 1):
        with pytest.raises(VaultIntegrityError, match=r"cut short|authenticate"):
            fmt.decrypt(DEK, BLOB[: len(BLOB) - len(CHUNKS[-1]) - cut], OID)


def test_wrong_key_and_wrong_object_are_refused() -> None:
    with pytest.raises(VaultIntegrityError, match="wrong key"):
        fmt.decrypt(vault_vectors.OTHER_DEK, BLOB, OID)
    with pytest.raises(VaultIntegrityError, match="another object"):
        fmt.decrypt(DEK, BLOB, bytes(16))


def test_truncated_reading_accepts_whole_non_final_chunks_only() -> None:
    cut = HEADER + b"".join(CHUNKS[:5])
    assert fmt.decrypt(DEK, cut, OID, truncated=True) == PLAIN[:500]
    with pytest.raises(VaultIntegrityError, match="cut short"):
        fmt.decrypt(DEK, cut, OID)
    with pytest.raises(VaultIntegrityError):  # a complete object is not a truncated one
        fmt.decrypt(DEK, BLOB, OID, truncated=True)


def test_no_empty_final_chunk_after_data() -> None:
    enc = fmt.StreamEncryptor(DEK, OID, 16)
    body = enc.update(b"x" * 32)
    assert len(body) == 1  # the second full chunk waits: it might be the last
    final = enc.finish()
    assert len(final) == 16 + fmt.TAG_LEN
    forged = fmt.ChunkCipher(fmt.derive_keys(DEK)[1], enc.header)
    bad = enc.header_bytes + body[0] + forged.seal(1, b"x" * 16, False) + forged.seal(2, b"", True)
    with pytest.raises(VaultIntegrityError, match="empty chunk"):
        fmt.decrypt(DEK, bad, OID)


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=2000), chunk=st.integers(1, 300),
       pieces=st.lists(st.integers(0, 500), max_size=12))
def test_round_trip_any_sizes(data: bytes, chunk: int, pieces: list[int]) -> None:
    enc = fmt.StreamEncryptor(DEK, OID, chunk)
    out, pos = [enc.header_bytes], 0
    for n in pieces:
        out += enc.update(data[pos : pos + n])
        pos += n
    out += enc.update(data[pos:])
    out.append(enc.finish())
    assert fmt.decrypt(DEK, b"".join(out), OID) == data
