"""Two engine nodes behind one shared Kamailio front, on loopback: the multi-node layout.

- one fresh PostgreSQL database, one keyring file and one vault directory shared by all;
  ``telesec init`` and ``telesec demo seed`` run once, as an operator would;
- node ``a`` on 127.0.0.2 and node ``b`` on 127.0.0.3: each ``telesec serve --no-front``
  (its own supervisor and worker pool, its own data directory for run files), workers on
  the same base port on both addresses, taking SIP only from the front (127.0.0.1);
- the front: ``telesec front --node 127.0.0.2:B:2 --node 127.0.0.3:B:2`` on 127.0.0.1,
  with its log (Kamailio's routing lines) in a file;
- sipp callers on 127.0.0.1 through the front.

The nodes run ``tests.multinode.handlers:answer``; each writes one JSON line per call to
its own report file.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from foundation.processes import descendants
from telephony.kamailio import sip_ping
from telephony.media_relay import ng_call_ids
from tests.conftest import PG_ADMIN_URL

REPO = Path(__file__).resolve().parents[2]
CALLER = Path(__file__).resolve().parent / "sipp" / "caller.xml"
FRONT_HOST = "127.0.0.1"
NODE_HOSTS = {"a": "127.0.0.2", "b": "127.0.0.3"}
WORKERS_PER_NODE = 2
HANDLER = "tests.multinode.handlers:answer"
PROBE_INTERVAL_S = 1
ANSWER_TIMEOUT_MS = 2000  # the production default
ROUTED = re.compile(r"call-id (\S+) to worker sip:([\d.]+):(\d+)")
DISPATCHER_ROW = re.compile(r"URI: sip:([\d.]+):(\d+)\s+FLAGS: (\w+)")


def _free(host: str, port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def port_block() -> int:
    """First port of a block of 100 free on 127.0.0.1-3, in 17000-17999."""
    blocks = list(range(17000, 18000, 100))
    random.shuffle(blocks)
    for base in blocks:
        hosts = (FRONT_HOST, *NODE_HOSTS.values())
        if all(_free(host, port) for host in hosts for port in range(base, base + 100)):
            return base
    raise RuntimeError("no free block of ports in 17000-17999")


def wait_until(predicate, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


@dataclass
class Node:
    """One engine node: a ``telesec serve --no-front`` process tree."""

    name: str
    host: str
    base_port: int
    data_dir: Path
    report: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def ports(self) -> list[int]:
        return [self.base_port + i for i in range(WORKERS_PER_NODE)]

    def ready(self) -> bool:
        return all(sip_ping(self.host, port, timeout=0.3) == 200 for port in self.ports)

    def reports(self) -> list[dict]:
        if not self.report.exists():
            return []
        return [json.loads(line) for line in self.report.read_text().splitlines() if line]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_deaths(self) -> list[str]:
        """The supervisor's lines about workers that died (a crash is a worker bug)."""
        return [line for line in self.log().splitlines() if "exited with code" in line]

    def kill(self) -> list[int]:
        """SIGKILL every process of the node at once (a machine or container dying)."""
        pids = [self.process.pid, *descendants(self.process.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(10)
        return pids

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class SippRun:
    tag: str
    process: subprocess.Popen[bytes]
    workdir: Path
    local_port: int
    started_at: float = field(default_factory=time.monotonic)

    def finish(self, timeout: float = 120) -> tuple[int, int]:
        """Wait for sipp; (successful, failed) calls from its statistics file."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"sipp {self.tag} ran over {timeout} s") from None
        rows = list(csv.reader((self.workdir / f"{self.tag}.csv").open(), delimiter=";"))
        header, last = rows[0], rows[-1]
        return (int(last[header.index("SuccessfulCall(C)")]),
                int(last[header.index("FailedCall(C)")]))

    def errors(self) -> str:
        path = self.workdir / f"{self.tag}.errors"
        return path.read_text(errors="replace") if path.exists() else ""


class Cluster:
    """The front, the nodes and the shared storage; see the module docstring."""

    def __init__(self, root: Path, database_url: str) -> None:
        self.root = root
        self.base = port_block()
        self.front_port = self.base + 50
        self.ws_port = self.base + 51
        self.patient_port = self.base + 90
        # blocks 17000-17900 -> relay ports 31000-32699, 170 each (42 calls at once), above
        # the workers' RTP blocks and below the ephemeral ports
        first = 31000 + (self.base - 17000) // 100 * 170
        self.relay_ports = (first, first + 169)
        self.shared = root / "shared"
        self.shared.mkdir()
        self.race_file = self.shared / "race.json"
        self.webphone_secret = self.shared / "webphone.secret"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TELESEC_")}
        env.update(
            PYTHONPATH=str(REPO),
            PYTHONUNBUFFERED="1",
            TELESEC_DATABASE_URL=database_url,
            TELESEC_KEYRING_PATH=str(self.shared / "keyring.json"),
            TELESEC_VAULT_DIR=str(self.shared / "vault"),
            TELESEC_LOG_LEVEL="INFO",
        )
        self.env = env
        self.nodes: dict[str, Node] = {}
        self.front: subprocess.Popen[bytes] | None = None
        self.front_log = root / "front.log"
        self._sipp_count = 0

    # -- setting up ----------------------------------------------------------------------
    def telesec(self, *args: str) -> str:
        env = dict(self.env, TELESEC_DATA_DIR=str(self.root / "admin"))
        done = subprocess.run([sys.executable, "-m", "telesec.cli", *args], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"telesec {' '.join(args)}: {done.stderr}"
        return done.stdout

    def start_node(self, name: str) -> Node:
        host, data_dir = NODE_HOSTS[name], self.root / f"node-{name}"
        data_dir.mkdir(exist_ok=True)
        env = dict(
            self.env,
            TELESEC_DATA_DIR=str(data_dir),
            TELESEC_SIP__NODE_HOST=host,
            TELESEC_SIP__WORKER_BASE_PORT=str(self.base),
            TELESEC_SIP__WORKERS=str(WORKERS_PER_NODE),
            TELESEC_SIP__FRONT_NETWORKS=json.dumps([f"{FRONT_HOST}/32"]),
            TELESEC_SIP__FRONT_ADDRESS=f"{FRONT_HOST}:{self.front_port}",  # outgoing legs
            TELESEC_DEMO_REPORT=str(data_dir / "calls.jsonl"),
            MULTINODE_NODE=name,
            MULTINODE_RACE_FILE=str(self.race_file),
        )
        log_path = data_dir / "serve.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "telesec.cli", "serve", "--no-front", "--no-api",
                 "--handler", HANDLER],
                env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=log_file,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        node = Node(name, host, self.base, data_dir, data_dir / "calls.jsonl", log_path, process)
        self.nodes[name] = node
        return node

    def wait_nodes_ready(self, timeout: float = 60) -> None:
        for node in self.nodes.values():
            ready = wait_until(lambda n=node: n.process.poll() is not None or n.ready(), timeout)
            assert ready and node.process.poll() is None, node.log()[-3000:]

    def start_front(self) -> None:
        env = dict(
            self.env,
            TELESEC_DATA_DIR=str(self.root / "front"),
            TELESEC_SIP__LISTEN_HOST=FRONT_HOST,
            TELESEC_SIP__LISTEN_PORT=str(self.front_port),
            TELESEC_SIP__ALLOWED_NETWORKS=json.dumps([f"{FRONT_HOST}/32"]),
            # the front relays the nodes' media, on ports of this cluster's own
            TELESEC_SIP__MEDIA__RELAY="on",
            TELESEC_SIP__MEDIA__PORT_MIN=str(self.relay_ports[0]),
            TELESEC_SIP__MEDIA__PORT_MAX=str(self.relay_ports[1]),
            TELESEC_LOG_LEVEL="DEBUG",  # Kamailio's routing lines ("call-id X to worker Y")
            # the console's softphones, with the secret the nodes' APIs mint tokens with
            TELESEC_SIP__WEBPHONE__ENABLED="true",
            TELESEC_SIP__WEBPHONE__WS_PORT=str(self.ws_port),
            TELESEC_SIP__WEBPHONE__SECRET_FILE=str(self.webphone_secret),
            # the practice's line, for the softphones' call-backs (a sipp patient behind it)
            TELESEC_SIP__TRUNKS=json.dumps([{
                "name": "line", "kind": "ip", "registrar": f"{FRONT_HOST}:{self.patient_port}",
                "networks": ["127.0.0.9/32"]}]),
        )
        args = [sys.executable, "-m", "telesec.cli", "front",
                "--probe-interval", str(PROBE_INTERVAL_S),
                "--answer-timeout-ms", str(ANSWER_TIMEOUT_MS),
                "--flood-requests", "5000"]  # sipp is one source placing every call
        for host in NODE_HOSTS.values():
            args += ["--node", f"{host}:{self.base}:{WORKERS_PER_NODE}"]
        with self.front_log.open("wb") as log_file:
            self.front = subprocess.Popen(args, env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                                          stdout=log_file, stderr=subprocess.STDOUT,
                                          start_new_session=True)
        up = wait_until(lambda: self.front.poll() is not None
                        or sip_ping(FRONT_HOST, self.front_port, 0.3) == 200, 30)
        assert up and self.front.poll() is None, self.front_text()[-3000:]

    # -- observing -----------------------------------------------------------------------
    def relay_holds(self, call_id: str) -> bool:
        """True if the front's rtpengine holds the media of ``call_id`` (ng ``list``, a
        fresh cookie each time: rtpengine replays its cached answer to a cookie it knows)."""
        run = self.root / "front" / "run" / f"front-{self.front_port}" / "relay"
        found = re.search(r"listen-ng = 127\.0\.0\.1:(\d+)", (run / "rtpengine.conf").read_text())
        assert found, "no ng port in the relay's configuration"
        held = ng_call_ids(int(found.group(1)))
        assert held is not None, "the front's rtpengine did not answer"
        return call_id in held

    def front_text(self) -> str:
        return self.front_log.read_text(errors="replace")

    def final_hosts(self, tag: str, text_: str | None = None) -> dict[str, str]:
        """Call-ID -> address of the node whose worker the front sent the call to last."""
        final: dict[str, str] = {}
        for call_id, host, _port in ROUTED.findall(text_ or self.front_text()):
            if call_id.startswith(f"{tag}-"):
                final[call_id] = host
        return final

    def dispatcher_flags(self) -> dict[tuple[str, int], str]:
        """Kamailio's view of every worker: flags such as AP (up) or IP/IX (down)."""
        ctl = self.root / "front" / "run" / f"front-{self.front_port}" / "kamailio_ctl"
        done = subprocess.run(["kamcmd", "-s", f"unix:{ctl}", "dispatcher.list"],
                              capture_output=True, text=True, timeout=5)
        return {(host, int(port)): flags
                for host, port, flags in DISPATCHER_ROW.findall(done.stdout)}

    # -- calling -------------------------------------------------------------------------
    def sipp(self, tag: str, calls: int, *, rate: float, hold_ms: int, limit: int,
             service: str = "practice") -> SippRun:
        """Start sipp placing ``calls`` calls through the front (Call-IDs ``tag-...``)."""
        local_port = self.base + 60 + self._sipp_count
        media_port = self.base + 70 + 4 * self._sipp_count
        self._sipp_count += 1
        args = [
            "sipp", "-sf", str(CALLER), f"{FRONT_HOST}:{self.front_port}", "-s", service,
            "-i", FRONT_HOST, "-p", str(local_port), "-mp", str(media_port),
            "-m", str(calls), "-r", str(rate), "-l", str(limit), "-d", str(hold_ms),
            "-cid_str", f"{tag}-%u-%p@%s", "-timeout", "120s", "-timeout_error", "-nostdin",
            "-trace_err", "-error_file", f"{tag}.errors",
            "-trace_stat", "-stf", f"{tag}.csv", "-fd", "1",
        ]
        process = subprocess.Popen(args, cwd=self.root, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return SippRun(tag, process, self.root, local_port)

    # -- tearing down --------------------------------------------------------------------
    def stop(self) -> None:
        for node in self.nodes.values():
            if node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        for node in self.nodes.values():
            node.stop()
        if self.front is not None and self.front.poll() is None:
            self.front.send_signal(signal.SIGTERM)
            try:
                self.front.wait(20)
            except subprocess.TimeoutExpired:
                for pid in [self.front.pid, *descendants(self.front.pid)]:
                    os.kill(pid, signal.SIGKILL)
                self.front.wait()


@pytest.fixture(scope="module")
def shared_database_url() -> Iterator[str]:
    """A new PostgreSQL database shared by the nodes of the module's cluster."""
    name = f"telesec_mn_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory,
            shared_database_url: str) -> Iterator[Cluster]:
    """Front + nodes a and b, up and probed, sharing PostgreSQL, keyring and vault."""
    group = Cluster(tmp_path_factory.mktemp("multinode"), shared_database_url)
    try:
        group.telesec("init")
        group.telesec("demo", "seed")
        for name in NODE_HOSTS:
            group.start_node(name)
        group.wait_nodes_ready()
        group.start_front()
        assert wait_until(
            lambda: sum(f.startswith("A") for f in group.dispatcher_flags().values())
            == WORKERS_PER_NODE * len(NODE_HOSTS), 10), group.dispatcher_flags()
        yield group
    finally:
        group.stop()
