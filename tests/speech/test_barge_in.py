"""Barge-in on real audio: the prompt's own echo at -10 dB never counts as speech, a caller
speaking over it does (after the minimum of voiced audio)."""

from __future__ import annotations

import array

import pytest

from speech.barge_in import BargeInDetector
from speech.synthetic import BYTES_PER_SECOND, frames, line_hiss, telephone_speech

ECHO_DB = -10.0


@pytest.fixture(scope="module")
def prompt() -> bytes:
    return telephone_speech("Bonjour, vous êtes bien au cabinet médical. Dites ce que vous "
                            "souhaitez, ou tapez 1 pour un rendez-vous.", voice="fr",
                            lead=0.1, trail=0.2)


def mix(*parts: tuple[bytes, float, int]) -> bytes:
    """Sum of (pcm, gain, delay in samples), as long as the longest."""
    length = max(len(pcm) // 2 + delay for pcm, _, delay in parts)
    out = [0.0] * length
    for pcm, gain, delay in parts:
        samples = array.array("h")
        samples.frombytes(pcm)
        for i, value in enumerate(samples):
            out[i + delay] += value * gain
    return array.array("h", (max(-32768, min(32767, round(v))) for v in out)).tobytes()


def echo_of(prompt: bytes, delay_ms: int) -> tuple[bytes, float, int]:
    return prompt, 10 ** (ECHO_DB / 20), delay_ms * 16


def hiss_for(pcm: bytes) -> tuple[bytes, float, int]:
    return line_hiss(len(pcm) / BYTES_PER_SECOND + 1.0, seed=8), 1.0, 0


def barged_at(detector: BargeInDetector, caller: bytes) -> float | None:
    for index, frame in enumerate(frames(caller)):
        if detector.feed(frame):
            return (index + 1) * 0.02
    return None


@pytest.mark.parametrize("delay_ms", [20, 120, 300])
def test_the_prompts_own_echo_never_barges_in(prompt: bytes, delay_ms: int) -> None:
    caller = mix(echo_of(prompt, delay_ms), hiss_for(prompt))
    detector = BargeInDetector(prompt)
    assert barged_at(detector, caller) is None
    assert detector.echo_frames > 0


def test_without_the_echo_guard_the_same_echo_would_barge_in(prompt: bytes) -> None:
    caller = mix(echo_of(prompt, 120), hiss_for(prompt))
    assert barged_at(BargeInDetector(b""), caller) is not None  # no reference: no guard


def test_a_caller_speaking_over_the_echo_barges_in(prompt: bytes) -> None:
    words = telephone_speech("안녕하세요 예약을 하고 싶습니다", lead=0.0, trail=0.0)
    start = int(1.5 * 16_000)
    caller = mix(echo_of(prompt, 120), hiss_for(prompt), (words, 1.0, start))
    at = barged_at(BargeInDetector(prompt), caller)
    assert at is not None and 1.5 <= at <= 2.6


def test_a_silent_caller_costs_no_echo_search(prompt: bytes, monkeypatch) -> None:
    """Frames under the detector's floor (a caller saying nothing) skip the FFT echo search;
    a loud frame (the prompt's echo) still goes through it."""
    detector = BargeInDetector(prompt)
    searches = []
    search = detector._best_match
    monkeypatch.setattr(detector, "_best_match", lambda *a: searches.append(1) or search(*a))
    quiet = bytes(1280)
    for _ in range(20):
        assert not detector.feed(quiet)
    assert searches == []
    for frame in frames(prompt[: BYTES_PER_SECOND]):
        detector.feed(frame)
    assert searches


def test_frames_taken_in_batches_barge_in_at_the_same_frame(prompt: bytes) -> None:
    """``feed_many`` (a batch per wake-up, silent runs joined) decides as frame by frame:
    a caller who speaks after silence over the echo is heard at the same frame."""
    words = telephone_speech("안녕하세요 예약을 하고 싶습니다", lead=0.0, trail=0.0)
    caller = mix(echo_of(prompt, 120), hiss_for(prompt), (words, 1.0, int(1.5 * 16_000)))
    caller = bytes(BYTES_PER_SECOND) + caller  # a second of digital silence first
    one_by_one = BargeInDetector(b"\0" * BYTES_PER_SECOND + prompt)
    expected = barged_at(one_by_one, caller)
    batched = BargeInDetector(b"\0" * BYTES_PER_SECOND + prompt)
    chunks = list(frames(caller))
    at = None
    for start in range(0, len(chunks), 5):
        if batched.feed_many(chunks[start : start + 5]):
            at = start
            break
    assert expected is not None and at is not None
    frame = round(expected / 0.02) - 1
    assert at <= frame < at + 5  # in the batch that holds that frame
    assert batched.detector.starts == one_by_one.detector.starts == 1
    assert batched.echo_frames == one_by_one.echo_frames


@pytest.mark.parametrize("keep", [3, 16])
def test_silent_runs_only_counted_barge_in_at_the_same_sample(prompt: bytes, keep: int) -> None:
    """Through a narrowband call's queue, a watcher handed silent runs as their length
    (FrameQueue.get_counted) hears the caller at the same sample as one handed every frame,
    with the echo taken out of the same frames."""
    import random

    from telephony.media import CallerAudioTap, PromptPlayer
    from telephony.resample import downsample

    words = telephone_speech("안녕하세요 예약을 하고 싶습니다", lead=0.0, trail=0.0)
    caller = mix(echo_of(prompt, 120), hiss_for(prompt), (words, 1.0, int(2.5 * 16_000)))
    narrow = bytes(BYTES_PER_SECOND) + downsample(caller)  # 2 s of digital silence first
    reference = b"\0" * 2 * BYTES_PER_SECOND + prompt
    tap = CallerAudioTap(PromptPlayer(8000))
    every, counted = tap.subscribe(500), tap.subscribe(500)
    counted.quiet_dbfs, counted.quiet_keep = -50.0, keep
    one, other = BargeInDetector(reference), BargeInDetector(reference)
    heard, at, runs = [0, 0], [None, None], 0
    rng = random.Random(keep)
    for start in range(0, len(narrow) - 639, 640):
        tap.caller_frame(narrow[start : start + 640])
        while at[0] is None and (item := every.get(0)) is not None:
            heard[0] += len(item[0]) // 2
            if one.feed(item[0]):
                at[0] = heard[0]
        if at[1] is None and rng.random() < 0.4:
            for chunk in counted.get_counted(0):
                runs += isinstance(chunk, int)
                heard[1] += chunk if isinstance(chunk, int) else len(chunk[0]) // 2
                if other.feed_many([chunk if isinstance(chunk, int) else chunk[0]]):
                    at[1] = heard[1]
                    break
    assert at[0] is not None and at[1] == at[0] and runs > 0
    assert other.echo_frames == one.echo_frames > 0
    assert other.detector.model_windows == one.detector.model_windows
