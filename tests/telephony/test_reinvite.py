"""re-INVITE: the caller puts the engine on hold and takes it back; the call goes on."""

from __future__ import annotations

import pytest

from tests.telephony.peers import scenario, sipp, sipp_errors, start_worker
from tests.telephony.rtp import RtpSink, RtpTrack

pytestmark = [pytest.mark.sip, pytest.mark.timeout(60)]


@pytest.mark.parametrize("direction", ["sendonly", "inactive"])
def test_hold_and_resume_keep_the_call_and_suspend_the_no_rtp_timeout(tmp_path, direction):
    # no RTP at all while on hold for 3.5 s, well past the 2 s no-RTP timeout
    worker = start_worker(tmp_path, "tests.telephony.handlers:menu", "--rtp-timeout", "2")
    sink = RtpSink()
    try:
        pcap = RtpTrack().silence(0.4).keys("12#").silence(2.0).write_pcap(tmp_path / "k.pcap")
        caller = scenario(tmp_path, "caller_hold.xml", RTP_SINK_PORT=sink.port, HOLD=direction,
                          HOLD_MS=3500, PCAP=pcap, BYE_TIMEOUT_MS=15000)
        run = sipp(worker.port, caller, timeout=30)
        assert run.returncode == 0, sipp_errors(caller) + worker.stderr()[-2000:]
        (record,) = worker.wait_records(1)
    finally:
        sink.close()
        assert worker.terminate() == 0
    assert record["ended_by"] == "engine"  # the handler finished: nobody hung up on hold
    assert record["digits"] == "12"  # keys sent after the resume re-INVITE arrived
    assert record["events"][:2] == ["hold", "resume"]
    assert "error:no RTP" not in record["events"]
