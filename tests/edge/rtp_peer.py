"""The caller's (or a secretary's) RTP: hears Telesec, speaks back, counts what it got.

Usable in-process, or as ``python -m tests.edge.rtp_peer HOST PORTFILE RESULT SECONDS``
inside another network namespace (it writes its port to PORTFILE, then after SECONDS
its counts as JSON to RESULT). It answers to the address Telesec's media comes from
(symmetric RTP), like a phone behind a relay would.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from pathlib import Path

from tests.telephony.rtp import PT_PCMA, RtpTrack, alaw_rms_dbfs, tone_alaw


class RtpPeer:
    def __init__(self, host: str = "127.0.0.1", speak_seconds: float = 4.0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.2)
        self.host, self.port = self.sock.getsockname()[:2]
        self.received = 0
        self.loud_packets = 0
        self.sent = 0
        self.sources: set[tuple[str, int]] = set()
        self.levels: list[tuple[float, int]] = []
        self.payload_types: set[int] = set()  # (seconds since the first packet, dBFS)
        self._first: tuple[str, int] | None = None
        self._first_at = 0.0
        self._track = RtpTrack(ssrc=0x5EC0).audio(tone_alaw(330, speak_seconds))
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._receive, daemon=True),
                         threading.Thread(target=self._send, daemon=True)]
        for thread in self._threads:
            thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data, source = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(data) < 12:
                continue
            self.received += 1
            self.sources.add(source)
            self.payload_types.add(data[1] & 0x7F)
            if self._first is None:
                self._first = source
                self._first_at = time.monotonic()
            if data[1] & 0x7F == PT_PCMA:
                level = alaw_rms_dbfs(data[12:])
                self.levels.append((round(time.monotonic() - self._first_at, 2), int(level)))
                if level > -30:
                    self.loud_packets += 1

    def _send(self) -> None:
        while self._first is None and not self._stop.is_set():
            time.sleep(0.02)
        start = time.monotonic()
        for when, packet in self._track.packets:
            delay = start + when - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            try:
                self.sock.sendto(packet, self._first)
                self.sent += 1
            except OSError:
                return

    def facts(self) -> dict:
        return {"received": self.received, "loud": self.loud_packets, "sent": self.sent,
                "levels": self.levels[:60:3],
                "sources": sorted(f"{h}:{p}" for h, p in self.sources)}

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(2)
        self.sock.close()


def main() -> None:
    host, port_file, result, seconds = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), \
        float(sys.argv[4])
    peer = RtpPeer(host)
    port_file.write_text(str(peer.port))
    time.sleep(seconds)
    result.write_text(json.dumps(peer.facts()))
    peer.close()


if __name__ == "__main__":
    main()
