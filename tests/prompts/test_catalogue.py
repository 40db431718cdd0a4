"""The prompt catalogues: same ids in both languages, load-time checks, text rendering."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from ivr_flows.prompts import MissingPrompts, check, load_catalogue, missing, render_text
from ivr_flows.prompts.catalogue import Placeholder
from scheduling.values import Reason, Slot


def test_french_and_english_have_the_same_ids_and_placeholders():
    fr, en = load_catalogue("fr"), load_catalogue("en")
    assert fr.ids == en.ids
    for prompt_id in fr.ids:
        assert set(fr.placeholders(prompt_id)) == set(en.placeholders(prompt_id)), prompt_id


def test_catalogue_covers_what_a_medical_secretary_says():
    ids = load_catalogue("fr").ids
    needed = {
        "greeting", "recording_notice", "recording_off", "language_choice", "main_menu",
        "ask_birth_date", "ask_name_or_code", "ask_when", "slot_choices", "booking_readback",
        "booking_confirmed", "cancel_done", "reschedule_done", "closed_now", "emergency_advice",
        "voicemail_instructions", "transfer_now", "goodbye", "all_lines_busy",
    }
    assert needed <= ids
    assert {f"refusal_{reason.value}" for reason in Reason} <= ids, "one refusal per reason"


def test_key_texts_say_what_they_must():
    fr = load_catalogue("fr")
    notice = fr.text("recording_notice")
    for part in ("{practice}", "responsable du traitement", "suivi de votre demande",
                 "vous y opposer", "{refuse_key}", "je refuse", "{notice_key}"):
        assert part in notice, part
    assert "{practice}" in fr.text("greeting")
    menu = fr.text("main_menu")
    for key in ("1", "2", "3", "4", "0"):
        assert f"appuyez sur {key}" in menu
    assert "15" in fr.text("emergency_advice") and "112" in fr.text("emergency_advice")
    assert "raccrochez" in fr.text("emergency_advice")


def test_check_names_every_missing_id():
    check(["greeting", "goodbye"])
    with pytest.raises(MissingPrompts) as caught:
        check(["greeting", "no_such_prompt", "another_missing"])
    assert caught.value.ids == ["another_missing", "no_such_prompt"]
    message = str(caught.value)
    assert "no_such_prompt" in message and "another_missing" in message and "\n" not in message
    assert missing(["greeting", "nope"], "en") == ["nope"]


def test_placeholders_are_split_out():
    pieces = load_catalogue("fr").pieces("cancel_done")
    assert pieces == ["Votre rendez-vous", Placeholder("appointment"), "est annulé."]


def test_render_text_composes_values():
    slot = Slot(1, 2, "Docteur Martin", "consult", datetime(2024, 12, 3, 9, 30, tzinfo=UTC),
                datetime(2024, 12, 3, 9, 45, tzinfo=UTC), "Europe/Paris")
    assert render_text("booking_readback", "fr", {"slot": slot}) == (
        "Je récapitule : le mardi 3 décembre à 10 heures 30 avec Docteur Martin. "
        "Est-ce que cela vous convient ?"
    )
    assert "Tuesday the 3rd of December at 10 30 in the morning with Docteur Martin" in (
        render_text("booking_readback", "en", {"slot": slot})
    )
    hours = {0: [(time(9), time(12)), (time(14), time(18))]}
    assert render_text("closed_now", "fr", {"hours": hours}).endswith(
        "lundi de 9 heures à 12 heures et de 14 heures à 18 heures."
    )
    choices = render_text("ask_doctor", "fr", {"choices": ["Dr A", "Dr B"]})
    assert "1 : Dr A. 2 : Dr B." in choices
    assert "1: Dr A. 2: Dr B." in render_text("ask_doctor", "en", {"choices": ["Dr A", "Dr B"]})
    assert render_text("cancel_done", "fr", {}) == "Votre rendez-vous est annulé."


def test_a_question_after_a_value_keeps_each_language_s_typography():
    assert render_text("confirm_callback_number", "en", {"digits": "2222"}).endswith(
        "ending in 2222?")
    assert render_text("confirm_callback_number", "fr", {"digits": "2222"}).endswith(
        "se termine par 2222 ?")


def test_dates_in_words():
    assert render_text("cancel_done", "fr", {"appointment": date(2025, 6, 1)}) == (
        "Votre rendez-vous le dimanche premier juin est annulé."
    )
