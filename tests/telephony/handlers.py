"""Small call handlers the telephony tests run in real workers (no speech, no storage).

``python -m telephony.worker --handler tests.telephony.handlers:menu`` (and ``listen_once``,
``hold_line``, ``transfer_to``, ``record_until_hangup``, ``bridge_to``). Each writes one line
per call to the file named by ``TELESEC_DEMO_REPORT`` (if set), a JSON object with what
really happened, so tests can assert on it. The product's handler is
``telesec.call_handler:answer``.
"""

from __future__ import annotations

import json
import os
import threading
import time

from telephony.audio import rms_dbfs, sine_tone
from telephony.recording import MemorySink
from telephony.session import CallEnded, CallSession

_report_lock = threading.Lock()


PROMPT_MENU = sine_tone(440, 1.0)
PROMPT_OK = sine_tone(660, 0.4)


def _report(record: dict) -> None:
    path = os.environ.get("TELESEC_DEMO_REPORT")
    if not path:
        return
    with _report_lock, open(path, "a", encoding="utf-8") as report:
        report.write(json.dumps(record) + "\n")


def _recording_facts(sink: MemorySink, rate: int) -> dict:
    data = sink.data
    frames = len(data) // 4
    left = bytearray()
    for i in range(0, len(data) - 3, 4):
        left += data[i : i + 2]
    seconds = frames / rate
    loud = 0
    window = rate // 10 * 2  # 100 ms
    for start in range(0, len(left), window):
        if rms_dbfs(bytes(left[start : start + window])) > -40:
            loud += 1
    return {"rec_seconds": round(seconds, 2), "rec_loud_100ms": loud,
            "rec_closed": sink.closed, "rec_aborted": sink.aborted}


def menu(session: CallSession) -> None:
    """Record the call; play a menu; collect keys until '#' (or 8 keys); confirm; hang up."""
    record: dict = {"call_id": session.call_id, "dialled": session.dialled}
    sink = MemorySink()
    started = time.monotonic()
    try:
        session.start_recording(sink)
        rounds = []
        for _ in range(int(os.environ.get("TELESEC_DEMO_ROUNDS", "1"))):
            played = session.play(PROMPT_MENU)
            digits = session.collect_digits(max_digits=8, timeout=8.0, terminator="#",
                                            inter_digit_timeout=3.0)
            confirm = session.play(PROMPT_OK, barge_in=False)
            delay = (confirm.started_at - session.last_key_at) * 1000
            rounds.append({"digits": digits.digits, "played": played.reason.value,
                           "confirm": confirm.reason.value,
                           "key_to_prompt_ms": round(delay, 1)})
        record["rounds"] = rounds
        record["digits"] = "".join(r["digits"] for r in rounds)
        session.stop_recording()
        session.hangup()
        record["ended_by"] = "engine"
    except CallEnded as ended:
        record["ended_by"] = ended.reason
        session.stop_recording()
    finally:
        record["seconds"] = round(time.monotonic() - started, 2)
        record["speech_starts"] = session.tap.counters.speech_starts
        record.update(_call_facts(session))
        session_recorder_wait(sink)
        record.update(_recording_facts(sink, session.sample_rate))
        _report(record)


def _call_facts(session: CallSession) -> dict:
    """Transport, SRTP and the events seen (hold, resume, bridge...), without waiting."""
    events = []
    while (event := session.next_event(0)) is not None:
        events.append(f"{event.kind}:{event.detail}" if event.detail else event.kind)
    return {"dialled": session.dialled, "transport": session.info.transport,
            "srtp": session.media_encrypted,
            "bridge_left": session.bridge_left, "voicemail_for": session.voicemail_for,
            "events": events}


def session_recorder_wait(sink: MemorySink, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not (sink.closed or sink.aborted) and time.monotonic() < deadline:
        time.sleep(0.02)


def listen_once(session: CallSession) -> None:
    """Record; wait for one utterance; report it; keep the line until the caller hangs up."""
    record: dict = {"call_id": session.call_id}
    sink = MemorySink()
    try:
        session.start_recording(sink)
        utterance = session.listen(timeout=10.0, max_seconds=10.0)
        record["utterance_ms"] = utterance.duration_ms if utterance else 0
        session.play(PROMPT_OK, barge_in=False)
        session.wait_ended(30.0)
        record["ended_by"] = session.end_reason or "timeout"
    except CallEnded as ended:
        record["ended_by"] = ended.reason
    finally:
        session.stop_recording()
        session_recorder_wait(sink)
        record.update(_recording_facts(sink, session.sample_rate))
        _report(record)


def hold_line(session: CallSession) -> None:
    """Play a long prompt and keep the line until the caller hangs up (or 60 s)."""
    record: dict = {"call_id": session.call_id}
    try:
        result = session.play(sine_tone(440, 20.0), barge_in=False)
        record["played"] = result.reason.value
        session.wait_ended(60.0)
    except CallEnded as ended:
        record["ended_by"] = ended.reason
    record["end_reason"] = session.end_reason
    record.update(_call_facts(session))
    _report(record)


def transfer_to(session: CallSession) -> None:
    """Blind-transfer every call to ``TELESEC_DEMO_TRANSFER_TARGET``."""
    record: dict = {"call_id": session.call_id}
    try:
        session.play(PROMPT_OK, barge_in=False)
        result = session.transfer(os.environ["TELESEC_DEMO_TRANSFER_TARGET"], timeout=20.0)
        record.update(transfer_ok=result.ok, transfer_status=result.status_code)
        session.wait_ended(10.0)
    except CallEnded as ended:
        record["ended_by"] = ended.reason
    record["end_reason"] = session.end_reason
    _report(record)


def record_until_hangup(session: CallSession) -> None:
    """Record in memory until the caller hangs up (leak tests: many short calls)."""
    sink = MemorySink()
    session.start_recording(sink)
    session.wait_ended(60.0)
    session.stop_recording()
    session_recorder_wait(sink)
    _report({"call_id": session.call_id, "end_reason": session.end_reason,
             "rec_closed": sink.closed, "rec_bytes": len(sink.data)})


def bridge_to(session: CallSession) -> None:
    """Bridge to ``TELESEC_DEMO_BRIDGE_TARGETS`` (comma-separated) with hold music; when
    nobody answers within ``TELESEC_DEMO_RING_SECONDS``, take a 1 s 'message' instead."""
    record: dict = {"call_id": session.call_id}
    targets = os.environ["TELESEC_DEMO_BRIDGE_TARGETS"].split(",")
    ring = float(os.environ.get("TELESEC_DEMO_RING_SECONDS", "5"))
    started = time.monotonic()
    try:
        result = session.bridge(targets, ring_seconds=ring, hold_audio=sine_tone(523, 0.5))
        record.update(bridge_ok=result.ok, answered_by=result.answered_by,
                      bridge_status=result.status_code, bridge_detail=result.detail,
                      bridge_seconds=round(time.monotonic() - started, 2))
        if result.ok:
            session.wait_ended(60.0)
        else:  # the IVR takes a message
            sink = MemorySink()
            session.start_recording(sink)
            session.play(PROMPT_OK, barge_in=False)
            session.listen(timeout=1.0, max_seconds=1.0)
            session.stop_recording()
            record["message_bytes"] = len(sink.data)
            session.hangup()
            session.wait_ended(5.0)
    except CallEnded as ended:
        record["ended_by"] = ended.reason
    record["end_reason"] = session.end_reason
    record.update(_call_facts(session))
    _report(record)
