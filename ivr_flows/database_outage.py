"""When the database is down mid-call: no identity, no agenda, but the call goes on.

The caller is told the secretaries cannot answer now (or is put through to them when
the practice has an address to ring), then a message for the practice is taken. The
vault spools it, encrypted, until the database is back (storage/vault/spool.py).
"""

from __future__ import annotations

import logging

from ivr_flows.call import Call, VoicemailMeta
from ivr_flows.channel import CallerHungUp, RecordedMessage

log = logging.getLogger(__name__)

MAX_MESSAGE_SECONDS = 120
DIALLABLE = ("sip:", "sips:", "tel:")


def carry_on_without_database(call: Call) -> bool:
    """Transfer or take a message; True when a secretary took the call."""
    log.warning("call %s: database unreachable; the caller is offered a transfer or a message",
                call.call_id)
    call.drop_pending()
    call.context["intent"] = call.context.get("intent") or "message"
    target = call.setting("secretaries", "secretaries")
    if isinstance(target, str) and target.lower().startswith(DIALLABLE):
        call.say("transfer_now", barge_in=False)
        if call.channel.transfer(target, context=call.transfer_context(), priority=False):
            return True
    call.say("transfer_no_answer", "voicemail_instructions", barge_in=False)
    meta = VoicemailMeta(call.call_id, call.practice.id, None,
                         call.patient.id if call.patient else None, call.language)
    sink = call.services.voicemail_sinks(meta)
    try:
        message: RecordedMessage = call.channel.record_message(
            sink, max_seconds=MAX_MESSAGE_SECONDS)
    except BaseException:
        sink.abort()
        raise
    if message.seconds <= 0:
        sink.abort()
        if message.caller_hung_up:
            raise CallerHungUp
        call.say("voicemail_empty", "goodbye", barge_in=False)
    else:
        sink.close()
        if message.caller_hung_up:
            raise CallerHungUp
        call.say("voicemail_saved", "goodbye", barge_in=False)
    call.channel.hangup()
    return False
