"""The speech server's wire format: length-prefixed binary messages over a Unix socket.

One connection carries one utterance (or one ping). Every message is::

    length  u32 big-endian   bytes that follow (type + payload), 1 ≤ length ≤ MAX_MESSAGE
    type    u8               one of MessageType
    payload length - 1 bytes

Client → server: ``START`` (JSON: protocol version, language, phrases, limits), then any
number of ``AUDIO`` (16 kHz mono s16le PCM, an even number of bytes), then ``END`` (no more
audio: finish with what was heard) or ``CANCEL``; or a lone ``PING``.
Server → client: ``ACCEPTED`` (JSON: the grammar plan) or ``REFUSED`` (JSON: the reason) in
answer to ``START``; then ``PARTIAL`` (UTF-8 text) messages and exactly one ``RESULT`` (JSON),
after which the server closes the connection. ``PONG`` (JSON: languages, limits) answers
``PING``. Anything else, a length out of bounds or odd-length audio, ends the connection.

A worker finds the server's socket in the environment variable :data:`SOCKET_ENV`, which
the process that starts the server hands to the workers it starts.
"""

from __future__ import annotations

import json
import socket
import struct
from enum import IntEnum
from typing import Any

from speech.grammar import DecodingMode, GrammarPlan
from speech.recognizer import EndReason, UtteranceLimits, UtteranceResult, Word

PROTOCOL_VERSION = 1
SOCKET_ENV = "TELESEC_RECOGNIZER_SOCKET"  # the server's socket path, for the workers
MAX_MESSAGE = 64 * 1024  # type byte + payload; 1 s of audio is 32 000 bytes
_HEADER = struct.Struct(">IB")


class MessageType(IntEnum):
    START = 0x01
    AUDIO = 0x02
    END = 0x03
    CANCEL = 0x04
    PING = 0x05
    ACCEPTED = 0x81
    REFUSED = 0x82
    PARTIAL = 0x83
    RESULT = 0x84
    PONG = 0x85


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed message."""


def encode(kind: MessageType, payload: bytes = b"") -> bytes:
    """One framed message."""
    if len(payload) + 1 > MAX_MESSAGE:
        raise ProtocolError(f"message of {len(payload) + 1} bytes exceeds {MAX_MESSAGE}")
    return _HEADER.pack(len(payload) + 1, int(kind)) + payload


def encode_json(kind: MessageType, body: dict[str, Any]) -> bytes:
    return encode(kind, json.dumps(body, ensure_ascii=False).encode())


def _recv_exact(sock: socket.socket, size: int, *, at_boundary: bool) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        piece = sock.recv(size - len(chunks))
        if not piece:
            if at_boundary and not chunks:
                return None
            raise ProtocolError("connection closed in the middle of a message")
        chunks += piece
    return bytes(chunks)


def read_message(sock: socket.socket) -> tuple[MessageType, bytes] | None:
    """The next message, or None when the peer closed the connection between messages."""
    header = _recv_exact(sock, _HEADER.size, at_boundary=True)
    if header is None:
        return None
    length, raw_kind = _HEADER.unpack(header)
    if not 1 <= length <= MAX_MESSAGE:
        raise ProtocolError(f"message length {length} out of bounds")
    try:
        kind = MessageType(raw_kind)
    except ValueError:
        raise ProtocolError(f"unknown message type {raw_kind:#x}") from None
    payload = _recv_exact(sock, length - 1, at_boundary=False) or b""
    return kind, payload


def decode_json(payload: bytes) -> dict[str, Any]:
    try:
        body = json.loads(payload.decode())
    except (UnicodeDecodeError, ValueError):
        raise ProtocolError("payload is not JSON") from None
    if not isinstance(body, dict):
        raise ProtocolError("JSON payload is not an object")
    return body


# -- bodies ----------------------------------------------------------------------------------

_LIMIT_FIELDS = ("silence_timeout", "end_silence", "max_seconds", "queue_seconds",
                 "stall_timeout")


def limits_to_json(limits: UtteranceLimits) -> dict[str, float | bool]:
    body: dict[str, float | bool] = {name: float(getattr(limits, name)) for name in _LIMIT_FIELDS}
    body["vosk_endpoint"] = bool(limits.vosk_endpoint)
    return body


def limits_from_json(body: Any, ceiling: UtteranceLimits) -> UtteranceLimits:
    """Limits asked by a client, each kept within (0, ceiling]; missing ones take the ceiling."""
    if not isinstance(body, dict):
        body = {}
    values = {}
    for name in _LIMIT_FIELDS:
        top = float(getattr(ceiling, name))
        asked = body.get(name, top)
        if isinstance(asked, bool) or not isinstance(asked, int | float) or not asked > 0:
            asked = top
        values[name] = min(float(asked), top)
    vosk_endpoint = body.get("vosk_endpoint", True)
    return UtteranceLimits(**values, vosk_endpoint=vosk_endpoint is not False)


def plan_to_json(plan: GrammarPlan) -> dict[str, Any]:
    return {"mode": str(plan.mode), "phrases": list(plan.phrases), "dropped": list(plan.dropped),
            "reason": plan.reason, "catch_all": plan.catch_all}


def plan_from_json(body: dict[str, Any]) -> GrammarPlan:
    try:
        return GrammarPlan(
            DecodingMode(body["mode"]),
            phrases=tuple(str(p) for p in body.get("phrases", ())),
            dropped=tuple(str(p) for p in body.get("dropped", ())),
            reason=str(body.get("reason", "")),
            catch_all=bool(body.get("catch_all", False)),
        )
    except (KeyError, ValueError, TypeError):
        raise ProtocolError("malformed grammar plan") from None


def result_to_json(result: UtteranceResult) -> dict[str, Any]:
    return {
        "text": result.text,
        "confidence": result.confidence,
        "words": [[w.text, w.confidence, w.start, w.end] for w in result.words],
        "end_reason": str(result.end_reason),
        "audio_seconds": result.audio_seconds,
        "decoding": str(result.decoding),
    }


def result_from_json(body: dict[str, Any]) -> UtteranceResult:
    """The server's result; ``finished_at`` is when it reached this process."""
    try:
        return UtteranceResult(
            text=str(body["text"]),
            confidence=float(body["confidence"]),
            words=tuple(Word(str(t), float(c), float(s), float(e)) for t, c, s, e in body["words"]),
            end_reason=EndReason(body["end_reason"]),
            audio_seconds=float(body["audio_seconds"]),
            decoding=DecodingMode(body["decoding"]),
        )
    except (KeyError, ValueError, TypeError):
        raise ProtocolError("malformed result") from None
