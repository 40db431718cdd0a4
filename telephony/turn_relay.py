"""coturn as the softphones' TURN relay: for secretaries whose network blocks UDP.

A browser that cannot send UDP to the front's rtpengine allocates a relay on this TURN
server over TCP (or UDP), and its media reaches rtpengine from there. Credentials are
coturn's use-auth-secret scheme: the API hands the page ``<expiry>:<login>`` and an
HMAC of it under a secret only the API and coturn hold (a 0600 file), valid as long as
the softphone's SIP token. The relay may reach the front's media relay address only
(every other peer is denied), so it is no open relay. One process in the foreground,
started and stopped with the front; its log relayed under ``telesec.turn``.
"""

from __future__ import annotations

import logging
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from foundation.daemons import ForegroundDaemon
from foundation.errors import TelesecError
from foundation.logs import ChildLine
from foundation.processes import find_program
from foundation.settings import Settings
from foundation.webphone_tokens import load_or_create_secret
from telephony.kamailio_config import write_private

log = logging.getLogger(__name__)

_USER = re.compile(r"user <[^>]*>")


@dataclass(frozen=True)
class TurnLayout:
    """What the generated turnserver.conf depends on."""

    listen_host: str
    port: int
    relay_port_min: int
    relay_port_max: int
    peers: tuple[str, ...]  # the only addresses relayed to: the front's media relay
    run_dir: Path
    realm: str = "telesec"
    public_address: str = ""
    allow_loopback_peers: bool = False

    @property
    def config_path(self) -> Path:
        return self.run_dir / "turnserver.conf"

    @property
    def pid_path(self) -> Path:
        return self.run_dir / "turnserver.pid"


def turn_from_settings(settings: Settings, run_dir: Path, *,
                       media_address: str) -> TurnRelay | None:
    """The TURN relay ``[sip.webphone.turn]`` asks for (not started); None when off.
    ``media_address`` is the front's rtpengine address that browsers' media goes to."""
    sip = settings.sip
    turn = sip.webphone.turn
    if not (sip.webphone.enabled and turn.enabled):
        return None
    binary = find_program(turn.binary)
    if binary is None:
        raise TelesecError(f"sip.webphone.turn is enabled but coturn ({turn.binary!r}) is "
                           "not installed; install the coturn package or turn it off")
    peers = tuple(dict.fromkeys(a for a in (media_address, sip.media.public_address) if a))
    layout = TurnLayout(
        listen_host=turn.listen_host or sip.listen_host, port=turn.port,
        relay_port_min=turn.relay_port_min, relay_port_max=turn.relay_port_max,
        peers=peers, run_dir=run_dir, realm=sip.phones.realm,
        public_address=turn.public_address, allow_loopback_peers=turn.allow_loopback_peers)
    return TurnRelay(binary, layout, load_or_create_secret(settings.turn_secret_path))


def render_config(layout: TurnLayout, secret: str) -> str:
    """turnserver.conf: TURN over UDP and TCP, REST credentials, relay to ``peers`` only."""
    lines = [
        "# Telesec TURN relay. Generated at every start by telephony/turn_relay.py.",
        f"listening-ip={layout.listen_host}",
        f"listening-port={layout.port}",
        f"relay-ip={layout.listen_host}",
        f"min-port={layout.relay_port_min}",
        f"max-port={layout.relay_port_max}",
        "use-auth-secret",
        f"static-auth-secret={secret}",
        f"realm={layout.realm}",
        "fingerprint",
        "no-cli",
        "no-tls",
        "no-dtls",
        "no-tcp-relay",  # media reaches rtpengine over UDP from here
        "no-multicast-peers",
        "no-software-attribute",
        "no-rfc5780",
        "stale-nonce=600",
        "denied-peer-ip=0.0.0.0-255.255.255.255",
        "denied-peer-ip=::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        *(f"allowed-peer-ip={peer}" for peer in layout.peers),
        f"pidfile={layout.pid_path}",
        f"userdb={layout.run_dir / 'turndb'}",  # unused (REST credentials), kept private
        "log-file=stdout",
        "simple-log",
    ]
    if layout.public_address:
        lines.append(f"external-ip={layout.public_address}/{layout.listen_host}")
    if layout.allow_loopback_peers:
        lines.append("allow-loopback-peers")
    return "\n".join(lines) + "\n"


class TurnRelay(ForegroundDaemon):
    """One coturn process in the foreground."""

    name, log_name = "coturn", "turn"
    error_markers = ("ERROR", "error")

    def __init__(self, binary: str, layout: TurnLayout, secret: str) -> None:
        super().__init__(binary, layout.pid_path)
        self.layout = layout
        self._secret = secret

    def start(self, timeout: float = 10.0) -> None:
        """Write the config (0600: it holds the secret), start coturn, wait for its TCP port."""
        self.layout.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(self.layout.config_path, render_config(self.layout, self._secret))
        self._launch([self.binary, "-c", str(self.layout.config_path)], output="stdout")
        address = f"{self.layout.listen_host}:{self.layout.port}"
        self._wait_up(lambda: _tcp_open(self.layout.listen_host, self.layout.port), timeout,
                      died_hint="check sip.webphone.turn (a free port, an address of this "
                      "machine)", silent=address)
        log.info("TURN relay up on %s (UDP and TCP), relaying to %s (pid %s)",
                 address, ", ".join(self.layout.peers), self.pid)

    def parse_line(self, line: str) -> ChildLine:
        return parse_line(line)


def parse_line(line: str) -> ChildLine:
    """coturn's lines without user names: errors as warnings (a browser closing its TCP
    connection is no error), the rest at DEBUG."""
    message = _USER.sub("user <…>", line.rstrip())
    if "ERROR" in message and "Connection reset by peer" not in message:
        return logging.WARNING, "", message
    return logging.DEBUG, "", message


def _tcp_open(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0
