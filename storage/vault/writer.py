"""Writing one vault object as its plaintext arrives: only ciphertext touches the disk."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from storage.vault.format import StreamEncryptor


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class VaultWriter:
    """Encrypts appended plaintext chunk by chunk into ``<id>.part``.

    :meth:`append` takes pieces of any size; it buffers less than one chunk in memory
    and writes a sealed chunk (one ``write(2)``, no fsync) each time one fills, so a
    media thread can call it per audio frame. :meth:`close` seals the final chunk,
    fsyncs, renames the file into place and marks the object complete; :meth:`abort`
    removes the file and the object. The ``.part`` file is locked (``flock``) while the
    writer lives: recovery leaves locked files alone. Used as a context manager it
    closes on success and aborts on an exception. Thread-safe.
    """

    def __init__(
        self,
        object_id: str,
        encryptor: StreamEncryptor,
        fd: int,
        part_path: Path,
        final_path: Path,
        on_complete: Callable[[str, int], None],
        on_abort: Callable[[str], None],
    ) -> None:
        self.object_id = object_id
        self._enc = encryptor
        self._fd = fd
        self._part = part_path
        self._final = final_path
        self._on_complete = on_complete
        self._on_abort = on_abort
        self._lock = threading.Lock()
        self._done = False
        write_all(fd, encryptor.header_bytes)

    @property
    def size(self) -> int:
        """Plaintext bytes appended so far."""
        return self._enc.plaintext_size

    def append(self, data: bytes | bytearray | memoryview) -> None:
        """Add plaintext; full chunks are encrypted and written at once."""
        with self._lock:
            if self._done:
                raise ValueError(f"vault object {self.object_id} is already closed")
            for sealed in self._enc.update(data):
                write_all(self._fd, sealed)

    def close(self) -> int:
        """Finish the object durably; returns its plaintext size."""
        with self._lock:
            if self._done:
                raise ValueError(f"vault object {self.object_id} is already closed")
            self._done = True
            try:
                write_all(self._fd, self._enc.finish())
                os.fsync(self._fd)
                os.rename(self._part, self._final)
                fsync_dir(self._final.parent)
                self._on_complete(self.object_id, self._enc.plaintext_size)
            finally:
                os.close(self._fd)  # releases the lock
            return self._enc.plaintext_size

    def abort(self) -> None:
        """Drop the object: its file, its key and its row. Safe to call twice."""
        with self._lock:
            if self._done:
                return
            self._done = True
            try:
                self._part.unlink(missing_ok=True)
            finally:
                os.close(self._fd)
            self._on_abort(self.object_id)

    def __enter__(self) -> VaultWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            if not self._done:
                self.close()
        else:
            self.abort()
