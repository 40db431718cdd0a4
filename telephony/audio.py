"""Engine audio format and small PCM helpers (no pjsua2 here).

The engine format is 16 kHz, mono, signed 16-bit little-endian PCM in 40 ms frames.
"""

from __future__ import annotations

import math
import sys
import warnings
import wave
from array import array
from pathlib import Path

with warnings.catch_warnings():  # deprecated in 3.11, still there in 3.12 (pydub uses it too)
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop
    except ImportError:  # Python 3.13+: numpy does it (rms_dbfs)
        audioop = None

SAMPLE_RATE = 16000
# The conference bridge's frame (pjsua ``audioFramePtime``) and the audio ports' frame.
# 40 ms instead of pjsua's 20 ms halves the media clock's ticks and the Python callbacks
# of every call: ~40 % less CPU per call (bench/README.md, sip_load). RTP stays at 20 ms
# per packet (sent two at a time), and a key reaches the next prompt up to 20 ms later.
FRAME_MS = 40
BYTES_PER_SECOND = SAMPLE_RATE * 2
SAMPLES_PER_FRAME = SAMPLE_RATE * FRAME_MS // 1000
FRAME_BYTES = SAMPLES_PER_FRAME * 2
SILENT_FRAME = bytes(FRAME_BYTES)

_NATIVE_LITTLE = sys.byteorder == "little"


def samples(pcm: bytes) -> array:
    """The signed 16-bit samples of little-endian PCM bytes."""
    values = array("h")
    values.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if not _NATIVE_LITTLE:
        values.byteswap()
    return values


def rms_dbfs(pcm: bytes) -> float:
    """Root-mean-square level of a PCM chunk in dB relative to full scale (-120 for silence).

    It runs on the media clock for every caller frame the detector sees: ``audioop.rms``
    (one C loop) costs ~0.3 us per 40 ms frame, numpy ~1.8 us (the path where ``audioop``
    is gone, Python 3.13+), a Python sum over the samples ~60 us.
    """
    if len(pcm) % 2:  # (a copy only then: this runs per caller frame)
        pcm = pcm[:-1]
    if not pcm:
        return -120.0
    if audioop is not None and _NATIVE_LITTLE:
        rms = audioop.rms(pcm, 2)
        if rms <= 0:
            return -120.0
        return max(-120.0, 20.0 * math.log10(rms / 32768.0))
    if audioop is None:
        import numpy as np

        values = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
        power = float(np.dot(values, values)) / len(values)
        if power <= 0.0:
            return -120.0
        return max(-120.0, 10.0 * math.log10(power / (32768.0 * 32768.0)))
    values = samples(pcm)
    power = math.fsum(v * v for v in values) / len(values)
    if power <= 0.0:
        return -120.0
    return max(-120.0, 10.0 * math.log10(power / (32768.0 * 32768.0)))


def sine_tone(hz: float, seconds: float, level: float = 0.3) -> bytes:
    """A sine tone in the engine format, ``level`` of full scale (beeps, test prompts)."""
    amplitude = level * 32767
    values = array("h", (int(amplitude * math.sin(2 * math.pi * hz * i / SAMPLE_RATE))
                         for i in range(int(SAMPLE_RATE * seconds))))
    if not _NATIVE_LITTLE:
        values.byteswap()
    return values.tobytes()


def hold_music() -> bytes:
    """What a caller put on hold hears: a soft three-note chime, then a pause (looped)."""
    notes = b"".join(sine_tone(hz, 0.35, level=0.12) for hz in (523.25, 659.25, 783.99))
    return notes + bytes(int(SAMPLE_RATE * 1.5) * 2)


def interleave(left: bytes, right: bytes) -> bytes:
    """Two mono s16 chunks of equal length as one interleaved stereo chunk."""
    left_samples, right_samples = samples(left), samples(right)
    stereo = array("h", bytes(4 * len(left_samples)))
    stereo[0::2] = left_samples
    stereo[1::2] = right_samples
    if not _NATIVE_LITTLE:
        stereo.byteswap()
    return stereo.tobytes()


def load_prompt(audio: bytes | str | Path) -> bytes:
    """Engine-format PCM for a prompt: PCM bytes pass through, a WAV path is read and converted."""
    if isinstance(audio, bytes | bytearray | memoryview):
        pcm = bytes(audio)
        return pcm[: len(pcm) - len(pcm) % 2]
    path = Path(audio)
    with wave.open(str(path), "rb") as wav:
        rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
        data = wav.readframes(wav.getnframes())
    if (rate, channels, width) == (SAMPLE_RATE, 1, 2):
        return data
    from pydub import AudioSegment  # only for prompts not already in the engine format

    segment = AudioSegment(data=data, sample_width=width, frame_rate=rate, channels=channels)
    segment = segment.set_channels(1).set_frame_rate(SAMPLE_RATE).set_sample_width(2)
    return segment.raw_data


def write_wav(path: str | Path, pcm: bytes, *, channels: int = 1, rate: int = SAMPLE_RATE) -> None:
    """Write s16 PCM as a WAV file (tests and tools only: never for call audio)."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
