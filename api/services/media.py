"""Streaming decrypted vault objects over HTTP, with byte ranges (RFC 9110 §14).

Raw PCM objects (``audio/L16;rate=R;channels=C``) are served as WAV: a 44-byte RIFF
header computed from the object's size, then the PCM decrypted chunk by chunk. Ranges
count over those WAV bytes. Nothing is written to disk in clear.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from storage.vault import Vault, VaultReader

WAV_HEADER_LEN = 44
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
MAX_POSITION_DIGITS = 18


class RangeNotSatisfiable(Exception):
    def __init__(self, total: int) -> None:
        super().__init__("range not satisfiable")
        self.total = total


@dataclass(frozen=True, slots=True)
class PcmFormat:
    rate: int = 16000
    channels: int = 1
    bits: int = 16


def pcm_format(media_type: str | None) -> PcmFormat | None:
    """The PCM format of an ``audio/L16`` media type; None for anything else."""
    if not media_type or not media_type.lower().startswith("audio/l16"):
        return None
    params = dict(
        part.strip().split("=", 1) for part in media_type.split(";")[1:] if "=" in part
    )
    return PcmFormat(rate=int(params.get("rate", 16000)), channels=int(params.get("channels", 1)))


def wav_header(data_len: int, fmt: PcmFormat) -> bytes:
    block = fmt.channels * fmt.bits // 8
    return b"RIFF" + struct.pack("<I", 36 + data_len) + b"WAVE" + b"fmt " + struct.pack(
        "<IHHIIHH", 16, 1, fmt.channels, fmt.rate, fmt.rate * block, block, fmt.bits
    ) + b"data" + struct.pack("<I", data_len)


def parse_range(header: str | None, total: int) -> tuple[int, int] | None:
    """``(start, end_exclusive)`` of a single byte range, None for the whole body.

    Several ranges, or a malformed header, are ignored (the whole body is sent, as
    RFC 9110 allows); a range that starts past the end is not satisfiable.
    """
    if not header:
        return None
    found = _RANGE.match(header.strip())
    if found is None:
        return None
    first, last = found.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = _position(last)
        if length == 0:
            raise RangeNotSatisfiable(total)
        return max(0, total - length), total
    start = _position(first)
    end = min(_position(last) + 1, total) if last else total
    if start >= total or (last and _position(last) < start):
        raise RangeNotSatisfiable(total)
    return start, end


def _position(digits: str) -> int:
    """A byte position of a Range header; any number too long to convert (or to mean
    anything) is past the end of every object (never ``int()`` on 5000 digits)."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= MAX_POSITION_DIGITS else 10**MAX_POSITION_DIGITS


@dataclass
class MediaBody:
    """What to send: total length, the range, the media type and the bytes."""

    total: int
    start: int
    end: int
    media_type: str
    chunks: Iterator[bytes]
    partial: bool


def open_media(vault: Vault, object_id: str, media_type: str | None,
               range_header: str | None) -> MediaBody:
    """Open a vault object for sending (as WAV when it is raw PCM)."""
    reader = vault.open(object_id)
    try:
        fmt = pcm_format(media_type)
        prefix = wav_header(reader.size, fmt) if fmt is not None else b""
        total = len(prefix) + reader.size
        wanted = parse_range(range_header, total)
    except BaseException:
        reader.close()
        raise
    start, end = wanted if wanted is not None else (0, total)
    kind = "audio/wav" if fmt is not None else (media_type or "application/octet-stream")
    return MediaBody(total, start, end, kind, _stream(reader, prefix, start, end),
                     wanted is not None)


def _stream(reader: VaultReader, prefix: bytes, start: int, end: int) -> Iterator[bytes]:
    try:
        if start < len(prefix):
            yield prefix[start:min(end, len(prefix))]
        body_start = max(0, start - len(prefix))
        body_end = max(0, end - len(prefix))
        if body_end > body_start:
            yield from reader.iter_range(body_start, body_end)
    finally:
        reader.close()


def read_text(vault: Vault, object_id: str, limit: int = 2_000_000) -> tuple[str, bool]:
    """The text of a transcript object (UTF-8) and whether it was cut short by a crash."""
    with vault.open(object_id) as reader:
        data = b"".join(reader.iter_range(0, min(reader.size, limit)))
        return data.decode("utf-8", errors="replace"), reader.truncated
