"""``choose_language``: the caller picks French or English (a key, the language's name,
or a sentence clearly in one of them); later prompts use it."""

from __future__ import annotations

from ivr_flows import meaning
from ivr_flows.call import Call
from ivr_flows.channel import Utterance
from ivr_flows.flow import Step
from ivr_flows.step_kind import Option, StepKind


def run(call: Call, step: Step) -> str:
    opts = KIND.with_defaults(step.options)
    keys = {str(k): str(v) for k, v in opts["keys"].items()}

    def understand(heard: Utterance) -> str | None:
        if heard.keys:
            return keys.get(heard.keys[0])
        return meaning.language_word(heard.text) or meaning.detected_language(heard.text)

    result, chosen = call.ask(opts["prompt"], understand, retries=opts["retries"],
                              timeout=opts["timeout"])
    if result == "ok":
        call.language = chosen
    return "chosen" if result == "ok" else "kept"


KIND = StepKind(
    name="choose_language",
    summary="Let the caller choose the language (keys or the language's name).",
    shorthand="prompt",
    options={
        "prompt": Option("prompt", default="language_choice", example="language_choice"),
        "keys": Option("keymap", default={"1": "fr", "2": "en"}, example='{"1": fr, "2": en}'),
        "timeout": Option("number", default=4, min=1, max=30, example="4"),
        "retries": Option("int", default=0, min=0, max=3, example="1"),
    },
    outcomes=("chosen", "kept"),
    run=run,
)
