"""The recording tap: caller (left) and engine (right) as interleaved stereo, fed to a sink.

The media clock only enqueues frames; a writer thread pairs them and calls the sink, so a
slow sink (the encrypted vault) never stalls the audio. Nothing is written in plaintext.
"""

from __future__ import annotations

import errno
import logging
import threading
from collections import deque
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from telephony.audio import FRAME_MS, interleave

if TYPE_CHECKING:
    from storage.vault import Vault, VaultWriter

log = logging.getLogger(__name__)

RECORDING_CHANNELS = 2


def recording_media_type(rate: int) -> str:
    """Media type of a call recording in the vault: caller left, engine right, at the
    bridge's rate (8000 on a narrowband worker, 16000 on a wideband one)."""
    return f"audio/L16;rate={rate};channels={RECORDING_CHANNELS}"


#: how far one side may run ahead before the other side is padded with silence
MAX_SKEW_MS = 400
MAX_SKEW_FRAMES = MAX_SKEW_MS // FRAME_MS
# The writer wakes this often and takes every frame queued since: waking per frame (two
# per bridge frame per call) cost more CPU than the encryption. A stop wakes it at once.
DRAIN_INTERVAL_S = 0.2


@runtime_checkable
class RecordingSink(Protocol):
    """Where a recording goes: the vault's streaming writer has exactly this API."""

    def append(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class MemorySink:
    """A sink keeping the recording in memory (tests, and callers who encrypt it themselves)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.closed = False
        self.aborted = False

    def append(self, data: bytes) -> None:
        if self.closed or self.aborted:
            raise ValueError("sink already finished")
        self.chunks.append(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


def open_vault_sink(
    vault: Vault,
    *,
    call_id: str,
    rate: int,
    practice_id: int | None = None,
    patient_id: int | None = None,
    retention_class: str | None = None,
) -> VaultWriter:
    """A new encrypted recording in ``vault``, ready for :meth:`CallSession.start_recording`.

    The vault writer encrypts each chunk as it fills (only ciphertext reaches the disk);
    ``close`` makes the object complete, ``abort`` removes it. ``rate`` is the call's
    (``CallSession.sample_rate``): the recording is kept at it. The retention class
    defaults to the vault's 'recording' class. Opens a database transaction: call it from
    the handler thread, never from the SIP thread or the media clock.
    """
    return vault.create(
        "recording",
        practice_id=practice_id,
        patient_id=patient_id,
        call_id=call_id,
        media_type=recording_media_type(rate),
        retention_class=retention_class,
    )


class StereoRecorder:
    """Pairs caller and engine frames and writes them to a sink from its own thread.

    The media clock appends each frame to one of two deques (one C call, atomic under the
    GIL; no lock, no tuple, no queue); the writer takes what they hold every
    ``DRAIN_INTERVAL_S``, interleaves the paired frames in one pass and hands the sink one
    block (~200 ms of stereo) instead of one chunk per frame.
    """

    def __init__(self, sink: RecordingSink, *, name: str = "recorder", rate: int = 16000) -> None:
        self.sink = sink
        self.silent_frame = bytes(rate * FRAME_MS // 1000 * 2)
        self.frames_written = 0
        self.error: BaseException | None = None
        self._stopping = threading.Event()
        self._abort = False
        # filled by the media clock (appends only), emptied by the writer (poplefts only)
        self._caller_in: deque[bytes] = deque()
        self._engine_in: deque[bytes] = deque()
        # called from the media clock: never blocks
        self.caller_frame = self._caller_in.append
        self.engine_frame = self._engine_in.append
        self._caller: deque[bytes] = deque()
        self._engine: deque[bytes] = deque()
        self._thread = threading.Thread(target=self._write_loop, name=name, daemon=True)
        self._thread.start()

    def stop(self, *, abort: bool = False, timeout: float = 5.0) -> None:
        """Finish the recording (close the sink), or abort it; waits for the writer."""
        self._abort = self._abort or abort
        self._stopping.set()
        if timeout > 0:
            self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the sink is finished; True if it is."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _take(self) -> None:
        """Move what the media clock queued to the writer's side (frames queued meanwhile
        wait for the next drain)."""
        for inbox, side in ((self._caller_in, self._caller), (self._engine_in, self._engine)):
            for _ in range(len(inbox)):
                side.append(inbox.popleft())

    def _write_loop(self) -> None:
        abort = False
        try:
            while not self._stopping.wait(DRAIN_INTERVAL_S):
                self._take()
                self._write_pairs(flush=False)
            abort = self._abort
            if not abort:
                self._take()
                self._write_pairs(flush=True)
        except BaseException as exc:  # a failing sink must not take the call down
            self.error = exc
            abort = True
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                log.error("ALARM recording stopped (%s): the vault's disk is full; the call "
                          "goes on unrecorded; free space where the vault is stored",
                          self._thread.name)
            else:
                log.error("recording sink failed: %s", type(exc).__name__)
        try:
            if abort:
                self.sink.abort()
            else:
                self.sink.close()
        except Exception as exc:
            self.error = self.error or exc
            log.error("recording sink could not finish: %s", type(exc).__name__)

    def _write_pairs(self, *, flush: bool) -> None:
        """Interleave the frames both sides have (a side running ahead by more than
        ``MAX_SKEW_FRAMES``, or at the end, is paired with silence) into one sink append."""
        caller, engine = self._caller, self._engine
        both, either = sorted((len(caller), len(engine)))
        # the side ahead keeps up to MAX_SKEW_FRAMES waiting for the other one
        pairs = either if flush else max(both, either - MAX_SKEW_FRAMES)
        if not pairs:
            return
        lefts, rights = [], []
        for _ in range(pairs):
            left = caller.popleft() if caller else self.silent_frame
            right = engine.popleft() if engine else self.silent_frame
            if len(left) != len(right):
                size = max(len(left), len(right))
                left, right = left.ljust(size, b"\0"), right.ljust(size, b"\0")
            lefts.append(left)
            rights.append(right)
        self.sink.append(interleave(b"".join(lefts), b"".join(rights)))
        self.frames_written += pairs
