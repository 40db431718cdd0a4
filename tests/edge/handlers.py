"""The call handler the edge tests' workers run (test numbers only).

Every call is recorded in memory; what happened is one JSON line in
``$TELESEC_DEMO_REPORT``: the caller's number as the worker saw it (never logged
anywhere else), the dialled number, the transport, SRTP, the recording's loudness.
Callers ``+33600000001`` and ``+33600000002`` are bridged to the targets named in
``EDGE_TARGET_1`` / ``EDGE_TARGET_2`` (an outside "mobile", a registered phone); every
other caller hears a tone and may press keys until ``#``.
"""

from __future__ import annotations

import os
import time

from telephony.audio import sine_tone
from telephony.recording import MemorySink
from telephony.session import CallEnded, CallSession
from tests.telephony.handlers import (
    PROMPT_MENU,
    _call_facts,
    _recording_facts,
    _report,
    session_recorder_wait,
)

BRIDGED_CALLERS = {"+33600000001": "EDGE_TARGET_1", "+33600000002": "EDGE_TARGET_2"}


def edge_call(session: CallSession) -> None:
    record: dict = {"call_id": session.call_id, "caller": session.caller}
    sink = MemorySink()
    started = time.monotonic()
    try:
        session.start_recording(sink)
        target = os.environ.get(BRIDGED_CALLERS.get(session.caller, ""), "")
        if target:
            result = session.bridge([target], ring_seconds=10, hold_audio=sine_tone(523, 0.5))
            record.update(bridge_ok=result.ok, answered_by=result.answered_by,
                          bridge_status=result.status_code)
            if result.ok:
                session.wait_ended(30.0)
        else:
            session.play(PROMPT_MENU, barge_in=False)  # the caller speaks at once
            digits = session.collect_digits(max_digits=4, timeout=6.0, terminator="#",
                                            inter_digit_timeout=3.0)
            record["digits"] = digits.digits
            session.play(sine_tone(660, 0.6), barge_in=False)
            session.wait_ended(8.0)
        session.hangup()
    except CallEnded as ended:
        record["ended_by"] = ended.reason
    finally:
        session.stop_recording()
        record["seconds"] = round(time.monotonic() - started, 2)
        record.update(_call_facts(session))
        session_recorder_wait(sink)
        record.update(_recording_facts(sink, session.sample_rate))
        _report(record)
