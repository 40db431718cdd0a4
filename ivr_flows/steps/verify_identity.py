"""``verify_identity``: who is calling, before anything personal is said.

A caller whose number matches patients confirms with their birth date. Otherwise the
birth date plus the surname (said or spelled) or the patient code (keyed). At most
``max_tries`` tries; then ``failed`` (the flow hands over to a human or a message). A
number that keeps failing is locked out for a while (``locked``). Every try is audited.
Nothing about a patient is said here, not even whether the number is known.

A question left unanswered (silence, or not understood after two re-prompts) is not a
failed try: with a ``human`` step in the flow the caller is put through to it, else the
step ends ``failed`` without "je ne retrouve pas votre dossier". Key 0 or "secrétariat"
at any of its questions goes to the human step too, never counted as a try.
"""

from __future__ import annotations

from datetime import date

from ivr_flows import meaning
from ivr_flows.call import Call, WantsHuman
from ivr_flows.channel import Utterance
from ivr_flows.flow import Step
from ivr_flows.step_kind import Option, StepKind
from storage.patients import PatientRecord

PURPOSE = "caller identity verification"


def _ask_birth_date(call: Call, timeout: float) -> date | None:
    today = call.now().astimezone(call.zone).date()

    def understand(heard: Utterance) -> date | None:
        if heard.keys:
            return meaning.birth_date_from_keys(heard.keys, today)
        return meaning.birth_date(heard.text, call.language, today)

    result, found = call.ask(call.question("ask_birth_date"), understand, retries=2,
                             timeout=timeout, max_keys=8, terminator="#")
    return found if result == "ok" else None


def _ask_name_or_code(call: Call, timeout: float) -> tuple[str, str] | None:
    def understand(heard: Utterance) -> tuple[str, str] | None:
        if heard.keys:
            code = heard.keys.rstrip("#")
            return ("code", code) if code.isdigit() and code != "0" else None  # 0: a person
        spoken_code = meaning.digits(heard.text, call.language)
        if spoken_code and len(spoken_code) >= 4:
            return "code", spoken_code
        said = meaning.name(heard.text, call.language)
        return ("name", said) if said else None

    result, found = call.ask(call.question("ask_name_or_code"), understand, retries=2,
                             timeout=timeout, max_keys=10, terminator="#", closed=False)
    return found if result == "ok" else None


class _NoAnswer(Exception):
    """The caller did not answer a question of the check (not a failed try)."""


def _match(call: Call, born: date, by_phone: list[PatientRecord]) -> PatientRecord | None:
    same_day = [p for p in by_phone if p.birth_date == born]
    if len(same_day) == 1:
        return same_day[0]
    key = _ask_name_or_code(call, timeout=8)
    if key is None:
        raise _NoAnswer
    kind, value = key
    patients = call.services.patients
    if kind == "code":
        found = patients.by_code(call.practice.id, value)
        candidates = [found] if found is not None else []
    else:
        candidates = patients.by_birth_date_and_name(call.practice.id, born, value)
    matching = [p for p in candidates if p.birth_date == born]
    return matching[0] if len(matching) == 1 else None


def run(call: Call, step: Step) -> str:
    opts = KIND.with_defaults(step.options)
    if call.verified:
        return "verified"
    number = call.channel.caller_number
    lockout = call.services.lockout
    if lockout.is_locked(number, call.now()):
        call.audit("identity.locked_out", purpose=PURPOSE)
        call.say("identity_locked")
        return "locked"
    by_phone = call.services.patients.by_phone(call.practice.id, number) if number else []
    for attempt in range(1, opts["max_tries"] + 1):
        try:
            born = _ask_birth_date(call, timeout=opts["timeout"])
            if born is None:
                raise _NoAnswer
            patient = _match(call, born, by_phone)
        except _NoAnswer:
            call.audit("identity.unanswered", purpose=PURPOSE)
            if call.way_out_open:
                raise WantsHuman from None
            call.say("identity_failed")
            return "failed"
        if patient is not None:
            call.patient = patient
            lockout.clear(number)
            method = "caller_id+birth_date" if patient in by_phone else "birth_date+name_or_code"
            call.audit(f"identity.verified:{method}", patient_id=patient.id, purpose=PURPOSE)
            call.say("identity_verified")
            return "verified"
        call.audit(f"identity.failed:try_{attempt}", purpose=PURPOSE)
        if lockout.record_failure(number, call.now()):
            call.audit("identity.locked_out", purpose=PURPOSE)
            call.say("identity_locked")
            return "locked"
        if attempt < opts["max_tries"]:
            call.say("identity_not_matched")
    call.say("identity_failed")
    return "failed"


KIND = StepKind(
    name="verify_identity",
    summary="Verify the caller: caller ID + birth date, else birth date + name or code.",
    options={
        "max_tries": Option("int", default=3, min=1, max=3, example="3"),
        "timeout": Option("number", default=10, min=3, max=30, example="10"),
    },
    outcomes=("verified", "failed", "locked"),
    verifies=("verified",),
    prompts=("ask_birth_date", "ask_birth_date_keys", "ask_name_or_code",
             "ask_name_or_code_keys", "identity_verified", "identity_not_matched",
             "identity_failed", "identity_locked", "not_understood", "no_input", "keys_only"),
    run=run,
)
