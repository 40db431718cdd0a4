"""``book_appointment``: visit type, doctor (or any), when, up to three slots, read back.

What the caller already said (visit type, doctor, day, part of day: ``intake``) is not
asked again. A known patient first hears their next appointment and says whether this
is a new one (``kept`` if not); a visit of the same type within the practice's
``duplicate_window_days`` is refused (``refused``, said in words: the flow hands it to
a secretary). A patient registered during this call is offered only what new patients
may book. "Vous recevrez une confirmation par SMS" is said only when one will be sent.

The chosen slot is held while the caller decides and released if they say no, hang up
or an emergency interrupts (:mod:`ivr_flows.steps.held_slot`): no half-made appointment
is ever left behind.
"""

from __future__ import annotations

from functools import partial

import ivr_flows.steps.dialogs as dialogs
from ivr_flows.call import Call
from ivr_flows.channel import Prompt
from ivr_flows.flow import Step
from ivr_flows.step_kind import Option, StepKind
from scheduling.rules import duplicate_visit
from scheduling.values import AppointmentView, Booked, HoldView, Reason, Refused


def _book(call: Call, hold: HoldView) -> Booked | Refused:
    """Book the held slot for the verified caller."""
    return call.services.agenda.confirm(
        hold.id, call.patient.id, f"{call.call_id}:book:{hold.id}", now=call.now(),
        actor=call.actor, purpose="appointment booked by phone")


def _existing(call: Call) -> list[AppointmentView] | None:
    """The caller's upcoming appointments, said; None when this is not a new booking."""
    upcoming = call.services.agenda.upcoming(
        call.patient.id, now=call.now(), practice=call.practice.id, actor=call.actor,
        purpose="appointments read back before a new booking")
    if not upcoming:
        return upcoming
    call.say(Prompt("existing_appointments", {"count": len(upcoming),
                                              "appointment": upcoming[0]}))
    if not dialogs.yes_or_no(call, Prompt("ask_another_appointment")):
        call.say("appointment_kept")
        return None
    return upcoming


def _confirmation_promised(call: Call) -> bool:
    notifier = call.services.notifier
    phone = call.context.get("callback_number") or call.patient.phone
    return notifier is not None and notifier.confirmation_channel(phone) is not None


def run(call: Call, step: Step) -> str:
    opts = KIND.with_defaults(step.options)
    new = bool(call.context.get("registered"))
    try:
        upcoming = [] if new else _existing(call)
        if upcoming is None:
            return "kept"
        kind = dialogs.choose_visit_kind(call, opts["visit_type"],
                                         said=call.context.pop("visit_type", None),
                                         new_patient=new)
        if duplicate_visit(upcoming, kind.code, call.practice.duplicate_window_days,
                           now=call.now()):
            call.say(dialogs.refusal_prompt(Refused(Reason.DUPLICATE_VISIT)))
            return "refused"
        doctor = dialogs.choose_doctor(call, opts["doctor"],
                                       said=call.context.pop("doctor", None), new_patient=new)
        result = dialogs.propose_and_take(
            call, kind.code, doctor, propose=opts["propose"], hold_minutes=opts["hold_minutes"],
            readback="booking_readback", take=partial(_book, call), new_patient=new,
            done="booking_confirmed",
        )
    except dialogs.GaveUp:
        return "gave_up"
    if result is None:
        return "none_free"
    if isinstance(result, Booked):
        call.context["appointment_id"] = result.appointment.id
        call.say(Prompt("booking_confirmed", {"appointment": result.appointment}))
        if _confirmation_promised(call):
            call.say("booking_confirmation_sms")
        return "booked"
    call.say(dialogs.refusal_prompt(result))
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
    outcomes=("booked", "none_free", "refused", "gave_up", "kept"),
    personal=True,
    prompts=("ask_visit_type", "ask_doctor", "ask_when", "ask_when_keys", "no_slot_that_day",
             "no_slots", "slot_choices", "booking_readback", "booking_confirmed",
             "booking_confirmation_sms", "existing_appointments", "ask_another_appointment",
             "appointment_kept", *dialogs.YES_NO_PROMPTS, *dialogs.REFUSAL_PROMPTS),
    run=run,
)
