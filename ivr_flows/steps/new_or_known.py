"""``new_or_known``: is the caller already a patient of the practice? ``new`` / ``known``.

Taken from what the caller said at the first question ("je suis un nouveau patient"),
else asked (1 yes, 2 no). The caller's number is not looked at here: which question
comes next must not tell whether a number is in the practice's files.
"""

from __future__ import annotations

import ivr_flows.steps.dialogs as dialogs
from ivr_flows import meaning
from ivr_flows.call import Call
from ivr_flows.channel import Prompt
from ivr_flows.flow import Step
from ivr_flows.step_kind import StepKind


def run(call: Call, step: Step) -> str:
    if call.verified:
        return "known"
    if call.context.get("new_patient"):
        return "new"
    try:
        known = dialogs.yes_or_no(call, Prompt("ask_known_patient"), means=lambda text: (
            None if (new := meaning.new_patient_said(text, call.language)) is None
            else not new))  # "c'est la première fois": no; "ce n'est pas la première": yes
    except dialogs.GaveUp:
        return "gave_up"
    if not known:
        call.context["new_patient"] = True
    return "known" if known else "new"


KIND = StepKind(
    name="new_or_known",
    summary="Is the caller already a patient? (said at the first question, else asked)",
    options={},
    outcomes=("new", "known", "gave_up"),
    prompts=("ask_known_patient", *dialogs.YES_NO_PROMPTS),
    run=run,
)
