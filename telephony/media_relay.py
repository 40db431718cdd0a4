"""rtpengine as the front's media relay: one process in the foreground, userspace forwarding.

Two logical interfaces: ``internal`` on the workers' side (loopback or a private address)
and ``external`` on the edge address, optionally announcing a public address (1:1 NAT).
Media toward the outside uses one fixed UDP port range, so a router needs at most that
range forwarded (none when the practice registers from behind NAT: the provider's relay
latches onto the packets we send). rtpengine learns each peer's real address from its
first packets (symmetric RTP latching), decrypts SDES-SRTP from providers that offer it,
and hands the workers plain RTP. Kamailio drives it over the ng control socket, bound on
loopback.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from foundation.daemons import ForegroundDaemon
from foundation.errors import TelesecError
from foundation.logs import ChildLine
from foundation.processes import cpu_seconds, find_program
from foundation.settings import MediaRelaySettings

log = logging.getLogger(__name__)


def find_rtpengine(binary: str = "rtpengine") -> str | None:
    """Path of the rtpengine executable, or None when it is not installed."""
    return find_program(binary)


@dataclass(frozen=True)
class RelayLayout:
    """What the generated rtpengine configuration depends on."""

    internal_address: str  # the workers' side
    external_address: str  # the edge address media leaves from
    port_min: int
    port_max: int
    run_dir: Path
    ng_port: int = 0  # 0: a free loopback port is picked at start
    public_address: str = ""  # announced in SDP instead of external_address (1:1 NAT)
    threads: int = 2

    @property
    def config_path(self) -> Path:
        return self.run_dir / "rtpengine.conf"

    @property
    def pid_path(self) -> Path:
        return self.run_dir / "rtpengine.pid"


def _free_loopback_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def relay_from_settings(media: MediaRelaySettings, *, internal_address: str,
                        external_address: str, run_dir: Path) -> MediaRelay | None:
    """The rtpengine ``media`` asks for (auto: when installed), not started; None when off."""
    if media.relay == "off":
        return None
    binary = find_rtpengine(media.rtpengine_binary)
    if binary is None:
        if media.relay == "on":
            raise TelesecError(
                f"sip.media.relay is on but rtpengine ({media.rtpengine_binary!r}) is not "
                "installed; install the rtpengine-daemon package or set relay = \"auto\""
            )
        log.warning("rtpengine not found: RTP goes straight between callers and workers, "
                    "which only works without NAT; install rtpengine-daemon")
        return None
    return MediaRelay(binary, RelayLayout(
        internal_address=media.internal_address or internal_address,
        external_address=media.edge_address or external_address,
        port_min=media.port_min, port_max=media.port_max,
        run_dir=run_dir, public_address=media.public_address,
        ng_port=_free_loopback_udp_port(),
    ))


def render_config(layout: RelayLayout, ng_port: int) -> str:
    external = layout.external_address
    if layout.public_address:
        external += f"!{layout.public_address}"
    interfaces = f"internal/{layout.internal_address};external/{external}"
    return (
        "# Telesec media relay. Generated at every start by telephony/media_relay.py.\n"
        "[rtpengine]\n"
        "table = -1\n"  # userspace forwarding: no kernel module needed
        f"interface = {interfaces}\n"
        f"listen-ng = 127.0.0.1:{ng_port}\n"
        f"port-min = {layout.port_min}\n"
        f"port-max = {layout.port_max}\n"
        "timeout = 60\n"
        "silent-timeout = 3600\n"
        "final-timeout = 14400\n"
        "delete-delay = 0\n"
        f"num-threads = {layout.threads}\n"
        "log-level = 5\n"
        "log-stderr = true\n"
        "foreground = true\n"
        "no-log-timestamps = true\n"
        "dtls-passive = true\n"
    )


class MediaRelay(ForegroundDaemon):
    """One rtpengine process; ``ng_port`` is its control port on 127.0.0.1."""

    name = log_name = "rtpengine"
    error_markers = ("ERR", "CRIT")

    def __init__(self, binary: str, layout: RelayLayout) -> None:
        super().__init__(binary, layout.pid_path)
        self.layout = layout
        self.ng_port = layout.ng_port

    def start(self, timeout: float = 10.0) -> None:
        """Write the config, start rtpengine and wait until it answers an ng ping."""
        self.layout.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.ng_port = self.layout.ng_port or _free_loopback_udp_port()
        self.layout.config_path.write_text(render_config(self.layout, self.ng_port))
        self._launch([self.binary, "--config-file", str(self.layout.config_path),
                      "--pidfile", str(self.layout.pid_path)], output="stderr")
        self._wait_up(lambda: ng_ping(self.ng_port, timeout=0.3), timeout,
                      died_hint="check sip.media (addresses this machine has, a free port "
                      "range)", silent=f"127.0.0.1:{self.ng_port}")
        log.info("media relay up: RTP ports %d-%d on %s (pid %s)",
                 self.layout.port_min, self.layout.port_max,
                 self.layout.public_address or self.layout.external_address, self.pid)

    def parse_line(self, line: str) -> ChildLine:
        return _parse_line(line)

    def cpu_seconds(self) -> float:
        """User + system CPU time rtpengine has used so far (for the benchmark)."""
        if self.pid is None:
            return 0.0
        return cpu_seconds([self.pid])


def _parse_line(line: str) -> ChildLine:
    """rtpengine names calls by Call-ID and addresses only; its chatter is kept at DEBUG."""
    level = logging.WARNING if line.startswith(("ERR", "CRIT", "WARNING")) else logging.DEBUG
    return level, "", line.rstrip()


def ng_call_ids(port: int, timeout: float = 2.0, host: str = "127.0.0.1") -> list[str] | None:
    """The Call-IDs rtpengine holds a session for (ng ``list``), None if it does not answer.

    Every request carries a fresh cookie: rtpengine answers a cookie it has seen before
    with its cached reply, so a reused cookie would show a deleted call as still there."""
    cookie = os.urandom(4).hex()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(f"{cookie} d7:command4:liste".encode(), (host, port))
            data = sock.recv(65536)
        except OSError:
            return None
    if not data.startswith(cookie.encode() + b" "):
        return None
    body = data[len(cookie) + 1:]
    start = body.find(b"5:callsl")
    if start < 0:
        return None
    ids, at = [], start + len(b"5:callsl")
    while body[at:at + 1] != b"e":  # a bencoded list of strings: <length>:<bytes>...
        length, _, rest = body[at:].partition(b":")
        size = int(length)
        ids.append(rest[:size].decode(errors="replace"))
        at += len(length) + 1 + size
    return ids


def ng_ping(port: int, timeout: float = 1.0, host: str = "127.0.0.1") -> bool:
    """True if an rtpengine answers ``ping`` on its ng control port."""
    cookie = os.urandom(4).hex()
    message = f"{cookie} d7:command4:pinge".encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(message, (host, port))
            data = sock.recv(4096)
        except OSError:
            return False
    return data.startswith(cookie.encode()) and b"pong" in data
