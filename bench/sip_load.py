"""How many concurrent recorded calls this machine holds: Kamailio + pjsua2 workers under sipp.

    .venv/bin/python bench/sip_load.py             # full run: 30 workers, 8..120 calls (~5 min)
    .venv/bin/python bench/sip_load.py --quick     # CI smoke: 2 workers, 4 then 8 calls (~40 s)
    .venv/bin/python bench/sip_load.py --workers 25 --levels 50,100 --hold 15 --profile

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
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from interruptible import main_of  # noqa: E402

from foundation.errors import TelesecError  # noqa: E402
from foundation.settings import load_settings  # noqa: E402
from telephony.audio import FRAME_MS  # noqa: E402
from telephony.pool_settings import PoolTuning  # noqa: E402
from telephony.supervisor import Supervisor  # noqa: E402

HANDLER = "bench.sip_load_handler:menu_recorded"
SCENARIO = REPO / "bench" / "sipp" / "caller_menu.xml"
FULL_LEVELS = (8, 16, 32, 48, 64, 80, 100, 120)
QUICK_LEVELS = (4, 8)
CALLER_TEXT = ("Bonjour, je voudrais prendre rendez-vous avec le docteur pour la semaine "
               "prochaine, le matin si possible. Merci beaucoup.")

PT_PCMA = 8
PT_DTMF = 101
FRAME_S = 0.02
SAMPLES = 160  # 20 ms at 8 kHz
ALAW_SILENCE = 0xD5
# A call's media clock may lag by up to two of its frames and a recording miss 100 ms
# (counting is at frame granularity) before the level counts as audio lost
CLOCK_SLACK_MS = 2 * FRAME_MS
RECORDING_SLACK_MS = max(100, 2 * FRAME_MS)
#: A-law byte -> magnitude class 0..127 (monotonic in |sample|)
MAGNITUDE = bytes(((b ^ 0x55) & 0x7F) for b in range(256))
PROMPT_CLASS = 40  # the menu prompt (440 Hz at 0.1 full scale) peaks at ~73
NEXT_PROMPT_CLASS = 100  # the next prompt (660 Hz at 0.6) peaks at ~115
KEY_AFTER_PROMPT_S = 0.4  # the caller presses the key this long after the menu starts
KEY_EVENT_PACKETS = 3  # 60 ms key, then three end packets
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; absent from Python 3.11
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------- media


def synthesise_caller_speech(workdir: Path) -> bytes:
    """The caller's speech: espeak-ng, then sox to 8 kHz A-law; a multiple of 20 ms."""
    wav, raw = workdir / "caller.wav", workdir / "caller.al"
    subprocess.run(["espeak-ng", "-v", "fr", "-w", str(wav), CALLER_TEXT],
                   check=True, timeout=60, capture_output=True)
    subprocess.run(["sox", str(wav), "-r", "8000", "-c", "1", "-e", "a-law", "-t", "raw",
                    str(raw)], check=True, timeout=60, capture_output=True)
    alaw = raw.read_bytes()
    return alaw + bytes([ALAW_SILENCE]) * (-len(alaw) % SAMPLES)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, math.ceil(q / 100 * len(ordered)) - 1)
    return ordered[rank]


@dataclass
class CallMedia:
    """The caller side of one call: what it sent and what it saw of the engine's RTP."""

    index: int
    sock: socket.socket
    port: int
    ssrc: int
    engine: tuple[str, int] | None = None
    # received (times are kernel arrival times, CLOCK_REALTIME seconds)
    first_rx: float = 0.0
    last_rx: float = 0.0
    packets: int = 0
    next_seq: int | None = None
    first_ts: int | None = None
    anchor: float | None = None  # min over packets of arrival - media time
    lost: int = 0
    late: int = 0
    late_max_ms: float = 0.0
    late_at: list[float] = field(default_factory=list)  # seconds into the call
    menu_at: float = 0.0
    next_prompt_at: float = 0.0
    # sent
    seq: int = 1
    ts: int = 0
    key_step: int = 0
    key_ts: int = 0
    key_down_at: float = 0.0
    key_end_at: float = 0.0
    speech_pos: int = 0
    done: bool = False

    @property
    def key_to_prompt_ms(self) -> float | None:
        if self.key_down_at and self.next_prompt_at:
            return (self.next_prompt_at - self.key_down_at) * 1000
        return None


class CallerMedia:
    """One RTP socket per call, a receiver thread and a 20 ms sender thread.

    Arrival times come from the kernel (SO_TIMESTAMPNS), so a busy benchmark process does
    not show up as a gap in the engine's audio. The sender's own lateness is measured and
    reported (it feeds the engine's jitter buffer).
    """

    def __init__(self, count: int, speech: bytes, jitter_ms: float) -> None:
        self.speech = speech
        self.jitter_s = jitter_ms / 1000
        self.calls: list[CallMedia] = []
        self._by_fd: dict[int, CallMedia] = {}
        self._selector = selectors.DefaultSelector()
        for index in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            call = CallMedia(index, sock, sock.getsockname()[1], 0x5EED0000 + index)
            self.calls.append(call)
            self._by_fd[sock.fileno()] = call
            self._selector.register(sock, selectors.EVENT_READ)
        self.sender_late_max_ms = 0.0
        self.sender_skipped_ticks = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._receive, daemon=True, name="rtp-rx"),
                         threading.Thread(target=self._send, daemon=True, name="rtp-tx")]
        for thread in self._threads:
            thread.start()

    def write_injection(self, path: Path) -> None:
        """sipp's injection file: the RTP port of call n on line n."""
        path.write_text("SEQUENTIAL\n" + "".join(f"{c.port};\n" for c in self.calls))

    @property
    def calls_up(self) -> int:
        return sum(1 for c in self.calls if c.engine is not None)

    # -- receive ----------------------------------------------------------------------
    def _receive(self) -> None:
        ancillary = socket.CMSG_SPACE(16)
        while not self._stop.is_set():
            for key, _ in self._selector.select(0.2):
                call = self._by_fd[key.fd]
                while True:
                    try:
                        data, anc, _flags, source = call.sock.recvmsg(2048, ancillary)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    arrived = time.time()
                    for level, kind, value in anc:
                        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                            sec, nsec = struct.unpack("qq", value[:16])
                            arrived = sec + nsec / 1e9
                    self._on_packet(call, data, source, arrived)

    def _on_packet(self, call: CallMedia, data: bytes, source: tuple[str, int],
                   arrived: float) -> None:
        if len(data) < 12 or data[1] & 0x7F != PT_PCMA:
            return
        seq, timestamp = struct.unpack_from("!HI", data, 2)
        if call.engine is None:
            call.engine, call.first_rx = source, arrived
            call.first_ts = timestamp
        call.packets += 1
        call.last_rx = arrived
        if call.next_seq is not None:
            ahead = (seq - call.next_seq) & 0xFFFF
            if ahead >= 0x8000:  # late duplicate or reordered: not a gap
                return
            call.lost += ahead
        call.next_seq = (seq + 1) & 0xFFFF
        # playout deadline: a phone with a jitter buffer of jitter_s plays the packet
        # at anchor + media time; arriving after that is an audible gap
        media_time = ((timestamp - (call.first_ts or 0)) & 0xFFFFFFFF) / 8000
        offset = arrived - media_time
        if call.anchor is None or offset < call.anchor:
            call.anchor = offset
        lateness = offset - call.anchor
        if lateness > self.jitter_s:
            call.late += 1
            call.late_max_ms = max(call.late_max_ms, lateness * 1000)
            if len(call.late_at) < 5:
                call.late_at.append(round(arrived - call.first_rx, 2))
            call.anchor = offset  # the phone re-buffers after the gap
        peak = max(data[12:].translate(MAGNITUDE), default=0)
        if not call.menu_at and peak >= PROMPT_CLASS:
            call.menu_at = arrived
        if call.key_down_at and not call.next_prompt_at and peak >= NEXT_PROMPT_CLASS:
            call.next_prompt_at = arrived

    # -- send -------------------------------------------------------------------------
    def _send(self) -> None:
        start = time.monotonic()
        tick = 0
        while not self._stop.is_set():
            due = start + tick * FRAME_S
            delay = due - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            late = time.monotonic() - due
            self.sender_late_max_ms = max(self.sender_late_max_ms, late * 1000)
            if late > 5 * FRAME_S:  # far behind: drop ticks rather than burst
                skipped = int(late / FRAME_S)
                self.sender_skipped_ticks += skipped
                tick += skipped
            now = time.time()
            for call in self.calls:
                if call.engine is not None and not call.done:
                    self._send_one(call, now)
            tick += 1

    def _send_one(self, call: CallMedia, now: float) -> None:
        if now - call.last_rx > 1.5:  # the engine stopped sending: the call is over
            call.done = True
            return
        if call.menu_at and not call.key_step and now >= call.menu_at + KEY_AFTER_PROMPT_S:
            call.key_step, call.key_ts = 1, call.ts
        try:
            if 1 <= call.key_step <= KEY_EVENT_PACKETS + 1:
                self._send_key(call)
            else:
                self._send_audio(call)
        except OSError:
            call.done = True
        call.ts = (call.ts + SAMPLES) & 0xFFFFFFFF

    def _header(self, call: CallMedia, payload_type: int, marker: bool, timestamp: int) -> bytes:
        header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | payload_type,
                             call.seq, timestamp, call.ssrc)
        call.seq = (call.seq + 1) & 0xFFFF
        return header

    def _send_key(self, call: CallMedia) -> None:
        """Key '1': event packets every 20 ms, then three end packets in one tick."""
        assert call.engine is not None
        step = call.key_step
        if step <= KEY_EVENT_PACKETS:
            payload = struct.pack("!BBH", 1, 10, step * SAMPLES)
            call.sock.sendto(self._header(call, PT_DTMF, step == 1, call.key_ts) + payload,
                             call.engine)
            if step == 1:
                call.key_down_at = time.time()
        else:
            payload = struct.pack("!BBH", 1, 0x80 | 10, KEY_EVENT_PACKETS * SAMPLES)
            for _ in range(3):
                call.sock.sendto(self._header(call, PT_DTMF, False, call.key_ts) + payload,
                                 call.engine)
            call.key_end_at = time.time()
        call.key_step += 1

    def _send_audio(self, call: CallMedia) -> None:
        assert call.engine is not None
        if call.key_step:  # after the key the caller speaks (looped)
            start = call.speech_pos
            payload = self.speech[start : start + SAMPLES]
            call.speech_pos = (start + SAMPLES) % len(self.speech)
        else:  # listening to the menu
            payload = bytes([ALAW_SILENCE]) * SAMPLES
        call.sock.sendto(self._header(call, PT_PCMA, False, call.ts) + payload, call.engine)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(2)
        self._selector.close()
        for call in self.calls:
            call.sock.close()


# ---------------------------------------------------------------------------- processes


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of ``pids`` (seconds); processes gone meanwhile count as 0."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def thread_cpu(pids: list[int]) -> dict[tuple[int, int], tuple[str, float]]:
    """{(pid, tid): (thread name, utime + stime seconds)} of every thread of ``pids``."""
    out: dict[tuple[int, int], tuple[str, float]] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                    name = (task / "comm").read_text().strip()
                    out[(pid, int(task.name))] = (name, (int(fields[11]) + int(fields[12]))
                                                  / CLK_TCK)
    return out


def cpu_by_thread_name(before: dict[tuple[int, int], tuple[str, float]],
                       after: dict[tuple[int, int], tuple[str, float]],
                       elapsed: float) -> dict[str, float]:
    """% of one core by thread name between two :func:`thread_cpu` readings."""
    shares: Counter[str] = Counter()
    for key, (name, seconds) in after.items():
        shares[name] += (seconds - before.get(key, (name, 0.0))[1]) / elapsed * 100
    return dict(shares.most_common())


def descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        kids = [child for child, parent in parents.items() if parent == current]
        found += kids
        frontier += kids
    return found


def pool_pids(pool: Supervisor) -> tuple[list[int], list[int]]:
    """(worker pids, Kamailio pids) of the running pool."""
    status = pool.status()
    workers = [w.pid for w in status.workers if w.pid and w.alive]
    front = [status.front_pid, *descendants(status.front_pid)] if status.front_pid else []
    return workers, front


def port_free(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


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
        # each worker's first RTP port (telephony.endpoint: 20000 + (port % 2000) * 10)
        ports += [20000 + ((self.workers + i) % 2000) * 10 for i in range(workers)]
        return all(port_free(p) for p in ports)


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
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)


# ---------------------------------------------------------------------------- levels


@dataclass
class LevelResult:
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
            gen0 = cpu_seconds([os.getpid(), sipp.pid])
            threads0 = thread_cpu(workers)
            if args.profile and not warmup and level == self.profile_level():
                profiler = self.start_profiler(workers[0], level_dir)
            time.sleep(plateau / 2)
            pss = sum(self.pool.memory_pss_kb().values())
            time.sleep(plateau / 2)
            elapsed = time.monotonic() - started
            cpu1 = cpu_seconds(workers), cpu_seconds(front)
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


# ---------------------------------------------------------------------------- output


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_header() -> None:
    print(f"{'calls':>5} {'ok':>4} {'fail':>4} {'lost':>4} {'late':>4} {'lateMax':>7} "
          f"{'clkDef':>6} {'recDef':>6} {'jbEmpty':>7} {'CPU%':>6} {'%/call':>6} "
          f"{'kam%':>5} {'gen%':>5} {'MB':>6} {'MB/call':>7} {'+MB/c':>6} {'k2p50':>5} "
          f"{'k2p95':>5} "
          f"{'eng50':>5} {'eng95':>5} {'load':>5}", flush=True)


def print_row(r: LevelResult) -> None:
    print(f"{r.level:>5} {r.succeeded:>4} {r.failed:>4} {r.lost:>4} {r.late:>4} "
          f"{r.late_max_ms:>7.0f} {r.clock_deficit_ms:>6.0f} {r.rec_deficit_ms:>6} "
          f"{r.jb_empty:>7} {r.cpu_pool_pct:>6.1f} {r.cpu_per_call:>6.2f} "
          f"{r.cpu_kamailio_pct:>5.1f} {r.cpu_generator_pct:>5.1f} {r.mem_total_mb:>6.0f} "
          f"{r.mem_per_call_mb:>7.2f} {r.mem_added_mb:>6.2f} "
          f"{_fmt(_percentile(r.k2p_caller, 50)):>5} "
          f"{_fmt(_percentile(r.k2p_caller, 95)):>5} {_fmt(_percentile(r.k2p_engine, 50)):>5} "
          f"{_fmt(_percentile(r.k2p_engine, 95)):>5} {r.loadavg:>5.2f}", flush=True)
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
prompt); load = 1-min load average at the end of the level. Thread names: 'clock' is
the conference bridge's media clock (it runs the Python audio-port callbacks), 'media'
pjmedia's RTP I/O, 'python' the SIP event loop, handler and recorder threads."""


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
    parser.add_argument("--profile", action="store_true",
                        help="py-spy one worker during the plateau of --profile-level")
    parser.add_argument("--profile-level", type=int, default=0,
                        help="level to profile (default: the highest)")
    parser.add_argument("--port-base", type=int, default=None,
                        help="first of 100 loopback ports (default: 16600..16900, first free)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    args.workers = args.workers or (2 if args.quick else 30)
    if not 1 <= args.workers <= 40:
        parser.error("--workers must be 1..40")
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
    })
    keyring = Keyring.create(settings.effective_keyring_path)
    upgrade(settings.effective_database_url, keyring=keyring)  # keys the audit trail
    os.environ.update({
        "TELESEC_DATA_DIR": str(data_dir),
        "SIP_LOAD_REPORT": str(report),
        "SIP_LOAD_SINK": args.sink,
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
        f"cpu_per_call={_fmt(ref.cpu_per_call if ref else None, 2)}%core "
        f"(+{_fmt(added, 2)} over the idle pool) "
        f"mb_per_call={_fmt(ref.mem_per_call_mb if ref else None, 1)} "
        f"pool_mb={_fmt(ref.mem_total_mb if ref else None)} "
        f"key_to_prompt_p50={_fmt(_percentile(k2p, 50))}ms "
        f"p95={_fmt(_percentile(k2p, 95))}ms "
        f"(figures at {ref.level if ref else 0} calls; load avg {load_start:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at end, {os.cpu_count()} cores)"
    )


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
        report = workdir / "calls.jsonl"
        started = time.monotonic()
        pool = start_pool(args, ports, workdir, report)
        print(f"pool: {args.workers} workers behind Kamailio on 127.0.0.1:{ports.front}, "
              f"up in {time.monotonic() - started:.1f} s (each opens the vault at start); "
              f"recording sink: "
              f"{'encrypted vault (SQLite)' if args.sink == 'vault' else 'in-memory counter'}; "
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
        if pool is not None:
            pool.stop(deadline=3)
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    main_of("sip_load", parse_args, run, errors=(TelesecError,))


if __name__ == "__main__":
    main()
