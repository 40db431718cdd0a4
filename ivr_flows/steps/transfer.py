"""``transfer``: hand the call to the secretaries with its context; ``no_answer`` if unanswered."""

from __future__ import annotations

from ivr_flows.call import Call
from ivr_flows.flow import Step
from ivr_flows.step_kind import Option, StepKind
from ivr_flows.steps.voicemail import take_message


def run(call: Call, step: Step) -> str:
    opts = KIND.with_defaults(step.options)
    target = str(call.setting(opts["to"], opts["to"]))
    call.context["human_tried"] = True  # key 0 at a later question no longer leads back here
    call.say("transfer_now", barge_in=False)
    call.audit("call.transfer", purpose="caller handed to a secretary",
               patient_id=call.patient.id if call.patient else None)
    if call.channel.transfer(target, context=call.transfer_context(), priority=opts["priority"],
                             method=opts["method"]):
        box = call.channel.voicemail_requested()
        doctor = call.practice.doctor(box) if box else None
        if box:  # the secretary passed the caller on to a doctor's voicemail box
            call.audit("call.transfer", purpose="caller passed to a doctor's voicemail box",
                       patient_id=call.patient.id if call.patient else None)
            take_message(call, doctor.id if doctor else None)
        return "answered"
    call.say("transfer_no_answer")
    return "no_answer"


KIND = StepKind(
    name="transfer",
    summary="Transfer to the secretaries (a name from `practice:` or an address).",
    shorthand="to",
    options={
        "to": Option("str", default="secretaries", example="secretaries"),
        "priority": Option("bool", default=False, example="false"),
        # bridge: Telesec rings the address(es) (a comma-separated list rings them all at
        # once, the first to answer wins) and stays in the call; refer: the caller's side
        # (the provider) is asked to call a SIP address it can reach itself (REFER)
        "method": Option("str", default="bridge", choices=("bridge", "refer"),
                         example="bridge"),
    },
    outcomes=("answered", "no_answer"),
    ends_on=("answered",),
    prompts=("transfer_now", "transfer_no_answer", "transfer_reconnect"),
    run=run,
)
