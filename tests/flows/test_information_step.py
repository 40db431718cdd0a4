"""The ``information`` step and the closed message, on a fake practice (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from ivr_flows.call import Services
from ivr_flows.checker import check_flow
from ivr_flows.flow import read_flow_text
from ivr_flows.interpreter import Interpreter
from ivr_flows.practice import Doctor, PracticeInfo
from ivr_flows.practice_answers import closed_message, say_phone, spoken_name
from ivr_flows.prompts.wording import as_text
from ivr_flows.rendering import text
from ivr_flows.simulator import TextChannel
from ivr_flows.steps import STEP_KINDS

MONDAY_10H = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)  # 10:00 in Paris
MONDAY_13H = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)  # lunch break
FRIDAY_20H = datetime(2030, 1, 11, 19, 0, tzinfo=UTC)  # closed until Monday
SUNDAY = datetime(2030, 1, 6, 14, 0, tzinfo=UTC)

DAY = ((time(8, 30), time(12, 0)), (time(14, 0), time(18, 30)))
HOURS = {0: DAY, 1: DAY, 2: DAY[:1], 3: DAY, 4: DAY}

FLOW = """
flow: test
language: {lang}
start: menu
steps:
  menu:
    ask: intake_menu   # its text says keys 1 to 5 and 0: 3 stands for "the hours" here
    expect: [book, information, secretary]
    keys: {{"1": book, "5": information, "3": hours, "0": secretary}}
    on: {{book: bye, information: info, hours: hours_only, secretary: bye, no_input: bye,
         no_match: bye}}
  info:
    information: {{}}
    on: {{more: menu, done: bye, secretary: bye}}
  hours_only:
    information: [hours]
    on: {{more: menu, done: bye, secretary: bye}}
  bye:
    hangup: [goodbye]
"""


def practice(**fields: object) -> PracticeInfo:
    values: dict = dict(
        spoken_name="le cabinet médical des Tilleuls",
        address="12, rue des Tilleuls, à Villeurbanne",
        access="Tramway T1, arrêt Tilleuls.",
        sos_medecins_number="3624", on_call_number="116 117", pharmacy_number="3237",
    )
    values.update(fields)
    doctors = (Doctor(1, "dr-lambert", "Docteure Claire Lambert", False),
               Doctor(2, "dr-moreau", "Docteur Julien Moreau", True))
    return PracticeInfo(1, "demo", "Cabinet médical des Tilleuls", "Europe/Paris", doctors, (),
                        HOURS, **values)


def call(*lines: str, lang: str = "fr", at: datetime = MONDAY_10H,
         info: PracticeInfo | None = None) -> TextChannel:
    flow, problems = read_flow_text(FLOW.format(lang=lang), "<test>", kinds=STEP_KINDS)
    assert flow is not None and not problems, problems
    assert not check_flow(flow, kinds=STEP_KINDS)
    services = Services(db=None, agenda=None, patients=None, voicemail_sinks=None,  # type: ignore[arg-type]
                        lockout=None, audit=lambda **_: None, clock=lambda: at)  # type: ignore[arg-type]
    feed = list(lines)
    channel = TextChannel(lambda: feed.pop(0) if feed else None)
    Interpreter(flow, services, info or practice()).run(channel, language=lang)
    return channel


def spoken(channel: TextChannel) -> str:
    return " ".join(channel.spoken)


def test_hours_are_today_and_not_the_week() -> None:
    channel = call("quels sont vos horaires", "#2")
    said = spoken(channel)
    assert "Aujourd'hui, le cabinet est ouvert de 8 heures 30 à 12 heures, et de 14 heures " \
           "à 18 heures 30." in said
    assert "mardi" not in said and "Il ouvrira" not in said
    assert channel.said[-2:] == ["info_anything_else", "goodbye"]


def test_during_lunch_the_next_opening_is_said() -> None:
    said = spoken(call("vous êtes ouverts ?", "#2", at=MONDAY_13H))
    assert "Il ouvrira aujourd'hui à 14 heures." in said


def test_the_whole_week_when_asked() -> None:
    said = spoken(call("vos horaires de la semaine", "#2"))
    assert "Nos horaires de la semaine : lundi de 8 heures 30" in said and "vendredi" in said


def test_address_and_access_then_another_question_is_answered() -> None:
    channel = call("c'est quoi votre adresse", "et vous prenez de nouveaux patients ?", "non")
    said = spoken(channel)
    assert "Notre adresse : 12, rue des Tilleuls, à Villeurbanne." in said
    assert "Tramway T1" in said
    assert "nouveaux patients, avec Docteur Julien Moreau" in said
    assert "Lambert" not in said
    assert channel.said.count("info_anything_else") == 2


def test_by_keys_topics_menu_then_more_goes_back_to_the_menu() -> None:
    channel = call("#5", "#3", "#1", "#0")
    said = spoken(channel)
    assert channel.said[:2] == ["intake_menu", "info_topics"]
    assert "Au cabinet consultent Docteure Claire Lambert et Docteur Julien Moreau." in said
    # "1: yes, something else" -> the menu again, in its keys wording (keys were used)
    assert channel.said.count("intake_menu_keys") == 1


def test_emergency_numbers_in_full() -> None:
    said = spoken(call("le numéro de la pharmacie de garde", "#2"))
    for part in ("raccrochez et composez le 15 ou le 112", "médecin de garde, composez le "
                 "116 117", "SOS Médecins, composez le 36 24", "pharmacie de garde, composez "
                 "le 32 37"):
        assert part in said, part


def test_english_caller() -> None:
    said = spoken(call("what are your opening hours", "no", lang="en", at=FRIDAY_20H))
    assert "Today, the practice is open from 8 30 in the morning to 12 o'clock" in said
    assert "It opens on Monday at 8 30 in the morning." in said


def test_no_new_patients_and_nothing_to_say_about_the_address() -> None:
    info = practice(accepts_new_patients=False, address=None, access=None)
    said = spoken(call("l'adresse", "vous prenez de nouveaux patients", "#2", info=info))
    assert "Le secrétariat pourra vous renseigner." in said
    assert "n'accepte pas de nouveaux patients" in said


def test_a_step_with_fixed_topics_asks_nothing_first() -> None:
    channel = call("#3", "#2")
    assert channel.said[1] == "info_hours_today" and "info_topics" not in channel.said


def test_secretary_from_the_topics_menu() -> None:
    channel = call("#5", "#0")
    assert channel.said == ["intake_menu", "info_topics", "goodbye"]


def test_secretary_from_anything_else() -> None:
    channel = call("horaires", "#0")
    assert channel.said[-1] == "goodbye" and "info_anything_else" in channel.said


@pytest.mark.parametrize(("at", "expected"), [
    (FRIDAY_20H, "Le cabinet est fermé en ce moment. Il ouvrira lundi à 8 heures 30."),
    (SUNDAY, "Le cabinet est fermé en ce moment. Il ouvrira demain à 8 heures 30."),
    (MONDAY_13H, "Le cabinet est fermé en ce moment. Il ouvrira aujourd'hui à 14 heures."),
])
def test_the_closed_message_is_the_next_opening_not_the_week(at: datetime,
                                                             expected: str) -> None:
    said = " ".join(text(p, "fr") for p in closed_message(practice(), at, "fr"))
    assert said.startswith(expected)
    assert "composez le 15 ou le 112" in said and "116 117" in said
    assert "pharmacie" not in said and "mardi" not in said


def test_numbers_and_names_as_said() -> None:
    assert as_text(say_phone("3237").fragments, "fr") == "32 37"
    assert as_text(say_phone("116117").fragments, "fr") == "116 117"
    assert as_text(say_phone("15").fragments, "fr") == "15"
    assert as_text(say_phone("01 99 00 00 00").fragments, "fr") == "01 99 00 00 00"
    assert spoken_name(practice(), "fr") == "le cabinet médical des Tilleuls"
    assert spoken_name(practice(), "en") == "Cabinet médical des Tilleuls"
    assert spoken_name(practice(spoken_name=""), "fr") == "Cabinet médical des Tilleuls"


def test_an_english_sentence_switches_a_french_call_to_english() -> None:
    channel = call("Hello, what are your opening hours please", "no")
    said = spoken(channel)
    assert channel.said[0] == "intake_menu" and "Que puis-je faire pour vous" in said
    assert "Today, the practice is open" in said and "Thank you for calling" in said


def test_short_words_do_not_switch_the_language() -> None:
    said = spoken(call("horaires", "OK"))
    assert "Aujourd'hui" in said and "Today" not in said


@pytest.mark.parametrize(("lang", "line"), [
    ("fr", "my husband has chest pain and he can't breathe"),
    ("en", "mon mari ne respire plus"),
    ("fr", "c'est urgent, ma fille a fait un malaise"),
])
def test_an_emergency_in_either_language_at_any_question(lang: str, line: str) -> None:
    channel = call("horaires" if lang == "fr" else "opening hours", line, lang=lang)
    assert "emergency_advice" in channel.said
    assert "info_anything_else" in channel.said
