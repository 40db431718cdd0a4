"""What a silent caller's voice detector costs, without SIP: the media clock's caller frames
through ``telephony.media.CallerAudioTap`` to a listener thread running Silero's detector.

    .venv/bin/python bench/vad_quiet.py                      # 4 calls, 15 s a side, 2 rounds
    .venv/bin/python bench/vad_quiet.py --baseline main --calls 4 --seconds 15 --rounds 3

Each side is a process of its own: a thread stands in for the media clock (every 40 ms, for
each call, one 8 kHz frame of A-law silence into the tap, whose recorder is a stub), and
each call has a listener thread as ``bench/sip_load_handler.VadWatcher`` runs it after the
menu (``speech.vad.VoiceDetector``). Sides: ``none`` (recorder only, nobody listens),
``batches`` (quiet frames in batches of 5: ``FrameQueue.quiet_dbfs`` and ``get_batch``) and,
where the tree has it, ``counted`` (a silent run only counted: ``FrameQueue.quiet_keep``
and ``get_counted``). With ``--baseline REV`` each side runs REV's code too (exported by
``baseline_tree.export``). Prints the process's CPU per call (% of a core) and the clock
thread's and listeners' shares, per side and round.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FRAME_S = 0.04


def side(mode: str, calls: int, seconds: float) -> dict[str, float]:
    """One side, in this process (its code from ``PYTHONPATH``)."""
    import array
    from collections import deque

    from speech.vad import voice_detector
    from telephony.media import CallerAudioTap, PromptPlayer

    silent = array.array("h", (8 if i % 3 else -8 for i in range(320))).tobytes()

    class Recorder:  # the tap appends each frame, as to telephony.recording.StereoRecorder
        def __init__(self) -> None:
            self.caller_frame = deque(maxlen=50).append

    stop = threading.Event()
    taps = []
    for _ in range(calls):
        tap = CallerAudioTap(PromptPlayer(8000))
        tap._recorder = Recorder()  # type: ignore[assignment]
        taps.append(tap)
    listener_cpu: list[float] = []

    def listen(tap: CallerAudioTap) -> None:
        frames = tap.subscribe(100)
        turn = voice_detector()
        frames.quiet_dbfs = turn.settings.floor_dbfs
        if mode == "counted":
            frames.quiet_keep = 16
        started = time.thread_time()
        while not stop.is_set():
            if mode == "counted":
                for item in frames.get_counted(1.0):
                    if isinstance(item, int):
                        turn.skip(item)
                    else:
                        turn.feed(item[0])
            else:
                batch = frames.get_batch(1.0)
                if batch:
                    turn.feed(b"".join(frame for frame, _ in batch))
        listener_cpu.append(time.thread_time() - started)

    clock_cpu = [0.0]

    def clock() -> None:
        started, tick = time.thread_time(), time.monotonic()
        while not stop.is_set():
            for tap in taps:
                tap.caller_frame(silent)
            tick += FRAME_S
            time.sleep(max(0.0, tick - time.monotonic()))
        clock_cpu[0] = time.thread_time() - started

    threads = [threading.Thread(target=listen, args=(tap,)) for tap in taps] \
        if mode != "none" else []
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    began, cpu = time.monotonic(), time.process_time()
    clocking = threading.Thread(target=clock)
    clocking.start()
    time.sleep(seconds)
    stop.set()
    clocking.join()
    for tap in taps:
        tap.close_all()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    return {"per_call": (time.process_time() - cpu) / elapsed * 100 / calls,
            "clock": clock_cpu[0] / elapsed * 100, "listeners": sum(listener_cpu) / elapsed * 100}


def run_side(tree: Path, mode: str, args: argparse.Namespace) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(tree), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--side", mode,
                          "--calls", str(args.calls), "--seconds", str(args.seconds)],
                         env=env, capture_output=True, text=True, check=True, cwd=tree)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=4, help="silent calls (a worker's: 4)")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured per side")
    parser.add_argument("--rounds", type=int, default=2, help="sides alternated this often")
    parser.add_argument("--baseline", default=None, help="git revision run beside this tree")
    parser.add_argument("--side", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(side(args.side, args.calls, args.seconds)))
        return
    trees = [("this tree", REPO)]
    baseline = None
    if args.baseline:
        from baseline_tree import export

        baseline = export(args.baseline)
        trees.insert(0, (args.baseline, baseline))
    try:
        print(f"{args.calls} silent calls per side, {args.seconds:g} s each; CPU in % of a "
              f"core (per call: the whole process / calls)")
        print(f"{'round':>5} {'code':<10} {'side':<8} {'per call':>8} {'clock':>6} "
              f"{'listeners':>9}")
        for round_no in range(1, args.rounds + 1):
            for name, tree in trees if round_no % 2 else list(reversed(trees)):
                counted = (tree / "telephony" / "media.py").read_text().count("get_counted")
                for mode in ("none", "batches", *(("counted",) if counted else ())):
                    got = run_side(tree, mode, args)
                    print(f"{round_no:>5} {name:<10} {mode:<8} {got['per_call']:>8.3f} "
                          f"{got['clock']:>6.2f} {got['listeners']:>9.2f}", flush=True)
    finally:
        if baseline is not None:
            import shutil

            shutil.rmtree(baseline, ignore_errors=True)


if __name__ == "__main__":
    main()
