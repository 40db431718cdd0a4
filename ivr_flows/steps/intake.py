"""``intake``: the open first question ("Que puis-je faire pour vous ?") and its keys.

Like ``ask``, its outcomes are the words of ``expect`` and the outcomes of ``keys``. What
the caller says is kept in the call's state and never asked again: the intent, and any
doctor, day, part of day, visit type or "new patient" said in the same sentence (read by
``book_appointment``). A sentence said before the question (over the language choice or
the recording notice) answers it: the question is then not asked at all.
"""

from __future__ import annotations

from typing import Any

import ivr_flows.steps.ask as ask
from ivr_flows import meaning
from ivr_flows.call import Call
from ivr_flows.channel import Utterance
from ivr_flows.flow import Step
from ivr_flows.step_kind import Option, StepKind
from ivr_flows.steps.dialogs import best_label


def keep_details(call: Call, text: str) -> None:
    """Keep in ``call.context`` what ``text`` says beyond the intent."""
    language = call.language
    said = meaning.folded_text(text, language)
    practice = call.practice
    doctors = [meaning.folded_text(d.name, language) for d in practice.doctors]
    found = best_label(said, doctors) if doctors else None
    if found is not None:
        call.context["doctor"] = practice.doctors[found].slug
    kinds = practice.phone_visit_kinds
    whole = [i for i, k in enumerate(kinds)
             if f" {meaning.folded_text(k.label, language)} " in f" {said} "]
    if whole:
        best = max(whole, key=lambda i: len(kinds[i].label))
        call.context["visit_type"] = kinds[best].code
    when = meaning.when(text, language, call.now())
    if when is not None:
        call.context["day"], call.context["part_of_day"] = when
    elif meaning.soonest(text, language):
        call.context["soonest"] = True
    if meaning.says_new_patient(text, language):
        call.context["new_patient"] = True


def run(call: Call, step: Step) -> str:
    opts = KIND.with_defaults(step.options)
    expect, keys = ask.expected_and_keys(opts)

    def understand(heard: Utterance) -> str | None:
        if heard.keys:
            return keys.get(heard.keys[0])
        word = ask.expected_word(call, heard.text, expect)
        if word is None and "book" in expect:
            # "je suis un nouveau patient", "une vaccination avec le docteur Moreau"
            keep_details(call, heard.text)
            if call.context.get("new_patient") or call.context.get("visit_type") or (
                    call.context.get("doctor")):
                return "book"
            for detail in ("doctor", "visit_type", "day", "part_of_day", "soonest",
                           "new_patient"):
                call.context.pop(detail, None)
            return None
        if word is not None:
            keep_details(call, heard.text)
        return word

    outcome: Any = None
    if call.pending.text:  # the caller already said what they want
        outcome = understand(call.listen())
    if outcome is None:
        result, value = ask.ask_with_settings(call, opts, understand, expect)
        outcome = value if result == "ok" else result
    if outcome in meaning.INTENT_WORDS:
        call.context["intent"] = outcome
    return outcome


KIND = StepKind(
    name="intake",
    summary="The open first question: what the caller wants, and every detail they give.",
    shorthand="prompt",
    options=dict(ask.KIND.options, prompt=Option("prompt", default="intake_menu",
                                                  example="intake_menu")),
    outcomes=ask.outcomes,
    prompts=("not_understood", "no_input", "keys_only"),
    run=run,
)
