"""The patient's side of an end-to-end call: sipp for SIP, this peer for the audio and keys.

Like a person on the phone, the peer listens to what Telesec says and answers when
Telesec has finished speaking and waits (a turn): it presses keys (RFC 4733 events) or
speaks (espeak-ng audio), always streaming RTP every 20 ms like a real phone. Reacting
to the engine's audio instead of a fixed timeline keeps the test independent of how long
the synthesised prompts are or how loaded the machine is.
"""

from __future__ import annotations

import math
import queue
import re
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.ports import free_port, free_rtp_base
from tests.telephony.rtp import (
    ALAW_DECODE,
    ALAW_SILENCE,
    DTMF_EVENTS,
    PT_DTMF,
    PT_PCMA,
    SAMPLES_PER_PACKET,
)

SIPP_DIR = Path(__file__).resolve().parent / "sipp"
LOUD_DBFS = -40.0  # an engine packet louder than this is Telesec speaking
PACKET_S = 0.02


def packet_dbfs(alaw: bytes) -> float:
    if not alaw:
        return -120.0
    power = sum(ALAW_DECODE[b] ** 2 for b in alaw) / len(alaw)
    return 10 * math.log10(power / 32768**2) if power > 0 else -120.0


class PhonePeer:
    """The caller's RTP endpoint: hears Telesec, presses keys and speaks when it is its turn."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.engine_address: tuple[str, int] | None = None
        self.started_at: float | None = None  # first engine packet (the call is up)
        self.last_packet_at = 0.0
        self.loud_packets = 0
        self._last_loud_at = 0.0
        self._turn_mark = 0.0  # engine speech must come after this to make a new turn
        self._loud_since_mark = 0  # loud engine packets since then
        self._lock = threading.Lock()
        self._out = queue.SimpleQueue()  # (payload type, payload, marker, ts step)
        self._stop = threading.Event()
        self.log: list[tuple[float, str]] = []
        #: told of every RTP packet: ("in" or "out", wall time, the packet) (latency bench)
        self.tap: Callable[[str, float, bytes], None] | None = None
        self._threads = [threading.Thread(target=self._receive, daemon=True),
                         threading.Thread(target=self._send, daemon=True)]
        for thread in self._threads:
            thread.start()

    # -- what the test does ----------------------------------------------------------------
    def wait_turn(self, quiet: float = 1.3, timeout: float = 30.0) -> bool:
        """Wait until Telesec has spoken (since the last action) and then kept quiet."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._stop.is_set():
            with self._lock:
                spoke = self._last_loud_at > self._turn_mark
                last_loud = self._last_loud_at
            now = time.monotonic()
            if spoke and now - last_loud >= quiet and now - self.last_packet_at < 1.0:
                self._note("turn")
                self._mark()
                return True
            time.sleep(0.02)
        self._note("no turn")
        return False

    def wait_speech(self, seconds: float = 0.8, timeout: float = 30.0) -> bool:
        """Wait until Telesec has said ``seconds`` of its next prompt (since the last action).

        A caller who knows the menu answers then: the key interrupts the prompt (barge-in).
        """
        deadline = time.monotonic() + timeout
        wanted = int(seconds / PACKET_S)
        while time.monotonic() < deadline and not self._stop.is_set():
            with self._lock:
                heard = self._loud_since_mark
            if heard >= wanted:
                self._note("speech")
                return True
            time.sleep(0.02)
        self._note("no speech")
        return False

    def _mark(self) -> None:
        with self._lock:
            self._turn_mark = time.monotonic()
            self._loud_since_mark = 0

    def press(self, keys: str, gap: float = 0.25) -> None:
        """Press ``keys`` one after the other (RFC 4733: 100 ms events, ``gap`` apart)."""
        self._note(f"press {len(keys)} key(s)")
        for key in keys:
            event = DTMF_EVENTS[key]
            steps = 5
            for step in range(1, steps + 1):
                payload = struct.pack("!BBH", event, 10, step * SAMPLES_PER_PACKET)
                self._out.put((PT_DTMF, payload, step == 1, 0))
            end = struct.pack("!BBH", event, 0x80 | 10, steps * SAMPLES_PER_PACKET)
            for _ in range(3):
                self._out.put((PT_DTMF, end, False, 0))
            self._out.put(("advance", b"", False, steps * SAMPLES_PER_PACKET))
            for _ in range(int(gap / PACKET_S)):
                self._out.put((PT_PCMA, bytes([ALAW_SILENCE]) * SAMPLES_PER_PACKET,
                                       False, SAMPLES_PER_PACKET))
        self._mark()

    def speak(self, alaw: bytes) -> float:
        """Say ``alaw`` (8 kHz A-law); returns its length in seconds."""
        self._note("speak")
        alaw = alaw + bytes([ALAW_SILENCE]) * (-len(alaw) % SAMPLES_PER_PACKET)
        for start in range(0, len(alaw), SAMPLES_PER_PACKET):
            self._out.put((PT_PCMA, alaw[start:start + SAMPLES_PER_PACKET], False,
                                   SAMPLES_PER_PACKET))
        self._mark()
        return len(alaw) / 8000

    def pending(self) -> bool:
        return not self._out.empty()

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until everything queued was sent."""
        deadline = time.monotonic() + timeout
        while self.pending() and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(2)
        self.sock.close()

    def timeline(self) -> str:
        start = self.log[0][0] if self.log else 0.0
        return ", ".join(f"{at - start:.1f}s {what}" for at, what in self.log)

    def _note(self, what: str) -> None:
        self.log.append((time.monotonic(), what))

    # -- RTP -------------------------------------------------------------------------------
    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data, source = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            if self.tap is not None:
                self.tap("in", time.time(), data)
            now = time.monotonic()
            if self.engine_address is None:
                self.engine_address, self.started_at = source, now
                self._note("call up")
            self.last_packet_at = now
            loud = (len(data) > 12 and data[1] & 0x7F == PT_PCMA
                    and packet_dbfs(data[12:]) > LOUD_DBFS)
            if loud:
                with self._lock:
                    self._last_loud_at = now
                    self.loud_packets += 1
                    self._loud_since_mark += 1

    def _send(self) -> None:
        """Stream one packet every 20 ms once the engine's address is known."""
        seq, timestamp, ssrc = 1, 0, 0x5EC0CA11
        next_at = None
        while not self._stop.is_set():
            if self.engine_address is None:
                time.sleep(0.01)
                continue
            if next_at is None:
                next_at = time.monotonic()
            try:
                kind, payload, marker, advance = self._out.get_nowait()
            except queue.Empty:
                kind, payload, marker, advance = (
                    PT_PCMA, bytes([ALAW_SILENCE]) * SAMPLES_PER_PACKET, False,
                    SAMPLES_PER_PACKET)
            if kind == "advance":  # the end of a key: the next packet starts later
                timestamp += advance
                continue
            event_ts = timestamp
            header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | kind, seq & 0xFFFF,
                                 event_ts & 0xFFFFFFFF, ssrc)
            seq += 1
            if kind == PT_PCMA:
                timestamp += advance
            try:
                self.sock.sendto(header + payload, self.engine_address)
            except OSError:
                return
            if self.tap is not None:
                self.tap("out", time.time(), header + payload)
            next_at += PACKET_S
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def spoken_alaw(text: str, workdir: Path, voice: str = "fr") -> bytes:
    """``text`` said by espeak-ng as 8 kHz A-law (the caller's voice)."""
    wav, raw = workdir / "caller.wav", workdir / "caller.al"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True, timeout=30)
    subprocess.run(["sox", str(wav), "-r", "8000", "-c", "1", "-e", "a-law", "-t", "raw",
                    str(raw)], check=True, timeout=30)
    return raw.read_bytes()


def start_sipp(tmp: Path, worker_port: int, *, caller: str, dialled: str, rtp_port: int,
               tag: str, bye_timeout_s: float = 120.0) -> subprocess.Popen:
    """sipp places one call from ``caller`` to ``dialled`` and waits for Telesec's BYE.

    The call's SIP Call-ID starts with ``tag`` (so the test can find it in the calls log).
    """
    text = (SIPP_DIR / "patient_call.xml").read_text()
    values = {"CALLER": caller, "RTP_PORT": rtp_port, "BYE_TIMEOUT_MS": int(bye_timeout_s * 1000)}
    for name, value in values.items():
        text = text.replace(f"@{name}@", str(value))
    assert not re.findall(r"@[A-Z_]+@", text)
    scenario = tmp / f"patient_call-{tag}.xml"
    scenario.write_text(text)
    command = [
        "sipp", f"127.0.0.1:{worker_port}", "-sf", str(scenario), "-s", dialled,
        "-m", "1", "-l", "1", "-i", "127.0.0.1", "-p", str(free_port()),
        "-mp", str(free_rtp_base()), "-t", "u1", "-cid_str", f"{tag}-%u-%p@%s",
        "-timeout", f"{int(bye_timeout_s + 10)}s", "-timeout_error", "-nostdin",
        "-trace_err", "-error_file", str(scenario.with_suffix(".errors.log")),
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, cwd=tmp)


def sipp_errors(tmp: Path, tag: str) -> str:
    path = tmp / f"patient_call-{tag}.errors.log"
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def step(peer: PhonePeer, keys: str) -> None:
    """Answer Telesec's next question with ``keys`` as soon as it has begun to ask it."""
    assert peer.wait_speech(), f"Telesec went quiet: {peer.timeline()}"
    peer.press(keys)


def to_first_question(peer: PhonePeer) -> None:
    """Greeting → French → the recording notice let pass (no key: the call is recorded);
    returns when Telesec is about to ask "que puis-je faire pour vous ?"."""
    step(peer, "1")  # language: français (over the greeting)
    assert peer.wait_turn(), peer.timeline()


def start_to_menu(peer: PhonePeer, birth_keys: str, request: str) -> None:
    """Greeting → French → recording notice (let it pass) → the first question, answered
    with the key ``request`` (1 book, 2 cancel, 3 move, 4 message, 0 secretary) → for a
    request about the patient's file, "déjà venu ?" (yes, for a booking) and the birth date
    (caller ID + birth date). A message or the secretary needs no identity."""
    to_first_question(peer)
    step(peer, request)  # "que puis-je faire pour vous ?"
    if request == "1":
        step(peer, "1")  # "êtes-vous déjà venu consulter au cabinet ?" yes
    if request in ("1", "2", "3"):
        step(peer, birth_keys)  # "tapez votre date de naissance": caller ID + birth date


@contextmanager
def phone_call(tmp: Path, port: int, *, caller: str, dialled: str, tag: str,
               timeout: float = 90.0) -> Iterator[PhonePeer]:
    """A call from ``caller`` to ``dialled`` at ``127.0.0.1:port``; yields the peer, then
    waits (up to ``timeout`` s) for Telesec's BYE and checks sipp saw a clean call."""
    peer = PhonePeer()
    sipp = start_sipp(tmp, port, caller=caller, dialled=dialled, rtp_port=peer.port, tag=tag)
    try:
        yield peer
        code = sipp.wait(timeout=timeout)
        assert code == 0, f"{sipp_errors(tmp, tag)}\n{peer.timeline()}"
    finally:
        if sipp.poll() is None:
            sipp.kill()
            sipp.wait(5)
        peer.close()
