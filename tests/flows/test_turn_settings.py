"""End of turn by question kind: per ask step settings, checked by `flows check`, and what the
channel is told (how long a silence; whether the words heard already answer)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from typer.testing import CliRunner

from ivr_flows import meaning
from ivr_flows.call import Call
from ivr_flows.channel import SILENCE, CallerChannel, Prompt, RecordedMessage, Utterance
from ivr_flows.checker import check_text
from ivr_flows.flow import Step
from ivr_flows.steps import STEP_KINDS
from speech.turns import CLOSED_TURN, OPEN_TURN, TurnSettings
from telesec.cli import app

FLOW = """\
flow: small
language: fr
steps:
  menu:
    ask: main_menu
    expect: [book, secretary]
    keys: {"1": book, "0": secretary}
    end_silence_ms: 800
    answered_silence_ms: 300
    on: {book: bye, secretary: bye}
    next: bye
  bye:
    hangup: [goodbye]
"""


def test_turn_settings_of_an_ask_step_pass_the_checker() -> None:
    assert check_text(FLOW, "flow.yaml", kinds=STEP_KINDS) == []


def test_a_bad_turn_setting_is_reported_at_its_line() -> None:
    found = check_text(FLOW.replace("end_silence_ms: 800", "end_silence_ms: 50"), "f.yaml",
                       kinds=STEP_KINDS)
    assert len(found) == 1 and found[0].line == 8
    assert "'end_silence_ms' must be at least 200" in found[0].message
    found = check_text(FLOW.replace("answered_silence_ms: 300", "answered_silence_ms: 900"),
                       "f.yaml", kinds=STEP_KINDS)
    assert len(found) == 1 and found[0].line == 9
    assert "answered_silence_ms (900) is longer than end_silence_ms (800)" in found[0].message


def test_flows_check_refuses_a_bad_turn_setting(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(FLOW.replace("answered_silence_ms: 300", "answered_silence_ms: fast"),
                   encoding="utf-8")
    result = CliRunner().invoke(app, ["flows", "check", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:9:" in result.output
    assert "'answered_silence_ms' must be a number" in result.output


class Listening(CallerChannel):
    """Answers every listen with ``answer`` and keeps what it was asked."""

    call_id = "turns"
    caller_number = dialled_number = None

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.asked: list[dict[str, Any]] = []

    def say(self, parts: Sequence[Prompt], language: str, *, barge_in: bool = True) -> Utterance:
        return SILENCE

    def listen(self, **kwargs: Any) -> Utterance:  # type: ignore[override]
        self.asked.append(kwargs)
        return Utterance(text=self.answer)

    def record_message(self, sink: Any, *, max_seconds: float) -> RecordedMessage:
        raise AssertionError

    def play_message(self, message: RecordedMessage) -> None:
        raise AssertionError

    def transfer(self, target: str, *, context: Mapping[str, Any], priority: bool = False,
                 method: str = "bridge") -> bool:
        raise AssertionError

    def set_recording(self, on: bool) -> None:
        pass

    def hangup(self) -> None:
        pass


def a_call(channel: CallerChannel) -> Call:
    practice = SimpleNamespace(name="Cabinet", settings={}, greeting_name="le cabinet",
                               spoken_name="le cabinet")
    return Call(channel=channel, services=None, practice=practice,  # type: ignore[arg-type]
                flow=SimpleNamespace(practice={}), language="fr")  # type: ignore[arg-type]


def yes_no(heard: Utterance) -> bool | None:
    return meaning.yes_no(heard.text, "fr")


def test_a_closed_question_ends_once_the_words_answer_it() -> None:
    channel = Listening("oui")
    assert a_call(channel).ask("confirm_cancel", yes_no) == ("ok", True)
    asked = channel.asked[0]
    assert asked["turn"] == CLOSED_TURN
    assert asked["satisfied"]("oui") and not asked["satisfied"]("euh je")


def test_an_open_question_waits_longer_and_never_ends_early() -> None:
    channel = Listening("oui")
    a_call(channel).ask("ask_when", yes_no, closed=False)
    assert channel.asked[0]["turn"] == OPEN_TURN and channel.asked[0]["satisfied"] is None
    assert OPEN_TURN.end_ms > CLOSED_TURN.end_ms


def test_an_ask_step_passes_its_own_settings() -> None:
    channel = Listening("prendre rendez-vous")
    options = {"prompt": "main_menu", "expect": ["book", "secretary"],
               "end_silence_ms": 800, "answered_silence_ms": 300}
    step = Step("menu", "ask", options, None, {}, 1, ("steps", "menu"))
    assert STEP_KINDS["ask"].run(a_call(channel), step) == "book"
    asked = channel.asked[0]
    assert asked["turn"] == TurnSettings(end_ms=800, closed_end_ms=300)
    assert asked["satisfied"]("je voudrais un rendez-vous")
    assert not asked["satisfied"]("je voudrais")


class Preparing(Listening):
    """Also keeps the order of what was prepared and said."""

    def __init__(self, answer: str) -> None:
        super().__init__(answer)
        self.events: list[tuple[str, list[str]]] = []

    def prepare(self, parts: Sequence[Prompt], language: str) -> None:
        self.events.append(("prepare", [p.id for p in parts]))

    def say(self, parts: Sequence[Prompt], language: str, *, barge_in: bool = True) -> Utterance:
        self.events.append(("say", [p.id for p in parts]))
        return SILENCE


def test_the_replies_an_answer_leads_to_are_composed_before_the_question_is_said() -> None:
    channel = Preparing("oui")
    call = a_call(channel)
    assert call.ask("confirm_cancel", yes_no, ahead=["cancel_done"]) == ("ok", True)
    assert channel.events == [("prepare", ["cancel_done"]), ("say", ["confirm_cancel"])]
    channel = Preparing("euh")  # not understood: asked again, prepared only once
    call = a_call(channel)
    call.ask("confirm_cancel", yes_no, ahead=["cancel_done"], retries=1, way_out=False)
    assert [e for e in channel.events if e[0] == "prepare"] == [("prepare", ["cancel_done"])]
