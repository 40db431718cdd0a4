"""Rate conversion between a narrowband bridge (8 kHz) and the engine format (16 kHz).

A narrowband worker's conference bridge runs at 8 kHz, the rate of its G.711 calls, so
pjmedia resamples nothing on the media clock. What the engine keeps at 16 kHz is converted
here, off the media clock and only when needed: a prompt once, when it is played (cached),
and the caller's frames only while something listens (recogniser, voicemail), on the
listener's thread.

Both directions use one 23-tap half-band low-pass filter (Blackman-windowed sinc, cut at
4 kHz), applied by numpy (one correlation per frame, float32, rounded once): about -60 dB
of aliasing rejection, flat to ~3.3 kHz. ``audioop`` did it before as 12 shifted, scaled
copies; numpy takes 12 us per 40 ms frame where that took 21 us, and ``audioop`` is gone
from Python 3.13.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from telephony.audio import SAMPLE_RATE

NARROWBAND_RATE = 8000
WIDEBAND_RATE = SAMPLE_RATE
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
_UP_TAPS = np.array([_UP[j] for j in range(-_UP_BEFORE, _UP_AFTER + 1)], dtype=np.float32)
# Downsampling: y[m] = sum(h(k) * x[2m - k]) over k in -11..11: h(0) = 0.5, the odd taps,
# zero elsewhere
_DOWN_TAPS = np.array([0.5 if k == 0 else _TAPS.get(k, 0.0) for k in range(-_HALF, _HALF + 1)],
                      dtype=np.float32)


def _s16(values: np.ndarray) -> bytes:
    """Float samples as s16 little-endian bytes, rounded and saturated."""
    return np.clip(np.rint(values), -32768, 32767).astype("<i2").tobytes()


def downsample(pcm: bytes) -> bytes:
    """16 kHz s16 mono to 8 kHz, low-pass filtered first (a whole prompt at a time)."""
    values = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float32)
    if len(values) % 2:
        values = np.append(values, np.float32(0))
    if not len(values):
        return b""
    filtered = np.convolve(values, _DOWN_TAPS)[_HALF : _HALF + len(values)]
    return _s16(filtered[0::2])


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
        self._history = np.zeros(_UP_BEFORE + _UP_AFTER, dtype=np.float32)

    def convert(self, frame: bytes) -> bytes:
        values = np.frombuffer(frame[: len(frame) - len(frame) % 2], dtype="<i2")
        buffer = np.concatenate([self._history, values.astype(np.float32)])
        count = len(values)
        self._history = buffer[len(buffer) - (_UP_BEFORE + _UP_AFTER):]
        out = np.empty(2 * count, dtype=np.float32)
        out[0::2] = buffer[_UP_BEFORE: _UP_BEFORE + count]
        out[1::2] = np.correlate(buffer, _UP_TAPS, "valid")[:count]
        return _s16(out)
