"""``cancel_appointment`` and ``reschedule_appointment``, with refusals explained in words."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from ivr_flows.call import Call
from ivr_flows.channel import Prompt
from ivr_flows.flow import Step
from ivr_flows.step_kind import Option, StepKind
from ivr_flows.steps.dialogs import (
    REFUSAL_PROMPTS,
    YES_NO_PROMPTS,
    GaveUp,
    choose_appointment,
    choose_doctor,
    propose_and_take,
    refusal_prompt,
    yes_or_no,
)
from scheduling.values import AppointmentView, Cancelled, HoldView, Reason, Refused, Rescheduled


def _upcoming(call: Call) -> list[AppointmentView]:
    """The verified caller's upcoming appointments; when there is none, the caller is told."""
    found = call.services.agenda.upcoming(call.patient.id, now=call.now(),
                                          practice=call.practice.id, actor=call.actor,
                                          purpose="appointments read back to the verified caller")
    if not found:
        call.say("no_appointment")
    return found


def run_cancel(call: Call, step: Step) -> str:
    appointments = _upcoming(call)
    if not appointments:
        return "none"
    try:
        chosen = choose_appointment(call, appointments, "confirm_cancel")
    except GaveUp:
        return "gave_up"
    if chosen is None:
        call.say("appointment_kept")
        return "kept"
    result = call.services.agenda.cancel(chosen.id, now=call.now(), patient_id=call.patient.id,
                                         actor=call.actor,
                                         purpose="appointment cancelled by phone")
    if isinstance(result, Cancelled):
        call.say(Prompt("cancel_done", {"appointment": result.appointment}))
        return "cancelled"
    call.say(refusal_prompt(result))
    return "refused"


def _move(call: Call, old: AppointmentView, hold: HoldView) -> Rescheduled | Refused:
    """Move ``old`` onto the held slot; its time is freed only once the new one is taken."""
    return call.services.agenda.reschedule(
        old.id, hold.id, f"{call.call_id}:move:{hold.id}", now=call.now(),
        patient_id=call.patient.id, actor=call.actor, purpose="appointment moved by phone")


def run_reschedule(call: Call, step: Step) -> str:
    opts = RESCHEDULE.with_defaults(step.options)
    appointments = _upcoming(call)
    if not appointments:
        return "none"
    try:
        chosen = choose_appointment(call, appointments, "confirm_reschedule")
        if chosen is None:
            call.say("appointment_kept")
            return "kept"
        kind = call.practice.visit_kind(chosen.visit_type_code)
        notice = timedelta(minutes=kind.min_cancel_notice_minutes if kind else 0)
        if chosen.starts_at - call.now() < notice:  # say it now, not after choosing a slot
            call.say(refusal_prompt(Refused(Reason.TOO_LATE_TO_CANCEL)))
            return "refused"
        doctor = call.practice.doctor(chosen.practitioner_id)
        if opts["same_doctor"] is False:
            doctor = choose_doctor(call, "ask")
        result = propose_and_take(
            call, chosen.visit_type_code, doctor, propose=opts["propose"],
            hold_minutes=opts["hold_minutes"], readback="reschedule_readback",
            take=partial(_move, call, chosen), done="reschedule_done",
        )
    except GaveUp:
        return "gave_up"
    if result is None:
        return "none_free"
    if isinstance(result, Rescheduled):
        call.say(Prompt("reschedule_done", {"appointment": result.new}))
        return "rescheduled"
    call.say(refusal_prompt(result))
    return "refused"


def run_confirm(call: Call, step: Step) -> str:
    appointments = _upcoming(call)
    if not appointments:
        return "none"
    try:
        confirmed = yes_or_no(call, Prompt("confirm_appointment",
                                                   {"appointment": appointments[0]}))
    except GaveUp:
        return "gave_up"
    if confirmed:
        call.say("appointment_confirmed")
        return "confirmed"
    return "not_confirmed"


_COMMON_PROMPTS = ("no_appointment", "appointment_choices", "appointment_kept",
                   *YES_NO_PROMPTS, *REFUSAL_PROMPTS)

CANCEL = StepKind(
    name="cancel_appointment",
    summary="Cancel one of the caller's upcoming appointments (the practice's notice rules).",
    options={},
    outcomes=("cancelled", "refused", "none", "kept", "gave_up"),
    personal=True,
    prompts=(*_COMMON_PROMPTS, "confirm_cancel", "cancel_done"),
    run=run_cancel,
)

RESCHEDULE = StepKind(
    name="reschedule_appointment",
    summary="Move one of the caller's appointments; the old time is freed only once moved.",
    options={
        "propose": Option("int", default=3, min=1, max=3, example="3"),
        "hold_minutes": Option("int", default=5, min=1, max=15, example="5"),
        "same_doctor": Option("bool", default=True, example="true"),
    },
    outcomes=("rescheduled", "refused", "none", "kept", "none_free", "gave_up"),
    personal=True,
    prompts=(*_COMMON_PROMPTS, "confirm_reschedule", "ask_when", "ask_when_keys", "ask_doctor",
             "no_slots", "no_slot_that_day", "slot_choices", "reschedule_readback",
             "reschedule_done"),
    run=run_reschedule,
)

CONFIRM = StepKind(
    name="confirm_appointment",
    summary="Read the caller's next appointment back and let them confirm it.",
    options={},
    outcomes=("confirmed", "not_confirmed", "none", "gave_up"),
    personal=True,
    prompts=("no_appointment", "confirm_appointment", "appointment_confirmed",
             *YES_NO_PROMPTS),
    run=run_confirm,
)
