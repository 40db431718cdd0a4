"""``information``: tell the caller what they asked about the practice, then ask whether
there is anything else (1 yes, 2 no, 0 the secretary; 0 at the topics menu too).

The topics come from the step's ``topics`` option, else from what the caller said at the
question that led here (``call.context["information"]``, set by an ``ask`` step whose
outcome was ``information``), else the caller picks one by key or by voice. A question
about another topic at "anything else?" is answered too. Outcomes: ``more`` (the caller
wants something else: the flow asks what), ``done``, ``secretary``.
"""

from __future__ import annotations

from ivr_flows import meaning, practice_answers
from ivr_flows.call import Call
from ivr_flows.channel import Prompt, Utterance
from ivr_flows.flow import Step
from ivr_flows.line_hours import line_hours
from ivr_flows.step_kind import Option, StepKind
from ivr_flows.understanding.information import TOPICS, InformationRequest, Topic

CONTEXT_KEY = "information"  # an InformationRequest left by the question before
TOPIC_KEYS: dict[str, tuple[Topic, ...]] = {
    "1": (Topic.HOURS,),
    "2": (Topic.ADDRESS,),
    "3": (Topic.DOCTORS, Topic.NEW_PATIENTS),
    "4": (Topic.EMERGENCY_NUMBERS,),
}
MORE_KEYS = {"1": "more", "2": "done", "0": "secretary"}
MAX_ANSWERS = 5  # questions answered in one visit of the step, then "done"


def _request(heard: Utterance, language: str) -> InformationRequest | str | None:
    if heard.keys:
        if heard.keys[0] == "0":
            return "secretary"
        topics = TOPIC_KEYS.get(heard.keys[0])
        return InformationRequest(topics) if topics else None
    found = meaning.information_request(heard.text, language)
    if found.topics:
        return found
    return meaning.expected_word(heard.text, language, ("secretary",))


def _more(heard: Utterance, language: str) -> str | InformationRequest | None:
    if heard.keys:
        return MORE_KEYS.get(heard.keys[0])
    asked = meaning.information_request(heard.text, language)
    if asked.topics:
        return asked
    word = meaning.expected_word(heard.text, language, ("yes", "no", "secretary"))
    return {"yes": "more", "no": "done", "secretary": "secretary"}.get(word or "")


def say_answers(call: Call, request: InformationRequest) -> None:
    """Say the answer to each topic of ``request`` from the practice's data."""
    prompts: list[Prompt] = []
    for topic in request.topics:
        prompts += practice_answers.answer(call.practice, topic, call.now(), call.language,
                                           hours=line_hours(call),
                                           whole_week=request.whole_week)
    call.say(*prompts)


def run(call: Call, step: Step) -> str:
    opts = KIND.with_defaults(step.options)
    call.context["intent"] = "information"
    fixed = tuple(Topic(t) for t in opts["topics"] or ())
    asked = call.context.pop(CONTEXT_KEY, None)
    request = InformationRequest(fixed) if fixed else asked
    if not isinstance(request, InformationRequest) or not request.topics:
        result, request = call.ask("info_topics", lambda h: _request(h, call.language),
                                   retries=opts["retries"])
        if result != "ok":
            return "more" if result == "no_match" else "done"
        if not isinstance(request, InformationRequest):
            return "secretary"
    for _ in range(MAX_ANSWERS):
        say_answers(call, request)
        if not opts["ask_more"]:
            return "done"
        result, choice = call.ask("info_anything_else", lambda h: _more(h, call.language),
                                  retries=opts["retries"])
        if result != "ok":
            return "done"
        if not isinstance(choice, InformationRequest):
            return str(choice)
        request = choice
    return "done"


KIND = StepKind(
    name="information",
    summary="Tell the caller about the practice (hours, address, doctors, new patients, "
            "emergency numbers), then ask whether there is anything else.",
    shorthand="topics",
    options={
        "topics": Option("words", default=[], choices=tuple(t.value for t in TOPICS),
                         example="[hours, address]"),
        "ask_more": Option("bool", default=True, example="true"),
        "retries": Option("int", default=1, min=0, max=3, example="1"),
    },
    outcomes=("more", "done", "secretary"),
    prompts=("info_topics", "info_anything_else", "not_understood", "no_input",
             *practice_answers.PROMPTS),
    run=run,
)
