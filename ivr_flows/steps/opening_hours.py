"""``opening_hours``: is the line open now? Outcomes ``open`` / ``closed``.

When closed and ``announce`` is true, the closed message is said: closed now, when the
practice opens next, and the emergency numbers (``practice_answers.closed_message``;
not every day's hours).
"""

from __future__ import annotations

from ivr_flows.call import Call
from ivr_flows.flow import Step
from ivr_flows.line_hours import is_open, line_hours
from ivr_flows.practice_answers import CLOSED_PROMPTS, closed_message
from ivr_flows.step_kind import Option, StepKind


def run(call: Call, step: Step) -> str:
    if is_open(call):
        return "open"
    if step.options.get("announce", True):
        call.say(*closed_message(call.practice, call.now(), call.language,
                                 hours=line_hours(call)))
    return "closed"


KIND = StepKind(
    name="opening_hours",
    summary="Check the opening hours; when closed, say when the practice opens next and "
            "the emergency numbers.",
    shorthand="announce",
    options={"announce": Option("bool", default=True, example="true")},
    outcomes=("open", "closed"),
    prompts=CLOSED_PROMPTS,
    run=run,
)
