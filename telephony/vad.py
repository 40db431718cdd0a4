"""An energy-based voice-activity detector, cheap enough to run on the media clock."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from telephony.audio import rms_dbfs


class VoiceEvent(Enum):
    SPEECH_STARTED = "speech_started"
    SPEECH_ENDED = "speech_ended"


@dataclass(frozen=True)
class VadSettings:
    """Thresholds of :class:`VoiceActivityDetector` (frames are 20 ms)."""

    threshold_dbfs: float = -38.0
    start_frames: int = 3  # 60 ms above the threshold starts speech
    end_frames: int = 35  # 700 ms below it ends speech


class VoiceActivityDetector:
    """Says, frame by frame, when the caller starts and stops speaking."""

    def __init__(self, settings: VadSettings | None = None) -> None:
        self.settings = settings or VadSettings()
        self.speaking = False
        self.level_dbfs = -120.0
        self._run = 0

    def feed(self, frame: bytes) -> VoiceEvent | None:
        """Take one frame; return the event it causes, if any."""
        self.level_dbfs = rms_dbfs(frame)
        loud = self.level_dbfs >= self.settings.threshold_dbfs
        if loud != self.speaking:
            self._run += 1
        else:
            self._run = 0
        if not self.speaking and self._run >= self.settings.start_frames:
            self.speaking, self._run = True, 0
            return VoiceEvent.SPEECH_STARTED
        if self.speaking and self._run >= self.settings.end_frames:
            self.speaking, self._run = False, 0
            return VoiceEvent.SPEECH_ENDED
        return None
