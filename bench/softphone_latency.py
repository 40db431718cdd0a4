"""One-way mouth-to-ear latency of the console softphone on loopback, both ways, and the CPU
of the front (rtpengine + Kamailio) per browser call.

`telesec serve` on the demo practice with the softphone on; Debian's Chromium (fake media
devices, its microphone a looped 1 kHz tone: 1 s on, 0.5 s off) logs in secretaries who
make themselves available; patients (sipp + the RTP peer of tests/e2e/caller.py) press 0
and each is answered by one page. The path measured: browser (DTLS-SRTP) ⇄ the front's
rtpengine ⇄ the engine's bridge (40 ms frames) ⇄ rtpengine ⇄ the caller; G.711 A-law end
to end (the browser takes PCMA, rtpengine does not transcode; the codecs are printed).

- secretary → caller: the page's "mouth" is the onset of her tone on her capture track
  (an AnalyserNode on the track getUserMedia gave the softphone); the caller's "ear" is
  the arrival of the first loud sample of that tone burst in his RTP (a packet arriving
  with the previous one, the bridge sending its 40 ms frame as two 20 ms packets, is
  counted as heard after it; his phone's own playout buffer is not counted).
- caller → secretary: the caller's mouth is the send time of the first packet of a
  120 ms, 700 Hz burst (every 0.6-0.8 s; a real phone adds its 20 ms packetization); her
  "ear" is the onset on the received track (an AnalyserNode after the browser's jitter
  buffer; the sound card's output buffer is not counted: headless Chromium has none).

Both ends read the same machine's wall clock: the page's performance.timeOrigin +
performance.now() is set against Date.now() (the system clock, as Python's time.time(),
1 ms steps) in the page. Error of the page's onsets: the analysers are polled every 5 ms
over 8192-sample windows (~190 ms), the onset placed at its sample, counted back from
the poll's time, so a poll up to a window late loses nothing; what is left is the audio thread's
callback buffer (its base latency, ~10 ms, is printed), by which the newest sample may
be older than the poll. An onset seen after a gap between polls longer than the window
(the page starved) is counted as uncertain and left out. The caller's onsets are
sample-exact on the arrival times (Python's receive thread; a loaded machine delays it
too). Measured, not error: the bridge's 40 ms frame (telephony/audio.py FRAME_MS), the
20 ms packets, the jitter buffers of the browser (its mean over the window is printed)
and of the worker (pjmedia's, on each leg it receives). Both adapt: the first seconds of
a call are slower, so the window opens --warm seconds (10) after the last answer. CPU:
/proc ticks (10 ms) of the serve's rtpengine and Kamailio processes over the window, the
caller's plain RTP leg included (each browser call has one).

    .venv/bin/python bench/softphone_latency.py                 # 1 then 3 calls, 30 s each
    .venv/bin/python bench/softphone_latency.py --calls 1,2,4 --seconds 20
    .venv/bin/python bench/softphone_latency.py --quick         # 1 call, 10 s

No CI smoke: a run needs the prompts synthesised, `serve` with rtpengine and Kamailio, and
Chromium — over a minute even in --quick (tests/e2e/test_softphone.py covers the path).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interruptible import main_of, signals_held
from playwright.sync_api import Page, expect, sync_playwright

from telephony.audio import FRAME_MS
from tests.console.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.caller import PhonePeer, phone_call, step, to_first_question
from tests.e2e.conftest import DEMO_NUMBER
from tests.e2e.engine_run import Served, add_staff, clean_env, prepare_demo, start_serve
from tests.e2e.test_softphone import (
    MEDIA_ARGS,
    _console,
    _microphone,
    relay_and_front_cpu,
)
from tests.ports import free_port
from tests.telephony.rtp import ALAW_DECODE, PT_PCMA, tone_alaw

TAPS_JS = (Path(__file__).resolve().parent / "softphone_taps.js").read_text()
LOUD = 0.05 * 32768  # the page's threshold too (softphone_taps.js)
QUIET_S = 0.2  # an onset follows this much quiet
MATCH_S = (-0.05, 1.0)  # an ear onset this long after a mouth onset is its arrival
BURST = tone_alaw(700, 0.12, level=0.5)
TARGET_MS = 150
POLL_MS = 5.0  # softphone_taps.js
STATS = "window.__latencyStats()"


class Onsets:
    """Wall times at which an A-law RTP stream becomes loud after ``QUIET_S`` of quiet,
    placed at the loud sample; a packet arriving with the previous one plays after it."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._last_loud = -math.inf
        self._previous_at = -math.inf
        self._previous_end = -math.inf

    def packet(self, at: float, rtp: bytes) -> None:
        start = 12 + 4 * (rtp[0] & 0x0F) if rtp else 0
        if len(rtp) <= start or rtp[1] & 0x7F != PT_PCMA:
            return
        payload = rtp[start:]
        played = max(at, self._previous_end) if at - self._previous_at < 0.005 else at
        self._previous_at, self._previous_end = at, played + len(payload) / 8000
        loud = [i for i, byte in enumerate(payload) if abs(ALAW_DECODE[byte]) > LOUD]
        if not loud:
            return
        first = played + loud[0] / 8000
        if first - self._last_loud >= QUIET_S:
            self.times.append(first)
        self._last_loud = played + loud[-1] / 8000


@dataclass
class Leg:
    """One browser call: her page, his phone, the onsets each side saw."""

    page: Page
    peer: PhonePeer
    said: Onsets = field(default_factory=Onsets)  # his bursts, as sent
    heard: Onsets = field(default_factory=Onsets)  # her tone, as it reached him

    def listen(self) -> None:
        def tap(direction: str, at: float, rtp: bytes) -> None:
            (self.heard if direction == "in" else self.said).packet(at, rtp)
        self.peer.tap = tap


@dataclass
class Direction:
    """One way's mouth-to-ear delays (ms) over a level's calls."""

    delays: list[float] = field(default_factory=list)
    missed: int = 0  # mouth onsets with no ear onset within a second
    uncertain: int = 0  # pairs with an onset a late poll of the page saw: left out

    def pair(self, mouths: list[tuple[float, bool]], ears: list[tuple[float, bool]],
             start: float, end: float) -> None:
        """Each (time, sure) mouth onset within [start, end] with the next unused ear onset
        from 50 ms before it to 1 s after it."""
        ears = sorted(ears)
        k = 0
        for mouth, sure in sorted(mouths):
            if not start <= mouth <= end:
                continue
            while k < len(ears) and ears[k][0] < mouth + MATCH_S[0]:
                k += 1
            if k == len(ears) or ears[k][0] > mouth + MATCH_S[1]:
                self.missed += 1
                continue
            ear, heard_sure = ears[k]
            k += 1
            if sure and heard_sure:
                self.delays.append(1000 * (ear - mouth))
            else:
                self.uncertain += 1


@dataclass
class Level:
    """The figures of ``calls`` browser calls at once."""

    calls: int
    seconds: float
    load: str
    to_caller: Direction = field(default_factory=Direction)
    to_secretary: Direction = field(default_factory=Direction)
    cpu_seconds: float = 0.0
    jitter_buffer_ms: list[float] = field(default_factory=list)  # per page, over the window
    codecs: dict = field(default_factory=dict)
    render: dict = field(default_factory=dict)
    poll_gap_ms: float = 0.0  # the longest between two polls of a page's analyser
    clock_ms: float = 0.0  # the largest gap between a page's clock and the system's
    note: str = ""  # what went wrong after the measurement, if anything

    @property
    def cpu_per_call(self) -> float:
        return 100 * self.cpu_seconds / self.seconds / self.calls


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (NaN if no value)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def answer_calls(legs: list[Leg]) -> None:
    """The patients reach the first question together; then one by one they press 0 and
    the next page answers (the others' rings stop), so page k talks with caller k."""
    problems: list[BaseException] = []

    def reach(peer: PhonePeer) -> None:
        try:
            to_first_question(peer)
        except BaseException as exc:
            problems.append(exc)

    threads = [threading.Thread(target=reach, args=(leg.peer,)) for leg in legs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    if problems:
        raise problems[0]
    for leg in legs:
        step(leg.peer, "0")  # le secrétariat: the available pages ring
        phone = leg.page.locator("#softphone")
        answer = phone.get_by_role("button", name="Décrocher")
        expect(answer).to_be_visible(timeout=40_000)
        answer.click()
        expect(phone.get_by_text("En communication")).to_be_visible(timeout=40_000)


def talk(legs: list[Leg], seconds: float) -> tuple[float, float]:
    """Each caller says a burst every 0.6-0.8 s for ``seconds`` (her tone goes on); the
    window's start and end (wall clock)."""
    start = time.time()
    end = start + seconds
    rng = random.Random(16)
    next_burst = [start + rng.uniform(0, 0.6) for _ in legs]
    while (now := time.time()) < end:
        for k, leg in enumerate(legs):
            if now >= next_burst[k]:
                leg.peer.speak(BURST)
                next_burst[k] = now + rng.uniform(0.6, 0.8)
        time.sleep(0.01)
    time.sleep(MATCH_S[1])  # the last onsets arrive
    return start, end


def measure(pages: list[Page], served: Served, tmp: Path, seconds: float, warm: float,
            ) -> Level:
    """``len(pages)`` browser calls at once: answer them, measure for ``seconds``, hang up.
    A hang-up that goes wrong once the figures are in is noted, not fatal (a page starved
    by a loaded machine can lose its WebSocket to Kamailio's keepalive, and its BYE)."""
    measured: list[Level] = []
    try:
        return _measure(pages, served, tmp, seconds, warm, measured)
    except AssertionError as exc:
        if not measured:
            raise
        measured[0].note = str(exc).strip().splitlines()[0][:200]
        return measured[0]


def _measure(pages: list[Page], served: Served, tmp: Path, seconds: float, warm: float,
             measured: list[Level]) -> Level:
    count = len(pages)
    with contextlib.ExitStack() as calls:
        legs = []
        for k, page in enumerate(pages):
            peer = calls.enter_context(phone_call(
                tmp, served.sip_port, caller=f"+3361000{count}{k:03d}", dialled=DEMO_NUMBER,
                tag=f"latency{count}x{k}", timeout=60))
            legs.append(Leg(page, peer))
        answer_calls(legs)
        for leg in legs:
            leg.listen()
        time.sleep(warm)  # the jitter buffers (browser, worker) settle
        level = Level(count, seconds, load_average())
        before = [leg.page.evaluate(STATS) for leg in legs]
        cpu_before = relay_and_front_cpu(served)
        start, end = talk(legs, seconds)
        level.cpu_seconds = relay_and_front_cpu(served) - cpu_before
        level.load += f" → {load_average()}"
        for leg, first in zip(legs, before, strict=True):
            stats = leg.page.evaluate(STATS)
            level.codecs = stats["codecs"]
            emitted = stats["jitterEmitted"] - first["jitterEmitted"]
            if emitted:
                level.jitter_buffer_ms.append(
                    1000 * (stats["jitterDelay"] - first["jitterDelay"]) / emitted)
            taps = leg.page.evaluate("window.__latencyTaps")
            level.render = taps["info"]
            level.poll_gap_ms = max(level.poll_gap_ms, taps["lateMs"] + POLL_MS)
            level.clock_ms = max(level.clock_ms, abs(stats["clockMs"]))

            def wall(kind: str, taps: dict = taps, clock: float = stats["clockMs"],
                     ) -> list[tuple[float, bool]]:
                return ([((ms - clock) / 1000, True) for ms in taps[kind]]
                        + [((ms - clock) / 1000, False) for ms in taps["uncovered"][kind]])

            level.to_caller.pair(wall("local"), [(t, True) for t in leg.heard.times],
                                 start, end)
            level.to_secretary.pair([(t, True) for t in leg.said.times], wall("remote"),
                                    start, end)
        measured.append(level)
        for leg in legs:
            phone = leg.page.locator("#softphone")
            phone.get_by_role("button", name="Raccrocher").click()
            expect(phone.get_by_text("En communication")).to_have_count(0)
    return level


def report(levels: list[Level]) -> None:
    print("\n| calls | direction           | onsets | p50 ms | p95 ms | max ms | missed | "
          "uncertain |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for level in levels:
        for name, way in (("secretary -> caller", level.to_caller),
                          ("caller -> secretary", level.to_secretary)):
            print(f"| {level.calls:5d} | {name} | {len(way.delays):6d} | "
                  f"{percentile(way.delays, 0.5):6.0f} | {percentile(way.delays, 0.95):6.0f} | "
                  f"{max(way.delays, default=math.nan):6.0f} | {way.missed:6d} | "
                  f"{way.uncertain:9d} |")
    print("\n| calls | window s | rtpengine + Kamailio CPU, % of a core | per browser call | "
          "load average (1, 5, 15 min), start → end |")
    print("| ---: | ---: | ---: | ---: | --- |")
    for level in levels:
        print(f"| {level.calls:5d} | {level.seconds:8.0f} | "
              f"{100 * level.cpu_seconds / level.seconds:37.1f} | {level.cpu_per_call:15.1f}% | "
              f"{level.load} |")
    render = levels[-1].render
    print(f"\nerror: the page's clock within {max(lv.clock_ms for lv in levels):.1f} ms of the "
          f"system's (Date.now(), 1 ms steps); analysers polled every {POLL_MS:.0f} ms over "
          f"{render.get('size', 0)} samples at {render.get('rate', 0):.0f} Hz (longest gap "
          f"between polls {max(lv.poll_gap_ms for lv in levels):.0f} ms: onsets seen after a "
          f"gap longer than the window are 'uncertain', left out); the audio thread's base "
          f"latency {1000 * (render.get('baseLatency') or 0):.1f} ms (its callback buffer: "
          f"the placing error of an onset in the page); the caller's onsets are "
          f"sample-exact on arrival times. Measured, not error: the bridge's {FRAME_MS} ms "
          f"frames, the 20 ms RTP packets, the browser's jitter buffer.")
    for level in levels:
        if level.note:
            print(f"{level.calls} call(s): after the measurement, {level.note}")
        buffers = ", ".join(f"{ms:.0f}" for ms in level.jitter_buffer_ms)
        print(f"{level.calls} call(s): the browser's jitter buffer held {buffers} ms on "
              f"average over the window (WebRTC stats, per page); codecs {level.codecs}")
    for level in levels:
        print(f"RESULT calls={level.calls} secretary_to_caller_p50_ms="
              f"{percentile(level.to_caller.delays, 0.5):.0f} p95_ms="
              f"{percentile(level.to_caller.delays, 0.95):.0f} caller_to_secretary_p50_ms="
              f"{percentile(level.to_secretary.delays, 0.5):.0f} p95_ms="
              f"{percentile(level.to_secretary.delays, 0.95):.0f} cpu_per_call_pct="
              f"{level.cpu_per_call:.1f} target_ms={TARGET_MS}")


def run(args: argparse.Namespace) -> int:
    levels = [1] if args.quick else [int(n) for n in args.calls.split(",")]
    seconds = 10.0 if args.quick else args.seconds
    print(f"softphone latency, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
          f"load average {load_average()}; calls {levels}, {seconds:.0f} s each, "
          f"{args.warm:.0f} s after the last answer")
    tmp = Path(tempfile.mkdtemp(prefix="softphone-latency-"))
    served = None
    try:
        data_dir = tmp / "var"
        env = clean_env(data_dir, TELESEC_SIP__WEBPHONE__ENABLED="true",
                        TELESEC_SIP__WEBPHONE__WS_PORT=str(free_port()))
        prepare_demo(env, data_dir)
        staff = [add_staff(env, f"sec{k}", "--role", "secretary", "--practice", "demo")
                 for k in range(max(levels))]
        # a bridged call holds two pjsua lines of its worker (caller and desk), and a
        # worker has as many lines as calls_per_worker: one caller per worker (Kamailio
        # deals the calls round-robin), else the desk cannot be dialled (PJ_ETOOMANY)
        served = start_serve(env, tmp, workers=max(levels), max_calls=2)
        microphone = _microphone(tmp)
        results = []
        with sync_playwright() as driver:
            browser = driver.chromium.launch(
                executable_path=CHROMIUM,
                args=[*CHROMIUM_ARGS, *MEDIA_ARGS,
                      f"--use-file-for-fake-audio-capture={microphone}"])
            problems: list[str] = []
            pages = []
            for login in staff:
                _context, page = _console(browser, served, login, problems)
                page.evaluate(TAPS_JS)
                pages.append(page)
            for count in levels:
                results.append(measure(pages[:count], served, tmp, seconds, args.warm))
                print(f"  {count} call(s) measured", flush=True)
            browser.close()
        if problems:
            raise RuntimeError(f"the console page failed: {problems[0]}")
        report(results)
        shutil.rmtree(tmp, ignore_errors=True)
        return 0
    finally:
        with signals_held():
            if served is not None:
                served.stop()
        if tmp.exists():
            print(f"softphone_latency: the run's files (serve.log) are kept in {tmp}",
                  file=sys.stderr)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="1,3",
                        help="simultaneous browser calls, level after level (1,3)")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="measuring window per level (30)")
    parser.add_argument("--warm", type=float, default=10.0,
                        help="seconds from the last answer to the window (10): the first "
                             "seconds of a call are slower, its jitter buffers settling")
    parser.add_argument("--quick", action="store_true", help="one call, 10 s")
    return parser.parse_args()


if __name__ == "__main__":
    main_of("softphone_latency", parse_args, run, (AssertionError, RuntimeError))
