"""Registered mode: the worker registers to Kamailio with digest auth and gets calls there."""

from __future__ import annotations

import os
import secrets
import time

import pytest

from tests.ports import free_port
from tests.telephony.peers import scenario, sipp, sipp_errors, start_worker
from tests.telephony.registrar import start_registrar

pytestmark = [pytest.mark.sip, pytest.mark.timeout(90)]

AUTHENTICATED = r"TEST REGISTER authenticated user=1000"


def test_worker_registers_with_digest_auth_renews_and_receives_calls(tmp_path):
    password = secrets.token_urlsafe(12)
    env = {"TEST_SIP_PASSWORD": password}
    registrar = start_registrar(tmp_path, free_port(), "1000", "TEST_SIP_PASSWORD",
                                dict(os.environ, **env))
    started = time.monotonic()
    worker = None
    try:
        worker = start_worker(
            tmp_path, "tests.telephony.handlers:hold_line",
            "--register", f"sip:1000@127.0.0.1:{registrar.port}",
            "--auth-password-env", "TEST_SIP_PASSWORD", "--register-expiry", "10", env=env,
        )
        assert registrar.wait_for(AUTHENTICATED, 1) == 1, registrar.log()[-3000:]
        # a call to the AOR, sent to Kamailio, reaches the worker through the registration
        caller = scenario(tmp_path, "caller_hangup.xml", RTP_SINK_PORT=9, PAUSE_MS=800)
        run = sipp(registrar.port, caller, timeout=15)
        assert run.returncode == 0, sipp_errors(caller) + registrar.log()[-2000:]
        (record,) = worker.wait_records(1)
        # the registration is refreshed before its 10 s run out
        assert registrar.wait_for(AUTHENTICATED, 2, timeout=15) >= 2, registrar.log()[-3000:]
        refreshed_after = time.monotonic() - started
        assert worker.terminate() == 0
        # draining unregisters (REGISTER with Expires: 0), so the registrar stops routing here
        assert registrar.wait_for(AUTHENTICATED + " expires=0", 1, timeout=5) == 1
    finally:
        if worker is not None and worker.process.poll() is None:
            worker.terminate()
        registrar.stop()
    assert registrar.count(r"TEST REGISTER challenged") >= 1  # digest auth was asked for
    assert registrar.count(r"TEST INVITE relayed") == 1
    assert record["end_reason"] == "caller hung up"
    assert record["dialled"] == "1000"
    assert refreshed_after < 12
    stderr = worker.stderr()
    assert stderr.count("registered (expires in") >= 2
    assert password not in stderr and password not in registrar.log()
    print(f"re-REGISTER after {refreshed_after:.1f} s")


def test_a_wrong_password_is_reported_not_fatal(tmp_path):
    registrar = start_registrar(tmp_path, free_port(), "1000", "TEST_SIP_PASSWORD",
                                dict(os.environ, TEST_SIP_PASSWORD="right-one"))
    worker = None
    try:
        worker = start_worker(
            tmp_path, "tests.telephony.handlers:hold_line",
            "--register", f"sip:1000@127.0.0.1:{registrar.port}",
            "--auth-password-env", "TEST_SIP_PASSWORD", env={"TEST_SIP_PASSWORD": "wrong"},
        )
        deadline = time.monotonic() + 10
        while "registration refused" not in worker.stderr() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert worker.process.poll() is None  # still serving direct calls
    finally:
        if worker is not None:
            assert worker.terminate() == 0
        registrar.stop()
    assert "registration refused or failed: 401" in worker.stderr()
    assert registrar.count(AUTHENTICATED) == 0


def test_a_password_on_the_command_line_is_not_accepted(tmp_path):
    with pytest.raises(AssertionError, match="needs --auth-password-env"):
        start_worker(tmp_path, "tests.telephony.handlers:hold_line",
                     "--register", "sip:1000@127.0.0.1:5999")
