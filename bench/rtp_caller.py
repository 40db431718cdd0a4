"""The callers of bench/sip_load.py: one RTP socket per call, played and timed here.

``CallerMedia(count, speech, jitter_ms)`` opens one UDP socket per call (its port goes to
sipp in an injection file: sipp carries the SIP, this plays the media). A receiver thread
takes the engine's prompt RTP with kernel arrival times (SO_TIMESTAMPNS) and counts lost
packets and packets later than a phone's jitter buffer allows; a 20 ms sender thread sends
silence while the menu plays, one RFC 4733 key once it is heard, then the caller's
synthesised speech (``synthesise_caller_speech``: espeak-ng + sox, 8 kHz A-law), and times
the key to the next prompt.
"""

from __future__ import annotations

import selectors
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CALLER_TEXT = ("Bonjour, je voudrais prendre rendez-vous avec le docteur pour la semaine "
               "prochaine, le matin si possible. Merci beaucoup.")

PT_PCMA = 8
PT_DTMF = 101
FRAME_S = 0.02
SAMPLES = 160  # 20 ms at 8 kHz
ALAW_SILENCE = 0xD5
#: A-law byte -> magnitude class 0..127 (monotonic in |sample|)
MAGNITUDE = bytes(((b ^ 0x55) & 0x7F) for b in range(256))
PROMPT_CLASS = 40  # the menu prompt (440 Hz at 0.1 full scale) peaks at ~73
NEXT_PROMPT_CLASS = 100  # the next prompt (660 Hz at 0.6) peaks at ~115
KEY_AFTER_PROMPT_S = 0.4  # the caller presses the key this long after the menu starts
KEY_EVENT_PACKETS = 3  # 60 ms key, then three end packets
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; absent from Python 3.11


def synthesise_caller_speech(workdir: Path) -> bytes:
    """The caller's speech: espeak-ng, then sox to 8 kHz A-law; a multiple of 20 ms."""
    wav, raw = workdir / "caller.wav", workdir / "caller.al"
    subprocess.run(["espeak-ng", "-v", "fr", "-w", str(wav), CALLER_TEXT],
                   check=True, timeout=60, capture_output=True)
    subprocess.run(["sox", str(wav), "-r", "8000", "-c", "1", "-e", "a-law", "-t", "raw",
                    str(raw)], check=True, timeout=60, capture_output=True)
    alaw = raw.read_bytes()
    return alaw + bytes([ALAW_SILENCE]) * (-len(alaw) % SAMPLES)


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
