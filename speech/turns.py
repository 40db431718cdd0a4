"""End of the caller's turn: the voice detector decides, the recognizer is finalized at once.

A :class:`TurnTaker` sits between the call's frames and an utterance stream (in-process or
remote): each frame goes to the stream and to a :class:`speech.vad.VoiceDetector`. The turn
ends, and ``stream.end_input()`` is called at once (Vosk's ``FinalResult``, no more audio),

* for any question, after ``end_ms`` of trailing silence once speech was heard;
* for a closed question (yes/no, digits, menu, date), after only ``closed_end_ms`` once the
  partial result already answers it (``satisfied(partial)``, given by the flow: a grammar
  match, the expected number of digits, a full date). A pause in the middle of an answer
  that does not answer yet waits the full ``end_ms``.

The stream should be started with ``UtteranceLimits(vosk_endpoint=False)`` so that Vosk's
own endpoint does not cut the answer at a pause (its segments are joined instead).

For an open question (no ``satisfied``), the recognizer gets only the first
``SILENCE_FED_MS`` of a trailing silence; the rest is held back and fed, in order, only if
the caller speaks again. The free decoder then has no silence to work through when the
turn ends: with many callers on few cores it is behind, and the silence it no longer
decodes is time it catches up instead. A closed question is fed everything: its turn may
end on the partial result, whose last word can need the silence after it to appear
(measured: a birth date then ended 80 ms later), and its grammar decoding is cheap.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from speech.vad import VadSettings, VoiceDetector, voice_detector

Satisfied = Callable[[str], bool]

SILENCE_FED_MS = 200  # of a trailing silence, what the recognizer hears (the end of a word)


@dataclass(frozen=True)
class TurnSettings:
    """How long a silence ends the caller's answer (milliseconds of audio)."""

    end_ms: int = 700  # open question, or a closed one not answered yet
    closed_end_ms: int = 250  # a closed question once the partial answers it

    def check(self) -> list[str]:
        """Problems with these values, in words (empty when fine)."""
        problems = []
        if not 200 <= self.end_ms <= 3000:
            problems.append(f"end_ms must be between 200 and 3000 ms (got {self.end_ms})")
        if not 100 <= self.closed_end_ms <= self.end_ms:
            problems.append(
                f"closed_end_ms must be between 100 ms and end_ms (got {self.closed_end_ms})"
            )
        return problems


# A reply within ~400 ms (closed) / ~700 ms (open) of the caller's last word leaves room for
# little more than these silences (bench/turns.py); a 300 ms pause inside an answer is kept.
CLOSED_TURN = TurnSettings(end_ms=500, closed_end_ms=200)  # yes/no, menu, digits, a date
OPEN_TURN = TurnSettings(end_ms=550, closed_end_ms=550)  # a name, a day in free words


class TurnTaker:
    """Feeds one utterance and says when the caller's turn is over."""

    def __init__(
        self,
        stream: Any,
        *,
        settings: TurnSettings | None = None,
        satisfied: Satisfied | None = None,
        detector: VoiceDetector | None = None,
        vad: VadSettings | None = None,
        silence_fed_ms: int | None = SILENCE_FED_MS,
    ) -> None:
        self.stream = stream
        #: of a trailing silence, what the recognizer gets (None: all of it; always all
        #: for a closed question, whose partial may need the silence to show its last word)
        self.silence_fed_ms = silence_fed_ms if satisfied is None else None
        self.settings = settings or TurnSettings()
        self.satisfied = satisfied
        base = vad or VadSettings()
        self.detector = detector or voice_detector(
            VadSettings(**{**base.__dict__, "end_ms": self.settings.end_ms})
        )
        self.heard = False  # the detector heard speech
        self.over = False
        self.reason = ""  # "end_of_speech", "answered", "stream_ended"
        self.ended_at = 0.0  # time.monotonic() when end_input() was called
        self._checked = ("", False)  # the last partial checked, and whether it answered
        self._held: list[bytes] = []  # trailing silence past SILENCE_FED_MS, not fed yet

    def feed(self, frame: bytes) -> bool:
        """Take one caller frame; True once the turn is over (the stream has been ended)."""
        if self.over:
            return True
        detector = self.detector
        detector.feed(frame)
        fed = self.silence_fed_ms
        if fed is not None and (detector.speaking or self.heard) and detector.silence_ms > fed:
            self._held.append(frame)  # fed only if the caller speaks again
        else:
            for held in self._held:
                if not self.stream.feed(held):
                    return self._end("stream_ended", finalize=False)
            self._held.clear()
            if not self.stream.feed(frame):
                return self._end("stream_ended", finalize=False)
        if detector.speaking:
            self.heard = True
            if (
                self.satisfied is not None
                and detector.silence_ms >= self.settings.closed_end_ms
                and self._answered()
            ):
                return self._end("answered")
        elif self.heard:
            return self._end("end_of_speech")
        return False

    def _answered(self) -> bool:
        partial = self.stream.partial
        if not partial or self.satisfied is None:
            return False
        if partial != self._checked[0]:  # the flow's understanding runs once per partial
            try:
                self._checked = (partial, bool(self.satisfied(partial)))
            except Exception:  # a broken check must not end a turn
                self._checked = (partial, False)
        return self._checked[1]

    def _end(self, reason: str, *, finalize: bool = True) -> bool:
        self.over, self.reason, self.ended_at = True, reason, time.monotonic()
        if finalize:
            self.stream.end_input()
        return True
