"""One Kamailio front for several engine nodes (``telesec front``): beyond one machine.

Each engine node runs its own worker pool without a front of its own (``telesec serve
--no-front``: workers on ``sip.node_host``, ports ``sip.worker_base_port`` and up, taking
SIP only from the front). This front is the very same generated Kamailio configuration as
a single machine's (``telephony/kamailio_config.py``): its dispatcher set simply lists the
workers of every node, so probing, failover to the next worker, 486/503 with Retry-After
and the per-source flood limit work across machines exactly as they do on one.

A node is written ``HOST:BASEPORT:COUNT`` (``10.0.0.11:5100:8``; IPv6 in brackets:
``[fd00::11]:5100:8``) or as a ``[[node]]`` table of a TOML file (``host``, ``base_port``,
``workers``). Host names are resolved once, at start: Kamailio itself never uses DNS.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import signal
import socket
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from foundation.certificates import console_certificate
from foundation.errors import TelesecError
from foundation.front_status import front_run_dir, write_trunk_status
from foundation.settings import Settings
from foundation.webphone_tokens import load_or_create_secret
from telephony.edge import RelayLink, edge_from_settings
from telephony.kamailio import KamailioFront, find_kamailio
from telephony.kamailio_config import Backend, FrontLayout
from telephony.media_relay import MediaRelay, relay_from_settings
from telephony.pool_settings import PoolTuning
from telephony.turn_relay import TurnRelay, turn_from_settings

log = logging.getLogger(__name__)

MAX_WORKERS_PER_NODE = 64
_WATCH_S = 0.5
DESKS_REFRESH_S = 10.0


@dataclass(frozen=True)
class EngineNode:
    """The workers of one engine node: ``workers`` SIP ports from ``base_port`` on ``host``."""

    host: str
    base_port: int
    workers: int

    @property
    def backends(self) -> list[Backend]:
        return [Backend(self.host, self.base_port + i) for i in range(self.workers)]

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.base_port}:{self.workers}"


def parse_node(text: str) -> EngineNode:
    """``HOST:BASEPORT:COUNT`` → :class:`EngineNode`; TelesecError (one line) if malformed."""
    parts = text.strip().rsplit(":", 2)
    if len(parts) != 3 or not parts[0]:
        raise TelesecError(
            f"engine node {text!r}: write it HOST:BASEPORT:COUNT, e.g. 10.0.0.11:5100:8"
        )
    host, base_port, workers = parts
    try:
        return make_node(host.strip("[]"), int(base_port), int(workers))
    except ValueError:
        raise TelesecError(
            f"engine node {text!r}: BASEPORT and COUNT must be numbers, e.g. 10.0.0.11:5100:8"
        ) from None


def make_node(host: str, base_port: int, workers: int) -> EngineNode:
    """A checked :class:`EngineNode` (ports in range, 1..64 workers)."""
    if not 1 <= workers <= MAX_WORKERS_PER_NODE:
        raise TelesecError(
            f"engine node {host}: {workers} workers; a node has 1 to {MAX_WORKERS_PER_NODE}"
        )
    if base_port < 1024 or base_port + workers - 1 > 65535:
        raise TelesecError(
            f"engine node {host}: ports {base_port}..{base_port + workers - 1} are out of "
            "range; use sip.worker_base_port of that node (1024 or more)"
        )
    return EngineNode(host, base_port, workers)


def load_nodes_file(path: Path) -> list[EngineNode]:
    """Nodes from a TOML file made of ``[[node]]`` tables (``host``, ``base_port``, ``workers``)."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TelesecError(f"nodes file {path}: {exc}; fix it or name the nodes with --node"
                           ) from None
    tables = data.get("node")
    if not isinstance(tables, list) or not tables:
        raise TelesecError(f"nodes file {path}: no [[node]] table; add one per engine node")
    nodes = []
    for number, table in enumerate(tables, start=1):
        try:
            nodes.append(make_node(str(table["host"]), int(table.get("base_port", 5100)),
                                   int(table.get("workers", 2))))
        except (KeyError, TypeError, ValueError):
            raise TelesecError(
                f"nodes file {path}: node {number} needs host = \"...\" and numeric "
                "base_port and workers"
            ) from None
    return nodes


def resolve_node(node: EngineNode) -> EngineNode:
    """The node with its host name replaced by its address (Kamailio runs with dns=no)."""
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(node.host)
        return node
    try:
        infos = socket.getaddrinfo(node.host, node.base_port, type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise TelesecError(
            f"engine node {node.host}: cannot resolve it ({exc.strerror or exc}); "
            "check the name or give its address"
        ) from None
    return EngineNode(str(infos[0][4][0]), node.base_port, node.workers)


def front_layout(settings: Settings, nodes: list[EngineNode], *, tuning: PoolTuning,
                 run_dir: Path | None = None, relay: RelayLink | None = None,
                 webphone_secret: str | None = None) -> FrontLayout:
    """The Kamailio layout dispatching over every worker of ``nodes`` (media through
    ``relay`` when given; the console's softphones over WebSocket with
    ``webphone_secret``)."""
    if not nodes:
        raise TelesecError("no engine node given; name each one with --node HOST:BASEPORT:COUNT")
    nodes = [resolve_node(node) for node in nodes]
    # Interleaved (node 1 worker 0, node 2 worker 0, node 1 worker 1, ...): round-robin
    # then alternates nodes, so even a few calls spread over every machine.
    depth = max(node.workers for node in nodes)
    interleaved = [node.backends[i] for i in range(depth) for node in nodes if i < node.workers]
    backends: list[Backend] = []
    for backend in interleaved:
        if backend in backends:
            raise TelesecError(
                f"worker {backend.host}:{backend.port} is listed twice; the nodes' port "
                "ranges overlap: fix --node or the nodes file"
            )
        backends.append(backend)
    sip = settings.sip
    return FrontLayout(
        listen_host=sip.listen_host,
        listen_port=sip.listen_port,
        backends=backends,
        run_dir=run_dir or front_run_dir(settings),
        allowed_networks=list(sip.allowed_networks),
        tuning=tuning,
        edge=edge_from_settings(
            sip, relay=relay, webphone_secret=webphone_secret,
            console_tls=console_certificate(settings) if webphone_secret else None),
        log_level=settings.log_level,
    )


class SharedFront:
    """Kamailio dispatching over several nodes' workers, with rtpengine relaying their
    media when the settings ask for it; each restarted if it dies."""

    def __init__(self, settings: Settings, nodes: list[EngineNode], *,
                 tuning: PoolTuning | None = None, run_dir: Path | None = None,
                 desks: Callable[[], dict[str, str]] | None = None) -> None:
        """``desks`` reads each practice's desk and number (the softphones' call-backs
        leave with it); without it, call-backs are refused."""
        self.tuning = tuning or PoolTuning()
        self.desks = desks
        self._desks_at = 0.0
        self.nodes = nodes
        sip = settings.sip
        binary = find_kamailio(sip.kamailio_binary)
        if binary is None:
            raise TelesecError(
                f"Kamailio not found ({sip.kamailio_binary!r}); the shared front needs "
                "it: install the kamailio package or set sip.kamailio_binary"
            )
        self.run_dir = run_dir or front_run_dir(settings)
        self.relay: MediaRelay | None = relay_from_settings(
            sip.media, internal_address=sip.listen_host, external_address=sip.listen_host,
            run_dir=self.run_dir / "relay")
        link = RelayLink("127.0.0.1", self.relay.ng_port) if self.relay else None
        # the console's softphones: tokens minted by the nodes' APIs with the same secret
        secret = (load_or_create_secret(settings.webphone_secret_path)
                  if sip.webphone.enabled else None)
        self.layout = front_layout(settings, nodes, tuning=self.tuning, run_dir=self.run_dir,
                                   relay=link, webphone_secret=secret)
        self.kamailio = KamailioFront(binary, self.layout)
        media = sip.media.edge_address or sip.listen_host
        self.turn: TurnRelay | None = turn_from_settings(settings, self.run_dir / "turn",
                                                         media_address=media)
        self._shutdown = threading.Event()
        self._status_at = 0.0

    def start(self) -> None:
        """Start the media relay (if any), write the config, start Kamailio and wait
        until it answers OPTIONS."""
        if self.relay is not None:
            self.relay.start()
        try:
            if self.turn is not None:
                self.turn.start()
            self.refresh_desks(force=True)
            self.kamailio.start()
        except BaseException:
            if self.turn is not None:
                self.turn.stop()
            if self.relay is not None:
                self.relay.stop()
            raise
        log.info("front on %s:%s dispatching over %d worker(s) of %d node(s): %s%s",
                 self.layout.listen_host, self.layout.listen_port, len(self.layout.backends),
                 len(self.nodes), " ".join(str(node) for node in self.nodes),
                 "" if self.relay else " (no media relay: RTP goes straight to the nodes)")
        phone = self.layout.edge.webphone
        if phone is not None:
            log.info("console softphones: ws port %s%s", phone.ws_port,
                     f", wss port {phone.wss_port}" if phone.wss_port else "")

    def stop(self) -> None:
        self.kamailio.stop()
        if self.turn is not None:
            self.turn.stop()
        if self.relay is not None:
            self.relay.stop()

    def report_trunks(self) -> None:
        """The accounts' registration state in the run directory's status file (every 5 s),
        for `telesec trunks status`, the health endpoint and the metrics on this machine."""
        now = time.monotonic()
        if not self.layout.edge.trunks or now - self._status_at < 5.0:
            return
        self._status_at = now
        write_trunk_status(self.run_dir, self.kamailio.trunk_status())

    def refresh_desks(self, force: bool = False) -> None:
        """The practices' desks and numbers from the database, every 10 s."""
        now = time.monotonic()
        if self.desks is None or (not force and now - self._desks_at < DESKS_REFRESH_S):
            return
        self._desks_at = now
        try:
            self.kamailio.update_tables(desks=self.desks())
        except Exception as exc:  # the database is down: keep what the front has
            log.warning("softphone desks not refreshed (%s)", type(exc).__name__)

    def request_shutdown(self) -> None:
        self._shutdown.set()

    def run_forever(self) -> None:
        """Start; keep Kamailio up until SIGTERM/SIGINT (or ``request_shutdown``); stop."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, lambda *_: self.request_shutdown())
        try:
            self.start()
            self._watch()
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            log.info("front stopped")

    def _watch(self) -> None:
        failures, started_at = 0, time.monotonic()
        while not self._shutdown.wait(_WATCH_S):
            if self.relay is not None:
                self.relay.keep_running()
            if self.turn is not None:
                self.turn.keep_running()
            self.report_trunks()
            self.refresh_desks()
            if self.kamailio.is_alive():
                continue
            stable = time.monotonic() - started_at >= self.tuning.stable_after_s
            failures = 1 if stable else failures + 1
            delay = min(self.tuning.restart_backoff_max_s,
                        self.tuning.restart_backoff_min_s * 2 ** (failures - 1))
            log.error("Kamailio (pid %s) exited with code %s; restarting in %.1f s",
                      self.kamailio.pid, self.kamailio.exit_code(), delay)
            self.kamailio.stop(timeout=1)
            if self._shutdown.wait(delay):
                return
            started_at = time.monotonic()
            try:
                self.kamailio.start()
            except TelesecError as exc:
                log.error("Kamailio restart failed: %s", exc)
