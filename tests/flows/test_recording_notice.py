"""The greeting and the recording notice name the practice; a key plays the full notice."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from foundation.settings import RetentionSettings
from ivr_flows.call import Services
from ivr_flows.flow import read_flow_text
from ivr_flows.interpreter import Interpreter
from ivr_flows.practice import PracticeInfo
from ivr_flows.simulator import TextChannel
from ivr_flows.steps import STEP_KINDS

FLOW = """
flow: test
language: {lang}
start: welcome
steps:
  welcome:
    say: [greeting]
    next: notice
  notice:
    recording_notice: {{}}
    next: bye
  bye:
    hangup: [goodbye]
"""


def call(*lines: str, lang: str = "fr") -> TextChannel:
    flow, problems = read_flow_text(FLOW.format(lang=lang), "<test>", kinds=STEP_KINDS)
    assert flow is not None and not problems, problems
    info = PracticeInfo(1, "demo", "Cabinet médical des Tilleuls", "Europe/Paris", (), (), {},
                        spoken_name="le cabinet médical des Tilleuls",
                        privacy_contact="par e-mail à dpo@tilleuls.invalid")
    services = Services(db=None, agenda=None, patients=None, voicemail_sinks=None,  # type: ignore[arg-type]
                        lockout=None, audit=lambda **_: None,  # type: ignore[arg-type]
                        clock=lambda: datetime(2030, 1, 7, 9, tzinfo=UTC),
                        retention=RetentionSettings(recording_days=14))
    feed = list(lines)
    channel = TextChannel(lambda: feed.pop(0) if feed else None)
    Interpreter(flow, services, info).run(channel, language=lang)
    return channel


def test_greeting_and_notice_name_the_practice_purpose_and_objection() -> None:
    channel = call("")
    greeting, notice = channel.spoken[:2]
    assert greeting == "Bonjour, vous êtes en ligne avec le cabinet médical des Tilleuls."
    for part in ("enregistré par le cabinet médical des Tilleuls, responsable du traitement",
                 "suivi de votre demande", "vous y opposer : appuyez sur 9",
                 "appuyez sur 8"):
        assert part in notice, part
    assert channel.recording_changes == [True, False]


def test_key_8_plays_the_full_notice_then_the_caller_may_refuse() -> None:
    channel = call("#8", "#9")
    assert channel.said[:3] == ["greeting", "recording_notice", "privacy_notice"]
    full = channel.spoken[2]
    assert "responsable du traitement est Cabinet médical des Tilleuls" in full
    assert "14 jours" in full and "dpo@tilleuls.invalid" in full and "CNIL" in full
    assert "recording_off" in channel.said and True not in channel.recording_changes


def test_in_english_by_words() -> None:
    channel = call("what about my data", "", lang="en")
    assert channel.spoken[0] == "Hello, you have reached Cabinet médical des Tilleuls."
    assert "recorded by Cabinet médical des Tilleuls, the data controller" in channel.spoken[1]
    assert channel.said[2] == "privacy_notice" and "14 days" in channel.spoken[2]
    assert channel.recording_changes[0] is True


def test_an_emergency_said_over_the_notice_is_heard() -> None:
    channel = call("au secours mon mari ne respire plus")
    assert "emergency_advice" in channel.said
    advice = channel.spoken[channel.said.index("emergency_advice")]
    assert "raccrochez et appelez le 15 ou le 112, maintenant" in advice


LANGUAGE_FLOW = """
flow: test
language: fr
start: language
steps:
  language:
    choose_language: {}
    next: bye
  bye:
    hangup: [goodbye]
"""


@pytest.mark.parametrize(("line", "spoken"), [
    ("I'd like to book an appointment please", "Thank you for calling. Goodbye."),
    ("#2", "Thank you for calling. Goodbye."),
    ("OK", "Merci de votre appel. Au revoir."),
])
def test_the_language_question_hears_a_sentence(line: str, spoken: str) -> None:
    flow, problems = read_flow_text(LANGUAGE_FLOW, "<test>", kinds=STEP_KINDS)
    assert flow is not None and not problems
    services = Services(db=None, agenda=None, patients=None, voicemail_sinks=None,  # type: ignore[arg-type]
                        lockout=None, audit=lambda **_: None)  # type: ignore[arg-type]
    info = PracticeInfo(1, "demo", "Cabinet", "Europe/Paris", (), (), {})
    feed = [line]
    channel = TextChannel(lambda: feed.pop(0) if feed else None)
    Interpreter(flow, services, info).run(channel)
    assert channel.spoken[-1] == spoken
