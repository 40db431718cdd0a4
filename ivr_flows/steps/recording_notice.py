"""``recording_notice``: say that the call may be recorded and let the caller refuse.

Refusing (the refuse key, 9 by default, or words such as "je refuse") keeps the call
going, unrecorded. Otherwise the recording starts.
"""

from __future__ import annotations

from ivr_flows.call import Call
from ivr_flows.channel import Utterance
from ivr_flows.flow import Step
from ivr_flows.step_kind import Option, StepKind
from ivr_flows.understanding.normalise import folded

REFUSALS = {
    "fr": ("je refuse", "refuse", "pas d enregistrement", "pas enregistre", "non merci"),
    "en": ("i refuse", "refuse", "do not record", "no recording", "don t record"),
}


def refuses(heard: Utterance, key: str, language: str) -> bool:
    if heard.keys:
        return key in heard.keys
    text = folded(heard.text, language)
    return any(word in text for word in REFUSALS.get(language, ()) + REFUSALS["fr"])


def run(call: Call, step: Step) -> str:
    opts = KIND.with_defaults(step.options)
    call.say(opts["prompt"])
    heard = call.listen(timeout=opts["listen_seconds"], max_keys=1)
    if not heard.silent and refuses(heard, str(opts["refuse_key"]), call.language):
        call.recording = False
        call.context["recording_refused"] = True
        call.say("recording_off")
        return "refused"
    if not heard.silent:
        call.pending = heard  # the caller is already answering the next question
    call.channel.set_recording(True)
    call.recording = True
    return "recording"


KIND = StepKind(
    name="recording_notice",
    summary="Say the recording notice; the refuse key or 'je refuse' keeps the call unrecorded.",
    shorthand="prompt",
    options={
        "prompt": Option("prompt", default="recording_notice", example="recording_notice"),
        "refuse_key": Option("str", default="9", choices=tuple("0123456789#"), example='"9"'),
        "listen_seconds": Option("number", default=3, min=1, max=15, example="3"),
    },
    outcomes=("recording", "refused"),
    prompts=("recording_off",),
    run=run,
)
