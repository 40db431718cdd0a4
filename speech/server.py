"""One recognition process for the whole worker pool: models loaded once, streams over a socket.

``python -m speech.server --socket PATH --model LANG=DIR [--model ...] --max-streams N``
loads every model, listens on a Unix socket (mode 0600, in a directory only this user may
enter: audio is health data) and decodes each connection's utterance with a
:class:`speech.recognizer.SpeechEngine`, so back-pressure is the same as in-process: at most
``max_streams`` utterances at once, the next one refused at once. Wire format:
:mod:`speech.protocol`. Audio is never written to disk and never logged; logs carry reasons
and counts only. The composition root starts it with
:func:`start_server_process` (from :mod:`speech.server_process`, re-exported here).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import stat
import struct
import sys
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path

from foundation.logs import LEVELS, configure_child
from speech.models import ModelRegistry
from speech.protocol import (
    PROTOCOL_VERSION,
    MessageType,
    ProtocolError,
    decode_json,
    encode,
    encode_json,
    limits_from_json,
    limits_to_json,
    plan_to_json,
    read_message,
    result_to_json,
)
from speech.recognizer import (
    RefusalReason,
    SpeechEngine,
    StreamRefused,
    UtteranceLimits,
    UtteranceResult,
    UtteranceStream,
)
from speech.server_process import SpeechServerError, SpeechServerProcess, start_server_process

__all__ = ["SpeechServer", "SpeechServerError", "SpeechServerProcess", "main",
           "start_server_process"]

log = logging.getLogger("speech.server")  # not __name__: it runs as __main__

READY_LINE = "READY"
FRAME_BYTES = 640  # 20 ms of 16 kHz s16le audio
START_TIMEOUT = 5.0  # seconds a new connection has to send START or PING
# The most a client may ask for; also the defaults when it asks for nothing.
CEILING = UtteranceLimits(silence_timeout=30.0, end_silence=5.0, max_seconds=60.0,
                          queue_seconds=30.0, stall_timeout=30.0)


class SocketDirectoryError(Exception):
    """The socket cannot be placed safely (directory open to others, another server there)."""


def private_socket_dir(socket_path: Path) -> None:
    """Create the socket's directory as 0700, or refuse one other users may enter."""
    directory = socket_path.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = directory.stat()
    if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
        raise SocketDirectoryError(
            f"{directory} is open to other users (mode {stat.S_IMODE(info.st_mode):o}); "
            "put the speech socket in a private directory (mode 0700)"
        )


def _remove_stale_socket(path: Path) -> None:
    if not path.exists() and not path.is_symlink():
        return
    if not stat.S_ISSOCK(path.lstat().st_mode):
        raise SocketDirectoryError(f"{path} exists and is not a socket; remove it or pick another")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()  # nobody listens: left over by a server that was killed
        return
    finally:
        probe.close()
    raise SocketDirectoryError(f"another speech server already listens on {path}; stop it first")


def listen_private(path: Path) -> socket.socket:
    """A listening Unix socket at ``path``, mode 0600, in a 0700 directory."""
    private_socket_dir(path)
    _remove_stale_socket(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        server.bind(str(path))
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    server.listen(128)
    return server


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


class _Outbox:
    """What the server still owes a client, sent by one writer thread.

    Partials coalesce (only the latest one matters), so the decoding thread never waits on a
    slow client.
    """

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self._cond = threading.Condition()
        self._partial: str | None = None
        self._final: UtteranceResult | None = None
        self._abandoned = False
        self.thread = threading.Thread(target=self._run, name="speech-out", daemon=True)

    def partial(self, text: str) -> None:
        with self._cond:
            self._partial = text
            self._cond.notify()

    def final(self, result: UtteranceResult) -> None:
        with self._cond:
            self._final = result
            self._cond.notify()

    def abandon(self) -> None:
        with self._cond:
            self._abandoned = True
            self._cond.notify()

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while self._partial is None and self._final is None and not self._abandoned:
                        self._cond.wait()
                    if self._abandoned:
                        return
                    partial, self._partial = self._partial, None
                    final = self._final
                if partial is not None:
                    self.conn.sendall(encode(MessageType.PARTIAL, partial.encode()))
                if final is not None:
                    self.conn.sendall(encode_json(MessageType.RESULT, result_to_json(final)))
                    return
        except OSError:
            pass  # the client went away; the reader cancels the utterance
        finally:
            _shutdown(self.conn)  # wakes the reader blocked in recv


def _deliver(outbox: _Outbox, done: Future[UtteranceResult]) -> None:
    if done.exception() is None:
        outbox.final(done.result())
    else:
        outbox.abandon()


def _shutdown(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)


class SpeechServer:
    """Serves utterance streams on a listening socket with one shared :class:`SpeechEngine`."""

    def __init__(self, registry: ModelRegistry, listener: socket.socket, *,
                 max_streams: int, warm: int | None = None,
                 warm_speech: Mapping[str, bytes] | None = None) -> None:
        self.registry = registry
        self.warm_speech = dict(warm_speech or {})
        self.listener = listener
        self.max_streams = max_streams
        self.max_connections = max_streams * 4 + 16
        self.engine = SpeechEngine(registry, max_concurrent_streams=max_streams, limits=CEILING,
                                   warm=warm)
        self._connections = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._accepter = threading.Thread(target=self._accept_loop, name="speech-accept",
                                          daemon=True)

    def start(self) -> None:
        self._accepter.start()
        if self.warm_speech:
            self.engine.prewarm_in_background(self.warm_speech)

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    def close(self) -> None:
        """Stop accepting, cancel every utterance (clients get a ``cancelled`` result)."""
        self._closing.set()
        _shutdown(self.listener)
        self.listener.close()
        self.engine.shutdown()
        self._accepter.join(timeout=5.0)

    # ---------------------------------------------------------------- connections

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                if self._closing.is_set():
                    return
                continue
            with self._lock:
                crowded = self._connections >= self.max_connections
                if not crowded:
                    self._connections += 1
            if crowded:
                self._refuse_now(conn, RefusalReason.SATURATED)
                continue
            threading.Thread(target=self._serve, args=(conn,), name="speech-conn",
                             daemon=True).start()

    @staticmethod
    def _refuse_now(conn: socket.socket, reason: RefusalReason) -> None:
        try:
            conn.settimeout(1.0)
            conn.sendall(encode_json(MessageType.REFUSED, {"reason": str(reason)}))
        except OSError:
            pass
        finally:
            conn.close()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if _peer_uid(conn) != os.getuid():
                log.warning("connection from another user refused")
                return
            conn.settimeout(START_TIMEOUT)
            self._converse(conn)
        except (ProtocolError, OSError, ValueError) as exc:
            log.warning("speech connection dropped (%s)", exc.__class__.__name__)
        except Exception as exc:  # a bug: keep serving the others
            log.error("speech connection failed (%s)", exc.__class__.__name__)
        finally:
            conn.close()
            with self._lock:
                self._connections -= 1

    def _converse(self, conn: socket.socket) -> None:
        first = read_message(conn)
        if first is None:
            return
        kind, payload = first
        if kind is MessageType.PING:
            conn.sendall(encode_json(MessageType.PONG, self._info()))
            return
        if kind is not MessageType.START:
            raise ProtocolError(f"expected START, got {kind.name}")
        body = decode_json(payload)
        if body.get("v") != PROTOCOL_VERSION:
            conn.sendall(encode_json(MessageType.REFUSED, {"reason": "bad_request"}))
            return
        phrases = body.get("phrases")
        if phrases is not None and not (
            isinstance(phrases, list) and all(isinstance(p, str) for p in phrases)
        ):
            raise ProtocolError("phrases must be a list of strings")
        limits = limits_from_json(body.get("limits"), CEILING)
        outbox = _Outbox(conn)
        stream = self.engine.start_utterance(
            str(body.get("lang", "")), phrases=phrases, on_partial=outbox.partial, limits=limits
        )
        if isinstance(stream, StreamRefused):
            conn.sendall(encode_json(MessageType.REFUSED, {"reason": str(stream.reason)}))
            return
        try:
            conn.sendall(encode_json(MessageType.ACCEPTED, plan_to_json(stream.plan)))
        except OSError:
            stream.cancel()
            raise
        outbox.thread.start()
        stream.future.add_done_callback(lambda done: _deliver(outbox, done))
        # Reads until the client ends or the writer shuts the socket after the result.
        conn.settimeout(limits.max_seconds + limits.stall_timeout + 10.0)
        try:
            self._pump_audio(conn, stream)
        finally:
            stream.cancel()  # no-op once the result is out; frees the slot if the client left
            stream.future.exception(timeout=30.0)  # the decoder lets go of the stream
            outbox.thread.join(timeout=5.0)
            if outbox.thread.is_alive():
                outbox.abandon()

    @staticmethod
    def _pump_audio(conn: socket.socket, stream: UtteranceStream) -> None:
        taking_audio = True
        while True:
            message = read_message(conn)
            if message is None:
                return
            kind, payload = message
            if kind is MessageType.AUDIO:
                if not payload or len(payload) % 2:
                    raise ProtocolError("audio must be whole 16-bit samples")
                # Fed in 20 ms frames, as in-process: endpointing sees the same granularity.
                for start in range(0, len(payload), FRAME_BYTES):
                    if taking_audio and not stream.feed(payload[start : start + FRAME_BYTES]):
                        taking_audio = False  # ended or overloaded: the result says which
            elif kind is MessageType.END:
                stream.end_input()
                taking_audio = False
            elif kind is MessageType.CANCEL:
                stream.cancel()
                return
            else:
                raise ProtocolError(f"unexpected {kind.name} during an utterance")

    def _info(self) -> dict[str, object]:
        return {
            "v": PROTOCOL_VERSION,
            "languages": list(self.registry.languages),
            "max_streams": self.max_streams,
            "active_streams": self.engine.active_streams,
            "warming": bool(self.engine.warming and self.engine.warming.is_alive()),
            "prewarmed": self.engine.recognizers.prewarmed,
            "limits": limits_to_json(CEILING),
        }


# ------------------------------------------------------------------------- entry point


def _parse_models(values: Sequence[str]) -> dict[str, Path]:
    models: dict[str, Path] = {}
    for value in values:
        language, sep, directory = value.partition("=")
        if not sep or not language or not directory:
            raise SystemExit(f"--model wants LANG=DIR, got {value!r}")
        models[language] = Path(directory)
    return models


def _read_warm_speech(values: Sequence[str]) -> dict[str, bytes]:
    """``LANG=FILE`` pairs (16 kHz s16le PCM) joined per language; a file that cannot be
    read is said in one line and left out (warming is an optimisation)."""
    speech: dict[str, bytes] = {}
    for value in values:
        language, sep, name = value.partition("=")
        if not sep or not language or not name:
            raise ValueError(f"--warm-audio wants LANG=FILE, got {value!r}")
        try:
            audio = Path(name).read_bytes()
        except OSError as exc:
            log.warning("warm-up audio %s not read (%s); going on without it", name,
                        exc.strerror or exc.__class__.__name__)
            continue
        speech[language] = speech.get(language, b"") + audio[: len(audio) // 2 * 2]
    return speech


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT (or stdin closes, with ``--exit-on-stdin-eof``)."""
    parser = argparse.ArgumentParser(prog="python -m speech.server", description=__doc__)
    parser.add_argument("--socket", type=Path, required=True, help="Unix socket path")
    parser.add_argument("--model", action="append", default=[], metavar="LANG=DIR",
                        help="a Vosk model directory for a language (repeat per language)")
    parser.add_argument("--max-streams", type=int, default=8,
                        help="utterances decoded at once; more are refused")
    parser.add_argument("--warm", type=int, default=None,
                        help="recognizers kept warm between utterances (default: one per "
                             "stream; 0: a new one per utterance)")
    parser.add_argument("--warm-audio", action="append", default=[], metavar="LANG=FILE",
                        help="speech in LANG (16 kHz s16le PCM, e.g. cached prompts) decoded at "
                             "start by one recognizer per stream, at low priority (repeat)")
    parser.add_argument("--exit-on-stdin-eof", action="store_true",
                        help="exit when stdin closes (the parent died or let go)")
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=LEVELS,
                        help="DEBUG, INFO, WARNING or ERROR (lines for the parent to relay)")
    args = parser.parse_args(argv)
    configure_child(args.log_level)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        if args.max_streams < 1:
            raise ValueError("--max-streams must be at least 1")
        if args.warm is not None and args.warm < 0:
            raise ValueError("--warm must be 0 or more")
        registry = ModelRegistry(_parse_models(args.model))
        warm_speech = _read_warm_speech(args.warm_audio)
        registry.preload()
        listener = listen_private(args.socket)
    except Exception as exc:  # one line for people, no traceback
        log.error("speech server cannot start: %s", exc)
        return 2
    server = SpeechServer(registry, listener, max_streams=args.max_streams, warm=args.warm,
                          warm_speech=warm_speech)
    server.start()
    if args.exit_on_stdin_eof:
        threading.Thread(target=_wait_for_eof, args=(stop,), daemon=True).start()
    log.info("speech server: languages %s, at most %d streams",
             ",".join(registry.languages) or "none", args.max_streams)
    print(f"{READY_LINE} pid={os.getpid()}", flush=True)
    while not stop.wait(0.5):
        pass
    server.close()
    with contextlib.suppress(OSError):
        args.socket.unlink()
    log.info("speech server stopped")
    return 0


def _wait_for_eof(stop: threading.Event) -> None:
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    stop.set()


if __name__ == "__main__":
    sys.exit(main())
