"""``ask``: say a question, then understand keys and/or speech, with retries.

A sentence clearly in the other language switches the call to it (prompts and voice)
before it is understood (``meaning.language_switch``). A spoken answer ends after
``answered_silence_ms`` of silence once the words heard already answer (an expected
word), else after ``end_silence_ms`` (speech/turns.py).

Outcomes are the words in ``expect`` (intents such as ``book``, or ``yes`` / ``no``, or a
language ``fr`` / ``en``), the outcomes that ``keys`` lead to, and ``no_input`` /
``no_match`` once the retries are spent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ivr_flows import meaning
from ivr_flows.call import Call
from ivr_flows.channel import Utterance
from ivr_flows.flow import Step
from ivr_flows.step_kind import Option, StepKind
from speech.turns import CLOSED_TURN, TurnSettings


def outcomes(options: dict[str, Any]) -> set[str]:
    found = {"no_input", "no_match"}
    expect = options.get("expect") or []
    found.update([expect] if isinstance(expect, str) else expect)
    keys = options.get("keys") or {}
    if isinstance(keys, dict):
        found.update(str(v) for v in keys.values())
    return found


def expected_word(call: Call, text: str, expect: tuple[str, ...]) -> str | None:
    """The expected word ``text`` says; a sentence clearly in the other language first
    switches the call to it, and an ``information`` request keeps its topics."""
    switched = meaning.language_switch(text, call.language)
    if switched:  # an English sentence in a French call: the call goes on in English
        call.language = switched
        call.context["language_switched"] = switched
    word = meaning.expected_word(text, call.language, expect)
    if word == "information":  # what was asked, for the information step
        call.context["information"] = meaning.information_request(text, call.language)
    return word


def ask_with_settings(call: Call, opts: dict[str, Any], understand: Callable[[Utterance], Any],
                      expect: tuple[str, ...]) -> tuple[str, Any]:
    """``call.ask`` with an ask-like step's options: prompt, retries, timeout, re-prompts
    and its end-of-turn settings."""
    def answered(partial: str) -> bool:  # on partial words: reads only, changes nothing
        return meaning.expected_word(partial, call.language, expect) is not None

    turn = TurnSettings(end_ms=opts["end_silence_ms"], closed_end_ms=opts["answered_silence_ms"])
    return call.ask(
        call.question(opts["prompt"]), understand, retries=opts["retries"],
        timeout=opts["timeout"], reprompt=opts["reprompt"], no_input=opts["no_input_prompt"],
        turn=turn, answered=answered,
    )


def expected_and_keys(opts: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, str]]:
    """A question's ``expect`` (one word or a list) as a tuple, and its ``keys`` as strings."""
    expect = opts["expect"] or []
    keys = {str(k): str(v) for k, v in (opts["keys"] or {}).items()}
    return tuple([expect] if isinstance(expect, str) else expect), keys


def run(call: Call, step: Step) -> str:
    opts = KIND.with_defaults(step.options)
    expect, keys = expected_and_keys(opts)

    def understand(heard: Utterance) -> str | None:
        if heard.keys:
            return keys.get(heard.keys[0])
        return expected_word(call, heard.text, expect)

    result, value = ask_with_settings(call, opts, understand, expect)
    outcome = value if result == "ok" else result
    if outcome in meaning.INTENT_WORDS:
        call.context["intent"] = outcome
    return outcome


KIND = StepKind(
    name="ask",
    summary="Ask a question; understand keys and/or speech; retry, then give up.",
    shorthand="prompt",
    options={
        "prompt": Option("prompt", required=True, example="main_menu"),
        "expect": Option("words", default=[], choices=meaning.EXPECTABLE,
                         example="[book, cancel, secretary]"),
        "keys": Option("keymap", default={}, example='{"1": book, "0": secretary}'),
        "timeout": Option("number", default=6, min=1, max=30, example="6"),
        "retries": Option("int", default=2, min=0, max=5, example="2"),
        "reprompt": Option("prompt", default="not_understood", example="not_understood"),
        "no_input_prompt": Option("prompt", default="no_input", example="no_input"),
        # a spoken answer ends after this much silence (ms)...
        "end_silence_ms": Option("int", default=CLOSED_TURN.end_ms, min=200, max=3000,
                                 example=str(CLOSED_TURN.end_ms)),
        # ...or after only this much once the words heard already answer (ms)
        "answered_silence_ms": Option("int", default=CLOSED_TURN.closed_end_ms, min=100,
                                      max=3000, example=str(CLOSED_TURN.closed_end_ms)),
    },
    outcomes=outcomes,
    prompts=("not_understood", "no_input", "keys_only"),
    run=run,
)
