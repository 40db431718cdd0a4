"""How many concurrent recorded calls this machine holds: Kamailio + pjsua2 workers under sipp.

    .venv/bin/python bench/sip_load.py             # full run: 30 workers, 8..120 calls (~5 min)
    .venv/bin/python bench/sip_load.py --quick     # CI smoke: 2 workers, 4 then 8 calls (~40 s)
    .venv/bin/python bench/sip_load.py --workers 25 --levels 50,100 --hold 15 --profile
    .venv/bin/python bench/sip_load.py --levels 100 --callers silent --baseline main \
        --compare-vad --rounds 2          # main vs this tree, each without and with the VAD

The pool (telephony.supervisor: Kamailio front + N pjsua2 workers running
bench/sip_load_handler.py:menu_recorded, recording every call into the encrypted vault of
a throwaway data directory) runs on loopback. For each concurrency level, sipp places the
calls through Kamailio (SIP only); this script plays the callers' media itself, one RTP
socket per call: it receives the engine's prompt RTP, sends synthesised speech (espeak-ng
+ sox, 8 kHz G.711 A-law), presses one RFC 4733 key once the menu prompt is heard, and
times the next prompt. Levels rise until one has failed calls.

Per level: calls attempted/succeeded/failed; audio gaps (caller side: engine RTP packets
lost, or later than a 60 ms jitter allowance by their kernel arrival time; engine side:
frames the media clock never produced, frames missing from the recording, jitter-buffer
underruns); CPU of all pool processes (workers + Kamailio) over the plateau where all
calls are up, in % of one core, per call; pool memory (sum of PSS) in total and per
call; key-to-prompt delay p50/p95 from the caller (first RFC 4733 packet sent -> first
packet of the next prompt received) and from the engine (key event -> first prompt frame).
The last line, ``RESULT ...``, sums it up.

The callers' media is bench/rtp_caller.py, the pool's CPU by thread bench/pool_usage.py,
the figures and their printing bench/sip_load_report.py; this script runs the levels.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from interruptible import main_of, signals_held
from pool_usage import cpu_by_thread_name, pool_pids, relay_cpu_seconds, thread_cpu
from rtp_caller import ALAW_SILENCE, CallerMedia, synthesise_caller_speech
from sip_load_report import (
    LEGEND,
    LevelResult,
    print_header,
    print_row,
    summarise_profile,
    summary,
)

from foundation.errors import TelesecError
from foundation.port_probe import loopback_port_free
from foundation.processes import cpu_seconds, signal_group
from foundation.settings import load_settings
from telephony.audio import FRAME_MS
from telephony.pool_settings import PoolTuning
from telephony.rtp_ports import derived_rtp_port
from telephony.supervisor import Supervisor

REPO = Path(__file__).resolve().parents[1]
HANDLER = "bench.sip_load_handler:menu_recorded"
SCENARIO = REPO / "bench" / "sipp" / "caller_menu.xml"
FULL_LEVELS = (8, 16, 32, 48, 64, 80, 100, 120)
QUICK_LEVELS = (4, 8)


# ---------------------------------------------------------------------------- ports


@dataclass(frozen=True)
class Ports:
    """A block of 100 ports: front B, workers B+10.., sipp B+60, sipp media B+70."""

    base: int

    @property
    def front(self) -> int:
        return self.base

    @property
    def workers(self) -> int:
        return self.base + 10

    @property
    def sipp(self) -> int:
        return self.base + 60

    @property
    def sipp_media(self) -> int:
        return self.base + 70

    def free(self, workers: int) -> bool:
        ports = [self.front, self.sipp, self.sipp_media, self.sipp_media + 2,
                 *range(self.workers, self.workers + workers)]
        # each worker's first RTP port (the supervisor moves a busy block elsewhere)
        ports += [derived_rtp_port(self.workers + i) for i in range(workers)]
        return all(loopback_port_free(p) for p in ports)


def choose_ports(requested: int | None, workers: int) -> Ports:
    candidates = [requested] if requested else [16600, 16700, 16800, 16900]
    for base in candidates:
        if Ports(base).free(workers):
            return Ports(base)
    raise TelesecError(
        f"no free block of loopback ports at {', '.join(map(str, candidates))}; "
        "stop what uses them or pass --port-base"
    )


def kill_group(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        signal_group(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)


# ---------------------------------------------------------------------------- levels


@dataclass
class Bench:
    args: argparse.Namespace
    pool: Supervisor
    ports: Ports
    workdir: Path
    report: Path
    speech: bytes
    idle_pss_kb: int
    profiles: dict[int, str] = field(default_factory=dict)

    def run_level(self, level: int, *, warmup: bool = False) -> LevelResult:
        """Place ``level`` calls at once, measure the plateau, wait until all ended."""
        args = self.args
        result = LevelResult(level, attempted=level)
        ramp = level / args.rate
        plateau = 1.0 if warmup else args.plateau
        hold = math.ceil(ramp * 1.5 + plateau + 4)
        name = "warmup" if warmup else "lvl"
        service = f"{name}{level}-hold{hold}"
        media = CallerMedia(level, self.speech, args.jitter_ms)
        level_dir = self.workdir / f"{name}-{level}"
        level_dir.mkdir()
        injection = level_dir / "ports.csv"
        media.write_injection(injection)
        scenario = level_dir / "caller.xml"
        scenario.write_text(SCENARIO.read_text().replace(
            "@BYE_TIMEOUT_MS@", str(int((hold + 30) * 1000))))
        stats = level_dir / "stats.csv"
        command = [
            "sipp", f"127.0.0.1:{self.ports.front}", "-sf", str(scenario),
            "-inf", str(injection), "-s", service, "-m", str(level), "-l", str(level),
            "-r", f"{args.rate:g}", "-i", "127.0.0.1", "-p", str(self.ports.sipp),
            "-mp", str(self.ports.sipp_media), "-timeout", f"{int(hold + 60)}s",
            "-timeout_error", "-nostdin", "-trace_err", "-error_file",
            str(level_dir / "errors.log"), "-trace_stat", "-stf", str(stats),
            "-max_recv_loops", "1000",
        ]
        sipp: subprocess.Popen | None = None
        profiler: subprocess.Popen | None = None
        restarts_before = self.pool.status().restarts
        try:
            sipp = subprocess.Popen(command, cwd=level_dir, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
            deadline = time.monotonic() + ramp * 2 + 10
            while media.calls_up < level and time.monotonic() < deadline \
                    and sipp.poll() is None:
                time.sleep(0.05)
            if media.calls_up < level:
                result.notes.append(f"only {media.calls_up}/{level} calls up")
            time.sleep(0.3)
            workers, front = pool_pids(self.pool)
            started = time.monotonic()
            cpu0 = cpu_seconds(workers), cpu_seconds(front)
            relay0 = relay_cpu_seconds(self.pool)
            gen0 = cpu_seconds([os.getpid(), sipp.pid])
            threads0 = thread_cpu(workers)
            if args.profile and not warmup and level == self.profile_level():
                profiler = self.start_profiler(workers[0], level_dir)
            time.sleep(plateau / 2)
            pss = sum(self.pool.memory_pss_kb().values())
            time.sleep(plateau / 2)
            elapsed = time.monotonic() - started
            cpu1 = cpu_seconds(workers), cpu_seconds(front)
            result.cpu_relay_pct = (relay_cpu_seconds(self.pool) - relay0) / elapsed * 100
            gen1 = cpu_seconds([os.getpid(), sipp.pid])
            result.cpu_threads = cpu_by_thread_name(threads0, thread_cpu(workers), elapsed)
            unread = (cpu1[0] - cpu0[0]) / elapsed * 100 - sum(result.cpu_threads.values())
            if unread > 1:  # threads gone or unreadable between the two readings
                result.cpu_threads["(not attributed)"] = unread
            result.plateau_s = elapsed
            result.cpu_pool_pct = ((cpu1[0] - cpu0[0]) + (cpu1[1] - cpu0[1])) / elapsed * 100
            result.cpu_kamailio_pct = (cpu1[1] - cpu0[1]) / elapsed * 100
            result.cpu_generator_pct = (gen1 - gen0) / elapsed * 100
            result.mem_total_mb = pss / 1024
            result.mem_added_mb = (pss - self.idle_pss_kb) / 1024 / level
            if media.calls_up < level:
                result.notes.append("CPU/memory measured with fewer calls up")
            try:
                sipp.wait(hold + 90)
            except subprocess.TimeoutExpired:
                result.notes.append("sipp ran over its time")
            if profiler is not None:
                self.profiles[level] = self.finish_profiler(profiler, level_dir)
                profiler = None
        finally:
            kill_group(sipp)
            kill_group(profiler)
            time.sleep(0.5)
            media.close()
        result.sipp_failed = _sipp_failed(stats, level)
        self.collect(result, media, service)
        result.sender_late_max_ms = media.sender_late_max_ms
        if media.sender_late_max_ms > 40:
            result.notes.append(f"load generator's RTP sender up to "
                                f"{media.sender_late_max_ms:.0f} ms late")
        late_at = sorted(t for c in media.calls for t in c.late_at)
        if late_at:
            result.notes.append("late engine packets at " + ", ".join(
                f"{t:.1f}" for t in late_at[:12]) + " s into their calls")
        _dump_calls(media, level_dir / "callers.jsonl")
        if media.sender_skipped_ticks:
            result.notes.append(f"load generator skipped {media.sender_skipped_ticks} ticks")
        result.restarts = self.pool.status().restarts - restarts_before
        if result.restarts:
            result.notes.append(f"{result.restarts} worker restart(s)")
        result.loadavg = os.getloadavg()[0]
        time.sleep(2.5)  # worker ports are deleted 2 s after their call
        return result

    def collect(self, result: LevelResult, media: CallerMedia, service: str) -> None:
        records = [r for r in _read_report(self.report) if r.get("dialled") == service]
        ok_engine = sum(1 for r in records if r.get("ok"))
        ok_caller = sum(1 for c in media.calls if c.next_prompt_at)
        result.succeeded = min(ok_engine, ok_caller, result.level - result.sipp_failed)
        result.failed = result.level - result.succeeded
        if ok_engine < result.level:
            reasons = Counter(r.get("ended") or r.get("error") or "?" for r in records
                              if not r.get("ok"))
            missing = result.level - len(records)
            detail = ", ".join(f"{n} {why}" for why, n in reasons.items())
            result.notes.append(f"engine: {ok_engine} ok, {missing} never answered"
                                + (f", {detail}" if detail else ""))
        if ok_caller < result.level:
            result.notes.append(f"caller: next prompt heard on {ok_caller} calls")
        for call in media.calls:
            result.lost += call.lost
            result.late += call.late
            result.late_max_ms = max(result.late_max_ms, call.late_max_ms)
            if call.key_to_prompt_ms is not None:
                result.k2p_caller.append(call.key_to_prompt_ms)
        vad = [r for r in records if "vad_frames" in r]
        if vad:
            result.notes.append(
                f"VAD watched {len(vad)} calls: {sum(r['vad_frames'] for r in vad)} frames, "
                f"{sum(r['vad_model_windows'] for r in vad)} windows scored by Silero")
        for record in records:
            result.clock_deficit_ms = max(result.clock_deficit_ms,
                                          record.get("clock_deficit_ms", 0.0))
            if "rec_expected_ms" in record:
                result.rec_deficit_ms = max(result.rec_deficit_ms,
                                            record["rec_expected_ms"] - record["rec_ms"])
            result.jb_empty += record.get("jb_empty", 0)
            result.jb_lost += record.get("jb_lost", 0)
            result.sink_open_ms_max = max(result.sink_open_ms_max,
                                          record.get("sink_open_ms", 0.0))
            if record.get("key_to_prompt_ms") is not None:
                result.k2p_engine.append(record["key_to_prompt_ms"])

    def profile_level(self) -> int:
        levels = [lv for lv in self.args.level_list if lv <= self.capacity]
        return self.args.profile_level or levels[len(levels) // 2]

    @property
    def capacity(self) -> int:
        return self.args.workers * 4

    def start_profiler(self, pid: int, level_dir: Path) -> subprocess.Popen | None:
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(py_spy).exists():
            return None
        return subprocess.Popen(
            [py_spy, "record", "--pid", str(pid), "--duration", str(max(2, int(self.args.plateau))),
             "--rate", "100", "--format", "raw", "--nonblocking", "--threads",
             "-o", str(level_dir / "profile.txt")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def finish_profiler(self, profiler: subprocess.Popen, level_dir: Path) -> str:
        try:
            profiler.wait(self.args.plateau + 20)
        except subprocess.TimeoutExpired:
            return "py-spy did not finish"
        path = level_dir / "profile.txt"
        return summarise_profile(path) if path.exists() else "py-spy wrote no profile"


def _dump_calls(media: CallerMedia, path: Path) -> None:
    """What each caller saw (for --keep): ports and counters, no audio."""
    with path.open("w") as out:
        for c in media.calls:
            out.write(json.dumps({
                "port": c.port, "packets": c.packets, "lost": c.lost, "late": c.late,
                "late_max_ms": round(c.late_max_ms, 1), "late_at": c.late_at,
                "key_to_prompt_ms": c.key_to_prompt_ms, "menu": bool(c.menu_at),
            }) + "\n")


def _read_report(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            out.append(json.loads(line))
    return out


def _sipp_failed(stats: Path, level: int) -> int:
    try:
        rows = list(csv.reader(stats.open(), delimiter=";"))
        header, last = rows[0], rows[-1]
        return int(last[header.index("FailedCall(C)")])
    except (OSError, IndexError, ValueError):
        return level  # no statistics: count every call as failed


# ---------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke: 2 workers, levels 4,8, short calls")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (30)")
    parser.add_argument("--levels", default=None,
                        help="comma-separated concurrency levels (8,16,32,48,64,80,100,120)")
    parser.add_argument("--rate", type=float, default=20.0, help="new calls per second")
    parser.add_argument("--plateau", type=float, default=None,
                        help="seconds measured with every call of a level up (10)")
    parser.add_argument("--jitter-ms", type=float, default=60.0,
                        help="lateness a caller's jitter buffer hides (60 ms)")
    parser.add_argument("--sink", choices=("vault", "memory"), default="vault",
                        help="record into the encrypted vault, or count bytes in memory")
    parser.add_argument("--vad", action="store_true",
                        help="watch every caller with Silero VAD in the workers, as an IVR "
                             "with speech on (bench/sip_load_handler.py: VadWatcher)")
    parser.add_argument("--vad-eager", action="store_true",
                        help="with --vad: every caller frame wakes the VAD thread (the "
                             "default leaves quiet frames to be taken in batches)")
    parser.add_argument("--callers", choices=("speech", "silent"), default="speech",
                        help="after the key, callers send synthesised speech or silence")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy one worker during the plateau of --profile-level")
    parser.add_argument("--profile-level", type=int, default=0,
                        help="level to profile (default: the highest)")
    parser.add_argument("--port-base", type=int, default=None,
                        help="first of 100 loopback ports (default: 16600..16900, first free)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--via-relay", action="store_true",
                        help="media through the front's rtpengine (as `telesec serve` runs "
                             "it); reports the relay's CPU beside the pool's")
    parser.add_argument("--relay-ports", type=int, default=24000,
                        help="first of the relay's 1000 RTP ports (with --via-relay)")
    parser.add_argument("--baseline", default=None,
                        help="git revision (e.g. main) run side by side with this tree, each "
                             "side a run of its own (bench/sip_load_sides.py)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="with --baseline: alternate the sides this many times")
    parser.add_argument("--compare-vad", action="store_true",
                        help="with --baseline: each tree without and with --vad (4 sides)")
    args = parser.parse_args(argv)
    if args.compare_vad and not args.baseline:
        parser.error("--compare-vad goes with --baseline")
    args.workers = args.workers or (2 if args.quick else 30)
    if not 1 <= args.workers <= 50:  # B+10..B+59 in the block of 100 ports
        parser.error("--workers must be 1..50")
    if args.levels:
        args.level_list = sorted({int(x) for x in args.levels.split(",") if x.strip()})
    else:
        args.level_list = list(QUICK_LEVELS if args.quick else FULL_LEVELS)
    args.plateau = args.plateau or (2.0 if args.quick else 10.0)
    return args


def start_pool(args: argparse.Namespace, ports: Ports, workdir: Path,
               report: Path) -> Supervisor:
    from storage.keyring import Keyring
    from storage.migrate import upgrade

    data_dir = workdir / "data"
    data_dir.mkdir()
    settings = load_settings(data_dir=data_dir, sip={
        "listen_host": "127.0.0.1", "listen_port": ports.front,
        "worker_base_port": ports.workers, "workers": args.workers,
        "allowed_networks": ["127.0.0.0/8"],
        # without --via-relay: RTP straight to the workers, the figures of earlier runs
        "media": {"relay": "on" if args.via_relay else "off",
                  "port_min": args.relay_ports, "port_max": args.relay_ports + 999},
    })
    keyring = Keyring.create(settings.effective_keyring_path)
    upgrade(settings.effective_database_url, keyring=keyring)  # keys the audit trail
    os.environ.update({
        "TELESEC_DATA_DIR": str(data_dir),
        "SIP_LOAD_REPORT": str(report),
        "SIP_LOAD_SINK": args.sink,
        "SIP_LOAD_VAD": "1" if args.vad else "0",
        "SIP_LOAD_VAD_LAZY": "0" if args.vad_eager else "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    })
    tuning = PoolTuning(flood_requests=100_000, drain_deadline_s=3.0, ready_timeout_s=180.0,
                        worker_answer_timeout_ms=4000)
    pool = Supervisor(settings, HANDLER, tuning=tuning, run_dir=workdir / "run")
    pool.start()
    if pool.status().front != "kamailio":
        pool.stop(deadline=1)
        raise TelesecError("Kamailio is not installed: the benchmark needs the pool's front")
    return pool


def idle_pool_cpu(pool: Supervisor, seconds: float) -> float:
    """% of one core the pool uses with no call (workers + Kamailio)."""
    workers, front = pool_pids(pool)
    before, started = cpu_seconds(workers + front), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(workers + front) - before) / (time.monotonic() - started) * 100


def run(args: argparse.Namespace) -> int:
    load_start = os.getloadavg()[0]
    ports = choose_ports(args.port_base, args.workers)
    workdir = Path(tempfile.mkdtemp(prefix="sip_load-"))
    pool: Supervisor | None = None
    results: list[LevelResult] = []
    try:
        speech = synthesise_caller_speech(workdir)
        if args.callers == "silent":
            speech = bytes([ALAW_SILENCE]) * len(speech)
        report = workdir / "calls.jsonl"
        started = time.monotonic()
        pool = start_pool(args, ports, workdir, report)
        print(f"pool: {args.workers} workers behind Kamailio on 127.0.0.1:{ports.front}, "
              f"up in {time.monotonic() - started:.1f} s (each opens the vault at start); "
              f"recording sink: "
              f"{'encrypted vault (SQLite)' if args.sink == 'vault' else 'in-memory counter'}; "
              f"media: {'through rtpengine' if args.via_relay else 'straight to the workers'}; "
              f"callers after the key: {args.callers}; "
              f"Silero VAD on every call: {'yes' if args.vad else 'no'}; "
              f"load average {load_start:.2f} on {os.cpu_count()} cores", flush=True)
        time.sleep(1.0)
        bench = Bench(args, pool, ports, workdir, report, speech, 0)
        # one call per worker first: first-call costs (thread and port creation, lazy
        # imports) are not what a level should measure
        warm = bench.run_level(args.workers, warmup=True)
        time.sleep(1.0 if args.quick else 5.0)
        bench.idle_pss_kb = sum(pool.memory_pss_kb().values())
        idle_cpu = idle_pool_cpu(pool, 2.0 if args.quick else 4.0)
        print(f"warm-up: {warm.succeeded}/{warm.level} calls ok (one per worker), "
              f"{warm.late} late engine packet event(s) (worst {warm.late_max_ms:.0f} ms). "
              f"Idle pool: {bench.idle_pss_kb / 1024:.0f} MB PSS, {idle_cpu:.1f} % of a core",
              flush=True)
        print_header()
        lossy = 0
        for level in args.level_list:
            if level > bench.capacity:
                print(f"      (level {level} skipped: {args.workers} workers hold "
                      f"{bench.capacity} calls)", flush=True)
                continue
            result = bench.run_level(level)
            results.append(result)
            print_row(result)
            lossy = lossy + 1 if result.audio_lost else 0
            if result.failed or lossy >= 2:
                why = "failed calls" if result.failed else "lost audio at two levels in a row"
                print(f"      (stopped rising: {why})", flush=True)
                break
        print(LEGEND.format(jitter=args.jitter_ms, frame_ms=FRAME_MS))
        for level, text in bench.profiles.items():
            print(f"profile of one worker at {level} calls:\n{text}")
        print(summary(results, args, load_start, idle_cpu), flush=True)
        return 0 if results and results[0].failed == 0 else 1
    finally:
        with signals_held():
            if pool is not None:
                pool.stop(deadline=3)
            if args.keep:
                print(f"work directory kept: {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)


def run_or_sides(args: argparse.Namespace) -> int:
    if args.baseline:
        from sip_load_sides import run_sides

        return run_sides(args, sys.argv[1:])
    return run(args)


def main() -> None:
    main_of("sip_load", parse_args, run_or_sides, errors=(TelesecError,))


if __name__ == "__main__":
    main()
