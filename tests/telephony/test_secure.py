"""SIP over TLS and SRTP, with baresip as an independent softphone; plain RTP refused."""

from __future__ import annotations

import re

import pytest

from tests.ports import free_port
from tests.telephony.peers import (
    baresip_call,
    scenario,
    self_signed_cert,
    sipp,
    sipp_errors,
    start_worker,
)
from tests.telephony.test_robustness import GOOD_SDP

pytestmark = [pytest.mark.sip, pytest.mark.timeout(90)]


def test_baresip_calls_over_tls_with_mandatory_srtp(tmp_path):
    cert, key = self_signed_cert(tmp_path)
    tls_port = free_port()
    worker = start_worker(
        tmp_path, "tests.telephony.handlers:hold_line", "--tls-port", str(tls_port),
        "--tls-cert", str(cert), "--tls-key", str(key), "--srtp", "mandatory",
    )
    try:
        baresip = baresip_call(tmp_path, f"sip:1000@127.0.0.1:{tls_port};transport=tls",
                               seconds=6, account_params=";mediaenc=srtp-mand")
        (record,) = worker.wait_records(1)
    finally:
        assert worker.terminate() == 0
    out = baresip.stdout + baresip.stderr  # baresip prints its bit rates on stderr
    assert "Call established" in out, out[-3000:]
    # the worker's side: a TLS session was negotiated, the INVITE came over it, SRTP in use
    assert re.search(r"TLS connection established \(cipher \S+\)", worker.stderr())
    assert record["transport"] == "TLS"
    assert record["srtp"] is True
    assert record["end_reason"] == "caller hung up"
    # baresip's side: SRTP keys agreed (SDES crypto line) and decryptable audio received
    assert "SRTP is Enabled (cryptosuite=AES_CM_128_HMAC_SHA1_80)" in out
    assert "srtp: " not in out.replace("srtp: audio: SRTP is Enabled", "")  # no SRTP errors
    assert "incoming rtp for 'audio' established" in out  # after SRTP unprotect
    received = [int(rx) for rx in re.findall(r"audio=\d+/(\d+) \(bit/s\)", out)]
    assert max(received, default=0) > 30000, out[-3000:]  # ~64 kbit/s decrypted by baresip


def test_mandatory_srtp_refuses_a_plain_rtp_offer(tmp_path):
    worker = start_worker(tmp_path, "tests.telephony.handlers:hold_line", "--srtp", "mandatory",
                          "--srtp-secure-signaling", "0")
    try:
        refused = scenario(tmp_path, "refused.xml", SDP=GOOD_SDP, STATUS=488)
        run = sipp(worker.port, refused, timeout=15)
        assert run.returncode == 0, sipp_errors(refused)
        assert worker.records() == []
    finally:
        assert worker.terminate() == 0


def test_optional_srtp_still_takes_a_plain_rtp_call(tmp_path):
    worker = start_worker(tmp_path, "tests.telephony.handlers:hold_line", "--srtp", "optional")
    try:
        caller = scenario(tmp_path, "caller_hangup.xml", RTP_SINK_PORT=9, PAUSE_MS=500)
        run = sipp(worker.port, caller, timeout=15)
        assert run.returncode == 0, sipp_errors(caller)
        (record,) = worker.wait_records(1)
    finally:
        assert worker.terminate() == 0
    assert record["transport"] == "UDP"
    assert record["srtp"] is False


def test_tls_without_a_key_is_a_clear_startup_error(tmp_path):
    with pytest.raises(AssertionError, match="--tls-port needs --tls-key"):
        start_worker(tmp_path, "tests.telephony.handlers:hold_line", "--tls-port", "5999",
                     "--tls-cert", str(self_signed_cert(tmp_path)[0]))
