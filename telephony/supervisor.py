"""The worker pool: Kamailio in front, N pjsua2 worker processes behind, kept alive.

``Supervisor(settings, handler="module:factory")`` starts the workers on consecutive
loopback ports (``sip.worker_base_port`` .. + ``sip.workers`` - 1), then Kamailio on the
practice address (``sip.listen_host``:``sip.listen_port``) with a generated config. A
worker that dies is restarted with an exponential backoff (no restart storm); one that
stays up ``stable_after_s`` has its backoff reset. ``stop()`` drains: SIGTERM to every
worker, wait up to the deadline, SIGKILL what is left, then stop Kamailio last.
Without Kamailio installed, one worker listens directly on the practice address.

Heavy read-only state (Vosk models) is prepared once by the ``preload`` hook, run before
any worker starts; see docs/telephony-pool.md.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Protocol

from foundation.certificates import console_certificate
from foundation.errors import TelesecError
from foundation.front_status import write_trunk_status
from foundation.logs import RELAY_ROOT, relay
from foundation.processes import descendants, pss_kb, signal_group
from foundation.settings import Settings
from foundation.webphone_tokens import load_or_create_secret
from telephony.edge import RelayLink, edge_from_settings
from telephony.kamailio import KamailioFront, find_kamailio
from telephony.kamailio_config import Backend, FrontLayout
from telephony.kamailio_rpc import TrunkState, trunk_states
from telephony.media_relay import MediaRelay, relay_from_settings
from telephony.pool_settings import PoolTuning
from telephony.rtp_ports import assign_rtp_ports
from telephony.turn_relay import TurnRelay, turn_from_settings

log = logging.getLogger(__name__)

READY_PREFIX = "READY"
_POLL_S = 0.1
DIRECTORY_REFRESH_S = 10.0  # practice numbers and phones' credentials are re-read this often


class FrontDirectory(Protocol):
    """What the front must know from the database (the composition root provides it)."""

    def numbers(self) -> set[str]:
        """The practices' numbers (E.164): dialled numbers the front lets through."""
        ...

    def phones(self, realm: str) -> list[tuple[str, str]]:
        """(login, HA1 for ``realm``) of every staff member whose phone may register."""
        ...

    def desks(self) -> dict[str, str]:
        """``desk-<slug>`` → the practice's number: what a softphone's call-back shows."""
        ...


@dataclass(frozen=True)
class WorkerSpec:
    """What one worker process is told: where to listen and which call handler to run."""

    index: int
    host: str
    port: int
    handler: str
    max_calls: int = 4
    allowed_networks: tuple[str, ...] = ("127.0.0.0/8",)
    drain_seconds: float = 30.0
    outbound_proxy: str = ""  # the front, where outgoing legs go (sip:host:port)
    user_agent: str = "Telesec"
    trusted_networks: tuple[str, ...] = ()  # direct mode: the trunks (caller ID believed)
    log_level: str = "INFO"
    rtp_port: int = 0  # first port of its RTP block (telephony.rtp_ports); 0: derived
    wideband: bool = False  # G.722 taken and the bridge at 16 kHz (sip.wideband)

    @property
    def process_name(self) -> str:
        """Its name in the pool's log: ``telesec.worker<index>.<logger>``."""
        return f"worker{self.index}"


WorkerArgv = Callable[[WorkerSpec], list[str]]
Preload = Callable[[], Mapping[str, str] | None]


def default_worker_argv(spec: WorkerSpec) -> list[str]:
    """Command line of a real pjsua2 worker (telephony/worker.py)."""
    argv = [
        sys.executable, "-m", "telephony.worker",
        "--host", spec.host,
        "--port", str(spec.port),
        "--handler", spec.handler,
        "--max-calls", str(spec.max_calls),
        "--drain-seconds", f"{spec.drain_seconds:g}",
        "--log-level", spec.log_level,
    ]
    if spec.rtp_port:
        argv += ["--rtp-port", str(spec.rtp_port)]
    for network in spec.allowed_networks:
        argv += ["--allow-net", network]
    if spec.outbound_proxy:
        argv += ["--outbound-proxy", spec.outbound_proxy]
    if spec.user_agent != "Telesec":
        argv += ["--user-agent", spec.user_agent]
    for network in spec.trusted_networks:
        argv += ["--trust-net", network]
    if spec.wideband:
        argv.append("--wideband")
    return argv


def _front_sources(listen_host: str, worker_host: str = "127.0.0.1") -> tuple[str, ...]:
    """Networks a worker behind Kamailio accepts calls from: Kamailio's own addresses."""
    own = []
    for host in (listen_host, worker_host):
        address = ipaddress.ip_address(host)
        own.append(str(ipaddress.ip_network(f"{address}/{address.max_prefixlen}")))
    return tuple(dict.fromkeys(["127.0.0.0/8", *own]))


def _host_in_uri(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class WorkerStatus:
    index: int
    host: str
    port: int
    pid: int | None
    alive: bool
    ready: bool
    restarts: int


@dataclass(frozen=True)
class PoolStatus:
    """A snapshot of the pool, for ``telesec serve``, health checks and tests."""

    front: Literal["kamailio", "direct", "external", "stopped"]
    listen_host: str
    listen_port: int
    front_pid: int | None
    front_alive: bool
    workers: tuple[WorkerStatus, ...]

    @property
    def workers_alive(self) -> int:
        return sum(1 for worker in self.workers if worker.alive)

    @property
    def restarts(self) -> int:
        return sum(worker.restarts for worker in self.workers)


@dataclass
class _WorkerSlot:
    spec: WorkerSpec
    process: subprocess.Popen[str] | None = None
    started_at: float = 0.0
    restarts: int = 0
    quick_failures: int = 0
    restart_at: float | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    stderr_tail: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    readers: list[threading.Thread] = field(default_factory=list)


class Supervisor:
    """Runs the pool; thread-safe ``status()``; ``run_forever()`` for ``telesec serve``."""

    def __init__(
        self,
        settings: Settings,
        handler: str,
        *,
        tuning: PoolTuning | None = None,
        preload: Preload | None = None,
        worker_argv: WorkerArgv = default_worker_argv,
        run_dir: Path | None = None,
        directory: FrontDirectory | None = None,
    ) -> None:
        self.settings = settings
        self.directory = directory
        self._relay: MediaRelay | None = None
        self._turn: TurnRelay | None = None
        self._directory_at = 0.0
        self._status_at = 0.0
        self.handler = handler
        self.tuning = tuning or PoolTuning()
        self.preload = preload
        self.worker_argv = worker_argv
        sip = settings.sip
        self.run_dir = run_dir or settings.data_path / "run" / f"front-{sip.listen_port}"
        self._lock = threading.RLock()
        self._slots: list[_WorkerSlot] = []
        self._front: KamailioFront | None = None
        self._front_restart_at: float | None = None
        self._front_failures = 0
        self._mode: Literal["kamailio", "direct", "external", "stopped"] = "stopped"
        self._worker_env: dict[str, str] = {}
        self._stopping = threading.Event()
        self._shutdown_requested = threading.Event()
        self._abort_drain = threading.Event()
        self._monitor: threading.Thread | None = None

    # ----------------------------------------------------------------- start

    def start(self) -> None:
        """Preload, start the workers and wait until they are ready, then the front."""
        if self._mode != "stopped":
            raise RuntimeError("the pool is already running")
        sip = self.settings.sip
        self._stopping.clear()
        self._abort_drain.clear()
        self._worker_env = self._preload_env()
        external = sip.front == "external"
        binary = None if external else find_kamailio(sip.kamailio_binary)
        if external:  # a shared front (telephony/front.py) dispatches to these workers
            front_proxy = f"sip:{sip.front_address}" if sip.front_address else ""
            specs = [
                WorkerSpec(i, sip.node_host, sip.worker_base_port + i, self.handler,
                           sip.calls_per_worker, tuple(sip.front_networks),
                           self.tuning.drain_deadline_s, outbound_proxy=front_proxy,
                           user_agent=sip.user_agent,
                           log_level=self.settings.log_level, wideband=sip.wideband)
                for i in range(sip.workers)
            ]
        elif binary is None:
            log.warning(
                "Kamailio not found (%r): one worker listens directly on %s:%s, "
                "so at most %d calls at a time; install kamailio for a pool",
                sip.kamailio_binary, sip.listen_host, sip.listen_port, sip.calls_per_worker,
            )
            trunk_nets = tuple(n for t in sip.trunks for n in t.networks)
            specs = [
                WorkerSpec(0, sip.listen_host, sip.listen_port, self.handler, sip.calls_per_worker,
                           tuple(sip.allowed_networks) + trunk_nets,
                           self.tuning.drain_deadline_s, user_agent=sip.user_agent,
                           trusted_networks=trunk_nets,
                           log_level=self.settings.log_level, wideband=sip.wideband)
            ]
        else:
            proxy = f"sip:{_host_in_uri(sip.listen_host)}:{sip.listen_port}"
            specs = [
                WorkerSpec(i, sip.worker_host, sip.worker_base_port + i, self.handler,
                           sip.calls_per_worker, _front_sources(sip.listen_host, sip.worker_host),
                           self.tuning.drain_deadline_s, outbound_proxy=proxy,
                           user_agent=sip.user_agent, log_level=self.settings.log_level,
                           wideband=sip.wideband)
                for i in range(sip.workers)
            ]
        rtp_ports = assign_rtp_ports(specs[0].host, [spec.port for spec in specs])
        specs = [replace(spec, rtp_port=first) for spec, first in zip(specs, rtp_ports,
                                                                       strict=True)]
        with self._lock:
            self._slots = [_WorkerSlot(spec) for spec in specs]
            self._mode = "external" if external else "direct" if binary is None else "kamailio"
        try:
            for slot in self._slots:
                self._spawn(slot)
            self._wait_workers_ready()
            if binary is not None:
                link = self._start_relay()
                self._start_turn()
                secret = (load_or_create_secret(self.settings.webphone_secret_path)
                          if sip.webphone.enabled else None)
                edge = edge_from_settings(
                    sip, relay=link, webphone_secret=secret,
                    check_numbers=self.directory is not None,
                    console_tls=console_certificate(self.settings) if secret else None)
                layout = FrontLayout(
                    listen_host=sip.listen_host,
                    listen_port=sip.listen_port,
                    backends=[Backend(s.spec.host, s.spec.port) for s in self._slots],
                    run_dir=self.run_dir,
                    allowed_networks=list(sip.allowed_networks),
                    tuning=self.tuning,
                    edge=edge,
                    log_level=self.settings.log_level,
                )
                self._front = KamailioFront(binary, layout)
                self._refresh_directory(force=True)
                self._front.start()
        except BaseException:
            self._shutdown(deadline=2.0)
            raise
        self._monitor = threading.Thread(target=self._watch, name="pool-monitor", daemon=True)
        self._monitor.start()
        ports = ",".join(str(s.spec.port) for s in self._slots)
        if external:
            log.info("pool up: %d worker(s) on %s ports %s, taking SIP only from the front "
                     "(%s)", len(self._slots), sip.node_host, ports, ",".join(sip.front_networks))
            return
        log.info(
            "pool up: %d worker(s) on ports %s behind %s on %s:%s",
            len(self._slots), ports, "Kamailio" if self._front else "no front",
            sip.listen_host, sip.listen_port,
        )

    def _start_relay(self) -> RelayLink | None:
        """Start rtpengine as the settings ask (auto: when installed); its control link."""
        sip = self.settings.sip
        self._relay = relay_from_settings(sip.media, internal_address=sip.worker_host,
                                          external_address=sip.listen_host,
                                          run_dir=self.run_dir / "relay")
        if self._relay is None:
            return None
        self._relay.start()
        return RelayLink("127.0.0.1", self._relay.ng_port)

    def _start_turn(self) -> None:
        """coturn for the console's softphones, when [sip.webphone.turn] is enabled."""
        sip = self.settings.sip
        self._turn = turn_from_settings(self.settings, self.run_dir / "turn",
                                        media_address=sip.media.edge_address or sip.listen_host)
        if self._turn is not None:
            self._turn.start()

    def _refresh_directory(self, force: bool = False) -> None:
        """Give the front the practice numbers and phones' credentials (every 10 s)."""
        front, directory = self._front, self.directory
        now = time.monotonic()
        if front is None or directory is None:
            return
        if not force and now - self._directory_at < DIRECTORY_REFRESH_S:
            return
        self._directory_at = now
        realm = self.settings.sip.phones.realm
        try:
            front.update_tables(directory.numbers(), directory.phones(realm), directory.desks())
        except Exception as exc:  # the database is down: keep what the front has
            log.warning("front tables not refreshed (%s)", type(exc).__name__)

    def trunk_states(self) -> dict[str, TrunkState]:
        """Registration state of the SIP accounts (by Contact user); {} without a front."""
        front = self._front
        if front is None or not front.is_alive():
            return {}
        return trunk_states(front.layout.rpc_socket)

    def _preload_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        if self.preload is not None:
            started = time.monotonic()
            extra = self.preload() or {}
            env.update(extra)
            log.info("preload done in %.1f s", time.monotonic() - started)
        return env

    def _spawn(self, slot: _WorkerSlot) -> None:
        argv = self.worker_argv(slot.spec)
        slot.ready.clear()
        slot.stderr_tail.clear()
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            env=self._worker_env,
            start_new_session=True,
        )
        slot.process = process
        slot.started_at = time.monotonic()
        slot.restart_at = None
        slot.readers = [
            threading.Thread(
                target=self._read_stdout, args=(slot, process), daemon=True,
                name=f"worker{slot.spec.index}-out",
            ),
            threading.Thread(
                target=relay, args=(process.stderr, slot.spec.process_name),
                kwargs={"tail": slot.stderr_tail}, daemon=True,
                name=f"worker{slot.spec.index}-err",
            ),
        ]
        for reader in slot.readers:
            reader.start()
        log.info("worker %d starting on %s:%s (pid %d)",
                 slot.spec.index, slot.spec.host, slot.spec.port, process.pid)

    @staticmethod
    def _read_stdout(slot: _WorkerSlot, process: subprocess.Popen[str]) -> None:
        """The READY line; anything else a worker prints there is relayed at DEBUG."""
        assert process.stdout is not None
        stray = logging.getLogger(f"{RELAY_ROOT}.{slot.spec.process_name}")
        for line in process.stdout:
            line = line.rstrip()
            if line.startswith(READY_PREFIX) and process is slot.process:
                slot.ready.set()
            elif line:
                stray.debug("%s", line)

    def _wait_workers_ready(self) -> None:
        deadline = time.monotonic() + self.tuning.ready_timeout_s
        for slot in self._slots:
            while not slot.ready.wait(_POLL_S):
                process = slot.process
                assert process is not None
                if process.poll() is not None:
                    for reader in slot.readers:
                        reader.join(timeout=1)
                    raise TelesecError(
                        f"worker {slot.spec.index} on port {slot.spec.port} exited at start "
                        f"(code {process.returncode}): {_last_line(slot)}"
                    )
                if time.monotonic() > deadline:
                    raise TelesecError(
                        f"worker {slot.spec.index} on port {slot.spec.port} was not ready "
                        f"within {self.tuning.ready_timeout_s:.0f} s: {_last_line(slot)}"
                    )

    # --------------------------------------------------------------- monitor

    def _watch(self) -> None:
        while not self._stopping.wait(_POLL_S):
            now = time.monotonic()
            with self._lock:
                for slot in self._slots:
                    self._check_worker(slot, now)
            self._check_front(now)  # may take seconds: outside the lock status() needs
            self._check_relay()
            self._refresh_directory()
            self._report_trunks()

    def _report_trunks(self) -> None:
        """Every 5 s: the accounts' registration state, for `telesec trunks status`, the
        health endpoint and the metrics (a file: they need not talk to Kamailio)."""
        front = self._front
        now = time.monotonic()
        if front is None or not front.layout.edge.trunks or now - self._status_at < 5.0:
            return
        self._status_at = now
        write_trunk_status(self.run_dir, front.trunk_status())

    def _check_relay(self) -> None:
        if self._relay is not None and not self._stopping.is_set():
            self._relay.keep_running()
        if self._turn is not None and not self._stopping.is_set():
            self._turn.keep_running()

    def _check_worker(self, slot: _WorkerSlot, now: float) -> None:
        if slot.restart_at is not None:
            if now >= slot.restart_at and not self._stopping.is_set():
                slot.restarts += 1
                try:
                    self._spawn(slot)
                except OSError as exc:
                    slot.quick_failures += 1
                    slot.restart_at = now + self._backoff(slot.quick_failures)
                    log.error("worker %d could not be started: %s", slot.spec.index, exc)
            return
        process = slot.process
        if process is None or process.poll() is None:
            return
        slot.ready.clear()
        uptime = now - slot.started_at
        slot.quick_failures = 0 if uptime >= self.tuning.stable_after_s else slot.quick_failures + 1
        delay = self._backoff(slot.quick_failures)
        slot.restart_at = now + delay
        log.warning(
            "worker %d (port %s, pid %d) exited with code %s after %.1f s; restarting in %.1f s",
            slot.spec.index, slot.spec.port, process.pid, process.returncode, uptime, delay,
        )

    def _check_front(self, now: float) -> None:
        front = self._front
        if front is None or self._stopping.is_set():
            return
        if self._front_restart_at is not None:
            if now >= self._front_restart_at:
                self._front_restart_at = None
                try:
                    front.start()
                    self._front_failures = 0
                except TelesecError as exc:
                    log.error("Kamailio restart failed: %s", exc)
                    self._schedule_front_restart(now)
            return
        if not front.is_alive():
            log.error("Kamailio (pid %s) exited with code %s", front.pid, front.exit_code())
            front.stop(timeout=1)
            self._schedule_front_restart(now)

    def _schedule_front_restart(self, now: float) -> None:
        self._front_failures += 1
        delay = self._backoff(self._front_failures)
        self._front_restart_at = now + delay
        log.warning("restarting Kamailio in %.1f s", delay)

    def _backoff(self, failures: int) -> float:
        tuning = self.tuning
        delay = tuning.restart_backoff_min_s * 2 ** max(0, failures - 1)
        return min(tuning.restart_backoff_max_s, delay)

    # ---------------------------------------------------------------- status

    def status(self) -> PoolStatus:
        """Workers (alive, pids, ports, restarts) and the front, at this instant."""
        sip = self.settings.sip
        with self._lock:
            workers = tuple(
                WorkerStatus(
                    index=slot.spec.index,
                    host=slot.spec.host,
                    port=slot.spec.port,
                    pid=slot.process.pid if slot.process else None,
                    alive=(alive := slot.process is not None and slot.process.poll() is None),
                    ready=alive and slot.ready.is_set(),
                    restarts=slot.restarts,
                )
                for slot in self._slots
            )
            front = self._front
            return PoolStatus(
                front=self._mode,
                listen_host=sip.listen_host,
                listen_port=sip.listen_port,
                front_pid=front.pid if front else None,
                front_alive=front.is_alive() if front else False,
                workers=workers,
            )

    def memory_pss_kb(self) -> dict[int, int]:
        """Proportional set size (kB) of every pool process: workers, Kamailio and its
        children, rtpengine.

        PSS splits shared pages (copy-on-write models, libraries) among the processes that
        share them, so the sum is the pool's real memory; for the benchmark.
        """
        with self._lock:
            roots = [s.process.pid for s in self._slots if s.process and s.process.poll() is None]
            if self._front is not None and self._front.is_alive() and self._front.pid:
                roots.append(self._front.pid)
            if self._relay is not None and self._relay.is_alive() and self._relay.pid:
                roots.append(self._relay.pid)
        pids = roots + [child for root in roots for child in descendants(root)]
        sizes = {pid: pss_kb(pid) for pid in pids}
        return {pid: size for pid, size in sizes.items() if size is not None}

    # ------------------------------------------------------------------ stop

    def stop(self, deadline: float | None = None) -> None:
        """Drain: SIGTERM the workers, wait up to ``deadline`` s, SIGKILL, stop Kamailio."""
        if self._mode == "stopped":
            return
        self._shutdown(self.tuning.drain_deadline_s if deadline is None else deadline)

    def _shutdown(self, deadline: float) -> None:
        self._stopping.set()
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join()
        self._monitor = None
        with self._lock:
            slots = list(self._slots)
        running = [s.process for s in slots if s.process is not None and s.process.poll() is None]
        for process in running:
            signal_group(process.pid, signal.SIGTERM)
        end = time.monotonic() + deadline
        while any(p.poll() is None for p in running) and time.monotonic() < end:
            if self._abort_drain.wait(_POLL_S):
                break
        left = [p for p in running if p.poll() is None]
        if left:
            log.warning("%d worker(s) still busy after %.0f s; killing them", len(left), deadline)
        for slot in slots:
            if slot.process is not None:
                if slot.process.poll() is None:
                    signal_group(slot.process.pid, signal.SIGKILL)
                slot.process.wait()
                for reader in slot.readers:
                    reader.join(timeout=2)
                _close_pipes(slot.process)
        if self._front is not None:
            self._front.stop()
        if self._relay is not None:
            self._relay.stop()
            self._relay = None
        if self._turn is not None:
            self._turn.stop()
            self._turn = None
        with self._lock:
            self._front = None
            self._front_restart_at = None
            self._mode = "stopped"
        log.info("pool stopped")

    # ------------------------------------------------------------ run_forever

    def request_shutdown(self) -> None:
        """Ask ``run_forever`` to drain and return; a second call cuts the drain short."""
        if self._shutdown_requested.is_set():
            self._abort_drain.set()
        self._shutdown_requested.set()

    def run_forever(self, deadline: float | None = None) -> None:
        """Start, serve until SIGTERM/SIGINT, then drain. A second signal kills at once."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, lambda *_: self.request_shutdown())
        try:
            self._shutdown_requested.clear()
            self.start()
            while not self._shutdown_requested.wait(0.5):
                pass
            log.info("shutdown requested: draining calls")
        finally:
            self.stop(deadline)
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _last_line(slot: _WorkerSlot) -> str:
    return slot.stderr_tail[-1] if slot.stderr_tail else "no output"


def _close_pipes(process: subprocess.Popen[str]) -> None:
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
