"""``resume``: go on with what the caller asked at the first question (once verified).

Its outcome is the intent kept by ``intake`` (``book``, ``cancel``, ``reschedule``,
``confirm``, ``message``), else ``other``: the caller is not asked again.
"""

from __future__ import annotations

from ivr_flows.call import Call
from ivr_flows.flow import Step
from ivr_flows.step_kind import StepKind

RESUMABLE = ("book", "cancel", "reschedule", "confirm", "message")


def run(call: Call, step: Step) -> str:
    intent = call.context.get("intent")
    return intent if intent in RESUMABLE else "other"


KIND = StepKind(
    name="resume",
    summary="Go on with the caller's first request (book, cancel, ...), not asked again.",
    options={},
    outcomes=(*RESUMABLE, "other"),
    run=run,
)
