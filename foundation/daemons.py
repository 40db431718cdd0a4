"""A helper program kept running in the foreground by Telesec (rtpengine, coturn).

One base for their common life: start in its own process group with its output relayed
to our logs (and the last lines kept for error messages), wait until it answers, restart
it if it died, stop it with SIGTERM then SIGKILL. Subclasses say how to launch it and how
to tell it is up.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO

from foundation.errors import TelesecError
from foundation.logs import ChildLine, relay
from foundation.processes import signal_group

log = logging.getLogger(__name__)


class ForegroundDaemon:
    """One child program in the foreground; ``name`` names it in logs and errors."""

    name = "daemon"  # the program, in errors
    log_name = "daemon"  # its lines are relayed under telesec.<log_name>
    error_markers: tuple[str, ...] = ("ERR",)  # lines that explain a failed start

    def __init__(self, binary: str, pid_path: Path) -> None:
        self.binary = binary
        self._pid_path = pid_path
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._recent: deque[str] = deque(maxlen=100)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def is_alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:  # pragma: no cover - subclasses
        raise NotImplementedError

    def parse_line(self, line: str) -> ChildLine:
        """The level and text of one output line (subclasses redact and grade)."""
        return logging.DEBUG, "", line.rstrip()

    def _launch(self, argv: list[str], *, output: str) -> None:
        """Start ``argv`` in its own session; ``output`` ("stdout" or "stderr") is relayed."""
        self._recent.clear()
        pipe = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        if output == "stdout":
            pipe.update(stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        else:
            pipe["stderr"] = subprocess.PIPE
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, text=True, errors="replace",
                                   start_new_session=True, **pipe)
        self._process = process
        stream = process.stdout if output == "stdout" else process.stderr
        self._reader = threading.Thread(target=self._forward_logs, args=(stream,),
                                        name=f"{self.log_name}-log", daemon=True)
        self._reader.start()

    def _wait_up(self, answers: Callable[[], bool], timeout: float, *,
                 died_hint: str, silent: str) -> None:
        """Return once ``answers()``; one-line TelesecError if the child exits first
        (``died_hint`` says what to check) or stays silent (``silent`` says where)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_alive():
                if self._reader:
                    self._reader.join(timeout=2)
                raise TelesecError(f"{self.name} did not start: {self._summary()}; "
                                   f"{died_hint}")
            if answers():
                return
            time.sleep(0.1)
        self.stop()
        raise TelesecError(f"{self.name} did not answer on {silent} within {timeout:.0f} s: "
                           f"{self._summary()}")

    def keep_running(self) -> None:
        """Restart the child if it died (calls relying on it lose their audio meanwhile)."""
        if self.is_alive():
            return
        log.error("%s (pid %s) exited; restarting it (calls in progress lose audio)",
                  self.name, self.pid)
        self.stop(timeout=1)
        try:
            self.start()
        except TelesecError as exc:
            log.error("%s restart failed: %s", self.name, exc)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM to its group, SIGKILL after ``timeout``; its pid file removed."""
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
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()
        self._pid_path.unlink(missing_ok=True)

    def _summary(self) -> str:
        errors = [line for line in self._recent
                  if any(marker in line for marker in self.error_markers)]
        return (errors or list(self._recent) or ["no output"])[-1]

    def _forward_logs(self, stream: IO[str]) -> None:
        relay(stream, self.log_name, parse=self.parse_line, tail=self._recent)
