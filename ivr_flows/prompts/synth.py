"""Text to speech with espeak-ng, as engine audio (16 kHz mono s16le PCM).

:meth:`Synthesizer.cached` keeps the audio on disk under the data directory, keyed by a hash of
(voice, text): only for catalogue texts and fixed words, which are not personal data.
:meth:`Synthesizer.speak` never touches the disk: use it for anything about a person. The text
goes to espeak-ng on stdin, so it never shows in the process list either.
"""

from __future__ import annotations

import hashlib
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
        return to_engine_format(done.stdout)


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
