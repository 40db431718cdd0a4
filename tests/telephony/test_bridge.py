"""Bridged transfer: the engine dials sipp 'secretaries', the first to answer is bridged."""

from __future__ import annotations

import pytest

from tests.ports import free_port
from tests.telephony.peers import scenario, sipp, sipp_errors, sipp_uas, start_worker, wait_exit
from tests.telephony.rtp import RtpSink, RtpTrack, tone_alaw

pytestmark = [pytest.mark.sip, pytest.mark.timeout(90)]


def test_first_secretary_to_answer_is_bridged_and_hears_the_caller(tmp_path):
    never_port, answers_port = free_port(), free_port()
    secretary_sink, patient_sink = RtpSink(), RtpSink()
    never_xml = scenario(tmp_path, "secretary_never_answers.xml")
    answers_xml = scenario(tmp_path, "secretary_answers.xml", RING_MS=1000,
                           RTP_SINK_PORT=secretary_sink.port)
    never = sipp_uas(tmp_path, never_xml, never_port)
    answers = sipp_uas(tmp_path, answers_xml, answers_port)
    targets = [f"sip:sec1@127.0.0.1:{never_port}", f"sip:sec2@127.0.0.1:{answers_port}"]
    # one caller per worker: the secretaries' legs still get pjsua lines of their own
    worker = start_worker(tmp_path, "tests.telephony.handlers:bridge_to", "--max-calls", "1",
                          env={"TELESEC_DEMO_BRIDGE_TARGETS": ",".join(targets),
                               "TELESEC_DEMO_RING_SECONDS": "5"})
    try:
        # the patient speaks (a 330 Hz tone) for 4 s from the answer, then hangs up at 5 s
        patient_sink.play(RtpTrack().audio(tone_alaw(330, 4.0)))
        patient = scenario(tmp_path, "caller_hangup.xml", RTP_SINK_PORT=patient_sink.port,
                           PAUSE_MS=5000)
        run = sipp(worker.port, patient, timeout=30)
        assert run.returncode == 0, sipp_errors(patient)
        (record,) = worker.wait_records(1)
        # the one that never answered got a CANCEL; the other one a BYE after the bridge
        assert wait_exit(never, 10) == 0, sipp_errors(never_xml)
        assert wait_exit(answers, 10) == 0, sipp_errors(answers_xml)
    finally:
        secretary_sink.close()
        patient_sink.close()
        for peer in (never, answers):
            wait_exit(peer, 0.1)
        assert worker.terminate() == 0
    assert record["bridge_ok"] is True
    assert record["answered_by"] == targets[1]
    assert 0.9 <= record["bridge_seconds"] <= 3.0  # answered after its 1 s of ringing
    assert "bridge:answered" in record["events"]
    assert record["end_reason"] == "caller hung up"
    # the patient's audio reached the secretary (bridged ~1.2 s in, tone until 4 s)
    assert secretary_sink.payload_types == {8}
    assert secretary_sink.loud_seconds() >= 2.0
    # the patient heard the hold music while the secretaries' phones rang
    assert patient_sink.loud_seconds() >= 0.7


def test_nobody_answers_the_caller_stays_with_the_ivr(tmp_path):
    never_port = free_port()
    never_xml = scenario(tmp_path, "secretary_never_answers.xml")
    never = sipp_uas(tmp_path, never_xml, never_port)
    patient_sink = RtpSink()
    worker = start_worker(tmp_path, "tests.telephony.handlers:bridge_to", env={
        "TELESEC_DEMO_BRIDGE_TARGETS": f"sip:sec1@127.0.0.1:{never_port}",
        "TELESEC_DEMO_RING_SECONDS": "2",
    })
    try:
        patient = scenario(tmp_path, "caller_waits_bye.xml", RTP_SINK_PORT=patient_sink.port,
                           BYE_TIMEOUT_MS=15000)
        run = sipp(worker.port, patient, timeout=30)
        assert run.returncode == 0, sipp_errors(patient)
        (record,) = worker.wait_records(1)
        assert wait_exit(never, 10) == 0, sipp_errors(never_xml)  # cancelled at the timeout
    finally:
        patient_sink.close()
        wait_exit(never, 0.1)
        assert worker.terminate() == 0
    assert record["bridge_ok"] is False
    assert record["bridge_detail"] == "no answer"
    assert 1.9 <= record["bridge_seconds"] <= 3.5
    assert record["message_bytes"] > 0  # the IVR went on and recorded a message
    assert record["end_reason"] == "engine hung up"
    assert 1.5 <= patient_sink.loud_seconds() <= 3.5  # hold music, then the prompt


def test_the_answerer_passes_the_caller_on_by_refer(tmp_path):
    """Blind transfer: the secretary who answered REFERs the caller to a doctor's phone;
    the engine calls it, bridges the caller to it and hangs up on her. A number as the
    REFER target is refused (603): a transfer never goes out through the trunk."""
    refers_port, doctor_port = free_port(), free_port()
    secretary_sink, doctor_sink, patient_sink = RtpSink(), RtpSink(), RtpSink()
    refers_xml = scenario(tmp_path, "secretary_refers.xml", RTP_SINK_PORT=secretary_sink.port,
                          REFER_TO=f"sip:doctor@127.0.0.1:{doctor_port}")
    doctor_xml = scenario(tmp_path, "secretary_answers.xml", RING_MS=500,
                          RTP_SINK_PORT=doctor_sink.port)
    refers = sipp_uas(tmp_path, refers_xml, refers_port)
    doctor = sipp_uas(tmp_path, doctor_xml, doctor_port)
    worker = start_worker(tmp_path, "tests.telephony.handlers:bridge_to", env={
        "TELESEC_DEMO_BRIDGE_TARGETS": f"sip:sec@127.0.0.1:{refers_port}",
        "TELESEC_DEMO_RING_SECONDS": "5",
    })
    try:
        # the patient speaks (a 330 Hz tone) for 6 s from the answer, then hangs up at 7 s
        patient_sink.play(RtpTrack().audio(tone_alaw(330, 6.0)))
        patient = scenario(tmp_path, "caller_hangup.xml", RTP_SINK_PORT=patient_sink.port,
                           PAUSE_MS=7000)
        run = sipp(worker.port, patient, timeout=30)
        assert run.returncode == 0, sipp_errors(patient)
        (record,) = worker.wait_records(1)
        assert wait_exit(refers, 10) == 0, sipp_errors(refers_xml)  # 202, then the BYE
        assert wait_exit(doctor, 10) == 0, sipp_errors(doctor_xml)  # called, then BYE
    finally:
        for sink in (secretary_sink, doctor_sink, patient_sink):
            sink.close()
        for peer in (refers, doctor):
            wait_exit(peer, 0.1)
        assert worker.terminate() == 0
    assert record["bridge_ok"] is True and record["end_reason"] == "caller hung up"
    # the caller's voice reached the doctor after the transfer (~2.5 s in, tone until 6 s)
    assert doctor_sink.loud_seconds() >= 2.0, doctor_sink.loud_seconds()


def test_a_refer_to_a_number_is_refused(tmp_path):
    """A transfer never leaves through the trunk: REFER to a number gets 603, nobody is
    called, and the caller stays with the secretary."""
    refers_port = free_port()
    secretary_sink, patient_sink = RtpSink(), RtpSink()
    refers_xml = scenario(tmp_path, "secretary_refers.xml", RTP_SINK_PORT=secretary_sink.port,
                          REFER_TO="sip:+33612345678@127.0.0.1")
    refers = sipp_uas(tmp_path, refers_xml, refers_port)
    worker = start_worker(tmp_path, "tests.telephony.handlers:bridge_to", env={
        "TELESEC_DEMO_BRIDGE_TARGETS": f"sip:sec@127.0.0.1:{refers_port}",
        "TELESEC_DEMO_RING_SECONDS": "5",
    })
    try:
        patient = scenario(tmp_path, "caller_hangup.xml", RTP_SINK_PORT=patient_sink.port,
                           PAUSE_MS=3000)
        sipp(worker.port, patient, timeout=30)
        worker.wait_records(1)
        assert wait_exit(refers, 10) != 0  # the scenario expected 202
        assert "received 'SIP/2.0 603 Decline" in sipp_errors(refers_xml)
    finally:
        secretary_sink.close()
        patient_sink.close()
        wait_exit(refers, 0.1)
        assert worker.terminate() == 0


def test_a_softphone_leg_gone_silent_is_lost_and_the_caller_kept(tmp_path):
    """A console softphone (desk-…) that stops sending audio without a BYE (her page was
    reloaded) is hung up after 4 s of silence; the caller stays with the engine, told the
    leg was lost (the flow then rings the desk again)."""
    desk_port = free_port()
    desk_sink, patient_sink = RtpSink(), RtpSink()
    desk_xml = scenario(tmp_path, "secretary_answers.xml", RING_MS=200,
                        RTP_SINK_PORT=desk_sink.port)
    desk = sipp_uas(tmp_path, desk_xml, desk_port)
    worker = start_worker(tmp_path, "tests.telephony.handlers:bridge_to", env={
        "TELESEC_DEMO_BRIDGE_TARGETS": f"sip:desk-demo@127.0.0.1:{desk_port}",
        "TELESEC_DEMO_RING_SECONDS": "5",
    })
    try:
        desk_sink.play(RtpTrack().audio(tone_alaw(440, 1.5)))  # she talks, then her page goes
        patient = scenario(tmp_path, "caller_hangup.xml", RTP_SINK_PORT=patient_sink.port,
                           PAUSE_MS=8000)
        run = sipp(worker.port, patient, timeout=30)
        assert run.returncode == 0, sipp_errors(patient)
        (record,) = worker.wait_records(1)
        assert wait_exit(desk, 10) == 0, sipp_errors(desk_xml)  # the engine's BYE came
    finally:
        desk_sink.close()
        patient_sink.close()
        wait_exit(desk, 0.1)
        assert worker.terminate() == 0
    assert record["bridge_ok"] is True
    assert "bridge:lost" in record["events"], record["events"]
    assert record["bridge_left"] == "lost"
    assert record["end_reason"] == "caller hung up"  # the engine kept the caller


def test_the_answerer_passes_the_caller_to_a_doctors_voicemail_box(tmp_path):
    """REFER to box-<doctor>: accepted (202), nobody is rung, her leg ends and the caller
    goes back to the engine with that doctor's box to leave a message in."""
    refers_port = free_port()
    secretary_sink, patient_sink = RtpSink(), RtpSink()
    refers_xml = scenario(tmp_path, "secretary_refers.xml", RTP_SINK_PORT=secretary_sink.port,
                          REFER_TO="sip:box-dr-martin@127.0.0.1:9")
    refers = sipp_uas(tmp_path, refers_xml, refers_port)
    worker = start_worker(tmp_path, "tests.telephony.handlers:bridge_to", env={
        "TELESEC_DEMO_BRIDGE_TARGETS": f"sip:sec@127.0.0.1:{refers_port}",
        "TELESEC_DEMO_RING_SECONDS": "5",
    })
    try:
        patient = scenario(tmp_path, "caller_hangup.xml", RTP_SINK_PORT=patient_sink.port,
                           PAUSE_MS=3000)
        run = sipp(worker.port, patient, timeout=30)
        assert run.returncode == 0, sipp_errors(patient)
        (record,) = worker.wait_records(1)
        assert wait_exit(refers, 10) == 0, sipp_errors(refers_xml)  # 202, then the BYE
    finally:
        secretary_sink.close()
        patient_sink.close()
        wait_exit(refers, 0.1)
        assert worker.terminate() == 0
    assert "bridge:voicemail" in record["events"], record["events"]
    assert (record["bridge_left"], record["voicemail_for"]) == ("voicemail", "dr-martin")
    assert record["end_reason"] == "caller hung up"  # the caller stayed with the engine
