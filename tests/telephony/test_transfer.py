"""Blind transfer by REFER: baresip calls the engine, which refers it to a sipp 'secretary'."""

from __future__ import annotations

import subprocess

import pytest

from tests.ports import free_port, free_rtp_base
from tests.telephony.peers import baresip_call, scenario, sipp_errors, start_worker

pytestmark = [pytest.mark.sip, pytest.mark.timeout(90)]


def test_blind_transfer_reaches_the_target(tmp_path):
    target_port = free_port()
    worker = start_worker(
        tmp_path, "tests.telephony.handlers:transfer_to",
        env={"TELESEC_DEMO_TRANSFER_TARGET": f"sip:secretary@127.0.0.1:{target_port}"},
    )
    target_xml = scenario(tmp_path, "transfer_target.xml")
    target = subprocess.Popen(
        ["sipp", "-sf", str(target_xml), "-p", str(target_port), "-i", "127.0.0.1",
         "-mp", str(free_rtp_base()), "-m", "1", "-timeout", "30s", "-timeout_error",
         "-nostdin", "-trace_err", "-error_file", str(target_xml.with_suffix(".errors.log"))],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path,
    )
    try:
        baresip = baresip_call(tmp_path, f"sip:1000@127.0.0.1:{worker.port}", seconds=6)
        target.wait(timeout=30)
        records = worker.wait_records(1)
    finally:
        if target.poll() is None:
            target.kill()
            target.wait(5)
        assert worker.terminate() == 0
    # the secretary's phone really received the INVITE that followed our REFER, answered it
    assert target.returncode == 0, sipp_errors(target_xml) + baresip.stdout[-2000:]
    assert f"secretary@127.0.0.1:{target_port}" in baresip.stdout
    (record,) = records
    assert record["transfer_ok"] is True
    assert record["transfer_status"] == 200
    assert record["end_reason"] == "transferred"
