"""``register_patient``: a caller new to the practice is filed as a provisional patient.

Name spelled by voice (or left to the secretaries: key #, or no speech on the line, which
the caller is told plainly), birth date (keys or voice), a number to call back (the
caller ID confirmed, or typed; none when withheld and not given). The patient is created
"à confirmer" (:func:`storage.new_patients.create_provisional_patient`, audited) and the
call goes on as that patient (``registered``: what ``book_appointment`` needs; it then
offers only what new patients may book). ``not_accepted`` when the practice takes no new
patients; ``gave_up`` when the caller does not answer.
"""

from __future__ import annotations

from datetime import date

import ivr_flows.steps.dialogs as dialogs
from ivr_flows import meaning
from ivr_flows.call import Call
from ivr_flows.channel import Prompt, Utterance
from ivr_flows.flow import Step
from ivr_flows.step_kind import StepKind
from storage.new_patients import create_provisional_patient
from storage.patients import normalise_phone

NAME_LATER = "à compléter"  # what the secretaries see until they ask the caller
SKIP_KEY = "#"


def _ask_name(call: Call, prompt: str) -> str | None:
    """A name said or spelled; None when the caller leaves it to the secretaries (#)."""

    def understand(heard: Utterance) -> str | None:
        if heard.keys:
            return "" if heard.keys.startswith(SKIP_KEY) else None
        return meaning.name(heard.text, call.language)

    result, said = call.ask(prompt, understand, retries=2, timeout=10)
    if result != "ok":
        raise dialogs.GaveUp
    return said.title() if said else None


def _names(call: Call) -> tuple[str, str]:
    if not call.channel.hears_speech:
        call.say("new_patient_name_later")
        return NAME_LATER, NAME_LATER
    last = _ask_name(call, "ask_new_last_name")
    if last is None:
        call.say("new_patient_name_skipped")
        return NAME_LATER, NAME_LATER
    first = _ask_name(call, "ask_first_name_or_skip")
    return first or NAME_LATER, last


def _birth_date(call: Call) -> date:
    today = call.now().astimezone(call.zone).date()

    def understand(heard: Utterance) -> date | None:
        if heard.keys:
            return meaning.birth_date_from_keys(heard.keys, today)
        return meaning.birth_date(heard.text, call.language, today)

    result, born = call.ask(call.question("ask_birth_date"), understand, retries=2,
                            timeout=12, max_keys=8, terminator="#")
    if result != "ok":
        raise dialogs.GaveUp
    return born


def _typed_number(heard: Utterance, language: str) -> str | None:
    raw = heard.keys.rstrip("#") if heard.keys else (meaning.digits(heard.text, language) or "")
    if heard.keys and not raw:
        return ""  # only '#': no number given
    digits = "".join(ch for ch in raw if ch.isdigit())
    national = len(digits) == 10 and digits.startswith("0")
    international = digits.startswith("00") and len(digits) > 10
    return normalise_phone(digits) if national or international else None


def _callback_number(call: Call) -> str | None:
    number = call.channel.caller_number
    if number:
        ending = "".join(ch for ch in number if ch.isdigit())[-4:]
        spaced = f"{ending[:2]} {ending[2:]}"
        if dialogs.yes_or_no(call, Prompt("confirm_callback_number", {"digits": spaced})):
            return normalise_phone(number)
    result, typed = call.ask("ask_callback_number",
                             lambda heard: _typed_number(heard, call.language),
                             retries=2, timeout=15, max_keys=14, terminator="#")
    if result != "ok":
        raise dialogs.GaveUp
    return typed or None


def run(call: Call, step: Step) -> str:
    if not call.practice.new_patient_doctors:
        call.say("new_patients_closed")
        return "not_accepted"
    call.say("new_patient_intro")
    try:
        first, last = _names(call)
        born = _birth_date(call)
        phone = _callback_number(call)
    except dialogs.GaveUp:
        return "gave_up"
    with call.services.db.session() as session:
        patient = create_provisional_patient(
            session, call.practice.id, first_name=first, last_name=last, birth_date=born,
            phone=phone, actor=call.actor)
    call.patient = patient
    call.context["new_patient"] = True
    call.context["registered"] = True
    if phone:
        call.context["callback_number"] = phone
    call.say("new_patient_registered")
    return "registered"


KIND = StepKind(
    name="register_patient",
    summary="File a caller new to the practice as a provisional patient ('à confirmer').",
    options={},
    outcomes=("registered", "not_accepted", "gave_up"),
    verifies=("registered",),
    prompts=("new_patients_closed", "new_patient_intro", "new_patient_name_later",
             "ask_new_last_name", "new_patient_name_skipped", "ask_first_name_or_skip",
             "ask_birth_date", "ask_birth_date_keys", "confirm_callback_number",
             "ask_callback_number", "new_patient_registered", "not_understood", "no_input",
             "keys_only", *dialogs.YES_NO_PROMPTS),
    run=run,
)
