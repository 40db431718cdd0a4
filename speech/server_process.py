"""Start and stop the speech server process (``python -m speech.server``) from a parent.

For the pool supervisor's ``preload`` hook::

    server, env = start_server_process(model_paths, run_dir / "speech" / "asr.sock", 8)
    pool = Supervisor(settings, handler, preload=lambda: env)
    ...
    server.stop()       # after the workers (or at interpreter exit, whichever comes first)

:func:`start_server_process` returns only once the server has loaded every model and
answered a ping on its socket, else raises :class:`SpeechServerError` with one line saying
why (e.g. a model that does not load). The server exits by itself when its parent dies
(it watches its stdin, a pipe from the parent), so
``preload=lambda: start_server_process(...)[1]`` is enough for a pool that lives as long as
its process.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from foundation.errors import TelesecError
from foundation.logs import relay
from foundation.processes import signal_group
from foundation.unix_sockets import check_socket_path
from speech.client import RemoteSpeechEngine
from speech.protocol import SOCKET_ENV

log = logging.getLogger(__name__)

PROCESS_NAME = "speech"  # its lines are relayed under telesec.speech.<logger>



_RUNNING: set[SpeechServerProcess] = set()  # kept referenced; stopped at interpreter exit


class SpeechServerError(TelesecError):
    """The speech server could not start; the message is one line saying why."""


class SpeechServerProcess:
    """A running ``python -m speech.server`` child."""

    def __init__(self, popen: subprocess.Popen[str], socket_path: Path) -> None:
        self.popen = popen
        self.socket_path = socket_path
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self.ready = threading.Event()

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop the server (it cancels the utterances in progress); its exit code."""
        _RUNNING.discard(self)
        if self.popen.stdin is not None:
            with contextlib.suppress(OSError):
                self.popen.stdin.close()  # the server exits on stdin EOF
        for signum, wait in ((None, timeout), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if signum is not None and self.alive:
                signal_group(self.popen.pid, signum)
            try:
                return self.popen.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        return self.popen.poll()

    def __enter__(self) -> SpeechServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def server_argv(model_paths: Mapping[str, Path], socket_path: Path, max_streams: int,
                python: str = sys.executable, log_level: str = "INFO",
                warm: int | None = None,
                warm_audio: Mapping[str, Sequence[Path]] | None = None) -> list[str]:
    """The command line of the server process."""
    argv = [python, "-m", "speech.server", "--socket", str(socket_path),
            "--max-streams", str(max_streams), "--exit-on-stdin-eof", "--log-level", log_level]
    if warm is not None:
        argv += ["--warm", str(warm)]
    for language, files in sorted((warm_audio or {}).items()):
        argv += [arg for file in files for arg in ("--warm-audio", f"{language}={file}")]
    for language, directory in sorted(model_paths.items()):
        argv += ["--model", f"{language}={Path(directory)}"]
    return argv


def start_server_process(
    model_paths: Mapping[str, Path],
    socket_path: Path,
    max_streams: int,
    *,
    ready_timeout: float = 180.0,
    python: str = sys.executable,
    log_level: str = "INFO",
    warm: int | None = None,
    warm_audio: Mapping[str, Sequence[Path]] | None = None,
) -> tuple[SpeechServerProcess, dict[str, str]]:
    """Start the server and wait until it serves; (process, env for the workers).

    ``env`` is ``{"TELESEC_RECOGNIZER_SOCKET": str(socket_path)}``: what the workers need to
    build :class:`speech.client.RemoteSpeechEngine` (``RemoteSpeechEngine.from_environment()``).
    """
    socket_path = Path(socket_path).absolute()
    check_socket_path(socket_path, "the speech server's socket")
    popen = subprocess.Popen(
        server_argv(model_paths, socket_path, max_streams, python, log_level, warm,
                    warm_audio),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, errors="replace", start_new_session=True,
    )
    server = SpeechServerProcess(popen, socket_path)
    readers = [
        threading.Thread(target=_read_stdout, args=(server,), daemon=True, name="speech-srv-out"),
        threading.Thread(target=relay, args=(popen.stderr, PROCESS_NAME),
                         kwargs={"tail": server.stderr_tail}, daemon=True,
                         name="speech-srv-err"),
    ]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + ready_timeout
    while not server.ready.wait(0.05):
        if not server.alive:
            readers[1].join(timeout=2.0)
            raise SpeechServerError(f"speech server did not start: {_cause(server)}")
        if time.monotonic() > deadline:
            server.stop(timeout=1.0)
            raise SpeechServerError(
                f"speech server not ready after {ready_timeout:.0f} s (loading models?); "
                "check the model paths or raise the timeout"
            )
    if RemoteSpeechEngine(socket_path, reply_timeout=10.0).ping() is None:
        server.stop(timeout=1.0)
        raise SpeechServerError(f"speech server started but does not answer on {socket_path}")
    log.info("speech server ready (pid %d)", server.pid)
    _RUNNING.add(server)
    return server, {SOCKET_ENV: str(socket_path)}


@atexit.register
def _stop_running() -> None:
    for server in list(_RUNNING):
        server.stop(timeout=5.0)


def _cause(server: SpeechServerProcess) -> str:
    for message in reversed(server.stderr_tail):
        text = message.strip()
        if text:
            return text.removeprefix("speech server cannot start: ")
    return f"exit code {server.popen.returncode}"


def _read_stdout(server: SpeechServerProcess) -> None:
    assert server.popen.stdout is not None
    for line in server.popen.stdout:
        if line.startswith("READY"):
            server.ready.set()
