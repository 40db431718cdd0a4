"""Barge-in: does the caller really speak over a prompt, or is it the prompt's own echo?

:class:`BargeInDetector` takes the caller's frames while a prompt plays, together with the
prompt's audio (the reference). Before the voice detector sees a frame, the prompt's echo is
taken out of it: the last 100 ms of caller audio are matched against the reference played up
to ``max_echo_ms`` earlier (normalized cross-correlation, by FFT); when they match well
(``min_echo_match``), the best-matching reference, scaled by the least-squares gain, is
subtracted. What is left is the caller. Speech barges in once the detector has heard
``min_voiced_ms`` of voiced audio (``VadSettings.start_ms``).

Caller frame ``n`` (20 ms) is taken to arrive while reference frame ``n`` plays: both sides
run on the same media clock, and the lag search covers the rest.
"""

from __future__ import annotations

from typing import Any

from speech.vad import VadSettings, VoiceDetector, VoiceEvent, voice_detector

SAMPLE_RATE = 16_000
BLOCK = 1600  # 100 ms: caller audio matched against the reference


class BargeInDetector:
    """Feed caller frames during one prompt; ``feed`` is True once the caller speaks."""

    def __init__(
        self,
        reference: bytes,
        *,
        min_voiced_ms: int = 200,
        max_echo_ms: int = 400,
        min_echo_match: float = 0.5,
        detector: VoiceDetector | None = None,
    ) -> None:
        import numpy as np

        self._np = np
        self.reference = np.frombuffer(reference[: len(reference) // 2 * 2], dtype="<i2")
        self.reference = self.reference.astype(np.float64)
        self.max_lag = max_echo_ms * SAMPLE_RATE // 1000
        self.min_echo_match = min_echo_match
        self.detector = detector or voice_detector(VadSettings(start_ms=min_voiced_ms))
        self._caller = np.zeros(0, dtype=np.float64)  # recent caller audio (one block)
        self._position = 0  # caller samples received since the prompt started
        self.echo_frames = 0  # frames in which echo was found and taken out
        self.spoke = False

    def feed(self, frame: bytes) -> bool:
        np = self._np
        samples = np.frombuffer(frame[: len(frame) // 2 * 2], dtype="<i2").astype(np.float64)
        self._position += len(samples)
        self._caller = np.concatenate([self._caller, samples])[-BLOCK:]
        # a frame under the detector's floor is silence to it, with or without an echo
        # taken out: the echo search (an FFT over the reference, ~0.4 ms a frame) is skipped
        cleaned = samples if self._quiet(samples) else self._without_echo(samples)
        clipped = np.clip(np.round(cleaned), -32768, 32767).astype("<i2")
        if self.detector.feed(clipped.tobytes()) is VoiceEvent.SPEECH_STARTED:
            self.spoke = True
        return self.spoke

    def feed_many(self, frames: list[bytes] | list[bytes | int]) -> bool:
        """:meth:`feed` for frames taken together (``FrameQueue.get_batch``); same result.

        A run of frames under the floor goes to the detector joined, untouched (its samples
        are what :meth:`feed` would pass on), so a silent caller costs one pass per batch.
        An int is a silent run only counted (``FrameQueue.get_counted``): its number of
        samples (:meth:`skip`). Stops at the frame that makes the caller speak.
        """
        chunk: list[bytes] = []
        for item in frames:
            if isinstance(item, int):
                if (chunk and self._feed_frames(chunk)) or self.skip(item):
                    return True
                chunk = []
            else:
                chunk.append(item)
        return self._feed_frames(chunk) if chunk else self.spoke

    def _feed_frames(self, frames: list[bytes]) -> bool:
        """:meth:`feed_many` over frames only: quiet runs joined, louder frames one by one."""
        quiet_run: list[bytes] = []
        for frame, quiet in zip(frames, self._quiet_frames(frames), strict=True):
            if self.spoke:
                break
            if quiet:
                quiet_run.append(frame)
                continue
            if quiet_run:
                self._feed_quiet(quiet_run)
                quiet_run = []
                if self.spoke:
                    break
            self.feed(frame)
        if quiet_run and not self.spoke:
            self._feed_quiet(quiet_run)
        return self.spoke

    def skip(self, samples: int) -> bool:
        """``samples`` of a silent run not handed over (every window of it under the
        detector's floor): the reference moves on; the frames kept after such a run
        (``FrameQueue.quiet_keep``, 3 or more) refill the echo guard's block before any
        louder frame is matched."""
        if self.spoke or samples <= 0:
            return self.spoke
        self._position += samples
        self._caller = self._np.zeros(0, dtype=self._np.float64)
        starts = self.detector.starts
        self.detector.skip(samples)
        if self.detector.starts > starts:
            self.spoke = True
        return self.spoke

    def _quiet_frames(self, frames: list[bytes]) -> list[bool]:
        """:meth:`_quiet` of each frame, from one numpy pass when they are all one size."""
        np = self._np
        sizes = {len(frame) for frame in frames}
        if len(sizes) != 1 or not frames or not len(frames[0]) // 2 or len(frames[0]) % 2:
            return [self._quiet(np.frombuffer(frame[: len(frame) // 2 * 2], dtype="<i2")
                                .astype(np.float64)) for frame in frames]
        samples = np.frombuffer(b"".join(frames), dtype="<i2").astype(np.float64)
        samples = samples.reshape(len(frames), -1)
        # sums of squared integers: exact in float64, whatever the order of the additions
        mean_square = np.einsum("ij,ij->i", samples, samples) / samples.shape[1] / 32768.0**2
        return list(mean_square < 10 ** (self.detector.settings.floor_dbfs / 10))

    def _feed_quiet(self, frames: list[bytes]) -> None:
        np = self._np
        joined = b"".join(frame[: len(frame) // 2 * 2] for frame in frames)
        samples = np.frombuffer(joined, dtype="<i2")
        self._position += len(samples)
        tail = samples[-BLOCK:].astype(np.float64)
        self._caller = np.concatenate([self._caller, tail])[-BLOCK:]
        starts = self.detector.starts
        self.detector.feed(joined)
        if self.detector.starts > starts:
            self.spoke = True

    def _quiet(self, samples: Any) -> bool:
        """Whether the frame is quieter than the detector's floor (silence to it)."""
        if not len(samples):
            return True
        mean_square = float(self._np.dot(samples, samples)) / len(samples) / 32768.0**2
        return mean_square < 10 ** (self.detector.settings.floor_dbfs / 10)

    def _without_echo(self, samples: Any) -> Any:
        np = self._np
        block = self._caller
        end = min(self._position, len(self.reference))
        start = max(0, self._position - len(block) - self.max_lag)
        reference = self.reference[start:end]
        if len(block) < BLOCK or len(reference) < len(block) or not reference.any():
            return samples
        match, lag = self._best_match(block, reference)
        if match < self.min_echo_match:
            return samples
        aligned = reference[lag : lag + len(block)]
        gain = float(np.dot(block, aligned) / max(np.dot(aligned, aligned), 1e-9))
        self.echo_frames += 1
        return samples - gain * aligned[-len(samples) :]

    def _best_match(self, block: Any, reference: Any) -> tuple[float, int]:
        """Highest normalized correlation of ``block`` with a stretch of ``reference``."""
        np = self._np
        size = 1 << int(np.ceil(np.log2(len(reference) + len(block))))
        spectrum = np.fft.rfft(reference, size) * np.conj(np.fft.rfft(block, size))
        correlation = np.fft.irfft(spectrum, size)[: len(reference) - len(block) + 1]
        running = np.concatenate([[0.0], np.cumsum(reference**2)])
        energy = running[len(block) :] - running[: -len(block)]  # of each stretch
        norm = np.sqrt(np.maximum(energy, 1e-9) * max(float(np.dot(block, block)), 1e-9))
        scores = correlation / norm
        lag = int(np.argmax(scores))
        return float(scores[lag]), lag
