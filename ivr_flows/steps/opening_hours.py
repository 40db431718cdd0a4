"""``opening_hours``: is the line open now? Outcomes ``open`` / ``closed``.

When closed and ``announce`` is true, the hours are said (with the emergency numbers);
with ``tell`` they are said whether open or not (a caller who asked for them).
"""

from __future__ import annotations

from ivr_flows.call import Call
from ivr_flows.channel import Prompt
from ivr_flows.flow import Step
from ivr_flows.line_hours import is_open, line_hours
from ivr_flows.step_kind import Option, StepKind


def run(call: Call, step: Step) -> str:
    if step.options.get("tell", False):
        call.say(Prompt("opening_hours_are", {"hours": line_hours(call)}))
    if is_open(call):
        return "open"
    if step.options.get("announce", True):
        call.say(Prompt("closed_now", {"hours": line_hours(call)}), "emergency_numbers")
    return "closed"


KIND = StepKind(
    name="opening_hours",
    summary="Check the opening hours; when closed, say them and the emergency numbers.",
    shorthand="announce",
    options={"announce": Option("bool", default=True, example="true"),
             "tell": Option("bool", default=False, example="true")},
    outcomes=("open", "closed"),
    prompts=("closed_now", "emergency_numbers", "opening_hours_are"),
    run=run,
)
