"""Rate conversion between a narrowband bridge (8 kHz) and the engine format (16 kHz).

A narrowband worker's conference bridge runs at 8 kHz, the rate of its G.711 calls, so
pjmedia resamples nothing on the media clock. What the engine keeps at 16 kHz is converted
here, off the media clock and only when needed: a prompt once, when it is played (cached),
and the caller's frames only while something listens (recogniser, voicemail), on the
listener's thread.

Both directions use one 23-tap half-band low-pass filter (Blackman-windowed sinc, cut at
4 kHz), applied as shifted, scaled copies of the signal with ``audioop`` (C loops): about
-60 dB of aliasing rejection, flat to ~3.3 kHz.
"""

from __future__ import annotations

import math
import sys
import warnings
from functools import lru_cache

from telephony.audio import SAMPLE_RATE, interleave, samples

with warnings.catch_warnings():  # deprecated in 3.11, still there in 3.12 (pydub uses it too)
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

NARROWBAND_RATE = 8000
WIDEBAND_RATE = SAMPLE_RATE
_NATIVE_LITTLE = sys.byteorder == "little"
_HALF = 11  # taps on each side of the centre: 23 in all


def _odd_taps() -> dict[int, float]:
    """Coefficient of each odd offset k (-11..11) of the half-band filter; the centre is 0.5
    and the even offsets are 0. Normalised so that the odd taps sum to 0.5 (DC gain 1)."""
    size = 2 * _HALF + 1
    taps = {}
    for k in range(-_HALF, _HALF + 1, 2):
        n = k + _HALF
        window = (0.42 - 0.5 * math.cos(2 * math.pi * n / (size - 1))
                  + 0.08 * math.cos(4 * math.pi * n / (size - 1)))
        taps[k] = math.sin(math.pi * k / 2) / (math.pi * k) * window
    scale = 0.5 / sum(taps.values())
    return {k: c * scale for k, c in taps.items()}


_TAPS = _odd_taps()
# Upsampling: the odd output sample between x[m] and x[m+1] is sum(c_j * x[m + j]),
# j = (1 - k) / 2 in -5..6, c_j = 2 * tap(k) (zero-stuffing halves the level).
_UP = {(1 - k) // 2: 2 * c for k, c in _TAPS.items()}
_UP_BEFORE, _UP_AFTER = -min(_UP), max(_UP)  # 5 samples of history, 6 of look-ahead
# Downsampling: y[m] = 0.5 * x[2m] + sum(tap(k) * x[2m - k]) over odd k, i.e. over the odd
# samples x_odd[m + j] with j = -(k + 1) / 2 in -6..5.
_DOWN = {-(k + 1) // 2: c for k, c in _TAPS.items()}
_DOWN_BEFORE, _DOWN_AFTER = -min(_DOWN), max(_DOWN)


def _weighted_sum(padded: bytes, offsets: dict[int, float], before: int, count: int) -> bytes:
    """sum(c * padded[before + j + m]) for m in range(count), as s16 bytes (saturating)."""
    total = bytes(2 * count)
    for j, c in offsets.items():
        start = 2 * (before + j)
        total = audioop.add(total, audioop.mul(padded[start:start + 2 * count], 2, c), 2)
    return total


def downsample(pcm: bytes) -> bytes:
    """16 kHz s16 mono to 8 kHz, low-pass filtered first (a whole prompt at a time)."""
    values = samples(pcm)
    if len(values) % 2:
        values.append(0)
    even, odd = values[0::2], values[1::2]
    count = len(even)
    padded = bytes(2 * _DOWN_BEFORE) + _le(odd) + bytes(2 * _DOWN_AFTER)
    filtered = _weighted_sum(padded, _DOWN, _DOWN_BEFORE, count)
    return audioop.add(filtered, audioop.mul(_le(even), 2, 0.5), 2)


@lru_cache(maxsize=32)
def prompt_at(pcm: bytes, rate: int) -> bytes:
    """Engine-format (16 kHz) prompt audio at a bridge's ``rate``; the last 32 are kept, so
    that a catalogue prompt played on every call is converted once per worker."""
    if rate == SAMPLE_RATE:
        return pcm
    if rate != NARROWBAND_RATE:
        raise ValueError(f"no conversion from {SAMPLE_RATE} Hz to {rate} Hz")
    return downsample(pcm)


class Upsampler:
    """8 kHz to 16 kHz for one stream of frames (keeps the filter's history between frames).

    The output lags the input by 6 samples at 8 kHz (0.75 ms).
    """

    def __init__(self) -> None:
        self._history = bytes(2 * (_UP_BEFORE + _UP_AFTER))

    def convert(self, frame: bytes) -> bytes:
        frame = frame[: len(frame) - len(frame) % 2]
        buffer = self._history + frame
        count = len(frame) // 2
        self._history = buffer[len(buffer) - 2 * (_UP_BEFORE + _UP_AFTER):]
        even = buffer[2 * _UP_BEFORE: 2 * (_UP_BEFORE + count)]
        odd = _weighted_sum(buffer, _UP, _UP_BEFORE, count)
        return interleave(even, odd)


def _le(values) -> bytes:
    """Little-endian bytes of an array('h') (as :func:`telephony.audio.samples` reads them)."""
    if not _NATIVE_LITTLE:
        values = values[:]
        values.byteswap()
    return values.tobytes()

