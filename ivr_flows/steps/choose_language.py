"""``choose_language``: the caller picks French or English; later prompts use it.

The offer of each other language is said by that language's voice, in that language
(``language_offer``, from its own catalogue: "For English, press 2"). A sentence said
instead of a choice is kept for the next question (the caller's first request); a
sentence clearly in one of the languages also chooses it ("I'd like an appointment").
"""

from __future__ import annotations

from ivr_flows import meaning
from ivr_flows.call import Call
from ivr_flows.channel import Prompt
from ivr_flows.flow import Step
from ivr_flows.step_kind import Option, StepKind


def run(call: Call, step: Step) -> str:
    opts = KIND.with_defaults(step.options)
    keys = {str(k): str(v) for k, v in opts["keys"].items()}
    for key, language in keys.items():
        if language != call.language:
            call.say(Prompt("language_offer", {"key": key}), language=language)
    call.say(opts["prompt"])
    for attempt in range(opts["retries"] + 1):
        if attempt:
            call.say(opts["prompt"])
        heard = call.listen(timeout=opts["timeout"], max_keys=1)
        if heard.keys and heard.keys[0] in keys:
            call.language = keys[heard.keys[0]]
            return "chosen"
        if heard.text:
            named = meaning.language_word(heard.text)
            if named in keys.values() and len(heard.text.split()) <= 3:
                call.language = named
                return "chosen"
            detected = meaning.detected_language(heard.text)
            switched = detected in keys.values() and detected != call.language
            if switched:  # a sentence clearly in English: the call goes on in English
                call.language = detected
            call.pending = heard  # the caller's request: the next question takes it
            return "chosen" if switched else "kept"
    return "kept"


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
    prompts=("language_offer",),
    run=run,
)
