"""Kamailio as the SIP front of the worker pool: locate it, check and run its config.

Kamailio runs in the foreground (``-DD -E``) as a child of the supervisor, with its own
run directory (config, dispatcher list, pid file, ctl socket), so several fronts can run
side by side. Its stderr is relayed (``foundation.logs.relay``) under
``telesec.kamailio.<module>`` with SIP user parts and message dumps removed; when it fails
to start, :func:`summarise_errors` turns its output into one line a person can act on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

from foundation.errors import TelesecError
from foundation.logs import ChildLine, relay
from foundation.processes import find_program, group_members, signal_group
from foundation.unix_sockets import check_socket_path
from telephony.kamailio_config import (
    FrontLayout,
    render_desks,
    render_numbers,
    render_subscribers,
    write_front_files,
    write_private,
)
from telephony.kamailio_rpc import reload_table, trunk_states
from telephony.log_redaction import redact

log = logging.getLogger(__name__)

_PREFIX = re.compile(
    r"^.*?\b(?:ALERT|BUG|CRITICAL|ERROR|WARNING):\s*(?:<[^>]*>\s*)?(?:\[[^\]]*\]:\s*)?"
)
_TELLING = re.compile(r"bind|parse error|syntax error|yyerror")
_FUNCTION = re.compile(r"^[a-z_][a-z0-9_]*\(\):\s*")
#: `` 3(1234) INFO: <script>: text``, `` 0(1234) ERROR: dispatcher [file.c:12]: f(): text``
_LINE = re.compile(
    r"^\s*(?:\d+\(\d+\)\s+)?(ALERT|BUG|CRITICAL|ERROR|WARNING|NOTICE|INFO|DEBUG):\s*"
    r"(?:<(\w+)>|(\w+))?\s*(?:\[[^\]]*\])?:?\s*(.*)$"
)
#: Kamailio's NOTICE is our INFO and its INFO (one line per request) our DEBUG
_LOG_LEVELS = {
    "ALERT": logging.ERROR,
    "BUG": logging.ERROR,
    "CRITICAL": logging.ERROR,
    "ERROR": logging.ERROR,
    "WARNING": logging.WARNING,
    "NOTICE": logging.INFO,
    "INFO": logging.DEBUG,
    "DEBUG": logging.DEBUG,
}


def find_kamailio(binary: str = "kamailio") -> str | None:
    """Path of the Kamailio executable, or None when it is not installed."""
    return find_program(binary)


def summarise_errors(output: str) -> str:
    """The most telling error of Kamailio's output, as one line with a hint."""
    errors = [line for line in output.splitlines() if _PREFIX.match(line)]
    if not errors:
        tail = [line.strip() for line in output.splitlines() if line.strip()]
        return redact(tail[-1]) if tail else "no output"
    preferred = [line for line in errors if _TELLING.search(line)]
    line = (preferred or errors)[0]
    message = _FUNCTION.sub("", _PREFIX.sub("", line)).strip()
    return redact(message) + _hint(message)


def parse_line(line: str) -> ChildLine:
    """(level, logger, message) of one line of Kamailio's log: the logger is ``core``,
    ``script`` (our routing script's xlog lines) or the module's name."""
    match = _LINE.match(line)
    if match is None:
        return logging.DEBUG, "", line
    level, inner, module, message = match.groups()
    return _LOG_LEVELS[level], inner or module or "", message


def _hint(message: str) -> str:
    if "Address already in use" in message:
        return "; another program uses this address: stop it or change sip.listen_port"
    if "Cannot assign requested address" in message:
        return "; this machine has no such address: fix sip.listen_host"
    if "Permission denied" in message:
        return "; ports below 1024 need root or CAP_NET_BIND_SERVICE: use a higher sip.listen_port"
    if "parse error" in message or "syntax error" in message:
        return "; the generated kamailio.cfg is invalid: report this as a Telesec bug"
    if "could not find module" in message or "load_module" in message:
        return "; a Kamailio module is missing: install the kamailio package's modules"
    return ""


def check_config(binary: str, config_path: Path, timeout: float = 20.0) -> None:
    """Run ``kamailio -c`` on the config; raise TelesecError with one line if rejected."""
    result = subprocess.run(
        [binary, "-c", "-f", str(config_path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise TelesecError(
            f"Kamailio rejected {config_path}: {summarise_errors(result.stderr + result.stdout)}"
        )


def sip_ping(host: str, port: int, timeout: float = 1.0) -> int | None:
    """Send one SIP OPTIONS over UDP; return the reply's status code, or None on silence."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        local_host, local_port = sock.getsockname()[:2]
        uri_host = f"[{host}]" if family == socket.AF_INET6 else host
        via_host = f"[{local_host}]" if family == socket.AF_INET6 else local_host
        branch = "z9hG4bK" + uuid.uuid4().hex
        request = (
            f"OPTIONS sip:{uri_host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {via_host}:{local_port};branch={branch};rport\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:probe@{via_host}>;tag={uuid.uuid4().hex[:10]}\r\n"
            f"To: <sip:{uri_host}:{port}>\r\n"
            f"Call-ID: {uuid.uuid4().hex}@telesec-probe\r\n"
            f"CSeq: 1 OPTIONS\r\n"
            f"Content-Length: 0\r\n\r\n"
        )
        sock.settimeout(timeout)
        try:
            sock.sendto(request.encode(), (host, port))
            while True:
                data = sock.recv(65535)
                if branch.encode() in data and data.startswith(b"SIP/2.0 "):
                    return int(data[8:11])
        except (TimeoutError, OSError, ValueError):
            return None


class KamailioFront:
    """One Kamailio process in the foreground, fronting the workers of ``layout``."""

    def __init__(self, binary: str, layout: FrontLayout) -> None:
        self.binary = binary
        self.layout = layout
        self._process: subprocess.Popen[str] | None = None
        self._recent: deque[str] = deque(maxlen=200)
        self._reader: threading.Thread | None = None
        self._stopping = False
        # dialled numbers the front accepts: the trunks' own until a directory says more
        self.numbers: frozenset[str] = frozenset(
            number for trunk in layout.edge.trunks for number in trunk.numbers)
        self.phones: tuple[tuple[str, str], ...] = ()  # (login, HA1) of the phones
        self.desks: dict[str, str] = {}  # desk-<slug> → the practice's number (call-backs)

    def update_tables(self, numbers: set[str] | frozenset[str] | None = None,
                      phones: list[tuple[str, str]] | None = None,
                      desks: dict[str, str] | None = None) -> None:
        """New practice numbers or phone credentials: rewrite the private tables and make
        the running front use them (phones' credentials are re-read by Kamailio itself)."""
        tables = self.layout.tables_dir
        if numbers is not None and frozenset(numbers) != self.numbers:
            self.numbers = frozenset(numbers)
            if tables.is_dir():
                write_private(tables / "numbers", render_numbers(self.numbers))
                if self.is_alive():
                    try:
                        reload_table(self.layout.rpc_socket, "numbers")
                    except TelesecError as exc:
                        log.warning("practice numbers not reloaded: %s", exc)
        if desks is not None and desks != self.desks:
            self.desks = dict(desks)
            if tables.is_dir():
                write_private(tables / "desks", render_desks(self.desks))
                if self.is_alive():
                    try:
                        reload_table(self.layout.rpc_socket, "desks")
                    except TelesecError as exc:
                        log.warning("practice desks not reloaded: %s", exc)
        if phones is not None and tuple(sorted(phones)) != self.phones:
            self.phones = tuple(sorted(phones))
            if tables.is_dir():
                realm = self.layout.edge.phones.realm if self.layout.edge.phones else "telesec"
                write_private(tables / "subscriber", render_subscribers(list(self.phones), realm))

    def trunk_status(self) -> list[dict[str, object]]:
        """Each SIP account's registration as this front sees it (an IP trunk reads
        ``ip``; an account Kamailio does not report, or a front that is down, ``down``)."""
        states = {}
        if self.is_alive():
            with contextlib.suppress(TelesecError):
                states = trunk_states(self.layout.rpc_socket)
        entries: list[dict[str, object]] = []
        for trunk in self.layout.edge.trunks:
            if trunk.kind == "ip":
                entries.append({"name": trunk.name, "state": "ip", "registered": False})
                continue
            state = states.get(trunk.uuid)
            entries.append({"name": trunk.name, "state": state.state if state else "down",
                            "registered": bool(state and state.registered),
                            "expires_s": state.expires if state else 0})
        return entries

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def is_alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def exit_code(self) -> int | None:
        return self._process.poll() if self._process else None

    def start(self) -> None:
        """Write the config, check it, start Kamailio and wait until it answers OPTIONS."""
        check_socket_path(self.layout.rpc_socket, "the front's control socket")
        check_socket_path(self.layout.ctl_socket, "the front's control socket")
        config = write_front_files(self.layout, sorted(self.numbers), list(self.phones),
                                   self.desks)
        check_config(self.binary, config)
        tuning = self.layout.tuning
        self._recent.clear()
        self._stopping = False
        self._process = subprocess.Popen(
            [
                self.binary, "-DD", "-E",
                "-f", str(config),
                "-P", str(self.layout.pid_path),
                "-Y", str(self.layout.run_dir),
                "-m", str(tuning.kamailio_shm_mb),
                "-M", str(tuning.kamailio_pkg_mb),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        self._reader = threading.Thread(
            target=self._forward_logs, args=(self._process,), name="kamailio-log", daemon=True
        )
        self._reader.start()
        self._wait_ready(tuning.ready_timeout_s)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        host, port = self.layout.listen_host, self.layout.listen_port
        while time.monotonic() < deadline:
            if not self.is_alive():
                if self._reader:
                    self._reader.join(timeout=2)
                raise TelesecError(
                    f"Kamailio did not start on {host}:{port}: "
                    f"{summarise_errors(chr(10).join(self._recent))}"
                )
            if sip_ping(host, port, timeout=0.3) == 200:
                log.info("Kamailio front listening on %s:%s (pid %s)", host, port, self.pid)
                return
        self.stop()
        raise TelesecError(
            f"Kamailio did not answer on {host}:{port} within {timeout:.0f} s; "
            "see its log lines above"
        )

    def _forward_logs(self, process: subprocess.Popen[str]) -> None:
        """Relay Kamailio's stderr under ``telesec.kamailio``, without callers' numbers."""
        assert process.stderr is not None
        relay(self._redacted(process.stderr), "kamailio", parse=self._parse)

    def _redacted(self, lines: Iterable[str]) -> Iterator[str]:
        for raw in lines:
            line = redact(raw.rstrip())
            if line:
                self._recent.append(line)  # whole lines: summarise_errors reads them
                yield line

    def _parse(self, line: str) -> ChildLine:
        level, logger, message = parse_line(line)
        if self._stopping:  # children reporting their exit: expected, not alarming
            level = min(level, logging.DEBUG)
        return level, logger, message

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM Kamailio and its children; SIGKILL the group after ``timeout``."""
        process = self._process
        if process is None:
            return
        self._stopping = True
        if process.poll() is None:
            signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.warning("Kamailio did not stop within %.0f s; killing it", timeout)
                signal_group(process.pid, signal.SIGKILL)
                process.wait()
        # Children outlive a main process that was killed outright; they still hold the
        # ports. They keep its process group, which therefore still exists: sweep it.
        for pid in group_members(process.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if self._reader:
            self._reader.join(timeout=2)
        if process.stderr:
            process.stderr.close()
        self.layout.pid_path.unlink(missing_ok=True)
