"""The speaking callers of bench/turns.py: one RTP socket per call, timed at the caller.

Each caller sends a continuous line (hiss, or hiss and background noise) in 20 ms G.711
A-law packets. When the engine's question has played and 0.6 s of silence followed, it
says the answer of that question's kind (bench/turns_handler.py's plan), then waits for the
engine's reply: the delay is from the send time of the packet carrying the last voiced
sample to the kernel arrival time of the first non-silent RTP packet after it. A reply that
starts before the answer was fully sent counts as a cut-off answer.
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
import time
import warnings
from dataclasses import dataclass, field

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # Python 3.11 still ships it: A-law coding, for this benchmark only

PT_PCMA = 8
FRAME_S = 0.02
SAMPLES = 160
FRAME_BYTES = SAMPLES  # A-law: one byte per sample
SOUND_CLASS = 20  # A-law magnitude class of a packet that is not silence (|x| >~ 300/32768)
QUESTION_OVER_S = 0.6  # silence after the question before the caller answers
MAGNITUDE = bytes(((b ^ 0x55) & 0x7F) for b in range(256))
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


def to_alaw(pcm16k: bytes) -> bytes:
    """16 kHz s16le PCM (already telephone band) as 8 kHz A-law, a multiple of 20 ms."""
    narrow, _ = audioop.ratecv(pcm16k, 2, 1, 16000, 8000, None)
    alaw = audioop.lin2alaw(narrow, 2)
    return alaw + bytes([0xD5]) * (-len(alaw) % SAMPLES)


def loud(packet: bytes) -> bool:
    return max(packet.translate(MAGNITUDE), default=0) >= SOUND_CLASS


@dataclass
class Answer:
    """One question of a call as the caller lived it."""

    kind: str
    mode: str
    index: int = 0  # the question's place in the call's plan
    variant: int = 0  # which of its kind's answer clips: the nth answer of this kind
    started: float = 0.0  # wall time the first packet of the answer was sent
    last_voiced: float = 0.0  # wall time the packet with the last voiced sample was sent
    reply: float = 0.0  # kernel arrival time of the reply's first sound

    @property
    def delay(self) -> float | None:
        if self.reply and self.last_voiced:
            return self.reply - self.last_voiced
        return None

    @property
    def cut(self) -> bool:
        return bool(self.reply and (not self.last_voiced or self.reply < self.last_voiced))


@dataclass
class Caller:
    index: int
    sock: socket.socket
    port: int
    answers: list[Answer]
    engine: tuple[str, int] | None = None
    seq: int = 1
    ts: int = 0
    ssrc: int = 0
    # state: "question" (waiting for its sound), "question_end" (its silence after),
    # "answering", "reply"
    state: str = "question"
    current: int = 0
    heard_sound: bool = False
    last_sound: float = 0.0
    clip: bytes = b""
    clip_pos: int = 0
    clip_last_voiced: int = 0  # index of the frame with the last voiced sample
    line_pos: int = 0
    last_rx: float = 0.0
    done: bool = False
    noise: list[int] = field(default_factory=list)


class Callers:
    """The callers of one level: a receiver thread and a 20 ms sender thread."""

    def __init__(self, count: int, plan: list[tuple[str, str]], clips: dict[str, list[bytes]],
                 voiced_end: dict[str, list[int]], line: bytes) -> None:
        self.clips, self.voiced_end, self.line = clips, voiced_end, line
        self.callers: list[Caller] = []
        self._selector = selectors.DefaultSelector()
        self._by_fd: dict[int, Caller] = {}
        self._lock = threading.Lock()
        for index in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            answers = [Answer(kind, mode, i, sum(k == kind for k, _ in plan[:i]))
                       for i, (kind, mode) in enumerate(plan)]
            caller = Caller(index, sock, sock.getsockname()[1], answers,
                            ssrc=0x7A5E0000 + index, line_pos=index * 4000 % len(line))
            self.callers.append(caller)
            self._by_fd[sock.fileno()] = caller
            self._selector.register(sock, selectors.EVENT_READ)
        self.sender_late_max_ms = 0.0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._receive, daemon=True),
                         threading.Thread(target=self._send, daemon=True)]
        for thread in self._threads:
            thread.start()

    @property
    def finished(self) -> bool:
        return all(c.done or c.current >= len(c.answers) for c in self.callers)

    def write_injection(self, path) -> None:
        path.write_text("SEQUENTIAL\n" + "".join(f"{c.port};\n" for c in self.callers))

    # -- receive ----------------------------------------------------------------------
    def _receive(self) -> None:
        ancillary = socket.CMSG_SPACE(16)
        while not self._stop.is_set():
            for key, _ in self._selector.select(0.2):
                caller = self._by_fd[key.fd]
                while True:
                    try:
                        data, anc, _flags, source = caller.sock.recvmsg(2048, ancillary)
                    except OSError:
                        break
                    arrived = time.time()
                    for level, kind, value in anc:
                        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                            sec, nsec = struct.unpack("qq", value[:16])
                            arrived = sec + nsec / 1e9
                    if len(data) < 12 or data[1] & 0x7F != PT_PCMA:
                        continue
                    with self._lock:
                        self._on_audio(caller, data[12:], source, arrived)

    def _on_audio(self, caller: Caller, payload: bytes, source, arrived: float) -> None:
        if caller.engine is None:
            caller.engine = source
        caller.last_rx = arrived
        sound = loud(payload)
        if caller.state == "question" and sound:
            caller.state, caller.last_sound = "question_end", arrived
        elif caller.state == "question_end" and sound:
            caller.last_sound = arrived
        elif caller.state in ("answering", "reply") and sound:
            answer = caller.answers[caller.current]
            answer.reply = arrived
            # the reply is followed by the next question: wait for both to end
            caller.current += 1
            caller.state, caller.last_sound = "question_end", arrived

    # -- send -------------------------------------------------------------------------
    def _send(self) -> None:
        start = time.monotonic()
        tick = 0
        while not self._stop.is_set():
            due = start + tick * FRAME_S
            delay = due - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            self.sender_late_max_ms = max(self.sender_late_max_ms,
                                          (time.monotonic() - due) * 1000)
            now = time.time()
            with self._lock:
                for caller in self.callers:
                    if caller.engine is not None and not caller.done:
                        self._send_one(caller, now)
            tick += 1

    def _send_one(self, caller: Caller, now: float) -> None:
        if now - caller.last_rx > 3.0:  # the engine stopped sending: the call is over
            caller.done = True
            return
        if caller.state == "question_end" and now - caller.last_sound >= QUESTION_OVER_S \
                and caller.current < len(caller.answers):
            answer = caller.answers[caller.current]
            variants = len(self.clips[answer.kind])
            caller.clip = self.clips[answer.kind][answer.variant % variants]
            caller.clip_last_voiced = self.voiced_end[answer.kind][answer.variant % variants]
            caller.clip_pos, caller.state = 0, "answering"
            answer.started = now
        if caller.state == "answering":
            frame_index = caller.clip_pos // FRAME_BYTES
            payload = caller.clip[caller.clip_pos: caller.clip_pos + FRAME_BYTES]
            caller.clip_pos += FRAME_BYTES
            if caller.clip_pos >= len(caller.clip):
                caller.state = "reply"
        else:
            frame_index = -1
            start = caller.line_pos
            payload = self.line[start: start + FRAME_BYTES]
            caller.line_pos = (start + FRAME_BYTES) % len(self.line)
        header = struct.pack("!BBHII", 0x80, PT_PCMA, caller.seq, caller.ts, caller.ssrc)
        caller.seq = (caller.seq + 1) & 0xFFFF
        caller.ts = (caller.ts + SAMPLES) & 0xFFFFFFFF
        try:
            caller.sock.sendto(header + payload, caller.engine)
        except OSError:
            caller.done = True
            return
        if frame_index == caller.clip_last_voiced and caller.current < len(caller.answers):
            caller.answers[caller.current].last_voiced = time.time()

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(2)
        self._selector.close()
        for caller in self.callers:
            caller.sock.close()
