"""``book_appointment``: visit type, doctor (or any), when, up to three slots, read back.

The chosen slot is held while the caller decides and released if they say no, hang up
or an emergency interrupts (:mod:`ivr_flows.steps.held_slot`): no half-made appointment
is ever left behind.
"""

from __future__ import annotations

from functools import partial

from ivr_flows.call import Call
from ivr_flows.channel import Prompt
from ivr_flows.flow import Step
from ivr_flows.step_kind import Option, StepKind
from ivr_flows.steps.dialogs import (
    REFUSAL_PROMPTS,
    GaveUp,
    choose_doctor,
    choose_visit_kind,
    propose_and_take,
    refusal_prompt,
)
from scheduling.values import Booked, HoldView, Reason, Refused


def _book(call: Call, hold: HoldView) -> Booked | Refused:
    """Book the held slot for the verified caller."""
    return call.services.agenda.confirm(
        hold.id, call.patient.id, f"{call.call_id}:book:{hold.id}", now=call.now(),
        actor=call.actor, purpose="appointment booked by phone")


def run(call: Call, step: Step) -> str:
    opts = KIND.with_defaults(step.options)
    try:
        kind = choose_visit_kind(call, opts["visit_type"])
        doctor = choose_doctor(call, opts["doctor"])
        result = propose_and_take(
            call, kind.code, doctor, propose=opts["propose"], hold_minutes=opts["hold_minutes"],
            readback="booking_readback", take=partial(_book, call),
        )
    except GaveUp:
        return "gave_up"
    if result is None:
        return "none_free"
    if isinstance(result, Booked):
        call.context["appointment_id"] = result.appointment.id
        call.say(Prompt("booking_confirmed", {"appointment": result.appointment}))
        return "booked"
    call.say(refusal_prompt(result))
    return "none_free" if result.reason is Reason.SLOT_TAKEN else "refused"


KIND = StepKind(
    name="book_appointment",
    summary="Book: visit type, doctor or any, preferred day and part of day, read back.",
    options={
        "propose": Option("int", default=3, min=1, max=3, example="3"),
        "hold_minutes": Option("int", default=5, min=1, max=15, example="5"),
        "doctor": Option("str", default="ask", example="ask (or any, or a doctor's slug)"),
        "visit_type": Option("str", example="consultation"),
    },
    outcomes=("booked", "none_free", "refused", "gave_up"),
    personal=True,
    prompts=("ask_visit_type", "ask_doctor", "ask_when", "no_slot_that_day",
             "no_slots", "slot_choices", "booking_readback", "booking_confirmed",
             *REFUSAL_PROMPTS),
    run=run,
)
