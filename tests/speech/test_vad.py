"""Silero VAD on real audio: espeak-ng speech through a telephone band, silence, noise."""

from __future__ import annotations

import array
import logging
import random
from pathlib import Path

import pytest

from speech.synthetic import BYTES_PER_SECOND, frames, line_hiss, telephone_speech, words_only
from speech.vad import (
    EnergyScorer,
    SileroScorer,
    VadSettings,
    VoiceDetector,
    VoiceEvent,
    load_silero,
    silero_model_path,
    voice_detector,
)
from telephony.audio import rms_dbfs


@pytest.fixture(scope="module")
def spoken() -> bytes:
    return telephone_speech("안녕하세요 예약을 하고 싶습니다", lead=1.0, trail=1.5)


def white_noise(seconds: float, amplitude: int = 3000, seed: int = 5) -> bytes:
    """Loud broadband noise (about -24 dBFS): not a voice."""
    rng = random.Random(seed)
    count = int(seconds * 16_000)
    return array.array("h", (rng.randint(-amplitude, amplitude) for _ in range(count))).tobytes()


def voiced_span(pcm: bytes) -> tuple[float, float]:
    """First and last 20 ms frame louder than -45 dBFS (the words, not espeak's padding)."""
    loud = [i for i, frame in enumerate(frames(pcm)) if rms_dbfs(frame) > -45]
    return loud[0] * 0.02, (loud[-1] + 1) * 0.02


def run(detector: VoiceDetector, pcm: bytes, frame_ms: int = 20) -> list[tuple[float, VoiceEvent]]:
    events, at = [], 0.0
    for frame in frames(pcm, frame_ms):
        at += len(frame) / (detector.sample_rate * 2)
        event = detector.feed(frame)
        if event is not None:
            events.append((round(at, 2), event))
    return events


def test_the_model_ships_with_the_package_and_loads() -> None:
    path = silero_model_path()
    assert path is not None and path.name == "silero_vad.onnx"
    detector = voice_detector()
    assert isinstance(detector.scorer, SileroScorer)


def test_speech_starts_and_ends_around_the_spoken_words(spoken: bytes) -> None:
    detector = voice_detector(VadSettings(end_ms=500))
    events = run(detector, spoken)
    assert [e for _, e in events] == [VoiceEvent.SPEECH_STARTED, VoiceEvent.SPEECH_ENDED]
    speech_start, speech_end = voiced_span(spoken)
    (started, _), (ended, _) = events
    assert speech_start <= started <= speech_start + 0.3
    assert speech_end + 0.4 <= ended <= speech_end + 0.8


def test_silence_and_loud_noise_are_not_speech() -> None:
    detector = voice_detector()
    assert run(detector, line_hiss(3.0) + b"\0" * BYTES_PER_SECOND) == []
    assert detector.model_windows == 0  # under the floor: the model never ran
    assert run(voice_detector(), white_noise(3.0)) == []
    # the energy fallback would have taken the same noise for a voice
    energy = VoiceDetector(EnergyScorer(16_000), VadSettings())
    assert [e for _, e in run(energy, white_noise(3.0))][:1] == [VoiceEvent.SPEECH_STARTED]


def test_eight_kilohertz_audio(spoken: bytes) -> None:
    samples = array.array("h")
    samples.frombytes(spoken)
    narrow = samples[::2].tobytes()  # the speech is band-limited to 3.4 kHz already
    detector = voice_detector(VadSettings(end_ms=500), sample_rate=8_000)
    assert detector.scorer.window == 256
    assert [e for _, e in run(detector, narrow)] == [VoiceEvent.SPEECH_STARTED,
                                                     VoiceEvent.SPEECH_ENDED]


def test_a_model_that_cannot_load_falls_back_to_energy_in_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, spoken: bytes
) -> None:
    broken = tmp_path / "silero_vad.onnx"
    broken.write_bytes(b"not a model")
    with caplog.at_level(logging.WARNING, logger="speech.vad"):
        assert load_silero(broken) is None
        detector = voice_detector(model_path=broken)
    lines = [r.getMessage() for r in caplog.records if r.name == "speech.vad"]
    assert len(lines) == 2  # one per attempt with an explicit path; the default path once
    assert "falls back to energy" in lines[0]
    assert isinstance(detector.scorer, EnergyScorer)
    assert next(e for _, e in run(detector, spoken)) is VoiceEvent.SPEECH_STARTED


def test_joined_frames_give_the_frame_by_frame_decisions(spoken: bytes) -> None:
    """A silent run fed at once (the watcher's batches) leaves the detector where frame by
    frame would: same start, same end, model run on the same windows."""
    one_by_one, joined = voice_detector(VadSettings(end_ms=500)), voice_detector(
        VadSettings(end_ms=500))
    expected = run(one_by_one, spoken)
    events = []
    chunks = list(frames(spoken))
    for start in range(0, len(chunks), 5):
        event = joined.feed(b"".join(chunks[start : start + 5]))
        if event is not None:
            events.append(event)
    assert events == [e for _, e in expected]
    assert joined.starts == 1 and joined.model_windows == one_by_one.model_windows
    assert (joined.speaking, joined.silence_ms) == (one_by_one.speaking, one_by_one.silence_ms)


def narrowband_call(spoken: bytes) -> list[bytes]:
    """40 ms bridge frames at 8 kHz: A-law silence, line hiss, a frame just under the floor,
    the words, silence again (what a listener is handed by the tap)."""
    from speech.synthetic import line_hiss
    from telephony.resample import downsample

    rng = random.Random(3)
    alaw_silence = array.array("h", (rng.choice((-8, 8)) for _ in range(8000))).tobytes()
    near_floor = array.array("h", (rng.randint(-150, 150) for _ in range(320))).tobytes()
    pcm = (alaw_silence + downsample(line_hiss(1.3, seed=4)) + near_floor
           + alaw_silence[:5120] + downsample(spoken) + alaw_silence)
    return [pcm[i : i + 640] for i in range(0, len(pcm) - 639, 640)]


@pytest.mark.parametrize("keep", [1, 3, 16])
def test_silent_runs_only_counted_give_the_same_decisions(spoken: bytes, keep: int) -> None:
    """A listener handed a silent caller's runs as their length (FrameQueue.get_counted)
    hears speech start and end at the same sample, the model run on the same windows, as
    one handed every frame."""
    from telephony.media import CallerAudioTap, PromptPlayer

    tap = CallerAudioTap(PromptPlayer(8000))
    every, counted = tap.subscribe(500), tap.subscribe(500)
    counted.quiet_dbfs, counted.quiet_keep = -50.0, keep
    one, other = voice_detector(VadSettings(end_ms=500)), voice_detector(VadSettings(end_ms=500))
    expected: list[tuple[int, VoiceEvent]] = []
    got: list[tuple[int, VoiceEvent]] = []
    heard, runs = [0, 0], 0
    rng = random.Random(keep)
    call = narrowband_call(spoken)
    for index, frame in enumerate(call):
        tap.caller_frame(frame)
        while (item := every.get(0)) is not None:
            heard[0] += len(item[0]) // 2
            if (event := one.feed(item[0])) is not None:
                expected.append((heard[0], event))
        if rng.random() < 0.3 or index == len(call) - 1:  # the listener wakes now and then
            for chunk in counted.get_counted(0):
                if isinstance(chunk, int):
                    runs += 1
                    heard[1] += chunk
                    event = other.skip(chunk)
                else:
                    heard[1] += len(chunk[0]) // 2
                    event = other.feed(chunk[0])
                if event is not None:
                    got.append((heard[1], event))
    assert [e for _, e in expected] == [VoiceEvent.SPEECH_STARTED, VoiceEvent.SPEECH_ENDED]
    assert got == expected and runs > 0
    assert other.model_windows == one.model_windows > 0
    assert heard[1] >= heard[0] - keep * 640  # only the last run's kept frames are left


def test_the_listener_waiting_for_speech_gets_the_same_pre_roll(spoken: bytes) -> None:
    """StreamingSpeech's wait for speech, handed a silent caller's runs as their length,
    starts the recognizer on the same pre-roll, and the same frames after it, as frame by
    frame; a silent caller still times out on the audio's length."""
    from types import SimpleNamespace

    from ivr_flows.telephony_channel import PREROLL_FRAMES, PREROLL_MS, StreamingSpeech
    from telephony.media import CallerAudioTap, PromptPlayer

    session = SimpleNamespace(digits=SimpleNamespace(pending=lambda: False), ended=False)
    tap = CallerAudioTap(PromptPlayer(8000))
    every, counted = tap.subscribe(500), tap.subscribe(500)
    counted.quiet_dbfs, counted.quiet_keep = -50.0, PREROLL_FRAMES  # as the wait sets them
    for frame in narrowband_call(spoken):
        tap.caller_frame(frame)
    reference, preroll = voice_detector(), []
    while not reference.speaking:
        frame = every.get(0)[0]
        preroll = [*preroll, frame][-PREROLL_MS // 40 :]
        reference.feed(frame)
    detector = voice_detector()
    start = StreamingSpeech._speech_start(session, counted, detector, 30.0)
    assert start is not None
    got, after = start
    assert got == preroll and detector.model_windows == reference.model_windows
    for frame, _ in after:  # a silent run counted after the start comes as zeros
        expected = [every.get(0)[0] for _ in range(max(1, len(frame) // 1280))]
        assert frame == (expected[0] if len(expected) == 1 else bytes(len(frame)))
    assert any(len(frame) > 1280 for frame, _ in after)

    silent = tap.subscribe(500)
    silent.quiet_dbfs, silent.quiet_keep = -50.0, PREROLL_FRAMES
    for _ in range(75):  # 3 s of A-law silence
        tap.caller_frame(bytes(640))
    assert StreamingSpeech._speech_start(session, silent, voice_detector(), 2.0) is None
    assert (silent.quiet_dbfs, silent.quiet_keep) == (None, 0)  # frame by frame from now on


def with_noise(pcm: bytes, snr_db: float, seed: int = 7) -> bytes:
    """``pcm`` under steady broadband noise ``snr_db`` below its voiced samples' level."""
    import numpy as np

    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    voiced = samples[np.abs(samples) > 1000]
    sigma = float(np.sqrt(np.mean(voiced**2))) * 10 ** (-snr_db / 20)
    noisy = samples + np.random.default_rng(seed).normal(0, sigma, len(samples))
    return np.clip(noisy, -32768, 32767).astype("<i2").tobytes()


@pytest.fixture(scope="module")
def date_with_a_pause() -> tuple[bytes, float]:
    """A birth date said in two parts with a 300 ms pause, on a line; and when it ends."""
    said = line_hiss(0.3, seed=6).join(words_only(part) for part in ("일 구 팔 사", "공 삼 일 이"))
    pcm = line_hiss(0.6, seed=4) + said + line_hiss(1.5, seed=8)
    loud = [i for i, frame in enumerate(frames(pcm))
            if max(map(abs, array.array("h", frame))) > 1000]
    return pcm, (loud[-1] + 1) * 0.02


def test_on_a_noisy_line_speech_ends_as_soon_as_on_a_quiet_one(
    date_with_a_pause: tuple[bytes, float],
) -> None:
    pcm, last_word = date_with_a_pause
    noisy = with_noise(pcm, 20)
    quiet_events = run(voice_detector(VadSettings(end_ms=500)), pcm)
    detector = voice_detector(VadSettings(end_ms=500))
    events = run(detector, noisy)
    model_alone = run(voice_detector(VadSettings(end_ms=500, noise_margin_db=None)), noisy)
    for heard in (quiet_events, events, model_alone):  # the 300 ms pause is not an end
        assert [e for _, e in heard] == [VoiceEvent.SPEECH_STARTED, VoiceEvent.SPEECH_ENDED]
    assert detector.noise_dbfs is not None
    ended, quiet_ended, model_ended = events[1][0], quiet_events[1][0], model_alone[1][0]
    assert last_word + 0.4 <= ended <= quiet_ended + 0.04
    assert model_ended >= ended + 0.04  # the model alone hears the noise as speech a while


def test_noise_close_to_the_voice_leaves_the_end_to_the_model(
    date_with_a_pause: tuple[bytes, float],
) -> None:
    noisy = with_noise(date_with_a_pause[0], 6)
    with_rule = run(voice_detector(VadSettings(end_ms=500)), noisy)
    assert with_rule == run(voice_detector(VadSettings(end_ms=500, noise_margin_db=None)), noisy)
    assert [e for _, e in with_rule] == [VoiceEvent.SPEECH_STARTED, VoiceEvent.SPEECH_ENDED]


def test_a_caller_speaking_at_once_leaves_the_end_to_the_model(spoken: bytes) -> None:
    """No line heard before the voice: its noise is not known, nothing is guessed."""
    at_once = with_noise(spoken, 20)[int(0.95 * BYTES_PER_SECOND) // 2 * 2:]
    detector = voice_detector(VadSettings(end_ms=500))
    for frame in frames(at_once):
        if detector.feed(frame) is VoiceEvent.SPEECH_STARTED:
            break
    assert detector.noise_dbfs is None
    events = run(voice_detector(VadSettings(end_ms=500)), at_once)
    assert events == run(voice_detector(VadSettings(end_ms=500, noise_margin_db=None)), at_once)


def test_the_line_noise_is_the_last_one_heard_skipped_runs_included() -> None:
    """Noise, then a silent run only counted (skip): the line is quiet now, and a noise
    measured before must not hold the end of speech to its level."""
    detector = voice_detector(VadSettings(end_ms=500))
    run(detector, white_noise(1.0, amplitude=600))  # about -38 dBFS, not a voice
    noisy = detector.noise_dbfs
    assert noisy is not None and noisy > -45
    detector.skip(2 * 16_000)
    settings = detector.settings
    assert detector.noise_dbfs == settings.floor_dbfs - (settings.noise_margin_db or 0)
