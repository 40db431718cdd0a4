"""One-way mouth-to-ear latency of the console softphone on loopback, both ways, and the CPU
of the front (rtpengine + Kamailio) per browser call.

`telesec serve` on the demo practice with the softphone on; Debian's Chromium (fake media
devices, its microphone a looped 1 kHz tone: 1 s on, 0.5 s off) logs in secretaries who
make themselves available; patients (sipp + the RTP peer of tests/e2e/caller.py) press 0
and each is answered by one page. The path measured: browser (Opus, DTLS-SRTP) ⇄ the
front's rtpengine ⇄ the engine's bridge (G.711, 40 ms frames) ⇄ rtpengine ⇄ the caller.

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
performance.now() is set against Python's time.time() by a few evaluate round trips (the
best one's half bounds the offset's error). The page's analysers are polled every 5 ms
over 2048-sample windows, the onset placed at its sample, counted back from the poll's
time: the error is the audio thread's render quantum and callback buffer (a few to
~10 ms; its base latency is printed) plus a poll's jitter; the caller's side is sample-
exact on arrival times. The bridge's 40 ms frame (telephony/audio.py FRAME_MS) and the
20 ms packets are part of what is measured, not of the error. CPU: /proc ticks (10 ms)
of the serve's rtpengine and Kamailio processes over the measuring window, the caller's
plain RTP leg included (each browser call has one).

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

from interruptible import main_of
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
from tests.telephony.peers import free_port
from tests.telephony.rtp import ALAW_DECODE, PT_PCMA, tone_alaw

TAPS_JS = (Path(__file__).resolve().parent / "softphone_taps.js").read_text()
LOUD = 0.05 * 32768  # the page's threshold too (softphone_taps.js)
QUIET_S = 0.2  # an onset follows this much quiet
WARM_S = 3.0  # after the last answer, before measuring (jitter buffers settle)
MATCH_S = (-0.05, 1.0)  # an ear onset this long after a mouth onset is its arrival
BURST = tone_alaw(700, 0.12, level=0.5)
TARGET_MS = 150


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
class Level:
    calls: int
    seconds: float
    to_caller: list[float]
    to_secretary: list[float]
    missed: tuple[int, int]
    cpu_seconds: float
    clock_error_ms: float
    render: dict
    late_poll_ms: float
    load: str

    @property
    def cpu_per_call(self) -> float:
        return 100 * self.cpu_seconds / self.seconds / self.calls


def clock_offset(page: Page) -> tuple[float, float]:
    """(page wall clock − time.time(), its error bound) in seconds: the shortest of a few
    round trips, its middle taken as the page's reading."""
    best = (0.0, math.inf)
    for _ in range(9):
        before = time.time()
        page_ms = page.evaluate("performance.timeOrigin + performance.now()")
        after = time.time()
        if after - before < best[1]:
            best = (page_ms / 1000 - (before + after) / 2, after - before)
    return best[0], best[1] / 2


def delays(mouths: list[float], ears: list[float], start: float, end: float,
           ) -> tuple[list[float], int]:
    """Mouth-to-ear delays (ms) of the mouth onsets within [start, end], and how many
    found no ear onset after them."""
    found, missed = [], 0
    for mouth in mouths:
        if not start <= mouth <= end:
            continue
        ear = next((e for e in sorted(ears) if MATCH_S[0] <= e - mouth <= MATCH_S[1]), None)
        if ear is None:
            missed += 1
        else:
            found.append(1000 * (ear - mouth))
    return found, missed


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
        expect(phone.get_by_text("En communication")).to_be_visible()


def measure(pages: list[Page], served: Served, tmp: Path, seconds: float) -> Level:
    """``len(pages)`` browser calls at once: answer them, measure for ``seconds``, hang up."""
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
        time.sleep(WARM_S)
        load = load_average()
        cpu_before, start = relay_and_front_cpu(served), time.time()
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
        cpu = relay_and_front_cpu(served) - cpu_before
        load = f"{load} → {load_average()}"
        to_caller, to_secretary, missed, clock_error = [], [], [0, 0], 0.0
        late_poll, render = 0.0, {}
        for leg in legs:
            offset, error = clock_offset(leg.page)
            clock_error = max(clock_error, error)
            taps = leg.page.evaluate("window.__latencyTaps")
            render, late_poll = taps["info"], max(late_poll, taps["lateMs"])
            mouths = [ms / 1000 - offset for ms in taps["local"]]
            ears = [ms / 1000 - offset for ms in taps["remote"]]
            found, lost = delays(mouths, leg.heard.times, start, end)
            to_caller += found
            missed[0] += lost
            found, lost = delays(leg.said.times, ears, start, end)
            to_secretary += found
            missed[1] += lost
        for leg in legs:
            phone = leg.page.locator("#softphone")
            phone.get_by_role("button", name="Raccrocher").click()
            expect(phone.get_by_text("En communication")).to_have_count(0)
    return Level(count, seconds, to_caller, to_secretary, (missed[0], missed[1]), cpu,
                 1000 * clock_error, render, late_poll, load)


def report(levels: list[Level]) -> None:
    print("\n| calls | direction           | onsets | p50 ms | p95 ms | max ms | missed |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for level in levels:
        for name, values, missed in (("secretary -> caller", level.to_caller, level.missed[0]),
                                     ("caller -> secretary", level.to_secretary,
                                      level.missed[1])):
            print(f"| {level.calls:5d} | {name} | {len(values):6d} | "
                  f"{percentile(values, 0.5):6.0f} | {percentile(values, 0.95):6.0f} | "
                  f"{max(values, default=math.nan):6.0f} | {missed:6d} |")
    print("\n| calls | window s | rtpengine + Kamailio CPU, % of a core | per browser call | "
          "load average (1, 5, 15 min) |")
    print("| ---: | ---: | ---: | ---: | --- |")
    for level in levels:
        print(f"| {level.calls:5d} | {level.seconds:8.0f} | "
              f"{100 * level.cpu_seconds / level.seconds:37.1f} | {level.cpu_per_call:15.1f}% | "
              f"{level.load} |")
    worst = max(levels, key=lambda lv: lv.clock_error_ms)
    render = worst.render
    print(f"\nerror: page clock vs time.time() ±{worst.clock_error_ms:.1f} ms; analyser polls "
          f"every 5 ms (latest poll {max(lv.late_poll_ms for lv in levels):.0f} ms late, "
          f"no sample lost within a 2048-sample window); audio thread at "
          f"{render.get('rate', 0):.0f} Hz, base latency "
          f"{1000 * (render.get('baseLatency') or 0):.1f} ms; bridge frames {FRAME_MS} ms, "
          f"RTP packets 20 ms (measured, not error)")
    for level in levels:
        print(f"RESULT calls={level.calls} secretary_to_caller_p50_ms="
              f"{percentile(level.to_caller, 0.5):.0f} p95_ms="
              f"{percentile(level.to_caller, 0.95):.0f} caller_to_secretary_p50_ms="
              f"{percentile(level.to_secretary, 0.5):.0f} p95_ms="
              f"{percentile(level.to_secretary, 0.95):.0f} cpu_per_call_pct="
              f"{level.cpu_per_call:.1f} target_ms={TARGET_MS}")


def run(args: argparse.Namespace) -> int:
    levels = [1] if args.quick else sorted({int(n) for n in args.calls.split(",")})
    seconds = 10.0 if args.quick else args.seconds
    print(f"softphone latency, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
          f"load average {load_average()}; calls {levels}, {seconds:.0f} s each")
    tmp = Path(tempfile.mkdtemp(prefix="softphone-latency-"))
    served = None
    try:
        data_dir = tmp / "var"
        env = clean_env(data_dir, TELESEC_SIP__WEBPHONE__ENABLED="true",
                        TELESEC_SIP__WEBPHONE__WS_PORT=str(free_port()))
        prepare_demo(env, data_dir)
        staff = [add_staff(env, f"sec{k}", "--role", "secretary", "--practice", "demo")
                 for k in range(max(levels))]
        served = start_serve(env, tmp, workers=1, max_calls=max(levels) + 1)
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
                results.append(measure(pages[:count], served, tmp, seconds))
                print(f"  {count} call(s) measured", flush=True)
            browser.close()
        if problems:
            raise RuntimeError(f"the console page failed: {problems[0]}")
        report(results)
        return 0
    finally:
        if served is not None:
            served.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="1,3",
                        help="simultaneous browser calls, one level after the other (1,3)")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="measuring window per level (30)")
    parser.add_argument("--quick", action="store_true", help="one call, 10 s")
    return parser.parse_args()


if __name__ == "__main__":
    main_of("softphone_latency", parse_args, run, (AssertionError, RuntimeError))
