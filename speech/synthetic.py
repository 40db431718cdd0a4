"""Synthetic caller audio for tests and benchmarks: espeak-ng speech squeezed through an
8 kHz telephone channel (sox) and brought back to the engine's 16 kHz, as a call delivers it.

Silence around the speech is a faint line hiss, as on a real line (not digital zeros).
"""

from __future__ import annotations

import array
import random
import subprocess
import tempfile
from pathlib import Path

SAMPLE_RATE = 16_000
BYTES_PER_SECOND = SAMPLE_RATE * 2


def line_hiss(seconds: float, *, amplitude: int = 40, seed: int = 1) -> bytes:
    """Low-level noise as heard on a quiet phone line (about -58 dBFS)."""
    rng = random.Random(seed)
    count = int(seconds * SAMPLE_RATE)
    return array.array("h", (rng.randint(-amplitude, amplitude) for _ in range(count))).tobytes()


def telephone_speech(
    text: str,
    *,
    voice: str = "ko",
    lead: float = 0.5,
    trail: float = 2.0,
    speed: int = 150,
) -> bytes:
    """``text`` spoken by espeak-ng, band-limited to 8 kHz telephony, as 16 kHz s16le PCM."""
    with tempfile.TemporaryDirectory(prefix="telesec-synth-") as tmp:
        spoken = Path(tmp) / "spoken.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(spoken), "--stdin"],
            input=text.encode(),
            check=True,
            capture_output=True,
            timeout=30,
        )
        narrowband = Path(tmp) / "line.wav"
        subprocess.run(
            ["sox", str(spoken), "-r", "8000", "-c", "1", "-b", "16", str(narrowband),
             "sinc", "300-3400", "norm", "-3"],
            check=True, capture_output=True, timeout=30,
        )
        wideband = subprocess.run(
            ["sox", str(narrowband), "-r", "16000", "-c", "1", "-b", "16",
             "-e", "signed-integer", "-t", "raw", "-"],
            check=True, capture_output=True, timeout=30,
        ).stdout
    return line_hiss(lead, seed=2) + wideband + line_hiss(trail, seed=3)


def frames(pcm: bytes, frame_ms: int = 20) -> list[bytes]:
    """``pcm`` cut in frames as the telephony layer delivers them (20 ms = 640 bytes)."""
    size = BYTES_PER_SECOND * frame_ms // 1000
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def words_only(text: str, *, voice: str = "ko", speed: int = 150) -> bytes:
    """``text`` as :func:`telephone_speech` gives it, without espeak-ng's own silence around
    the words (to build pauses of a known length)."""
    pieces = frames(telephone_speech(text, voice=voice, lead=0.0, trail=0.0, speed=speed))
    loud = [i for i, piece in enumerate(pieces) if _peak(piece) > 1000]
    return b"".join(pieces[loud[0] : loud[-1] + 1]) if loud else b""


def _peak(pcm: bytes) -> int:
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) // 2 * 2])
    return max((abs(s) for s in samples), default=0)
