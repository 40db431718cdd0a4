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
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import TelesecError
from foundation.logs import ChildLine, relay
from foundation.processes import find_program, signal_group
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


class TurnRelay:
    """One coturn process in the foreground."""

    def __init__(self, binary: str, layout: TurnLayout, secret: str) -> None:
        self.binary = binary
        self.layout = layout
        self._secret = secret
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._recent: deque[str] = deque(maxlen=100)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def is_alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Write the config (0600: it holds the secret), start coturn, wait for its TCP port."""
        self.layout.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(self.layout.config_path, render_config(self.layout, self._secret))
        self._recent.clear()
        self._process = subprocess.Popen(
            [self.binary, "-c", str(self.layout.config_path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, errors="replace", start_new_session=True,
        )
        self._reader = threading.Thread(target=self._forward_logs, args=(self._process,),
                                        name="turn-log", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_alive():
                if self._reader:
                    self._reader.join(timeout=2)
                raise TelesecError(f"coturn did not start: {self._summary()}; check "
                                   "sip.webphone.turn (a free port, an address of this machine)")
            if _tcp_open(self.layout.listen_host, self.layout.port):
                log.info("TURN relay up on %s:%s (UDP and TCP), relaying to %s (pid %s)",
                         self.layout.listen_host, self.layout.port,
                         ", ".join(self.layout.peers), self.pid)
                return
            time.sleep(0.1)
        self.stop()
        raise TelesecError(f"coturn did not listen on {self.layout.listen_host}:"
                           f"{self.layout.port} within {timeout:.0f} s: {self._summary()}")

    def keep_running(self) -> None:
        """Restart coturn if it died (calls through it lose their audio)."""
        if self.is_alive():
            return
        log.error("coturn (pid %s) exited; restarting it", self.pid)
        self.stop(timeout=1)
        try:
            self.start()
        except TelesecError as exc:
            log.error("TURN relay restart failed: %s", exc)

    def stop(self, timeout: float = 5.0) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                signal_group(process.pid, signal.SIGKILL)
                process.wait()
        if self._reader:
            self._reader.join(timeout=2)
        if process.stdout:
            process.stdout.close()
        self.layout.pid_path.unlink(missing_ok=True)

    def _summary(self) -> str:
        errors = [line for line in self._recent if "ERROR" in line or "error" in line]
        return (errors or list(self._recent) or ["no output"])[-1]

    def _forward_logs(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        relay(process.stdout, "turn", parse=parse_line, tail=self._recent)


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
