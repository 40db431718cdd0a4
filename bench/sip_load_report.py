"""What one level of bench/sip_load.py measured, and how it is printed.

``LevelResult`` holds a level's figures and says whether it was clean; ``print_header``,
``print_row`` and ``LEGEND`` make the table, ``summary`` the closing ``RESULT`` line,
``summarise_profile`` the py-spy profile of one worker.
"""

from __future__ import annotations

import argparse
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from telephony.audio import FRAME_MS

# A call's media clock may lag by up to two of its frames and a recording miss 100 ms
# (counting is at frame granularity) before the level counts as audio lost
CLOCK_SLACK_MS = 2 * FRAME_MS
RECORDING_SLACK_MS = max(100, 2 * FRAME_MS)


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (nearest rank) of ``values``; None for no value."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, math.ceil(q / 100 * len(ordered)) - 1)
    return ordered[rank]


@dataclass
class LevelResult:
    """What one concurrency level measured (LEGEND says what each column means)."""

    level: int
    attempted: int = 0
    succeeded: int = 0
    failed: int = 0
    sipp_failed: int = 0
    lost: int = 0
    late: int = 0
    late_max_ms: float = 0.0
    clock_deficit_ms: float = 0.0
    rec_deficit_ms: int = 0
    jb_empty: int = 0
    jb_lost: int = 0
    cpu_pool_pct: float = 0.0
    cpu_threads: dict[str, float] = field(default_factory=dict)
    cpu_kamailio_pct: float = 0.0
    cpu_relay_pct: float = 0.0  # rtpengine (--via-relay), not in cpu_pool_pct
    cpu_generator_pct: float = 0.0
    mem_total_mb: float = 0.0
    mem_added_mb: float = 0.0
    k2p_caller: list[float] = field(default_factory=list)
    k2p_engine: list[float] = field(default_factory=list)
    sender_late_max_ms: float = 0.0
    sink_open_ms_max: float = 0.0
    loadavg: float = 0.0
    plateau_s: float = 0.0
    restarts: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def audio_lost(self) -> bool:
        """Audio that never existed: engine RTP never sent, media clock or recording holes."""
        return (self.lost > 0 or self.clock_deficit_ms > CLOCK_SLACK_MS
                or self.rec_deficit_ms > RECORDING_SLACK_MS)

    @property
    def clean(self) -> bool:
        """No failed call, no lost audio, and no engine packet later than the allowance."""
        return self.failed == 0 and not self.audio_lost and self.late == 0

    @property
    def no_loss(self) -> bool:
        """No failed call and no lost audio (late packets, i.e. jitter, allowed)."""
        return self.failed == 0 and not self.audio_lost

    @property
    def cpu_per_call(self) -> float:
        return self.cpu_pool_pct / self.level if self.level else 0.0

    @property
    def mem_per_call_mb(self) -> float:
        return self.mem_total_mb / self.level if self.level else 0.0


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_header() -> None:
    print(f"{'calls':>5} {'ok':>4} {'fail':>4} {'lost':>4} {'late':>4} {'lateMax':>7} "
          f"{'clkDef':>6} {'recDef':>6} {'jbEmpty':>7} {'CPU%':>6} {'%/call':>6} "
          f"{'kam%':>5} {'gen%':>5} {'MB':>6} {'MB/call':>7} {'+MB/c':>6} {'k2p50':>5} "
          f"{'k2p95':>5} "
          f"{'eng50':>5} {'eng95':>5} {'load':>5} {'relay%':>6} {'rel/c':>5}", flush=True)


def print_row(r: LevelResult) -> None:
    print(f"{r.level:>5} {r.succeeded:>4} {r.failed:>4} {r.lost:>4} {r.late:>4} "
          f"{r.late_max_ms:>7.0f} {r.clock_deficit_ms:>6.0f} {r.rec_deficit_ms:>6} "
          f"{r.jb_empty:>7} {r.cpu_pool_pct:>6.1f} {r.cpu_per_call:>6.2f} "
          f"{r.cpu_kamailio_pct:>5.1f} {r.cpu_generator_pct:>5.1f} {r.mem_total_mb:>6.0f} "
          f"{r.mem_per_call_mb:>7.2f} {r.mem_added_mb:>6.2f} "
          f"{_fmt(percentile(r.k2p_caller, 50)):>5} "
          f"{_fmt(percentile(r.k2p_caller, 95)):>5} {_fmt(percentile(r.k2p_engine, 50)):>5} "
          f"{_fmt(percentile(r.k2p_engine, 95)):>5} {r.loadavg:>5.2f} "
          f"{r.cpu_relay_pct:>6.1f} {r.cpu_relay_pct / r.level if r.level else 0:>5.2f}",
          flush=True)
    if r.cpu_threads:
        print("      CPU by thread (all workers, % of a core): " + ", ".join(
            f"{name} {pct:.1f}" for name, pct in r.cpu_threads.items() if pct >= 0.1),
            flush=True)
    for note in r.notes:
        print(f"      note: {note}", flush=True)


LEGEND = """\
columns: ok/fail = calls through the whole menu (prompt heard, key, next prompt heard,
recorded) or not; lost = engine RTP packets never received by the callers; late = times
an engine packet came later than the {jitter:g} ms jitter allowance (kernel arrival
time; a phone would play a gap); lateMax = worst lateness ms; clkDef = most ms the engine's
media clock fell behind in one call (counted in its {frame_ms} ms frames); recDef = most ms
missing from one recording; jbEmpty = engine jitter-buffer underruns, all calls (caller
audio arriving late: partly the load generator, see gen%); CPU% = all pool processes (workers +
Kamailio) in % of one core over the plateau with every call up, %/call = CPU% / calls;
kam% = Kamailio's share; gen% = the load generator (sipp + this script's RTP threads);
MB = pool PSS, MB/call = MB / calls, +MB/c = (MB - idle pool MB) / calls; k2p50/95 =
key-to-prompt ms from the caller (first RFC 4733 packet sent -> first packet of the next
prompt received); eng50/95 = the same inside the worker (key event -> first frame of the
prompt); load = 1-min load average at the end of the level; relay% = rtpengine (with
--via-relay; not in CPU%), rel/c = relay% / calls. Thread names: 'clock' is
the conference bridge's media clock (it runs the Python audio-port callbacks), 'media'
pjmedia's RTP I/O, 'python' the SIP event loop, handler and recorder threads."""


def _highest(results: list[LevelResult], ok: str) -> LevelResult | None:
    """The highest level such that it and every level below it satisfy ``ok``."""
    best = None
    for r in results:
        if not getattr(r, ok):
            break
        best = r
    return best


def summary(results: list[LevelResult], args: argparse.Namespace, load_start: float,
            idle_cpu: float) -> str:
    clean, no_loss = _highest(results, "clean"), _highest(results, "no_loss")
    ref = no_loss or clean or (results[0] if results else None)
    k2p = ref.k2p_caller if ref else []
    added = (ref.cpu_pool_pct - idle_cpu) / ref.level if ref else None
    return (
        f"RESULT max_clean_concurrent_calls={clean.level if clean else 0} "
        f"max_calls_without_lost_audio={no_loss.level if no_loss else 0} "
        f"clean_levels={','.join(str(r.level) for r in results if r.clean) or '-'} "
        f"workers={args.workers} sink={args.sink} "
        f"relay={'rtpengine' if args.via_relay else 'none'} "
        f"cpu_per_call={_fmt(ref.cpu_per_call if ref else None, 2)}%core "
        f"relay_cpu_per_call={_fmt(ref.cpu_relay_pct / ref.level if ref else None, 2)}%core "
        f"(+{_fmt(added, 2)} over the idle pool) "
        f"mb_per_call={_fmt(ref.mem_per_call_mb if ref else None, 1)} "
        f"pool_mb={_fmt(ref.mem_total_mb if ref else None)} "
        f"key_to_prompt_p50={_fmt(percentile(k2p, 50))}ms "
        f"p95={_fmt(percentile(k2p, 95))}ms "
        f"(figures at {ref.level if ref else 0} calls; load avg {load_start:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at end, {os.cpu_count()} cores)"
    )


def summarise_profile(path: Path, top: int = 10) -> str:
    """Self time by function and by thread, from py-spy's raw (collapsed) output."""
    own: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        threads[frames[0]] += count
        own[_short_frame(frames[-1])] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples of one worker (py-spy, Python frames, active threads only)"]
    lines += [f"  thread {name[:60]:<60} {n * 100 / total:5.1f} %"
              for name, n in threads.most_common(6)]
    lines += [f"  self   {name[:60]:<60} {n * 100 / total:5.1f} %"
              for name, n in own.most_common(top)]
    return "\n".join(lines)


def _short_frame(frame: str) -> str:
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    where = where.rsplit("/", 1)[-1]
    return f"{name} ({where})" if where else name
