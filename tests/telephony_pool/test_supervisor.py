"""The supervisor with stand-in workers (sipp UAS): start, restart, drain, direct mode."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundation.errors import TelesecError
from foundation.settings import Settings, load_settings
from telephony.kamailio import sip_ping
from telephony.pool_settings import PoolTuning
from telephony.supervisor import Supervisor, WorkerSpec

from .conftest import (
    children_of,
    count_invites,
    fake_worker_argv,
    relay_media,
    run_sipp,
    wait_until,
)

pytestmark = pytest.mark.timeout(90)

FAST = PoolTuning(probe_interval_s=1, worker_answer_timeout_ms=1000, kamailio_children=2,
                  restart_backoff_min_s=0.2, restart_backoff_max_s=5, drain_deadline_s=3,
                  ready_timeout_s=20)


def pool_settings(tmp_path: Path, port_base: int, workers: int = 2,
                  kamailio: str = "kamailio") -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        sip={"listen_host": "127.0.0.1", "listen_port": port_base,
             "worker_base_port": port_base + 1, "workers": workers,
             "kamailio_binary": kamailio, "media": relay_media()},
    )


def countfile(tmp_path: Path, port: int) -> Path:
    return tmp_path / f"worker_{port}.count"


@pytest.fixture
def stand_in(tmp_path: Path):
    def argv(spec: WorkerSpec) -> list[str]:
        return fake_worker_argv(spec.port, countfile(tmp_path, spec.port), spec.host)
    return argv


@pytest.fixture
def supervisors() -> Iterator[list[Supervisor]]:
    made: list[Supervisor] = []
    yield made
    for supervisor in made:
        supervisor.stop(deadline=1)
    assert children_of(os.getpid()) == [], "a pool process outlived its test"


def test_pool_starts_restarts_a_dead_worker_and_stops_clean(
    tmp_path: Path, port_base: int, stand_in, supervisors: list[Supervisor],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="telephony.supervisor")
    supervisor = Supervisor(pool_settings(tmp_path, port_base), "unused:factory",
                            tuning=FAST, worker_argv=stand_in)
    supervisors.append(supervisor)
    supervisor.start()
    status = supervisor.status()
    assert status.front == "kamailio" and status.front_alive
    assert [w.port for w in status.workers] == [port_base + 1, port_base + 2]
    assert status.workers_alive == 2 and all(w.ready for w in status.workers)
    assert (supervisor.run_dir / "kamailio.cfg").is_file()

    result = run_sipp("caller_hold.xml", f"127.0.0.1:{port_base}", port_base + 20, 4, tmp_path)
    assert (result.successful, result.failed) == (4, 0)

    victim = status.workers[0]
    assert victim.pid is not None
    os.kill(victim.pid, 9)
    assert wait_until(lambda: supervisor.status().workers[0].restarts == 1
                      and supervisor.status().workers[0].ready, 10)
    revived = supervisor.status().workers[0]
    assert revived.alive and revived.pid != victim.pid
    died = f"worker 0 (port {victim.port}, pid {victim.pid}) exited with code -9"
    assert died in caplog.text
    # the revived worker takes calls again once probing sees it (1 s interval)
    before = count_invites(countfile(tmp_path, victim.port))
    assert wait_until(lambda: (run_sipp("caller_hold.xml", f"127.0.0.1:{port_base}",
                                        port_base + 21, 2, tmp_path).successful == 2
                               and count_invites(countfile(tmp_path, victim.port)) > before), 10)

    # Kamailio dies: it is restarted too, and calls flow again
    dead_front = supervisor.status().front_pid
    assert dead_front is not None
    os.kill(dead_front, 9)
    assert wait_until(lambda: supervisor.status().front_alive
                      and supervisor.status().front_pid != dead_front, 15)
    assert wait_until(lambda: sip_ping("127.0.0.1", port_base, 0.2) == 200, 10)
    result = run_sipp("caller_hold.xml", f"127.0.0.1:{port_base}", port_base + 22, 2, tmp_path)
    assert (result.successful, result.failed) == (2, 0)

    pids = [w.pid for w in supervisor.status().workers] + [supervisor.status().front_pid]
    supervisor.stop(deadline=3)
    assert supervisor.status().front == "stopped"
    assert children_of(os.getpid()) == []
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    assert sip_ping("127.0.0.1", port_base, 0.3) is None


def test_crashing_worker_is_restarted_with_backoff_not_in_a_storm(
    tmp_path: Path, port_base: int, supervisors: list[Supervisor]
) -> None:
    def ready_then_crash(spec: WorkerSpec) -> list[str]:
        code = f"import time; print('READY port={spec.port}', flush=True); time.sleep(0.1)"
        return [sys.executable, "-c", code + "; raise SystemExit(3)"]

    supervisor = Supervisor(pool_settings(tmp_path, port_base, workers=1, kamailio="/nowhere/x"),
                            "unused:factory", tuning=FAST, worker_argv=ready_then_crash)
    supervisors.append(supervisor)
    supervisor.start()
    threading.Event().wait(3.0)
    restarts = supervisor.status().workers[0].restarts
    # backoff 0.2, 0.4, 0.8, 1.6 s (+0.1 s of life each): 3 or 4 restarts in 3 s, not dozens
    assert 2 <= restarts <= 5, restarts


def test_worker_that_cannot_start_is_one_clear_error(
    tmp_path: Path, port_base: int, supervisors: list[Supervisor]
) -> None:
    def broken(spec: WorkerSpec) -> list[str]:
        return [sys.executable, "-c", "import sys; sys.exit('port 5100 is taken; choose another')"]

    supervisor = Supervisor(pool_settings(tmp_path, port_base), "unused:factory",
                            tuning=FAST, worker_argv=broken)
    supervisors.append(supervisor)
    with pytest.raises(TelesecError) as caught:
        supervisor.start()
    assert "\n" not in str(caught.value)
    assert "worker 0" in str(caught.value) and "port 5100 is taken" in str(caught.value)
    assert supervisor.status().front == "stopped"
    assert children_of(os.getpid()) == []


def test_without_kamailio_one_worker_listens_on_the_practice_address(
    tmp_path: Path, port_base: int, stand_in, supervisors: list[Supervisor],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="telephony")
    settings = pool_settings(tmp_path, port_base, workers=3, kamailio="/nowhere/kamailio")
    supervisor = Supervisor(settings, "unused:factory", tuning=FAST, worker_argv=stand_in)
    supervisors.append(supervisor)
    supervisor.start()
    status = supervisor.status()
    assert status.front == "direct" and status.front_pid is None
    assert [(w.host, w.port) for w in status.workers] == [("127.0.0.1", port_base)]
    said = [r.getMessage() for r in caplog.records if "Kamailio not found" in r.getMessage()]
    assert len(said) == 1 and f"127.0.0.1:{port_base}" in said[0]
    result = run_sipp("caller_hold.xml", f"127.0.0.1:{port_base}", port_base + 20, 2, tmp_path)
    assert (result.successful, result.failed) == (2, 0)


def test_run_forever_drains_on_request(
    tmp_path: Path, port_base: int, stand_in, supervisors: list[Supervisor]
) -> None:
    loaded: list[str] = []

    def preload() -> dict[str, str]:
        loaded.append("models")
        return {"TELESEC_TEST_PRELOADED": "1"}

    supervisor = Supervisor(pool_settings(tmp_path, port_base, workers=1), "unused:factory",
                            tuning=FAST, worker_argv=stand_in, preload=preload)
    supervisors.append(supervisor)
    runner = threading.Thread(target=supervisor.run_forever, kwargs={"deadline": 2})
    runner.start()
    assert wait_until(lambda: supervisor.status().front_alive, 20)
    assert loaded == ["models"]
    worker_pid = supervisor.status().workers[0].pid
    environ = Path(f"/proc/{worker_pid}/environ").read_bytes().split(b"\0")
    assert b"TELESEC_TEST_PRELOADED=1" in environ
    supervisor.request_shutdown()
    runner.join(timeout=15)
    assert not runner.is_alive()
    assert supervisor.status().front == "stopped"
    assert children_of(os.getpid()) == []
