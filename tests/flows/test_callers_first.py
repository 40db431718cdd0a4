"""Callers first (issue 12): the open first question, new patients, keys-only callers,
a way out at every question, silence, existing appointments. Scripted calls through the
default flows, in-process, against the demo practice."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from ivr_flows import meaning
from ivr_flows.checker import check_text
from ivr_flows.steps import STEP_KINDS
from scheduling import practice_profile
from storage.models import Appointment, AppointmentStatus, Patient
from storage.patients import PatientDirectory
from tests.flows.conftest import CAMILLE_PHONE, UNKNOWN_PHONE, Demo
from tests.flows.test_conversations import audit_actions, holds

START = ["#1", ""]
KEY_WORDS = re.compile(r"appuyez|tapez|press|key in", re.IGNORECASE)
ASKED_AGAIN = {"ask_visit_type", "ask_doctor", "ask_when", "ask_when_keys", "ask_known_patient",
               "intake_menu", "intake_menu_keys"}


def provisional(demo: Demo) -> list[Patient]:
    with demo.db.session() as session:
        return list(session.scalars(select(Patient).where(Patient.provisional.is_(True))))


def appointments_of(demo: Demo, patient_id: int) -> list[Appointment]:
    with demo.db.session() as session:
        return list(session.scalars(select(Appointment).where(
            Appointment.patient_id == patient_id,
            Appointment.status == AppointmentStatus.BOOKED)))


def set_profile(demo: Demo, **changes: object) -> None:
    with demo.db.session() as session:
        practice_profile.update_profile(session, demo.practice_id, changes, actor="system:test")


def every_question_says_its_keys(conv) -> None:
    for question in conv.channel.questions:
        assert KEY_WORDS.search(question), f"a question without keys: {question!r}"


# ---- new patients ------------------------------------------------------------------------

NEW_BY_KEYS = [*START, "#1", "#2", "keys 03041990#"]  # book, not known, birth date


@pytest.mark.parametrize("caller", [None, UNKNOWN_PHONE])
def test_new_patient_books_a_first_visit_by_keys_only(demo: Demo, caller: str | None) -> None:
    callback = ["keys 0612345678#"] if caller is None else ["#1"]
    conv = demo.call(*NEW_BY_KEYS, *callback, "#1", "#1", "#1", "#1", caller=caller,
                     speech=False)
    assert conv.report.outcome_of("register") == "registered"
    assert conv.report.outcome_of("book") == "booked", conv.channel.spoken
    assert "new_patient_name_later" in conv.said and "ask_new_last_name" not in conv.said
    every_question_says_its_keys(conv)
    (patient,) = provisional(demo)
    with demo.db.session() as session:
        record = PatientDirectory(session).get(patient.id)
    assert record.birth_date == date(1990, 4, 3)
    assert record.phone == ("+33612345678" if caller is None else caller)
    (booked,) = appointments_of(demo, patient.id)
    assert booked.practitioner_id == next(d.id for d in demo.interpreter().practice.doctors
                                          if d.slug == "dr-moreau")
    assert holds(demo) == 0


def test_new_patient_withheld_number_gives_none(demo: Demo) -> None:
    conv = demo.call(*NEW_BY_KEYS, "keys #", "#1", "#1", "#1", "#1", caller=None, speech=False)
    assert conv.report.outcome_of("book") == "booked"
    (patient,) = provisional(demo)
    with demo.db.session() as session:
        assert PatientDirectory(session).get(patient.id).phone is None


def test_new_patient_states_everything_in_the_first_sentence(demo: Demo) -> None:
    conv = demo.call("Bonjour, je suis un nouveau patient, je voudrais un rendez-vous avec le "
                     "docteur Moreau demain matin", "Dupont", "Jean", "le 3 avril 1990", "oui",
                     "#1", "#1", "oui", caller=UNKNOWN_PHONE)
    assert conv.report.outcome_of("book") == "booked", conv.channel.spoken
    assert not ({"ask_doctor", "ask_when", "ask_when_keys", "ask_known_patient", "intake_menu",
                 "intake_menu_keys"} & set(conv.said))
    (patient,) = provisional(demo)
    with demo.db.session() as session:
        record = PatientDirectory(session).get(patient.id)
    assert (record.last_name, record.first_name) == ("Dupont", "Jean")
    (booked,) = appointments_of(demo, patient.id)
    local = booked.starts_at.astimezone(demo.interpreter().practice.zone)
    assert local.date() == date(2030, 1, 8) and local.hour < 12


def test_new_patient_named_doctor_who_takes_none_is_told(demo: Demo) -> None:
    conv = demo.call(*START, "je suis une nouvelle patiente, un rendez-vous avec la docteure "
                     "Lambert", "keys #", "keys 03041990#", "#1", "#1", "#1", "#1", "#1",
                     caller=UNKNOWN_PHONE)
    assert "refusal_new_patients_not_accepted" in conv.said
    assert conv.report.outcome_of("book") == "booked", conv.channel.spoken
    assert "new_patient_name_skipped" in conv.said


def test_unknown_identity_is_offered_the_new_patient_path(demo: Demo) -> None:
    wrong = ["le 1er janvier 1990", "Dupont"] * 2
    conv = demo.call(*START, "#1", "#1", *wrong, "#1", "keys #", "keys 01011990#", "#1",
                     "#1", "#1", "#1", "#1", caller=UNKNOWN_PHONE)
    assert conv.report.outcome_of("identify") == "failed"
    assert conv.report.outcome_of("offer_new") == "new"
    assert conv.report.outcome_of("book") == "booked", conv.channel.spoken


def test_practice_taking_no_new_patients_says_so(demo: Demo) -> None:
    set_profile(demo, accepts_new_patients=False)
    conv = demo.call(*START, "#1", "#2", caller=UNKNOWN_PHONE)
    assert "new_patients_closed" in conv.said
    assert conv.report.outcome_of("register") == "not_accepted"
    assert provisional(demo) == []


def test_new_patient_in_english_by_keys(demo: Demo) -> None:
    conv = demo.call("#1", "", "#1", "#2", "keys 03041990#", "#1", "#1", "#1", "#1", "#1",
                     lang="en", caller=UNKNOWN_PHONE, speech=False)
    assert conv.report.language == "en"
    assert conv.report.outcome_of("book") == "booked", conv.channel.spoken
    every_question_says_its_keys(conv)
    offer = conv.said.index("language_offer")
    assert conv.channel.languages[offer] == "fr"  # "Pour le français..." in French
    assert set(conv.channel.languages[offer + 1:]) == {"en"}


# ---- a family on one number ----------------------------------------------------------------

def test_a_number_shared_by_a_family(demo: Demo) -> None:
    with demo.db.session() as session:
        child = PatientDirectory(session).add(
            demo.practice_id, first_name="Lina", last_name="Rousseau",
            birth_date=date(2015, 6, 1), phone=CAMILLE_PHONE, actor="system:test")
    conv = demo.call(*START, "#2", "keys 01062015#", caller=CAMILLE_PHONE)
    assert conv.report.patient_id == child.id
    mother = demo.call(*START, "#2", "keys 12031984#", "#2", caller=CAMILLE_PHONE)
    assert mother.report.verified and mother.report.patient_id != child.id


# ---- the first sentence is kept ---------------------------------------------------------

def test_known_patient_states_everything_first(demo: Demo) -> None:
    conv = demo.call(*START, "je voudrais une vaccination avec le docteur Moreau jeudi "
                     "après-midi", "oui", "le 12 mars 1984", "oui", "#1", "oui")
    assert conv.report.outcome_of("book") == "booked", conv.channel.spoken
    assert not (ASKED_AGAIN - {"intake_menu", "intake_menu_keys"}) & set(conv.said) - {
        "ask_known_patient"}
    assert "ask_visit_type" not in conv.said and "ask_doctor" not in conv.said


def test_sentence_over_the_language_choice_is_the_request(demo: Demo) -> None:
    conv = demo.call("Bonjour, je voudrais parler au secrétariat", secretary_answers=True)
    assert conv.report.transferred
    assert "intake_menu" not in conv.said and "intake_menu_keys" not in conv.said


# ---- keys only ---------------------------------------------------------------------------

KEYS_ONLY_SCRIPTS = {
    "known books": [*START, "#1", "#1", "keys 12031984#", "#1", "#1", "#0", "#2", "#1", "#1"],
    "cancel kept": [*START, "#2", "keys 12031984#", "#2"],
    "reschedule": [*START, "#3", "keys 12031984#", "#1", "#1", "#1", "#2"],
    "unknown caller code": [*START, "#2", "keys 02111951#", "keys 100002#", "#2"],
    "hours": [*START, "#5", "#2"],
    "wrong keys": [*START, "#7", "#8", "#1", "#1", "keys 99", "keys 12031984#", "#2"],
    "message": [*START, "#4", "#1", "", ""],
}


@pytest.mark.parametrize("script", list(KEYS_ONLY_SCRIPTS))
def test_keys_only_caller_never_hears_a_question_without_keys(demo: Demo, script: str) -> None:
    conv = demo.call(*KEYS_ONLY_SCRIPTS[script], speech=False)
    assert len(conv.channel.questions) >= 3
    every_question_says_its_keys(conv)


def test_keys_only_caller_hears_no_speech_examples(demo: Demo) -> None:
    conv = demo.call(*KEYS_ONLY_SCRIPTS["known books"], speech=False)
    assert "intake_menu_keys" in conv.said and "ask_when" not in conv.said
    assert not any("Dites" in text for text in conv.channel.spoken)


def test_language_offer_is_said_by_the_other_voice(demo: Demo) -> None:
    conv = demo.call("", "", "#0", secretary_answers=True)
    offer = conv.said.index("language_offer")
    assert conv.channel.languages[offer] == "en"
    assert conv.channel.spoken[offer] == "For English, press 2."


# ---- a way out at every question -----------------------------------------------------------

ZERO_AT = {
    "first question": [*START],
    "already a patient?": [*START, "#1"],
    "birth date (known number)": [*START, "#1", "#1"],
    "birth date (cancel)": [*START, "#2"],
    "name or code": [*START, "#2", "keys 02111951#"],
    "another appointment?": [*START, "#1", "#1", "keys 12031984#"],
    "visit type": [*START, "#1", "#1", "keys 12031984#", "#1"],
    "day": [*START, "#1", "#1", "keys 12031984#", "#1", "#1", "#0"],
    "slot": [*START, "#1", "#1", "keys 12031984#", "#1", "#1", "#0", "#1"],
    "read back": [*START, "#1", "#1", "keys 12031984#", "#1", "#1", "#0", "#1", "#1"],
    "cancel yes/no": [*START, "#2", "keys 12031984#"],
    "new patient's birth date": [*START, "#1", "#2", "keys #"],
    "new patient's number": [*START, "#1", "#2", "keys #", "keys 03041990#", "#2"],
    "new patient's name": [*START, "#1", "#2"],
    "anything else?": [*START, "#5"],
}


@pytest.mark.parametrize("where", list(ZERO_AT))
def test_zero_at_every_question_reaches_a_person(demo: Demo, where: str) -> None:
    caller = UNKNOWN_PHONE if "name or code" in where or "new" in where else CAMILLE_PHONE
    conv = demo.call(*ZERO_AT[where], "#0", caller=caller, secretary_answers=True)
    assert conv.report.transferred, conv.report.trail
    actions = audit_actions(demo, conv.channel.call_id)
    assert not any(a.startswith("identity.failed") for a in actions)
    assert holds(demo) == 0


def test_asking_for_the_secretary_at_the_birth_date(demo: Demo) -> None:
    conv = demo.call(*START, "#2", "passez-moi le secrétariat", secretary_answers=True)
    assert conv.report.transferred
    assert conv.report.trail[-2:] == [("identify_file", "human"), ("secretary", "answered")]
    assert not any(a.startswith("identity.failed")
                   for a in audit_actions(demo, conv.channel.call_id))


def test_zero_after_the_secretary_did_not_answer_goes_on_to_a_message(demo: Demo) -> None:
    conv = demo.call(*START, "#0", "#0", "Merci de me rappeler", "#3")
    assert conv.report.outcome_of("message") == "saved"


# ---- silence -----------------------------------------------------------------------------

def test_silence_at_the_birth_date_is_not_a_failed_try(demo: Demo) -> None:
    conv = demo.call(*START, "#2", "", "", "", secretary_answers=True)
    assert conv.report.trail[-2:] == [("identify_file", "human"), ("secretary", "answered")]
    assert "identity_not_matched" not in conv.said and "identity_failed" not in conv.said
    assert conv.said.count("no_input") == 2
    assert not any(a.startswith("identity.failed")
                   for a in audit_actions(demo, conv.channel.call_id))


def test_silence_at_the_first_question_two_kind_reprompts_then_a_person(demo: Demo) -> None:
    conv = demo.call(*START, "", "", "", secretary_answers=True)
    assert conv.said.count("no_input") == 2 and conv.report.transferred


def test_silence_everywhere_ends_with_a_message_offer_not_identity(demo: Demo) -> None:
    conv = demo.call(*[""] * 30, speech=False)
    assert "ask_birth_date" not in conv.said and "ask_birth_date_keys" not in conv.said
    assert conv.report.outcome_of("secretary") == "no_answer"
    assert conv.said[-1] == "goodbye"


# ---- existing appointments ----------------------------------------------------------------

def test_existing_appointment_read_back_and_kept(demo: Demo) -> None:
    conv = demo.call(*START, "#1", "#1", "keys 12031984#", "#2")
    assert "existing_appointments" in conv.said
    assert conv.report.outcome_of("book") == "kept"
    assert "ask_visit_type" not in conv.said


def test_duplicate_visit_goes_to_the_secretary(demo: Demo) -> None:
    set_profile(demo, duplicate_window_days=14)
    first = demo.call(*START, "#1", "#1", "keys 12031984#", "#1", "#3", "#0", "#1", "#1", "#1")
    assert first.report.outcome_of("book") == "booked"
    again = demo.call(*START, "#1", "#1", "keys 12031984#", "#1", "#3",
                      secretary_answers=True)
    assert "refusal_duplicate_visit" in again.said
    assert again.report.outcome_of("book") == "refused" and again.report.transferred


def test_no_reminder_is_promised(demo: Demo) -> None:
    conv = demo.call(*START, "#1", "#1", "keys 12031984#", "#1", "#1", "#0", "#1", "#1", "#1")
    assert conv.report.outcome_of("book") == "booked"
    assert "booking_confirmation_sms" not in conv.said
    assert not any("rappel" in text for text in conv.channel.spoken)


# ---- information, without identity ---------------------------------------------------------

@pytest.mark.parametrize("lang", ["fr", "en"])
def test_opening_hours_without_identity(demo: Demo, lang: str) -> None:
    # 5: information; 1: the hours; then 2: nothing else
    conv = demo.call("", "", "#5", "#1", "#2", lang=lang, caller=UNKNOWN_PHONE)
    assert {"info_hours_today", "info_closed_today"} & set(conv.said), conv.said
    assert not conv.report.visited("identify") and conv.said[-1] == "goodbye"


def test_opening_hours_then_booking(demo: Demo) -> None:
    # 5: information, 1: the hours, 1: something else, then 1: book
    conv = demo.call(*START, "#5", "#1", "#1", "#1", "#1", "#1", "keys 12031984#", "#2")
    assert conv.report.outcome_of("book") == "kept"


# ---- the checker -------------------------------------------------------------------------

FLOW = """flow: t
language: fr
human: human
steps:
  menu:
    ask: {prompt}
    {keys}
    expect: [book, secretary]
    on: {{book: human, secretary: human, no_input: human, no_match: human}}
  human:
    hangup: [goodbye]
"""


def test_checker_refuses_a_question_without_keys() -> None:
    problems = check_text(FLOW.format(prompt="main_menu", keys=""), kinds=STEP_KINDS)
    assert any("has no key route" in p.message for p in problems)


def test_checker_refuses_a_prompt_that_does_not_say_its_keys() -> None:
    problems = check_text(FLOW.format(prompt="main_menu", keys='keys: {"7": book}'),
                          kinds=STEP_KINDS)
    assert any("does not say key(s) 7" in p.message for p in problems)
    good = check_text(FLOW.format(prompt="main_menu", keys='keys: {"1": book}'),
                      kinds=STEP_KINDS)
    assert good == []


def test_checker_refuses_an_unknown_human_step() -> None:
    problems = check_text(FLOW.replace("human: human", "human: nobody").format(
        prompt="main_menu", keys='keys: {"1": book}'), kinds=STEP_KINDS)
    assert any("human step 'nobody'" in p.message for p in problems)



def test_the_first_free_time_asked_in_words(demo: Demo) -> None:
    """"Le plus tôt possible" at the when question, or in the first sentence, is key 1."""
    asked = demo.call(*START, "je voudrais un rendez-vous", "oui", "le 12 mars 1984", "#1",
                      "#1", "le premier disponible", "le plus tôt possible", "#1", "oui")
    assert asked.report.outcome_of("book") == "booked", asked.channel.spoken
    # understood the first time; "le premier disponible" is any doctor, not doctor 1
    assert sum(asked.said.count(p) for p in ("ask_when", "ask_when_keys")) == 1
    assert asked.said.count("ask_doctor") == 1
    offer = next(line for line in asked.channel.spoken if line.startswith("Je vous propose"))
    assert "Moreau" in offer and "Lambert" in offer  # any doctor's first free times
    first = demo.call(*START, "un rendez-vous dès que possible", "oui", "le 12 mars 1984",
                      "#1", "#1", "#0", "#1", "oui")
    assert first.report.outcome_of("book") == "booked", first.channel.spoken
    assert "ask_when" not in first.said


@pytest.mark.parametrize("text, lang, new", [
    ("c'est la première fois", "fr", True), ("non, je suis une nouvelle patiente", "fr", True),
    ("ce n'est pas la première fois", "fr", False),
    ("je ne suis pas un nouveau patient", "fr", False),
    ("no it is my first time", "en", True), ("it's not my first time", "en", False),
    ("oui", "fr", None),
])
def test_new_or_known_in_words(text: str, lang: str, new: bool | None) -> None:
    assert meaning.new_patient_said(text, lang) is new
    assert meaning.says_new_patient(text, lang) is (new is True)


@pytest.mark.parametrize("answer, lang, path", [
    ("no it is my first time", "en", "new"), ("it's not my first time", "en", "known"),
    ("c'est la première fois", "fr", "new"), ("ce n'est pas la première fois", "fr", "known"),
])
def test_have_you_been_before_answered_in_words(demo: Demo, answer: str, lang: str,
                                                path: str) -> None:
    """"It is my first time" answers "have you been before?" with a no (it read as a yes)."""
    book = "I would like an appointment" if lang == "en" else "je voudrais un rendez-vous"
    conv = demo.call("#1", "", book, answer, caller=UNKNOWN_PHONE, lang=lang)
    assert conv.report.outcome_of("new_or_known") == path, conv.channel.spoken
    assert conv.said.count("ask_known_patient") == 1
