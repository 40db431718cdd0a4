"""Text to speech with espeak-ng, as engine audio (16 kHz mono s16le PCM).

:meth:`Synthesizer.cached` keeps the audio on disk under the data directory, keyed by a hash of
(voice, text): only for catalogue texts and fixed words, which are not personal data.
:meth:`Synthesizer.speak` never touches the disk: use it for anything about a person. The text
goes to espeak-ng on stdin, so it never shows in the process list either.
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
from pathlib import Path

from foundation.errors import TelesecError
from foundation.files import write_atomically

SAMPLE_RATE = 16_000
CACHE_VERSION = "1"  # bump when the synthesis settings change, to ignore old files


class Synthesizer:
    """espeak-ng at the engine's format, with a disk cache for non-personal texts."""

    def __init__(self, cache_dir: Path, *, espeak: str = "espeak-ng", speed: int = 160) -> None:
        self.cache_dir = cache_dir
        self.espeak = espeak
        self.speed = speed

    def cache_path(self, voice: str, text: str) -> Path:
        key = hashlib.sha256(
            "\0".join((CACHE_VERSION, voice, str(self.speed), text)).encode()
        ).hexdigest()
        return self.cache_dir / key[:2] / f"{key}.pcm"

    def cached(self, voice: str, text: str) -> bytes:
        """Audio for a non-personal ``text``, synthesised once then read from the cache."""
        path = self.cache_path(voice, text)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass
        pcm = self.speak(voice, text)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, pcm)
        return pcm

    def speak(self, voice: str, text: str) -> bytes:
        """Audio for ``text``, in memory only."""
        try:
            done = subprocess.run(
                [self.espeak, "-v", voice, "-s", str(self.speed), "--stdout", "--stdin"],
                input=text.encode("utf-8"),
                capture_output=True,
                check=True,
                timeout=30,
            )
        except FileNotFoundError:
            raise TelesecError(
                f"{self.espeak} is not installed; install the espeak-ng package "
                "or give the practice's own recordings"
            ) from None
        except subprocess.CalledProcessError as exc:
            raise TelesecError(
                f"espeak-ng failed for voice {voice!r} ({exc.stderr.decode(errors='replace')[:80]})"
                "; check the voice name in the prompt catalogue"
            ) from None
        pcm = from_espeak_wav(done.stdout)
        return pcm if pcm is not None else to_engine_format(done.stdout)


RESAMPLE_TAPS = 63  # low-pass before resampling: plenty for a telephone line (< 4 kHz)


def from_espeak_wav(wav: bytes) -> bytes | None:
    """espeak-ng's own WAV (16-bit mono PCM, 22 050 Hz) as engine PCM, in this process.

    Starting ffmpeg for a few words cost 2-4 times the synthesis itself on a loaded machine
    (250-460 ms against ~110 ms): a name said after the caller's answer waited for it. Any
    other layout gives None (ffmpeg then decodes it). The header's sizes are not trusted:
    espeak-ng writes placeholders when it streams to stdout.
    """
    import numpy as np

    if wav[:4] != b"RIFF" or wav[8:16] != b"WAVEfmt " or len(wav) < 44:
        return None
    kind, channels, rate = struct.unpack_from("<HHI", wav, 20)
    bits = struct.unpack_from("<H", wav, 34)[0]
    data = wav.find(b"data", 36)
    if (kind, channels, bits) != (1, 1, 16) or data < 0 or not 8_000 <= rate <= 48_000:
        return None
    samples = np.frombuffer(wav[data + 8 :][: (len(wav) - data - 8) // 2 * 2], dtype="<i2")
    if rate == SAMPLE_RATE or not len(samples):
        return samples.astype("<i2").tobytes()
    signal = samples.astype(np.float64)
    cutoff = min(rate, SAMPLE_RATE) * 0.45 / rate  # of the input rate, below the new Nyquist
    taps = np.arange(RESAMPLE_TAPS) - (RESAMPLE_TAPS - 1) / 2
    kernel = 2 * cutoff * np.sinc(2 * cutoff * taps) * np.hamming(RESAMPLE_TAPS)
    filtered = np.convolve(signal, kernel / kernel.sum(), mode="same")
    count = int(len(signal) * SAMPLE_RATE / rate)
    positions = np.arange(count) * (rate / SAMPLE_RATE)
    resampled = np.interp(positions, np.arange(len(signal)), filtered)
    return np.clip(np.round(resampled), -32768, 32767).astype("<i2").tobytes()


def to_engine_format(audio: bytes, *, input_format: str | None = None) -> bytes:
    """Any audio ffmpeg reads (espeak-ng's WAV, MP3...) as 16 kHz mono s16le PCM bytes."""
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error"]
    if input_format:
        command += ["-f", input_format]
    command += ["-i", "pipe:0", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", "pipe:1"]
    try:
        done = subprocess.run(command, input=audio, capture_output=True, check=True, timeout=60)
    except subprocess.CalledProcessError as exc:
        reason = exc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["unknown"]
        raise TelesecError(f"audio cannot be decoded ({reason[0][:100]})") from None
    return done.stdout


def ffmpeg_exe() -> str:
    """The ffmpeg shipped by imageio-ffmpeg (no system ffmpeg needed)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()
