"""``voicemail``: a message for a doctor or the practice, listened to and re-recorded at will.

The audio goes straight into a sink from the injected factory (the encrypted vault
writer): nothing is kept in clear. A message cut short by a hang-up is kept; an empty
one is thrown away.
"""

from __future__ import annotations

from ivr_flows.call import Call, VoicemailMeta
from ivr_flows.channel import CallerHungUp, MessageSink, Prompt, RecordedMessage, Utterance
from ivr_flows.flow import Step
from ivr_flows.step_kind import Option, StepKind
from ivr_flows.steps.dialogs import ANY_DOCTOR, GaveUp, pick

PRACTICE_BOX = ANY_DOCTOR


def _addressee(call: Call, to: str) -> int | None:
    """The practitioner id the message is for (None: the practice's box)."""
    if to == "practice" or not call.practice.doctors:
        return None
    if to != "ask":
        doctor = call.practice.doctor(to)
        return doctor.id if doctor else None
    doctors = call.practice.doctors
    chosen = pick(
        call, Prompt("ask_voicemail_box", {"choices": [d.name for d in doctors]}), doctors,
        labels=[d.name for d in doctors], zero=PRACTICE_BOX,
    )
    return None if chosen is PRACTICE_BOX else chosen.id


def _review(call: Call) -> str:
    """'send', 'listen' or 're-record' (1 listen, 2 re-record, 3 or # send)."""

    def understand(heard: Utterance) -> str | None:
        if heard.keys:
            return {"1": "listen", "2": "re-record", "3": "send", "#": "send"}.get(heard.keys[0])
        text = heard.text.lower()
        if any(w in text for w in ("ecout", "écout", "listen", "play")):
            return "listen"
        if any(w in text for w in ("recommenc", "réenregistr", "reenregistr", "again",
                                   "re-record", "rerecord")):
            return "re-record"
        if any(w in text for w in ("envoy", "send", "valid", "ok")):
            return "send"
        return None

    result, choice = call.ask("voicemail_review", understand, retries=1, way_out=False)
    return choice if result == "ok" else "send"


def run(call: Call, step: Step) -> str:
    opts = KIND.with_defaults(step.options)
    try:
        practitioner_id = _addressee(call, opts["to"])
    except GaveUp:
        practitioner_id = None
    return take_message(call, practitioner_id, max_seconds=opts["max_seconds"],
                        review=opts["review"])


def take_message(call: Call, practitioner_id: int | None, *, max_seconds: int = 120,
                 review: bool = True) -> str:
    """Record a message for ``practitioner_id`` (None: the practice's box); 'saved' or
    'empty'. Also where a secretary's transfer to a doctor's box lands."""
    meta = VoicemailMeta(call.call_id, call.practice.id, practitioner_id,
                         call.patient.id if call.patient else None, call.language)
    for _take in range(3):
        call.say("voicemail_instructions", barge_in=False)
        sink: MessageSink = call.services.voicemail_sinks(meta)
        try:
            message: RecordedMessage = call.channel.record_message(
                sink, max_seconds=max_seconds)
        except BaseException:
            sink.abort()
            raise
        if message.caller_hung_up:
            if message.seconds <= 0:
                sink.abort()
                raise CallerHungUp
            sink.close()  # what was said before hanging up is the message
            call.audit("voicemail.recorded", patient_id=meta.patient_id,
                       purpose="voicemail left by a caller")
            raise CallerHungUp
        if message.seconds <= 0:
            sink.abort()
            call.say("voicemail_empty")
            return "empty"
        choice = "send" if not review else None
        try:
            while choice is None or choice == "listen":
                if choice == "listen":
                    call.channel.play_message(message)
                choice = _review(call)
        except CallerHungUp:
            sink.close()
            call.audit("voicemail.recorded", patient_id=meta.patient_id,
                       purpose="voicemail left by a caller")
            raise
        except BaseException:
            sink.abort()
            raise
        if choice == "re-record":
            sink.abort()
            continue
        sink.close()
        call.audit("voicemail.recorded", patient_id=meta.patient_id,
                   purpose="voicemail left by a caller")
        call.context["voicemail"] = True
        call.say("voicemail_saved")
        return "saved"
    call.say("voicemail_empty")
    return "empty"


KIND = StepKind(
    name="voicemail",
    summary="Take a message for a doctor (ask, or a slug) or the practice; review it.",
    shorthand="to",
    options={
        "to": Option("str", default="ask", example="ask (or practice, or a doctor's slug)"),
        "max_seconds": Option("int", default=120, min=10, max=600, example="120"),
        "review": Option("bool", default=True, example="true"),
    },
    outcomes=("saved", "empty"),
    prompts=("ask_voicemail_box", "voicemail_instructions", "voicemail_review",
             "voicemail_saved", "voicemail_empty"),
    run=run,
)
