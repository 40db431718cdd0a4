"""An energy-based voice-activity detector, cheap enough to run on the media clock."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from telephony.audio import SAMPLE_RATE, rms_dbfs


class VoiceEvent(Enum):
    SPEECH_STARTED = "speech_started"
    SPEECH_ENDED = "speech_ended"


@dataclass(frozen=True)
class VadSettings:
    """Thresholds of :class:`VoiceActivityDetector`, in milliseconds of audio."""

    threshold_dbfs: float = -38.0
    start_ms: int = 60  # this long above the threshold starts speech
    end_ms: int = 700  # this long below it ends speech


class VoiceActivityDetector:
    """Says, frame by frame, when the caller starts and stops speaking.

    Frames may be of any length (s16 at ``sample_rate``): runs are counted in audio time.
    """

    def __init__(self, settings: VadSettings | None = None, *,
                 sample_rate: int = SAMPLE_RATE) -> None:
        self.settings = settings or VadSettings()
        self._bytes_per_second = 2 * sample_rate
        self.speaking = False
        self.level_dbfs = -120.0
        self._run_ms = 0.0

    def feed(self, frame: bytes) -> VoiceEvent | None:
        """Take one frame; return the event it causes, if any."""
        self.level_dbfs = rms_dbfs(frame)
        loud = self.level_dbfs >= self.settings.threshold_dbfs
        if loud != self.speaking:
            self._run_ms += len(frame) * 1000 / self._bytes_per_second
        else:
            self._run_ms = 0.0
        if not self.speaking and self._run_ms >= self.settings.start_ms:
            self.speaking, self._run_ms = True, 0.0
            return VoiceEvent.SPEECH_STARTED
        if self.speaking and self._run_ms >= self.settings.end_ms:
            self.speaking, self._run_ms = False, 0.0
            return VoiceEvent.SPEECH_ENDED
        return None
