"""Kamailio front with real peers: stand-in workers (sipp UAS) and sipp callers, on loopback."""

from __future__ import annotations

import logging
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from foundation.errors import TelesecError
from telephony.kamailio import KamailioFront, check_config, find_kamailio
from telephony.kamailio_config import Backend, FrontLayout, render_config, write_front_files
from telephony.log_redaction import redact
from telephony.pool_settings import PoolTuning

from .conftest import (
    FakeWorkers,
    count_invites,
    finish_sipp,
    run_sipp,
    sipp_args,
    start_sipp,
    wait_until,
)

pytestmark = pytest.mark.timeout(90)

KAMAILIO = find_kamailio() or "kamailio"
FAST = PoolTuning(probe_interval_s=1, worker_answer_timeout_ms=1000, retry_after_s=17,
                  kamailio_children=2, ready_timeout_s=20)


def _layout(run_dir: Path, front_port: int, worker_ports: list[int],
            tuning: PoolTuning = FAST) -> FrontLayout:
    return FrontLayout("127.0.0.1", front_port, [Backend("127.0.0.1", p) for p in worker_ports],
                       run_dir, tuning=tuning, log_level="DEBUG")  # with the routing lines


@pytest.fixture
def front(tmp_path: Path) -> Iterator[Callable[..., KamailioFront]]:
    started: list[KamailioFront] = []

    def start(front_port: int, worker_ports: list[int], tuning: PoolTuning = FAST,
              name: str = "run") -> KamailioFront:
        layout = _layout(tmp_path / name, front_port, worker_ports, tuning)
        kamailio = KamailioFront(KAMAILIO, layout)
        started.append(kamailio)
        kamailio.start()
        return kamailio

    yield start
    for kamailio in started:
        kamailio.stop()


def _dispatcher_flags(kamailio: KamailioFront) -> dict[int, str]:
    """Port of each worker -> dispatcher flags ('AP' active, 'IP'/'IX' inactive)."""
    out = subprocess.run(
        ["kamcmd", "-s", f"unix:{kamailio.layout.ctl_socket}", "dispatcher.list"],
        capture_output=True, text=True, timeout=5, check=True,
    ).stdout
    flags: dict[int, str] = {}
    port = None
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("URI:"):
            port = int(line.rsplit(":", 1)[1])
        elif line.startswith("FLAGS:") and port is not None:
            flags[port] = line.split(":", 1)[1].strip()
    return flags


def test_generated_config_passes_kamailio_check(tmp_path: Path) -> None:
    layout = _layout(tmp_path, 15060, [15101, 15102, 15103])
    config = write_front_files(layout)
    check_config(KAMAILIO, config)
    listed = layout.dispatcher_path.read_text().splitlines()[1:]
    assert listed == [f"1 sip:127.0.0.1:{p} 0 0" for p in (15101, 15102, 15103)]
    # privacy: the script may name calls by Call-ID, never by caller or callee (it routes
    # on the dialled number, but no log line carries a user part or a message)
    logged = [line for line in render_config(layout).splitlines() if "xlog(" in line]
    assert logged
    for variable in ("$fu", "$fU", "$tu", "$tU", "$ru", "$rU", "$fn", "$tn", "$mb", "$ai",
                     "$var(caller)", "$var(callee)"):
        assert not [line for line in logged if variable in line]


def test_broken_config_is_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "kamailio.cfg"
    config.write_text("#!KAMAILIO\nrequest_route {\n  if (\n}\n")
    with pytest.raises(TelesecError) as caught:
        check_config(KAMAILIO, config)
    message = str(caught.value)
    assert "\n" not in message
    assert "kamailio.cfg" in message and "error" in message.lower()


def test_port_in_use_is_one_clear_line(front, port_base: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", port_base))
        with pytest.raises(TelesecError) as caught:
            front(port_base, [port_base + 1])
    message = str(caught.value)
    assert "\n" not in message
    assert "Address already in use" in message and "sip.listen_port" in message


def test_a_data_directory_too_long_for_its_sockets_is_one_clear_line(front, port_base: int,
                                                                     tmp_path: Path) -> None:
    deep = "d" * max(1, 110 - len(str(tmp_path)))  # .../<deep>/run/kamailio_rpc.sock > 107
    with pytest.raises(TelesecError) as caught:
        front(port_base, [port_base + 1], name=f"{deep}/run")
    message = str(caught.value)
    assert "\n" not in message
    assert "control socket" in message and "shorter path" in message
    assert not (tmp_path / deep / "run" / "kamailio.cfg").exists()  # Kamailio never started


def test_redact_removes_sip_users_and_message_dumps() -> None:
    line = "ERROR: <core> parse_msg(): bad To <sip:+33612345678@host> message=<INVITE From: Jean>"
    cleaned = redact(line)
    assert "33612345678" not in cleaned and "Jean" not in cleaned
    assert "sip:***@host" in cleaned


def test_calls_are_spread_over_the_workers(
    front, fake_workers: FakeWorkers, port_base: int, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="telesec.kamailio")
    workers = [port_base + 1, port_base + 2, port_base + 3]
    for port in workers:
        fake_workers.start(port)
    front(port_base, workers)
    result = run_sipp("caller_hold.xml", f"127.0.0.1:{port_base}", port_base + 20, 12, tmp_path,
                      rate=30, hold_ms=100)
    assert (result.returncode, result.successful, result.failed) == (0, 12, 0)
    counts = [count_invites(fake_workers.countfile(port)) for port in workers]
    assert sum(counts) == 12
    assert min(counts) >= 3, counts  # round-robin: 4 each, give or take a retransmission
    # Kamailio's log names calls by Call-ID, never by caller or called user
    kamailio_log = "\n".join(r.getMessage() for r in caplog.records)
    assert kamailio_log.count("to worker sip:127.0.0.1:") >= 12
    assert "caller@" not in kamailio_log and "practice@" not in kamailio_log


def test_full_pool_refuses_the_next_caller_with_retry_after(
    front, fake_workers: FakeWorkers, port_base: int, tmp_path: Path
) -> None:
    workers = [port_base + 1, port_base + 2]
    for port in workers:
        fake_workers.start(port)
    front(port_base, workers)
    holders = start_sipp(sipp_args("caller_hold.xml", f"127.0.0.1:{port_base}", port_base + 20, 8,
                                   rate=40, hold_ms=6000), tmp_path)
    received = lambda: sum(count_invites(fake_workers.countfile(p)) for p in workers)  # noqa: E731
    assert wait_until(lambda: received() >= 8, 10)
    # 8 calls held (2 workers x 4): the 9th and 10th callers are refused cleanly
    refused = run_sipp("caller_refused.xml", f"127.0.0.1:{port_base}", port_base + 21, 2, tmp_path,
                       rate=10)
    assert (refused.returncode, refused.successful, refused.failed) == (0, 2, 0)
    held = finish_sipp(holders, tmp_path, port_base + 20)
    assert (held.returncode, held.successful, held.failed) == (0, 8, 0)
    # the 8 held calls ended: the pool takes calls again
    after = run_sipp("caller_hold.xml", f"127.0.0.1:{port_base}", port_base + 22, 2, tmp_path)
    assert after.successful == 2


def test_no_worker_at_all_gives_503_with_retry_after(front, port_base: int, tmp_path: Path) -> None:
    front(port_base, [port_base + 1])  # nothing listens there
    refused = run_sipp("caller_refused.xml", f"127.0.0.1:{port_base}", port_base + 21, 1, tmp_path)
    assert (refused.returncode, refused.successful) == (0, 1)


def test_dead_worker_is_probed_down_and_back_up(front, fake_workers: FakeWorkers,
                                                port_base: int, tmp_path: Path) -> None:
    alive, doomed = port_base + 1, port_base + 2
    fake_workers.start(alive)
    fake_workers.start(doomed)
    kamailio = front(port_base, [alive, doomed])
    assert wait_until(lambda: _dispatcher_flags(kamailio) == {alive: "AP", doomed: "AP"}, 5)

    fake_workers.kill(doomed)
    assert wait_until(lambda: _dispatcher_flags(kamailio)[doomed].startswith("I"), 6)
    before = count_invites(fake_workers.countfile(alive))
    result = run_sipp("caller_hold.xml", f"127.0.0.1:{port_base}", port_base + 20, 4, tmp_path)
    assert (result.successful, result.failed) == (4, 0)
    assert count_invites(fake_workers.countfile(alive)) - before == 4

    fake_workers.start(doomed)
    assert wait_until(lambda: _dispatcher_flags(kamailio)[doomed] == "AP", 6)
    before_doomed = count_invites(fake_workers.countfile(doomed))
    result = run_sipp("caller_hold.xml", f"127.0.0.1:{port_base}", port_base + 21, 4, tmp_path)
    assert (result.successful, result.failed) == (4, 0)
    assert count_invites(fake_workers.countfile(doomed)) - before_doomed >= 1


def test_silent_worker_is_skipped_before_probing_notices(front, fake_workers: FakeWorkers,
                                                         port_base: int, tmp_path: Path) -> None:
    alive, silent = port_base + 1, port_base + 2
    fake_workers.start(alive)
    slow_probing = PoolTuning(probe_interval_s=60, worker_answer_timeout_ms=800,
                              kamailio_children=2)
    kamailio = front(port_base, [silent, alive], slow_probing)
    # nothing listens on `silent`: each INVITE sent there times out and moves on to `alive`
    result = run_sipp("caller_hold.xml", f"127.0.0.1:{port_base}", port_base + 20, 3, tmp_path,
                      rate=5)
    assert (result.successful, result.failed) == (3, 0)
    assert count_invites(fake_workers.countfile(alive)) == 3
    assert _dispatcher_flags(kamailio)[silent].startswith("I")


def test_two_fronts_run_side_by_side(front, fake_workers: FakeWorkers,
                                     port_base: int, tmp_path: Path) -> None:
    first, second = port_base + 1, port_base + 2
    fake_workers.start(first)
    fake_workers.start(second)
    front(port_base, [first], name="front_a")
    front(port_base + 10, [second], name="front_b")
    run_sipp("caller_hold.xml", f"127.0.0.1:{port_base}", port_base + 20, 2, tmp_path)
    run_sipp("caller_hold.xml", f"127.0.0.1:{port_base + 10}", port_base + 21, 3, tmp_path)
    assert count_invites(fake_workers.countfile(first)) == 2
    assert count_invites(fake_workers.countfile(second)) == 3
