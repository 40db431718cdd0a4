"""``hangup``: optionally say goodbye, then end the call."""

from __future__ import annotations

from ivr_flows.call import Call
from ivr_flows.flow import Step
from ivr_flows.step_kind import Option, StepKind


def run(call: Call, step: Step) -> str:
    prompts = step.options.get("prompts")
    if prompts:
        call.say(*([prompts] if isinstance(prompts, str) else prompts), barge_in=False)
    call.channel.hangup()
    return "done"


KIND = StepKind(
    name="hangup",
    summary="Say the given prompts (if any) and end the call.",
    shorthand="prompts",
    options={"prompts": Option("prompts", example="[goodbye]")},
    terminal=True,
    run=run,
)
