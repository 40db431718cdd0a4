"""Turn-taking benchmark: end of the caller's speech → final result, before and after.

Each simulated caller answers questions by voice (espeak-ng Korean through the 8 kHz
telephone band, fed live in 20 ms frames, the line going on with hiss or noise after the
answer). Two ways of ending the turn run side by side on the same audio and engine:

* before: main's path, the utterance ends at Vosk's own endpoint or at the energy check
  (``quiet_after_speech``, 1.2 s under -40 dBFS);
* after: ``speech.turns.TurnTaker``: Silero VAD decides the end of speech and the recognizer
  is finalized at once; a closed question (yes/no) ends after ``closed_end_ms`` once the
  partial answers it, an open one after ``end_ms``.

The delay is measured from the frame carrying the last voiced sample (as a caller's line
delivers it) to the final result. "cut" counts answers ended before the caller finished (an
open answer has a 300 ms pause in the middle). Also printed: the VAD's CPU per second of
listening, speaking and silent.

Usage: python bench/turns.py [--quick] [--levels 1,4,8] [--rounds 2]
Other processes on the machine change the figures: the load average is printed.
"""

from __future__ import annotations

import argparse
import array
import os
import random
import sys
import threading
import time
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.asr import korean_model, percentile
from speech.models import ModelRegistry
from speech.recognizer import EndReason, SpeechEngine, StreamRefused, UtteranceLimits
from speech.synthetic import BYTES_PER_SECOND, frames, line_hiss, words_only
from speech.turns import TurnSettings, TurnTaker
from speech.vad import voice_detector

YES_NO = ["네", "네 맞습니다", "아니요"]
CLOSED = ["네 맞습니다", "아니요"]
OPEN = [("다음 주 화요일", "오후 세 시에 가능합니다"), ("내일 오전에", "진료 가능한가요")]
PAUSE = 0.3  # seconds of pause in the middle of an open answer
LEAD = 0.4
TURN = TurnSettings()
RESULT_WAIT = 60.0  # seconds; a result later than this is counted as "late"


@dataclass(frozen=True)
class Clip:
    kind: str  # "closed" or "open"
    pcm: bytes  # lead + speech (+ pause + speech) without the trailing line
    speech_end: float  # seconds: end of the frame with the last voiced sample


def _level(frame: bytes) -> float:
    samples = array.array("h")
    samples.frombytes(frame)
    return max((abs(s) for s in samples), default=0)


def _last_voiced(pcm: bytes) -> float:
    loud = [i for i, frame in enumerate(frames(pcm)) if _level(frame) > 1000]
    return (loud[-1] + 1) * 0.02 if loud else 0.0


def _speak(text: str) -> bytes:
    return words_only(text)


def make_clips() -> list[Clip]:
    clips = []
    for word in CLOSED:
        pcm = line_hiss(LEAD, seed=4) + _speak(word)
        clips.append(Clip("closed", pcm, _last_voiced(pcm)))
    for first, second in OPEN:
        pcm = line_hiss(LEAD, seed=4) + _speak(first) + line_hiss(PAUSE, seed=6) + _speak(second)
        clips.append(Clip("open", pcm, _last_voiced(pcm)))
    return clips


def noise_level(clips: list[Clip], below_speech_db: float) -> float:
    """Standard deviation of white noise ``below_speech_db`` under the speech's RMS level."""
    import numpy as np

    samples = np.frombuffer(b"".join(c.pcm for c in clips), dtype="<i2").astype(np.float64)
    voiced = samples[np.abs(samples) > 1000]
    return float(np.sqrt(np.mean(voiced**2))) * 10 ** (-below_speech_db / 20)


def with_noise(pcm: bytes, sigma: float, seed: int) -> bytes:
    """``pcm`` plus white noise of standard deviation ``sigma``."""
    import numpy as np

    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    noise = np.random.default_rng(seed).normal(0, sigma, len(samples))
    return np.clip(samples + noise, -32768, 32767).astype("<i2").tobytes()


def satisfied_by(phrases: list[str]):
    words = {w for p in phrases for w in p.split()}
    return lambda partial: bool(words & set(partial.split()))


def one_answer(engine: SpeechEngine, clip: Clip, after: bool, line: bytes, out: dict) -> None:
    limits = UtteranceLimits(vosk_endpoint=not after, queue_seconds=30.0)
    phrases = YES_NO if clip.kind == "closed" else None
    stream = engine.start_utterance("ko", phrases=phrases, limits=limits)
    if isinstance(stream, StreamRefused):
        out["refused"] += 1
        return
    taker = None
    if after:
        satisfied = satisfied_by(YES_NO) if clip.kind == "closed" else None
        taker = TurnTaker(stream, settings=TURN, satisfied=satisfied)
    pieces = frames(clip.pcm + line)
    end_frame = round(clip.speech_end / 0.02) - 1
    started = time.monotonic()
    speech_end_at = None
    for index, frame in enumerate(pieces):
        pause = started + (index + 1) * 0.02 - time.monotonic()  # a frame arrives at its end
        if pause > 0:
            time.sleep(pause)
        if stream.done:
            break
        over = taker.feed(frame) if taker is not None else not stream.feed(frame)
        if index == end_frame:
            speech_end_at = time.monotonic()
        if over:
            break
    try:
        result = stream.result(RESULT_WAIT)
    except FuturesTimeout:  # the decoder is that far behind: count it, do not wait forever
        stream.cancel()
        out["late"] += 1
        return
    if result.end_reason is EndReason.OVERLOADED:
        out["overloaded"] += 1
    elif speech_end_at is None:
        out["cut"].append(clip.kind)
    else:
        out[clip.kind].append(result.finished_at - speech_end_at)


def caller(engine, clips, after: bool, rounds: int, seed: int, line: bytes, noise, out) -> None:
    rng = random.Random(seed)
    time.sleep(rng.uniform(0, 0.3))
    for _ in range(rounds):
        for clip in rng.sample(clips, len(clips)):
            if noise is not None:
                clip = Clip(clip.kind, with_noise(clip.pcm, noise, rng.randint(0, 999)),
                            clip.speech_end)
            one_answer(engine, clip, after, line, out)
            time.sleep(rng.uniform(0.05, 0.2))


def level(engine, clips, calls: int, after: bool, rounds: int, noise) -> dict:
    out: dict = {"closed": [], "open": [], "cut": [], "overloaded": 0, "refused": 0,
                 "late": 0}
    line = line_hiss(4.0, seed=9)
    if noise is not None:
        line = with_noise(line, noise, 1)  # the noise goes on after the answer
    threads = [threading.Thread(target=caller,
                                args=(engine, clips, after, rounds, seed, line, noise, out))
               for seed in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def figures(delays: list[float]) -> str:
    if not delays:
        return f"{'-':>6} {'-':>6}"
    return f"{percentile(delays, 0.5):>6.2f} {percentile(delays, 0.95):>6.2f}"


def vad_cpu(clips: list[Clip]) -> tuple[float, float]:
    """CPU ms of the VAD per second of speech and per second of a silent line."""
    detector = voice_detector()
    speech = b"".join(c.pcm for c in clips)
    silent = line_hiss(10.0, seed=12)
    costs = []
    for pcm in (speech, silent):
        started = time.process_time()
        for frame in frames(pcm):
            detector.feed(frame)
        costs.append((time.process_time() - started) * 1000 / (len(pcm) / BYTES_PER_SECOND))
    return costs[0], costs[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke: one call, one round")
    parser.add_argument("--levels", default="1,4,8", help="concurrent speaking callers")
    parser.add_argument("--rounds", type=int, default=2, help="answers of each clip per caller")
    args = parser.parse_args()
    levels = [1] if args.quick else [int(x) for x in args.levels.split(",")]
    rounds = 1 if args.quick else args.rounds
    variants: list[tuple[str, float | None]] = [("hiss", None)]

    print(f"cpus: {os.cpu_count()}   load average before: {os.getloadavg()[0]:.2f}")
    began = time.monotonic()
    registry = ModelRegistry({"ko": korean_model()})
    registry.preload()
    clips = make_clips()
    if not args.quick:
        variants.append(("noise-20dB", noise_level(clips, 20.0)))
    engine = SpeechEngine(registry, max_concurrent_streams=max(levels) + 1,
                          limits=UtteranceLimits(queue_seconds=30.0))
    detector = voice_detector()
    print(f"voice detector: {detector.kind}; turn: open end {TURN.end_ms} ms, closed "
          f"{TURN.closed_end_ms} ms once answered; open answers pause {PAUSE * 1000:.0f} ms")
    print("\nend of speech -> final result, seconds (p50 p95); before = Vosk endpoint/energy, "
          "after = VAD + finalize at once")
    print(f"{'line':<11} {'calls':>5} {'kind':<7} {'before p50':>10} {'p95':>6}   "
          f"{'after p50':>9} {'p95':>6}   {'cut b/a':>7}")
    for name, noise in variants:
        for calls in levels:
            before = level(engine, clips, calls, False, rounds, noise)
            after = level(engine, clips, calls, True, rounds, noise)
            for kind in ("closed", "open"):
                cut = f"{before['cut'].count(kind)}/{after['cut'].count(kind)}"
                print(f"{name:<11} {calls:>5} {kind:<7} {figures(before[kind]):>17}   "
                      f"{figures(after[kind]):>16}   {cut:>7}")
            lost = {key: before[key] + after[key] for key in ("overloaded", "refused", "late")}
            if any(lost.values()):
                print(f"{'':<11} {calls:>5} not measured: " +
                      ", ".join(f"{key} {count}" for key, count in lost.items() if count))
    engine.shutdown()
    speaking, silent = vad_cpu(clips)
    print(f"\nVAD CPU per listening call: {speaking:.1f} ms per s of speech, "
          f"{silent:.2f} ms per s of silent line")
    print(f"load average after: {os.getloadavg()[0]:.2f}   total {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
