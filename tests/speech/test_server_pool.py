"""The speech server behind the pool supervisor's preload hook: workers get the socket, not
the model."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from foundation.processes import pss_kb
from foundation.settings import load_settings
from speech.server import SpeechServerProcess, start_server_process
from telephony.supervisor import Supervisor, WorkerSpec
from tests.ports import free_port
from tests.speech.conftest import KOREAN_MODEL

pytestmark = pytest.mark.timeout(120)

STAND_IN = Path(__file__).with_name("speech_worker.py")


def test_preload_starts_one_server_and_workers_use_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG, logger="telesec.worker0")  # what it printed
    port = free_port()  # without Kamailio the one worker listens on the front's port
    settings = load_settings(
        data_dir=tmp_path / "data",
        sip={"listen_host": "127.0.0.1", "listen_port": port, "worker_base_port": port + 1,
             "workers": 1, "kamailio_binary": "/nowhere/kamailio"},
    )
    socket_path = settings.data_path / "run" / "speech" / "asr.sock"
    servers: list[SpeechServerProcess] = []

    def preload() -> dict[str, str]:
        server, env = start_server_process({"ko": KOREAN_MODEL}, socket_path, 2)
        servers.append(server)
        return env

    def stand_in(spec: WorkerSpec) -> list[str]:
        return [sys.executable, str(STAND_IN), str(spec.port)]

    pool = Supervisor(settings, "unused:factory", preload=preload, worker_argv=stand_in)
    try:
        pool.start()
        worker = pool.status().workers[0]
        assert worker.ready and worker.alive
        said = [r.getMessage() for r in caplog.records if "speech=" in r.getMessage()]
        assert said and said[0].endswith("speech=input_ended"), said
        environ = Path(f"/proc/{worker.pid}/environ").read_bytes().split(b"\0")
        assert f"TELESEC_RECOGNIZER_SOCKET={socket_path}".encode() in environ
        assert "libvosk" not in Path(f"/proc/{worker.pid}/maps").read_text()
        (server,) = servers
        worker_pss = sum(pool.memory_pss_kb().values())
        server_pss = pss_kb(server.pid)
        assert server_pss is not None
        print(f"\npool memory (PSS): speech server {server_pss / 1024:.0f} MB + "
              f"worker {worker_pss / 1024:.0f} MB")
        assert worker_pss < server_pss / 4
    finally:
        pool.stop(deadline=2)
        for server in servers:
            assert server.stop() == 0
    assert not socket_path.exists(), "the server removes its socket when it stops"
