"""Test media: G.711 A-law, RFC 4733 DTMF packets, pcap files for sipp, and an RTP sink.

The caller side of the tests is built here from scratch: a list of segments (speech
synthesised with espeak-ng + sox, silence, DTMF keys) becomes one pcap that sipp's
``play_pcap_audio`` sends at the recorded pace.
"""

from __future__ import annotations

import math
import socket
import struct
import subprocess
import threading
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path

PT_PCMU = 0
PT_PCMA = 8
PT_G722 = 9
PT_DTMF = 101
SAMPLES_PER_PACKET = 160  # 20 ms at 8 kHz
DTMF_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}


def _alaw_encode_sample(sample: int) -> int:
    sign = 0x80 if sample >= 0 else 0x00
    magnitude = min(abs(sample) >> 3, 0xFFF)  # 13-bit magnitude
    if magnitude < 32:
        code = magnitude >> 1
    else:
        exponent = magnitude.bit_length() - 5
        code = (exponent << 4) | ((magnitude >> exponent) & 0x0F)
    return (code | sign) ^ 0x55


def _alaw_decode_byte(byte: int) -> int:
    byte ^= 0x55
    exponent = (byte & 0x70) >> 4
    mantissa = byte & 0x0F
    magnitude = (mantissa << 4) + 8 if exponent == 0 else (mantissa << 4) + 264 << exponent - 1
    return magnitude if byte & 0x80 else -magnitude


ALAW_DECODE = [_alaw_decode_byte(b) for b in range(256)]
ALAW_SILENCE = _alaw_encode_sample(0)


def alaw_encode(pcm8k: bytes) -> bytes:
    samples = array("h")
    samples.frombytes(pcm8k)
    return bytes(_alaw_encode_sample(s) for s in samples)


def _ulaw_encode_sample(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0x00
    magnitude = min(abs(sample), 32635) + 0x84  # biased 14-bit magnitude
    exponent = (magnitude >> 7).bit_length() - 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def ulaw_encode(pcm8k: bytes) -> bytes:
    """8 kHz s16 PCM as G.711 mu-law bytes."""
    samples = array("h")
    samples.frombytes(pcm8k)
    return bytes(_ulaw_encode_sample(s) for s in samples)


def g722_encode(pcm16k: bytes, workdir: Path) -> bytes:
    """16 kHz s16 PCM as G.722 (64 kbit/s) bytes, by the ffmpeg of imageio-ffmpeg."""
    import imageio_ffmpeg

    raw, out = workdir / "g722-in.raw", workdir / "g722-out.g722"
    raw.write_bytes(pcm16k)
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
         "-f", "s16le", "-ar", "16000", "-ac", "1", "-i", str(raw),
         "-c:a", "g722", "-f", "g722", str(out)],
        check=True, timeout=30,
    )
    return out.read_bytes()


def alaw_rms_dbfs(alaw: bytes) -> float:
    if not alaw:
        return -120.0
    power = sum(ALAW_DECODE[b] ** 2 for b in alaw) / len(alaw)
    return 10 * math.log10(power / 32768**2) if power > 0 else -120.0


def tone_alaw(hz: float, seconds: float, level: float = 0.3) -> bytes:
    """A sine tone as 8 kHz A-law bytes."""
    count = int(8000 * seconds)
    pcm = array("h", (int(level * 32767 * math.sin(2 * math.pi * hz * i / 8000))
                      for i in range(count)))
    return alaw_encode(pcm.tobytes())


def speech_alaw(text: str, workdir: Path, voice: str = "fr") -> bytes:
    """``text`` spoken by espeak-ng, as 8 kHz A-law bytes (via sox)."""
    wav = workdir / "speech.wav"
    raw = workdir / "speech.al"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True, timeout=30)
    subprocess.run(
        ["sox", str(wav), "-r", "8000", "-c", "1", "-e", "a-law", "-t", "raw", str(raw)],
        check=True, timeout=30,
    )
    return raw.read_bytes()


@dataclass
class RtpTrack:
    """Builds the caller's RTP packets, 20 ms apart."""

    ssrc: int = 0x7E1E5EC0
    packets: list[tuple[float, bytes]] = field(default_factory=list)
    _seq: int = 1
    _timestamp: int = 0
    _clock: float = 0.0

    def _packet(self, payload_type: int, payload: bytes, marker: bool, timestamp: int) -> bytes:
        header = struct.pack(
            "!BBHII", 0x80, (0x80 if marker else 0) | payload_type,
            self._seq & 0xFFFF, timestamp & 0xFFFFFFFF, self.ssrc,
        )
        self._seq += 1
        return header + payload

    def audio(self, alaw: bytes, payload_type: int = PT_PCMA) -> RtpTrack:
        """Encoded audio, 160 bytes (20 ms) a packet: A-law by default; mu-law and G.722
        (64 kbit/s, RTP clock 8 kHz) have 160 bytes per 20 ms too."""
        alaw = alaw + bytes([ALAW_SILENCE]) * (-len(alaw) % SAMPLES_PER_PACKET)
        for start in range(0, len(alaw), SAMPLES_PER_PACKET):
            chunk = alaw[start : start + SAMPLES_PER_PACKET]
            self.packets.append(
                (self._clock, self._packet(payload_type, chunk, False, self._timestamp)))
            self._timestamp += SAMPLES_PER_PACKET
            self._clock += 0.02
        return self

    def silence(self, seconds: float) -> RtpTrack:
        return self.audio(bytes([ALAW_SILENCE]) * int(8000 * seconds))

    def dtmf(self, key: str, ms: int = 120, gap_ms: int = 200) -> RtpTrack:
        """One RFC 4733 key: event packets every 20 ms, three end packets, then silence."""
        event = DTMF_EVENTS[key]
        start_ts = self._timestamp
        steps = ms // 20
        for step in range(1, steps + 1):
            payload = struct.pack("!BBH", event, 10, step * SAMPLES_PER_PACKET)
            self.packets.append((self._clock, self._packet(PT_DTMF, payload, step == 1, start_ts)))
            self._clock += 0.02
        end = struct.pack("!BBH", event, 0x80 | 10, steps * SAMPLES_PER_PACKET)
        for _ in range(3):
            self.packets.append((self._clock, self._packet(PT_DTMF, end, False, start_ts)))
        self._timestamp += steps * SAMPLES_PER_PACKET
        self._clock += 0.02
        return self.silence(gap_ms / 1000)

    def keys(self, keys: str, gap_ms: int = 200) -> RtpTrack:
        for key in keys:
            self.dtmf(key, gap_ms=gap_ms)
        return self

    @property
    def seconds(self) -> float:
        return self._clock

    def write_pcap(self, path: Path, src_port: int = 6000, dst_port: int = 7000) -> Path:
        """Ethernet/IPv4/UDP pcap, the form sipp's play_pcap_audio reads."""
        out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
        for when, rtp in self.packets:
            udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(rtp), 0) + rtp
            ip = struct.pack(
                "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                socket.inet_aton("127.0.0.1"), socket.inet_aton("127.0.0.1"),
            )
            frame = b"\0" * 12 + b"\x08\x00" + ip + udp
            seconds = int(when)
            micros = round((when - seconds) * 1e6)
            out.append(struct.pack("<IIII", seconds, micros, len(frame), len(frame)) + frame)
        path.write_bytes(b"".join(out))
        return path


class RtpSink:
    """The caller's RTP port: counts and decodes what arrives, and can send a track back.

    The engine latches onto the address RTP comes from, so the caller's audio is sent from
    this same socket (to where the engine's packets come from) once the engine has spoken.
    """

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.packets = 0
        self.payload_types: set[int] = set()
        self.alaw = bytearray()
        self.engine_address: tuple[str, int] | None = None
        self._engine_seen = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()
        self._sender: threading.Thread | None = None

    def play(self, track: RtpTrack, wait_for_engine: float = 10.0) -> None:
        """Send ``track`` (paced, in the background) once the engine's RTP address is known."""

        def send() -> None:
            if not self._engine_seen.wait(wait_for_engine):
                return
            start = time.monotonic()
            for when, packet in track.packets:
                delay = start + when - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                try:
                    self.sock.sendto(packet, self.engine_address)
                except OSError:
                    return

        self._sender = threading.Thread(target=send, daemon=True)
        self._sender.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data, source = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            if self.engine_address is None:
                self.engine_address = source
                self._engine_seen.set()
            if len(data) < 12:
                continue
            self.packets += 1
            payload_type = data[1] & 0x7F
            self.payload_types.add(payload_type)
            if payload_type == PT_PCMA:
                self.alaw += data[12:]

    def loud_seconds(self, threshold_dbfs: float = -30.0) -> float:
        """Seconds of received audio louder than the threshold (a played prompt)."""
        loud = 0
        for start in range(0, len(self.alaw), 800):  # 100 ms windows
            if alaw_rms_dbfs(bytes(self.alaw[start : start + 800])) > threshold_dbfs:
                loud += 1
        return loud / 10

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
