"""``recording_notice``: say who records the call and why, and let the caller refuse.

The notice names the practice (the controller), the purpose and the right to object.
Refusing (the refuse key, 9 by default, or words such as "je refuse") keeps the call
going, unrecorded. The notice key (8 by default, or "mes données", "privacy") plays the
full privacy notice (``ivr_flows.privacy_notice``, docs/privacy-notice.md), after which
the caller may still refuse. Otherwise the recording starts.
"""

from __future__ import annotations

from foundation.settings import RetentionSettings
from ivr_flows.call import Call
from ivr_flows.channel import Prompt, Utterance
from ivr_flows.flow import Step
from ivr_flows.privacy_notice import privacy_notice
from ivr_flows.step_kind import Option, StepKind
from ivr_flows.understanding.normalise import folded

REFUSALS = {
    "fr": ("je refuse", "refuse", "pas d enregistrement", "pas enregistre", "non merci"),
    "en": ("i refuse", "refuse", "do not record", "no recording", "don t record"),
}


NOTICE_WORDS = {
    "fr": ("informations", "mes donnees", "vos donnees", "en savoir plus", "rgpd",
           "confidentialite", "la notice"),
    "en": ("privacy", "my data", "more information", "data protection", "gdpr", "the notice"),
}


def wants_notice(heard: Utterance, key: str, language: str) -> bool:
    if heard.keys:
        return key in heard.keys
    text = folded(heard.text, language)
    return any(word in text for word in NOTICE_WORDS.get(language, NOTICE_WORDS["fr"]))


def _key(key: str) -> int | str:
    return int(key) if key.isdigit() else key  # a digit is said from the shared vocabulary


def refuses(heard: Utterance, key: str, language: str) -> bool:
    if heard.keys:
        return key in heard.keys
    text = folded(heard.text, language)
    return any(word in text for word in REFUSALS.get(language, ()) + REFUSALS["fr"])


def run(call: Call, step: Step) -> str:
    opts = KIND.with_defaults(step.options)
    refuse_key, notice_key = str(opts["refuse_key"]), str(opts["notice_key"])
    call.say(Prompt(opts["prompt"], {"refuse_key": _key(refuse_key),
                                     "notice_key": _key(notice_key)}))
    heard = call.listen(timeout=opts["listen_seconds"], max_keys=1)
    if (not heard.silent and notice_key != refuse_key
            and wants_notice(heard, notice_key, call.language)):
        notice = privacy_notice(call.practice, call.language,
                                call.services.retention or RetentionSettings(),
                                refuse_key=refuse_key)
        call.say(Prompt("privacy_notice", {"notice": notice}))
        heard = call.listen(timeout=opts["listen_seconds"], max_keys=1)
    if not heard.silent and refuses(heard, refuse_key, call.language):
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
    summary="Say the recording notice; the refuse key or 'je refuse' keeps the call "
            "unrecorded; the notice key plays the full privacy notice.",
    shorthand="prompt",
    options={
        "prompt": Option("prompt", default="recording_notice", example="recording_notice"),
        "refuse_key": Option("str", default="9", choices=tuple("0123456789#"), example='"9"'),
        "notice_key": Option("str", default="8", choices=tuple("0123456789#"), example='"8"'),
        "listen_seconds": Option("number", default=3, min=1, max=15, example="3"),
    },
    outcomes=("recording", "refused"),
    prompts=("recording_off", "privacy_notice"),
    run=run,
)
