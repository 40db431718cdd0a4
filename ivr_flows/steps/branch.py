"""``branch``: go one way or another on a fact of the call (outcomes ``yes`` / ``no``)."""

from __future__ import annotations

from collections.abc import Callable

from ivr_flows.call import Call
from ivr_flows.flow import Step
from ivr_flows.line_hours import is_open
from ivr_flows.step_kind import Option, StepKind

CONDITIONS: dict[str, Callable[[Call], bool]] = {
    "verified": lambda call: call.verified,
    "open_now": is_open,
    "recording": lambda call: call.recording,
    "caller_id_present": lambda call: bool(call.channel.caller_number),
    "language_fr": lambda call: call.language == "fr",
    "language_en": lambda call: call.language == "en",
    "emergency_said": lambda call: call.context.get("intent") == "emergency",
}


def run(call: Call, step: Step) -> str:
    return "yes" if CONDITIONS[step.options["if"]](call) else "no"


KIND = StepKind(
    name="branch",
    summary="Branch on a fact of the call: outcome yes or no.",
    shorthand="if",
    options={"if": Option("str", required=True, choices=tuple(CONDITIONS), example="open_now")},
    outcomes=("yes", "no"),
    verifies=lambda options: {"yes"} if options.get("if") == "verified" else set(),
    run=run,
)
