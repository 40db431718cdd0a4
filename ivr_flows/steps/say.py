"""``say``: play one or more prompts, then go on."""

from __future__ import annotations

from ivr_flows.call import Call
from ivr_flows.flow import Step
from ivr_flows.step_kind import Option, StepKind


def run(call: Call, step: Step) -> str:
    prompts = step.options["prompts"]
    call.say(*([prompts] if isinstance(prompts, str) else prompts),
             barge_in=step.options.get("barge_in", True))
    return "done"


KIND = StepKind(
    name="say",
    summary="Say prompts from the catalogue, in order.",
    shorthand="prompts",
    options={
        "prompts": Option("prompts", required=True, example="[greeting]"),
        "barge_in": Option("bool", default=True, example="false"),
    },
    outcomes=("done",),
    run=run,
)
