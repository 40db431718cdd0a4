"""Small dialogs shared by the booking steps: pick from a list, when, propose and take."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar

from ivr_flows import meaning
from ivr_flows.call import Call
from ivr_flows.channel import Prompt, Utterance
from ivr_flows.practice import Doctor, VisitKind
from ivr_flows.steps.held_slot import held_slot
from scheduling.values import AppointmentView, HoldView, Reason, Refused, Slot

T = TypeVar("T")
R = TypeVar("R")
OTHER_KEY = "9"


class GaveUp(Exception):
    """The caller did not answer or was not understood after the retries."""


def refusal_prompt(refused: Refused) -> Prompt:
    """The prompt that explains a refusal in words (one per scheduling reason)."""
    return Prompt(f"refusal_{refused.reason.value}")


REFUSAL_PROMPTS = tuple(f"refusal_{reason.value}" for reason in Reason)
YES_NO_PROMPTS = ("yes_no_hint", "yes_no_keys")


ANY_WORDS = frozenset({"importe", "any", "anyone", "anybody"})


def pick(
    call: Call, prompt: Prompt, items: Sequence[T], *, labels: Sequence[str] = (),
    allow_other: bool = False, zero: T | None = None,
) -> T | str:
    """Ask the caller to choose one of ``items`` by number (key or word) or by label.

    Returns the item, or "other" (key 9 / "no") when ``allow_other``; ``zero`` is what
    key 0 / "any" means. Raises :class:`GaveUp` after the retries.
    """
    folded_labels = [meaning.folded_text(label, call.language) for label in labels]

    def understand(heard: Utterance) -> Any:
        if heard.keys:
            key = heard.keys[0]
            if allow_other and key == OTHER_KEY:
                return "other"
            if key == "0" and zero is not None:
                return zero
            if key.isdigit() and 1 <= int(key) <= len(items):
                return items[int(key) - 1]
            return None
        text = meaning.folded_text(heard.text, call.language)
        index = best_label(text, folded_labels)
        if index is not None:
            return items[index]
        if zero is not None and (ANY_WORDS & set(text.split())
                                 or meaning.soonest(heard.text, call.language)):
            return zero  # "n'importe lequel", "le premier disponible" (not item 1)
        chosen = meaning.number(heard.text, call.language)
        if chosen == -1:
            chosen = len(items)
        if chosen is not None and 1 <= chosen <= len(items):
            return items[chosen - 1]
        if allow_other and meaning.yes_no(heard.text, call.language) is False:
            return "other"
        return None

    result, value = call.ask(prompt, understand, retries=2)
    if result != "ok":
        raise GaveUp
    return value


TITLE_WORDS = frozenset({"docteur", "docteure", "doctor", "dr", "madame", "monsieur"})


def best_label(text: str, labels: Sequence[str]) -> int | None:
    """The label the caller named: the longest one said whole, else the most words shared."""
    whole = [i for i, label in enumerate(labels) if label and f" {label} " in f" {text} "]
    if whole:
        return max(whole, key=lambda i: len(labels[i]))
    said = set(text.split()) - TITLE_WORDS
    scores = [len(said & (set(label.split()) - TITLE_WORDS)) for label in labels]
    best = max(scores, default=0)
    if best and scores.count(best) == 1:
        return scores.index(best)
    return None


def yes_or_no(call: Call, prompt: Prompt, *, ahead: Sequence[str | Prompt] = (),
              means: Callable[[str], bool | None] | None = None) -> bool:
    """Ask a yes/no question, its keys said after it (1 = yes, 2 = no). Raises
    :class:`GaveUp`. ``ahead``: what a yes leads to, composed while the caller answers.
    ``means``: what an answer in words says to this question before a plain yes or no
    ("c'est la première fois" is a no to "êtes-vous déjà venu ?"), None if nothing."""

    def understand(heard: Utterance) -> bool | None:
        if heard.keys:
            return {"1": True, "2": False}.get(heard.keys[0])
        said = means(heard.text) if means is not None else None
        return said if said is not None else meaning.yes_no(heard.text, call.language)

    hint = "yes_no_keys" if call.keys_mode else "yes_no_hint"
    result, value = call.ask([prompt, hint], understand, retries=2, ahead=ahead)
    if result != "ok":
        raise GaveUp
    return bool(value)


def choose_visit_kind(call: Call, fixed: str | None, *, said: str | None = None,
                      new_patient: bool = False) -> VisitKind:
    """The visit type: ``fixed`` by the flow, else the one the caller already named
    (``said``) if they may book it, else asked among those they may book."""
    kinds = call.practice.phone_visit_kinds
    if new_patient:
        kinds = tuple(k for k in kinds if k.new_patients_allowed)
    if fixed:
        for kind in call.practice.visit_kinds:
            if kind.code == fixed:
                return kind
        raise GaveUp
    for kind in kinds:
        if kind.code == said:
            return kind
    if not kinds:
        raise GaveUp
    if len(kinds) == 1:
        return kinds[0]
    chosen = pick(call, Prompt("ask_visit_type", {"choices": [k.label for k in kinds]}),
                  kinds, labels=[k.label for k in kinds])
    assert isinstance(chosen, VisitKind)
    return chosen


ANY_DOCTOR = Doctor(0, "", "")


def choose_doctor(call: Call, wanted: str, *, said: str | None = None,
                  new_patient: bool = False) -> Doctor | None:
    """The doctor to book with (None: anyone); ``wanted`` is 'ask', 'any' or a slug;
    ``said`` the doctor the caller already named. A new patient is offered only the
    doctors who take new patients (and told when the one named does not)."""
    doctors = call.practice.new_patient_doctors if new_patient else call.practice.doctors
    if said is not None:
        named = call.practice.doctor(said)
        if named in doctors:
            return named
        if named is not None and new_patient:
            call.say("refusal_new_patients_not_accepted")
    if wanted == "any" or len(doctors) <= 1:
        return None
    if wanted != "ask":
        return call.practice.doctor(wanted)
    chosen = pick(call, Prompt("ask_doctor", {"choices": [d.name for d in doctors]}), doctors,
                  labels=[d.name for d in doctors], zero=ANY_DOCTOR)
    assert isinstance(chosen, Doctor)
    return None if chosen is ANY_DOCTOR else chosen


def ask_when(call: Call) -> tuple[date | None, str | None]:
    """The day and part of day the caller prefers; (None, None) means the first free.

    What the caller said at the first question ("demain matin", "dès que possible")
    answers it once."""
    if call.context.pop("soonest", None):
        return None, None
    if call.context.get("day") or call.context.get("part_of_day"):
        return call.context.pop("day", None), call.context.pop("part_of_day", None)
    now = call.now()
    tomorrow = now.astimezone(call.zone).date() + timedelta(days=1)
    keyed = {"1": (None, None), "2": (tomorrow, None), "3": (None, "morning"),
             "4": (None, "afternoon")}

    def understand(heard: Utterance) -> Any:
        if heard.keys:
            return keyed.get(heard.keys[0])
        found = meaning.when(heard.text, call.language, now)
        if found is not None:
            return found
        if meaning.soonest(heard.text, call.language):
            return (None, None)
        if meaning.yes_no(heard.text, call.language) is not None:
            return (None, None)  # "oui, le plus tôt possible"
        return None

    result, value = call.ask(call.question("ask_when"), understand, retries=2, closed=False)
    if result != "ok":
        raise GaveUp
    return value


def _local_midnight(call: Call, day: date) -> datetime:
    return datetime.combine(day, time(0, 0), call.zone)


def propose_and_take(
    call: Call, visit_code: str, doctor: Doctor | None, *, propose: int, hold_minutes: int,
    readback: str, take: Callable[[HoldView], R | Refused], new_patient: bool = False,
    done: str | None = None,
) -> R | Refused | None:
    """Propose up to ``propose`` slots; hold the chosen one, read it back and, once the
    caller says yes, ``take`` it (book it, or move an appointment onto it). ``done``: the
    prompt said after a yes, with the slot as its ``appointment``: composed ahead.

    Returns what ``take`` returned, a refusal to explain (the visit cannot be booked by
    phone, or ``take`` was refused), or None when nothing is free. A hold not taken is
    given back (:func:`ivr_flows.steps.held_slot.held_slot`).
    """
    day, part = ask_when(call)
    after: datetime | None = None
    for _round in range(4):
        slots = call.services.agenda.find_slots(
            call.practice.id, visit_code, practitioner=doctor.slug if doctor else None,
            day=day, part_of_day=part, after=after, limit=propose, now=call.now(),
            new_patient=new_patient,
        )
        if isinstance(slots, Refused):
            return slots
        if not slots and day is not None:
            call.say("no_slot_that_day")
            after, day = max(_local_midnight(call, day), call.now()), None
            continue
        if not slots:
            call.say("no_slots")
            return None
        chosen = pick(call, Prompt("slot_choices", {"slots": list(slots)}), slots,
                      allow_other=True)
        if chosen == "other":
            after, day = slots[-1].starts_at + timedelta(minutes=1), None
            continue
        assert isinstance(chosen, Slot)
        with held_slot(call, chosen, minutes=hold_minutes) as held:
            if isinstance(held, Refused):
                call.say(refusal_prompt(held))
                continue
            ahead = [Prompt(done, {"appointment": chosen})] if done else []
            if yes_or_no(call, Prompt(readback, {"slot": chosen}), ahead=ahead):
                return held.take(take(held.hold))
        after, day = None, None
    return None


def choose_appointment(call: Call, appointments: Sequence[AppointmentView],
                       question: str) -> AppointmentView | None:
    """One of the caller's upcoming appointments, or None if they say it is not that one.

    Appointments are read back only to a verified caller.
    """
    assert call.verified, "appointments are read back only after verification"
    if len(appointments) == 1:
        if yes_or_no(call, Prompt(question, {"appointment": appointments[0]})):
            return appointments[0]
        return None
    shown = list(appointments[:5])
    chosen = pick(call, Prompt("appointment_choices", {"appointments": shown}), shown)
    assert isinstance(chosen, AppointmentView)
    return chosen
