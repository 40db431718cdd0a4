"""Random-access, streaming decryption of one vault file (no database involved)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from storage.vault.format import (
    HEADER_LEN,
    TAG_LEN,
    ChunkCipher,
    Header,
    VaultIntegrityError,
    chunk_layout,
    derive_keys,
)


class VaultReader:
    """Reads the plaintext of a vault file from any offset, authenticating every chunk.

    ``truncated`` says the object was cut short by a crash and recovered (its chunks are
    all non-final). ``size`` is the plaintext size, from the file's length.
    """

    def __init__(
        self,
        path: Path,
        dek: bytes,
        object_id: bytes | None,
        *,
        truncated: bool = False,
        expected_size: int | None = None,
        offset: int = 0,
    ) -> None:
        self.truncated = truncated
        self._base = offset  # where the vault object starts in the file
        self._fd = os.open(path, os.O_RDONLY)
        try:
            header_key, payload_key = derive_keys(dek)
            header = Header.decode(os.pread(self._fd, HEADER_LEN, offset), header_key,
                                   object_id)
            self._cipher = ChunkCipher(payload_key, header)
            self.chunk_size = header.chunk_size
            data_len = os.fstat(self._fd).st_size - offset - HEADER_LEN
            self._chunks, self.size = chunk_layout(data_len, self.chunk_size, truncated)
            if expected_size is not None and expected_size != self.size:
                raise VaultIntegrityError(
                    f"vault object holds {self.size} bytes, the database says {expected_size}"
                )
        except BaseException:
            os.close(self._fd)
            raise
        self._pos = 0
        self._cached: tuple[int, bytes] | None = None

    # ---- chunk access ----------------------------------------------------------------
    def chunk(self, index: int) -> bytes:
        """The plaintext of chunk ``index`` (authenticated)."""
        if self._cached is not None and self._cached[0] == index:
            return self._cached[1]
        if not 0 <= index < self._chunks:
            raise IndexError(index)
        sealed_len = self.chunk_size + TAG_LEN
        offset = self._base + HEADER_LEN + index * sealed_len
        sealed = os.pread(self._fd, sealed_len, offset)
        last = not self.truncated and index == self._chunks - 1
        plaintext = self._cipher.open(index, sealed, last)
        self._cached = (index, plaintext)
        return plaintext

    def iter_range(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield the plaintext bytes ``start`` up to ``end`` (exclusive), chunk by chunk.

        A range reaching the end of the object authenticates its final chunk.
        """
        end = self.size if end is None else min(end, self.size)
        if start < 0 or start > end:
            raise ValueError("bad range")
        if self.size == 0 and self._chunks:
            self.chunk(0)  # the empty object: its only, final chunk is still checked
        index = start // self.chunk_size
        while start < end:
            plaintext = self.chunk(index)
            base = index * self.chunk_size
            piece = plaintext[start - base : end - base]
            yield piece
            start += len(piece)
            index += 1

    def verify_end(self) -> None:
        """Authenticate the last chunk: raises if the object was cut short."""
        if self._chunks:
            self.chunk(self._chunks - 1)

    def __iter__(self) -> Iterator[bytes]:
        """The whole plaintext in chunk-sized pieces, the end checked."""
        return self.iter_range(0, self.size)

    # ---- file-like ---------------------------------------------------------------------
    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, n: int = -1) -> bytes:
        """Read up to ``n`` bytes (all the rest if negative) from the current position."""
        start = min(self._pos, self.size)
        end = self.size if n < 0 else min(self.size, start + n)
        data = b"".join(self.iter_range(start, end))
        self._pos = end
        return data

    def read_all(self) -> bytes:
        """The whole plaintext, every chunk authenticated, the end checked."""
        self._pos = 0
        return self.read()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> VaultReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
