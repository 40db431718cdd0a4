"""A real worker process answering real sipp callers on loopback: keys, audio, recording."""

from __future__ import annotations

import logging

import pytest

from foundation.logs import parse_child_line, relay
from tests.telephony.peers import scenario, sipp, sipp_errors, start_worker
from tests.telephony.rtp import RtpSink, RtpTrack, speech_alaw

pytestmark = [pytest.mark.sip, pytest.mark.timeout(120)]


def test_rfc4733_keys_arrive_in_order_and_the_call_is_recorded(tmp_path):
    worker = start_worker(tmp_path, "tests.telephony.handlers:menu")
    try:
        sink = RtpSink()  # the engine latches onto sipp's RTP; this only takes the SDP port
        track = RtpTrack().silence(1.5).keys("4071#").silence(2.0)
        pcap = track.write_pcap(tmp_path / "keys.pcap")
        caller = scenario(tmp_path, "caller.xml", PCAP=pcap, RTP_SINK_PORT=sink.port,
                          BYE_TIMEOUT_MS=15000)
        run = sipp(worker.port, caller)
        sink.close()
        assert run.returncode == 0, sipp_errors(caller)
        (record,) = worker.wait_records(1)
    finally:
        assert worker.terminate() == 0
    assert record["digits"] == "4071"
    assert record["ended_by"] == "engine"
    assert record["rounds"][0]["confirm"] == "finished"
    # the recording covers the call: 16 kHz stereo, as long as the handler ran
    assert record["rec_closed"] and not record["rec_aborted"]
    assert abs(record["rec_seconds"] - record["seconds"]) < 0.5
    assert record["rec_seconds"] > 2.0


def test_sip_info_keys_and_the_prompt_reaches_the_caller(tmp_path):
    worker = start_worker(tmp_path, "tests.telephony.handlers:menu")
    sink = RtpSink()
    try:
        caller = scenario(tmp_path, "caller_info.xml", RTP_SINK_PORT=sink.port, PAUSE_MS=1500,
                          BYE_TIMEOUT_MS=15000)
        run = sipp(worker.port, caller)
        assert run.returncode == 0, sipp_errors(caller)
        (record,) = worker.wait_records(1)
    finally:
        sink.close()
        assert worker.terminate() == 0
    assert record["digits"] == "456"
    # menu prompt (1 s, not interrupted: keys came after it) + confirmation (0.4 s)
    assert record["rounds"][0]["played"] == "finished"
    assert sink.payload_types == {8}
    assert sink.packets > 50
    assert 1.1 <= sink.loud_seconds() <= 1.8


def test_caller_speech_reaches_the_listener_and_the_left_channel(tmp_path):
    speech = speech_alaw("Bonjour, je voudrais prendre un rendez-vous.", tmp_path)
    worker = start_worker(tmp_path, "tests.telephony.handlers:listen_once")
    sink = RtpSink()
    try:
        sink.play(RtpTrack().silence(0.5).audio(speech).silence(1.5))
        caller = scenario(tmp_path, "caller_hangup.xml", RTP_SINK_PORT=sink.port,
                          PAUSE_MS=int(2000 + len(speech) / 8))
        run = sipp(worker.port, caller)
        assert run.returncode == 0, sipp_errors(caller)
        (record,) = worker.wait_records(1)
    finally:
        sink.close()
        assert worker.terminate() == 0
    speech_ms = len(speech) / 8
    assert record["utterance_ms"] >= 0.6 * speech_ms
    assert record["utterance_ms"] <= speech_ms + 1500
    assert record["ended_by"] == "caller hung up"
    # the caller's speech is in the recording's left channel (at least half of it as loud)
    assert record["rec_loud_100ms"] >= speech_ms / 100 / 2
    # and the confirmation prompt went out to the caller after the utterance
    assert sink.loud_seconds() >= 0.3


def test_caller_hangs_up_during_a_prompt(tmp_path):
    worker = start_worker(tmp_path, "tests.telephony.handlers:hold_line")
    sink = RtpSink()
    try:
        caller = scenario(tmp_path, "caller_hangup.xml", RTP_SINK_PORT=sink.port, PAUSE_MS=1500)
        run = sipp(worker.port, caller)
        assert run.returncode == 0, sipp_errors(caller)
        (record,) = worker.wait_records(1)
    finally:
        sink.close()
        assert worker.terminate() == 0
    assert record["ended_by"] == "caller hung up"
    assert 0.8 <= sink.loud_seconds() <= 2.5  # the prompt was cut when the caller left


def test_no_rtp_means_the_engine_hangs_up(tmp_path):
    worker = start_worker(tmp_path, "tests.telephony.handlers:hold_line", "--rtp-timeout", "2")
    try:
        # sipp sends no RTP at all; its SDP points at a port nobody sends from
        caller = scenario(tmp_path, "caller_waits_bye.xml", RTP_SINK_PORT=9,
                          BYE_TIMEOUT_MS=10000)
        run = sipp(worker.port, caller)
        assert run.returncode == 0, sipp_errors(caller)
        (record,) = worker.wait_records(1)
    finally:
        assert worker.terminate() == 0
    assert record["end_reason"] == "no RTP"


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_the_worker_logs_one_line_per_record_and_pjsip_through_its_logger(
    tmp_path, level, caplog
):
    worker = start_worker(tmp_path, "tests.telephony.handlers:menu", "--log-level", level)
    try:
        sink = RtpSink()
        pcap = RtpTrack().silence(1.0).keys("1#").silence(1.5).write_pcap(tmp_path / "k.pcap")
        caller = scenario(tmp_path, "caller.xml", PCAP=pcap, RTP_SINK_PORT=sink.port,
                          BYE_TIMEOUT_MS=15000)
        run = sipp(worker.port, caller)
        sink.close()
        assert run.returncode == 0, sipp_errors(caller)
        worker.wait_records(1)
    finally:
        assert worker.terminate() == 0
    lines = worker.stderr().splitlines()
    # nothing on stderr outside the `LEVEL logger: message` format: no raw pjsip chatter
    assert lines and all(parse_child_line(line) for line in lines), lines[:20]
    caplog.set_level(logging.DEBUG, logger="telesec")
    relay(lines, "worker0")
    pjsip = [r for r in caplog.records if r.name == "telesec.worker0.pjsip"]
    if level == "DEBUG":  # pjsip's own lines (its level 3), each under `pjsip`, at DEBUG
        assert pjsip and {r.levelname for r in pjsip} == {"DEBUG"}
        assert any(r.getMessage().startswith("pjsua_core.c: ") for r in pjsip)
    else:  # at INFO, pjsip says nothing unless something goes wrong
        assert pjsip == []
    said = [r.getMessage() for r in caplog.records if r.name == "telesec.worker0.telephony.worker"]
    assert said[0].startswith("worker listening on 127.0.0.1:")
    assert "0600000001" not in worker.stderr()  # the caller's number is never logged
