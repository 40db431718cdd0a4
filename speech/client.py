"""A worker's side of the speech server: the same interface as :class:`SpeechEngine`, no model.

``RemoteSpeechEngine(socket_path).start_utterance(...)`` gives a stream with ``feed``,
``end_input``, ``cancel``, ``partial``, ``done``, ``plan`` and ``result(timeout)``, or a
:class:`StreamRefused`: ``SATURATED``/``NO_MODEL``/``SHUT_DOWN`` as the server says, and
``UNAVAILABLE`` when the server cannot be reached or does not answer in time. Either way the
call falls back to keys; nothing here raises for a broken server, and every wait is bounded.

``feed`` never blocks the media path: frames go to a bounded queue (``limits.queue_seconds``
of audio) drained by a sender thread. A full queue (the server or the socket fell behind)
ends the utterance at once as ``overloaded``, as in-process. A server that dies mid-utterance
ends it as ``failed``. Wire format: :mod:`speech.protocol`; one connection per utterance.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from speech.grammar import GrammarPlan
from speech.protocol import (
    MAX_MESSAGE,
    PROTOCOL_VERSION,
    SOCKET_ENV,
    MessageType,
    ProtocolError,
    decode_json,
    encode,
    encode_json,
    limits_to_json,
    plan_from_json,
    read_message,
    result_from_json,
)
from speech.recognizer import (
    EndReason,
    PartialCallback,
    RefusalReason,
    StreamRefused,
    UtteranceLimits,
    UtteranceResult,
)

log = logging.getLogger(__name__)

BYTES_PER_SECOND = 32_000
_AUDIO_CHUNK = min(16_000, MAX_MESSAGE - 1)  # queued frames are sent together, up to 0.5 s


def _empty_result(reason: EndReason, plan: GrammarPlan, audio: float = 0.0) -> UtteranceResult:
    return UtteranceResult(text="", confidence=0.0, words=(), end_reason=reason,
                           audio_seconds=round(audio, 3), decoding=plan.mode)


class RemoteUtteranceStream:
    """One utterance decoded by the server. Same methods as ``UtteranceStream``."""

    def __init__(self, sock: socket.socket, plan: GrammarPlan, limits: UtteranceLimits,
                 on_partial: PartialCallback | None, on_done: Any) -> None:
        self.plan = plan
        self.limits = limits
        self._sock = sock
        self._on_partial = on_partial
        self._on_done = on_done
        self._cond = threading.Condition()
        self._frames: collections.deque[bytes] = collections.deque()
        self._queued_bytes = 0
        self._max_queued_bytes = int(limits.queue_seconds * BYTES_PER_SECOND)
        self._sent_seconds = 0.0
        self._closing: MessageType | None = None  # END or CANCEL, once asked
        self._partial = ""
        self.future: Future[UtteranceResult] = Future()
        self._sender = threading.Thread(target=self._send_loop, name="speech-send", daemon=True)
        self._receiver = threading.Thread(target=self._receive_loop, name="speech-recv",
                                          daemon=True)
        self._sender.start()
        self._receiver.start()

    # -- called by the call's thread -------------------------------------------------------

    def feed(self, frame: bytes) -> bool:
        """Queue caller audio without blocking. False if the stream is over or overloaded."""
        with self._cond:
            if self._closing is not None or self.future.done():
                return False
            if self._queued_bytes + len(frame) > self._max_queued_bytes:
                self._closing = MessageType.CANCEL
                self._cond.notify()
                overloaded = True
            else:
                self._frames.append(bytes(frame))
                self._queued_bytes += len(frame)
                self._cond.notify()
                overloaded = False
        if overloaded:
            self._finish(_empty_result(EndReason.OVERLOADED, self.plan, self._sent_seconds))
            _shutdown(self._sock)  # the server cancels on EOF, even if the sender is stuck
            return False
        return True

    def end_input(self) -> None:
        """No more audio will come: the server finishes with what it heard so far."""
        with self._cond:
            if self._closing is None:
                self._closing = MessageType.END
                self._cond.notify()

    def cancel(self) -> None:
        """Drop the utterance; the result is ``cancelled`` at once."""
        with self._cond:
            if self._closing is not MessageType.CANCEL:
                self._closing = MessageType.CANCEL
                self._frames.clear()
                self._queued_bytes = 0
                self._cond.notify()
        self._finish(_empty_result(EndReason.CANCELLED, self.plan, self._sent_seconds))
        _shutdown(self._sock)  # the server cancels on EOF, even if the sender is stuck

    @property
    def partial(self) -> str:
        return self._partial

    @property
    def done(self) -> bool:
        return self.future.done()

    def result(self, timeout: float | None = None) -> UtteranceResult:
        return self.future.result(timeout)

    # -- threads ---------------------------------------------------------------------------

    def _finish(self, result: UtteranceResult) -> None:
        try:
            self.future.set_result(result)
        except Exception:  # already finished (InvalidStateError): the first result stands
            return
        with self._cond:
            if self._closing is None:
                self._closing = MessageType.CANCEL
            self._cond.notify()
        self._on_done(self)

    def _send_loop(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._frames and self._closing is None:
                        self._cond.wait()
                    closing = self._closing
                    chunk = b"" if closing is MessageType.CANCEL else self._take_chunk()
                if chunk:
                    self._sock.sendall(encode(MessageType.AUDIO, chunk))
                    self._sent_seconds += len(chunk) / BYTES_PER_SECOND
                    continue
                if closing is not None:
                    self._sock.sendall(encode(closing))
                    if closing is MessageType.CANCEL:
                        _shutdown(self._sock)
                    return
        except OSError:
            _shutdown(self._sock)  # the receiver sees it and ends the stream as failed

    def _take_chunk(self) -> bytes:
        """Queued frames joined, up to one message (called with the lock held)."""
        parts, size = [], 0
        while self._frames and size + len(self._frames[0]) <= _AUDIO_CHUNK:
            frame = self._frames.popleft()
            parts.append(frame)
            size += len(frame)
        if not parts and self._frames:  # one oversized frame: split it
            frame = self._frames.popleft()
            parts.append(frame[:_AUDIO_CHUNK])
            self._frames.appendleft(frame[_AUDIO_CHUNK:])
            size = _AUDIO_CHUNK
        self._queued_bytes -= size
        return b"".join(parts)

    def _receive_loop(self) -> None:
        try:
            while not self.future.done():
                message = read_message(self._sock)
                if message is None:
                    break
                kind, payload = message
                if kind is MessageType.PARTIAL:
                    self._publish_partial(payload.decode(errors="replace"))
                elif kind is MessageType.RESULT:
                    self._finish(result_from_json(decode_json(payload)))
                    return
                else:
                    raise ProtocolError(f"unexpected {kind.name} during an utterance")
        except (OSError, ProtocolError) as exc:
            if not self.future.done():
                log.warning("speech server connection lost (%s)", exc.__class__.__name__)
        finally:
            self._finish(_empty_result(EndReason.FAILED, self.plan, self._sent_seconds))
            _shutdown(self._sock)
            self._sender.join(timeout=5.0)
            self._sock.close()

    def _publish_partial(self, text: str) -> None:
        if not text or text == self._partial or self.future.done():
            return
        self._partial = text
        if self._on_partial is not None:
            try:
                self._on_partial(text)
            except Exception as exc:
                log.error("partial-result callback failed (%s)", exc.__class__.__name__)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class RemoteSpeechEngine:
    """Starts utterances on the speech server. Drop-in for :class:`SpeechEngine`."""

    def __init__(
        self,
        socket_path: str | os.PathLike[str],
        *,
        limits: UtteranceLimits | None = None,
        connect_timeout: float = 1.0,
        reply_timeout: float = 2.0,
    ) -> None:
        self.socket_path = Path(socket_path)
        self.limits = limits or UtteranceLimits()
        self.connect_timeout = connect_timeout
        self.reply_timeout = reply_timeout
        self._active: set[RemoteUtteranceStream] = set()
        self._lock = threading.Lock()
        self._shut = False
        self._reachable = True  # to log a lost server once, not once per question

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None,
                         **kwargs: Any) -> RemoteSpeechEngine | None:
        """The engine for ``$TELESEC_RECOGNIZER_SOCKET``, or None when it is not set."""
        path = (environ if environ is not None else os.environ).get(SOCKET_ENV)
        return cls(path, **kwargs) if path else None

    @property
    def active_streams(self) -> int:
        with self._lock:
            return len(self._active)

    def start_utterance(
        self,
        language: str,
        *,
        phrases: list[str] | tuple[str, ...] | None = None,
        on_partial: PartialCallback | None = None,
        limits: UtteranceLimits | None = None,
    ) -> RemoteUtteranceStream | StreamRefused:
        """Start one utterance on the server, or refuse at once (the flow then uses keys).

        Blocks at most ``connect_timeout + reply_timeout`` (a round trip on a local socket
        normally takes well under a millisecond).
        """
        if self._shut:
            return StreamRefused(RefusalReason.SHUT_DOWN)
        chosen = limits or self.limits
        request = {"v": PROTOCOL_VERSION, "lang": language,
                   "phrases": list(phrases) if phrases is not None else None,
                   "limits": limits_to_json(chosen)}
        sock = self._connect()
        if sock is None:
            return StreamRefused(RefusalReason.UNAVAILABLE)
        try:
            sock.sendall(encode_json(MessageType.START, request))
            reply = read_message(sock)
            if reply is None:
                raise ProtocolError("server closed the connection")
            kind, payload = reply
            body = decode_json(payload)
            if kind is MessageType.REFUSED:
                sock.close()
                return StreamRefused(_refusal(body.get("reason")))
            if kind is not MessageType.ACCEPTED:
                raise ProtocolError(f"unexpected {kind.name} in answer to START")
            plan = plan_from_json(body)
        except (OSError, ProtocolError) as exc:
            sock.close()
            self._lost(exc)
            return StreamRefused(RefusalReason.UNAVAILABLE)
        # Past the handshake the stream's own threads bound every wait.
        sock.settimeout(chosen.max_seconds + chosen.stall_timeout + 10.0)
        with self._lock:
            stream = RemoteUtteranceStream(sock, plan, chosen, on_partial, self._forget)
            if not stream.done:
                self._active.add(stream)
        return stream

    def ping(self) -> dict[str, Any] | None:
        """The server's languages and limits, or None when it does not answer."""
        sock = self._connect()
        if sock is None:
            return None
        try:
            sock.sendall(encode(MessageType.PING))
            reply = read_message(sock)
            if reply is None or reply[0] is not MessageType.PONG:
                return None
            return decode_json(reply[1])
        except (OSError, ProtocolError):
            return None
        finally:
            sock.close()

    def shutdown(self) -> None:
        """Cancel every utterance in progress; later ones are refused (``SHUT_DOWN``)."""
        self._shut = True
        with self._lock:
            active = list(self._active)
        for stream in active:
            stream.cancel()

    def _forget(self, stream: RemoteUtteranceStream) -> None:
        with self._lock:
            self._active.discard(stream)

    def _connect(self) -> socket.socket | None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.connect_timeout)
        try:
            sock.connect(str(self.socket_path))
        except OSError as exc:
            sock.close()
            self._lost(exc)
            return None
        sock.settimeout(self.reply_timeout)
        if not self._reachable:
            self._reachable = True
            log.info("speech server reachable again")
        return sock

    def _lost(self, exc: BaseException) -> None:
        if self._reachable:
            self._reachable = False
            log.warning("speech server unreachable (%s): callers use keys until it is back",
                        exc.__class__.__name__)


def _refusal(reason: object) -> RefusalReason:
    try:
        return RefusalReason(str(reason))
    except ValueError:
        return RefusalReason.UNAVAILABLE  # e.g. "bad_request": a server of another version
