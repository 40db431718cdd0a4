"""Scripted calls through the default flows, against the real agenda, audit chain and vault."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from ivr_flows.interpreter import MAX_STEPS
from storage.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    Hold,
    Practitioner,
    VaultObject,
)
from storage.models.vault import ObjectKind, ObjectStatus
from tests.flows.conftest import (
    LOUIS_PHONE,
    NOW,
    SUNDAY,
    UNKNOWN_PHONE,
    Demo,
)

START = ["#1", ""]  # French, recording accepted
# book, known patient, verified by caller ID + birth date, yes: another appointment
CAMILLE_BOOK = [*START, "#1", "#1", "le 12 mars 1984", "#1"]
LOUIS_CANCEL = [*START, "#2", "le 2 novembre 1951"]  # cancel, verified
FILE = [*START, "#2"]  # a request about the patient's file: identity comes next
LEA_PHONE = "+33639980005"  # known patient, nothing booked, born 8 May 1978
MANON_PHONE = "+33639980009"  # new patient, born 14 August 1989
BOOK_BY_KEYS = ["#1", "#0", "#1", "#1", "#1"]  # consultation, any, first free, 1, yes
PERSONAL_PROMPTS = {"confirm_cancel", "appointment_choices", "booking_confirmed", "cancel_done",
                    "confirm_reschedule", "reschedule_done", "confirm_appointment",
                    "booking_readback", "slot_choices"}


def patient_id(demo: Demo, code: str) -> int:
    from storage.patients import PatientDirectory

    with demo.db.session() as session:
        found = PatientDirectory(session).by_code(demo.practice_id, code)
        assert found is not None
        return found.id


def booked(demo: Demo, code: str) -> list[Appointment]:
    with demo.db.session() as session:
        return list(session.scalars(select(Appointment).where(
            Appointment.patient_id == patient_id(demo, code),
            Appointment.status == AppointmentStatus.BOOKED,
            Appointment.starts_at > NOW)))


def holds(demo: Demo) -> int:
    with demo.db.session() as session:
        return session.scalar(select(func.count()).select_from(Hold))


def audit_actions(demo: Demo, call_id: str) -> list[str]:
    with demo.db.session() as session:
        return list(session.scalars(select(AuditEvent.action).where(
            AuditEvent.object_id == call_id).order_by(AuditEvent.seq)))


def voicemails(demo: Demo, call_id: str) -> list[VaultObject]:
    with demo.db.session() as session:
        return list(session.scalars(select(VaultObject).where(
            VaultObject.call_id == call_id, VaultObject.kind == ObjectKind.VOICEMAIL)))


# ---- booking ---------------------------------------------------------------------------

def test_book_by_keys_with_caller_id(demo: Demo) -> None:
    before = len(booked(demo, "100001"))
    conv = demo.call(*CAMILLE_BOOK, *BOOK_BY_KEYS)
    assert conv.report.outcome_of("identify") == "verified"
    assert conv.report.outcome_of("book") == "booked"
    assert "booking_confirmed" in conv.said and conv.said[-1] == "goodbye"
    assert len(booked(demo, "100001")) == before + 1
    assert holds(demo) == 0


def test_book_by_speech(demo: Demo) -> None:
    conv = demo.call(*START, "je voudrais prendre un rendez-vous", "oui", "le 12 mars 1984",
                     "oui", "consultation",
                     "la docteure lambert", "demain matin", "le premier", "oui")
    assert conv.report.outcome_of("book") == "booked", conv.channel.spoken
    new = [a for a in booked(demo, "100001") if a.idempotency_key.startswith(conv.channel.call_id)]
    assert len(new) == 1
    local = new[0].starts_at.astimezone(ZoneInfo("Europe/Paris"))
    assert local.date() == datetime(2030, 1, 8).date() and local.hour < 12


def test_up_to_three_slots_proposed_and_read_back(demo: Demo) -> None:
    conv = demo.call(*CAMILLE_BOOK, *BOOK_BY_KEYS)
    index = conv.said.index("slot_choices")
    proposed = conv.channel.spoken[index]
    assert "1 :" in proposed and "3 :" in proposed and "4 :" not in proposed
    assert conv.said[index + 1] == "booking_readback"


def test_book_other_dates_then_choose(demo: Demo) -> None:
    conv = demo.call(*CAMILLE_BOOK, "#1", "#0", "#1", "#9", "#2", "#1")
    assert conv.said.count("slot_choices") == 2
    assert conv.report.outcome_of("book") == "booked"


def test_book_readback_no_releases_and_proposes_again(demo: Demo) -> None:
    conv = demo.call(*CAMILLE_BOOK, "#1", "#0", "#1", "#1", "non", "#2", "oui")
    assert conv.said.count("booking_readback") == 2
    assert conv.report.outcome_of("book") == "booked"
    assert holds(demo) == 0


def test_book_on_each_database(demo_any: Demo) -> None:
    conv = demo_any.call(*CAMILLE_BOOK, *BOOK_BY_KEYS)
    assert conv.report.outcome_of("book") == "booked"
    assert holds(demo_any) == 0


def test_hangup_mid_booking_leaves_no_half_made_appointment(demo_any: Demo) -> None:
    before = len(booked(demo_any, "100001"))
    conv = demo_any.call(*CAMILLE_BOOK, "#1", "#0", "#1", "#1")  # gone at read-back
    assert conv.said[-2:] == ["booking_readback", "yes_no_keys"]
    assert conv.report.ended_by == "caller"
    assert holds(demo_any) == 0
    assert len(booked(demo_any, "100001")) == before


def test_hangup_while_choosing_visit_type(demo: Demo) -> None:
    conv = demo.call(*CAMILLE_BOOK)
    assert conv.said[-1] == "ask_visit_type" and conv.report.ended_by == "caller"
    assert holds(demo) == 0


def test_new_patient_refusal_is_explained(demo: Demo) -> None:
    conv = demo.call(*START, "#1", "#1", "le 14 août 1989", *BOOK_BY_KEYS, caller=MANON_PHONE)
    assert conv.report.outcome_of("identify") == "verified"
    assert "refusal_new_patients_not_accepted" in conv.said
    assert conv.report.outcome_of("book") == "refused"
    assert booked(demo, "100009") == [] and holds(demo) == 0


def test_no_slot_on_the_day_asked(demo: Demo) -> None:
    conv = demo.call(*CAMILLE_BOOK, "#1", "#0", "dimanche", "#1", "#1")
    assert "no_slot_that_day" in conv.said
    assert conv.report.outcome_of("book") == "booked"


def test_booking_with_a_named_doctor(demo: Demo) -> None:
    conv = demo.call(*CAMILLE_BOOK, "#3", "#2", "#4", "#1", "#1")
    assert conv.report.outcome_of("book") == "booked"
    new = [a for a in booked(demo, "100001") if a.idempotency_key.startswith(conv.channel.call_id)]
    with demo.db.session() as session:
        from storage.models import Practitioner, VisitType
        assert session.get(Practitioner, new[0].practitioner_id).slug == "dr-moreau"
        assert session.get(VisitType, new[0].visit_type_id).code == "vaccination"


# ---- emergencies -----------------------------------------------------------------------

def test_emergency_in_the_middle_of_a_booking(demo_any: Demo) -> None:
    conv = demo_any.call(*CAMILLE_BOOK, "#1", "#0", "#1", "#1",
                         "j'ai une douleur dans la poitrine", "", secretary_answers=True)
    assert conv.report.emergency and conv.report.transferred
    assert conv.said[conv.said.index("emergency_advice") + 1] == "emergency_offer"
    assert conv.channel.transfers[-1].priority
    assert conv.channel.transfers[-1].context["emergency"] is True
    assert holds(demo_any) == 0
    assert "call.emergency" in audit_actions(demo_any, conv.channel.call_id)


def test_emergency_key_at_the_menu_then_no(demo: Demo) -> None:
    conv = demo.call(*START, "#*", "non")
    assert conv.report.emergency and not conv.report.transferred
    assert conv.channel.transfers == []
    assert conv.said[-2:] == ["emergency_advice", "goodbye"]
    assert conv.channel.hung_up_by_us


def test_emergency_word_before_anything_else(demo: Demo) -> None:
    conv = demo.call("c'est une urgence", "", caller=UNKNOWN_PHONE)
    assert conv.report.trail[-1] == ("language", "emergency")
    assert conv.channel.transfers[-1].priority
    assert "transfer_no_answer" in conv.said and conv.said[-1] == "goodbye"


def test_emergency_during_identity_check(demo: Demo) -> None:
    conv = demo.call(*START, "#1", "#1", "il ne respire plus", "#0", secretary_answers=True)
    assert conv.report.emergency and conv.report.transferred
    assert not conv.report.verified


def test_key_flood_with_emergency_key_is_an_emergency(demo: Demo) -> None:
    conv = demo.call(*START, "keys 12*45", "non")
    assert conv.report.emergency


# ---- robustness ------------------------------------------------------------------------

def test_silence_everywhere(demo: Demo) -> None:
    conv = demo.call(*[""] * 40, caller=UNKNOWN_PHONE)
    assert conv.report.outcome_of("intake") == "no_input"
    assert not conv.report.visited("identify")
    assert "identity_not_matched" not in conv.said
    assert conv.report.outcome_of("secretary") == "no_answer"
    assert conv.report.outcome_of("message") == "empty"
    assert conv.said[-1] == "goodbye" and conv.report.ended_by == "flow"
    assert "no_input" in conv.said
    assert voicemails(demo, conv.channel.call_id) == []


def test_nonsense_at_the_menu(demo: Demo) -> None:
    conv = demo.call(*START, "blablabla", "patati patata", "gnagnagna")
    assert conv.report.outcome_of("intake") == "no_match"
    assert conv.said.count("not_understood") == 2
    assert conv.report.visited("secretary")


def test_key_flood_is_ignored_then_a_real_choice_works(demo: Demo) -> None:
    conv = demo.call(*START, "keys 1234567890123", "#2", "le 2 novembre 1951", "#2",
                     caller=LOUIS_PHONE)
    assert conv.said.count("intake_menu_keys") == 2
    assert conv.report.outcome_of("cancel") == "kept"
    assert len(booked(demo, "100002")) == 1


def test_a_flow_going_round_in_circles_is_stopped(demo: Demo, tmp_path: Path) -> None:
    flow = tmp_path / "circle.yaml"
    flow.write_text(
        "flow: circle\nlanguage: fr\nsteps:\n"
        "  menu:\n    ask: main_menu\n    keys: {\"1\": book}\n    retries: 0\n"
        "    on: {no_input: menu, no_match: menu}\n    next: bye\n"
        "  bye:\n    hangup: [goodbye]\n", encoding="utf-8")
    conv = demo.call(*[""] * (MAX_STEPS + 10), flow=flow)
    assert conv.report.ended_by == "loop guard"
    assert len(conv.report.trail) == MAX_STEPS


# ---- identity --------------------------------------------------------------------------

def test_caller_id_match_confirmed_by_birth_date_is_audited(demo_any: Demo) -> None:
    conv = demo_any.call(*FILE, "le 12 mars 1984", "#2")
    actions = audit_actions(demo_any, conv.channel.call_id)
    assert "identity.verified:caller_id+birth_date" in actions
    camille = patient_id(demo_any, "100001")
    with demo_any.db.session() as session:
        event = session.scalar(select(AuditEvent).where(
            AuditEvent.object_id == conv.channel.call_id,
            AuditEvent.action.like("identity.verified%")))
    assert event.patient_id == camille
    assert event.actor == f"ivr:{conv.channel.call_id}"


def test_unknown_number_birth_date_and_name(demo: Demo) -> None:
    conv = demo.call(*FILE, "le 2 novembre 1951", "Garnier", caller=UNKNOWN_PHONE)
    assert conv.report.outcome_of("identify_file") == "verified"
    assert "identity.verified:birth_date+name_or_code" in audit_actions(
        demo, conv.channel.call_id)


def test_birth_date_and_patient_code_by_keys(demo: Demo) -> None:
    conv = demo.call(*FILE, "keys 02111951#", "keys 100002#", caller=UNKNOWN_PHONE)
    assert conv.report.outcome_of("identify_file") == "verified"


def test_spelled_name(demo: Demo) -> None:
    conv = demo.call(*FILE, "le 2 novembre 1951", "G A R N I E R", caller=UNKNOWN_PHONE)
    assert conv.report.outcome_of("identify_file") == "verified"


def test_hidden_number(demo: Demo) -> None:
    conv = demo.call(*FILE, "12 03 1984", "Rousseau", caller=None)
    assert conv.report.outcome_of("identify_file") == "verified"


def test_wrong_then_right_birth_date(demo: Demo) -> None:
    conv = demo.call(*FILE, "le 1er janvier 1990", "Dupont", "le 12 mars 1984")
    assert conv.report.outcome_of("identify_file") == "verified"
    assert conv.said.count("identity_not_matched") == 1


def test_two_wrong_birth_dates_go_to_a_human_then_a_message(demo: Demo) -> None:
    wrong = ["le 1er janvier 1990", "Dupont"] * 2
    conv = demo.call(*FILE, *wrong, "#0", "Rappelez-moi s'il vous plaît", "#3")
    assert conv.report.outcome_of("identify_file") == "failed"
    assert conv.said.count("ask_birth_date_keys") == 2
    assert "identity_failed" in conv.said
    assert conv.report.outcome_of("secretary") == "no_answer"
    assert conv.report.outcome_of("message") == "saved"
    actions = audit_actions(demo, conv.channel.call_id)
    assert [a for a in actions if a.startswith("identity.failed")] == [
        "identity.failed:try_1", "identity.failed:try_2"]
    assert not any(a.startswith("identity.verified") for a in actions)
    (message,) = voicemails(demo, conv.channel.call_id)
    assert message.patient_id is None  # never linked to a patient it was not verified as


def test_nothing_personal_is_said_before_verification(demo: Demo) -> None:
    conv = demo.call(*FILE, *["le 1er janvier 1990", "Dupont"] * 2, "")
    assert not PERSONAL_PROMPTS & set(conv.said)
    assert not any("Rousseau" in text or "Camille" in text for text in conv.channel.spoken)


def test_number_that_keeps_failing_is_locked_out(demo: Demo) -> None:
    wrong = ["le 1er janvier 1990", "Dupont"] * 2
    for _ in range(2):
        first = demo.call(*FILE, *wrong)
        assert first.report.outcome_of("identify_file") == "failed"
    second = demo.call(*FILE, *wrong)
    assert second.report.outcome_of("identify_file") == "locked"
    third = demo.call(*FILE, "le 12 mars 1984")
    assert third.report.outcome_of("identify_file") == "locked"
    assert not {"ask_birth_date", "ask_birth_date_keys"} & set(third.said)
    assert "identity.locked_out" in audit_actions(demo, third.channel.call_id)
    other_number = demo.call(*FILE, "le 2 novembre 1951", caller=LOUIS_PHONE)
    assert other_number.report.outcome_of("identify_file") == "verified"


def test_lockout_ends_after_a_while(demo: Demo) -> None:
    wrong = ["le 1er janvier 1990", "Dupont"] * 2
    for _ in range(3):
        demo.call(*FILE, *wrong)
    later = demo.call(*FILE, "le 12 mars 1984", at=NOW + timedelta(minutes=45))
    assert later.report.outcome_of("identify_file") == "verified"


# ---- opening hours, recording, language -------------------------------------------------

def test_out_of_hours_message_for_the_practice(demo: Demo) -> None:
    conv = demo.call("#1", "", "Bonjour, merci de rappeler lundi", "#3", at=SUNDAY)
    assert conv.report.outcome_of("hours") == "closed"
    assert "info_closed_now" in conv.said and "info_next_opening" in conv.said
    assert "info_emergency" in conv.said
    assert "ask_birth_date" not in conv.said
    (message,) = voicemails(demo, conv.channel.call_id)
    assert message.status == ObjectStatus.COMPLETE and message.practitioner_id is None
    assert demo.vault.read(message.id) == b"Bonjour, merci de rappeler lundi"


def test_out_of_hours_hangup_at_the_beep_keeps_nothing(demo: Demo) -> None:
    conv = demo.call("#1", "", at=SUNDAY)
    assert conv.report.ended_by == "caller"
    assert [m for m in voicemails(demo, conv.channel.call_id)
            if m.status == ObjectStatus.COMPLETE] == []


def test_recording_refused_by_key(demo: Demo) -> None:
    conv = demo.call("#1", "#9", "#2", "le 12 mars 1984", "#0", secretary_answers=True)
    assert "recording_off" in conv.said
    assert True not in conv.channel.recording_changes
    assert conv.report.outcome_of("identify_file") == "verified"  # the call goes on


def test_recording_refused_by_words(demo: Demo) -> None:
    conv = demo.call("#1", "je refuse", "le 12 mars 1984")
    assert conv.report.outcome_of("notice") == "refused"
    assert True not in conv.channel.recording_changes


def test_recording_accepted_is_stopped_at_the_end(demo: Demo) -> None:
    conv = demo.call(*START, "#0", secretary_answers=True)
    assert conv.report.outcome_of("notice") == "recording"
    assert conv.channel.recording_changes == [True, False]


def test_language_choice_by_key(demo: Demo) -> None:
    conv = demo.call("#2", "", "#2", "March the twelfth nineteen eighty four")
    assert conv.report.language == "en"
    assert conv.report.outcome_of("identify_file") == "verified"
    from ivr_flows.prompts.catalogue import load_catalogue
    assert load_catalogue("en").text("ask_birth_date_keys") in conv.channel.spoken


def test_language_choice_by_speech(demo: Demo) -> None:
    conv = demo.call("english please", "")
    assert conv.report.language == "en"


def test_english_default_flow(demo: Demo) -> None:
    conv = demo.call("", "", "#2", "the 2nd of November 1951", "#0", lang="en",
                     caller=LOUIS_PHONE, secretary_answers=True)
    assert conv.report.language == "en"
    assert conv.report.outcome_of("identify_file") == "verified"
    assert conv.report.transferred


# ---- cancel, reschedule, confirm ------------------------------------------------------

def test_cancel(demo_any: Demo) -> None:
    conv = demo_any.call(*LOUIS_CANCEL, "#1", caller=LOUIS_PHONE)
    assert conv.report.outcome_of("cancel") == "cancelled"
    assert "cancel_done" in conv.said
    assert booked(demo_any, "100002") == []


def test_cancel_by_speech_keep_it(demo: Demo) -> None:
    conv = demo.call(*START, "je veux annuler mon rendez-vous", "le 2 novembre 1951", "non",
                     caller=LOUIS_PHONE)
    assert conv.report.outcome_of("cancel") == "kept"
    assert "appointment_kept" in conv.said
    assert len(booked(demo, "100002")) == 1


def test_cancel_too_late_is_explained(demo: Demo) -> None:
    tuesday_9am = datetime(2030, 1, 8, 8, 0, tzinfo=UTC)
    conv = demo.call(*FILE, "le 12 mars 1984", "#1", at=tuesday_9am)
    assert conv.report.outcome_of("cancel") == "refused"
    assert "refusal_too_late_to_cancel" in conv.said
    assert len([a for a in booked(demo, "100001")]) == 1


def test_cancel_with_nothing_booked(demo: Demo) -> None:
    conv = demo.call(*FILE, "le 8 mai 1978", caller=LEA_PHONE)
    assert conv.report.outcome_of("cancel") == "none"
    assert "no_appointment" in conv.said


def test_reschedule(demo_any: Demo) -> None:
    (old,) = booked(demo_any, "100002")
    conv = demo_any.call(*START, "#3", "le 2 novembre 1951", "#1", "#1", "#1", "#1",
                         caller=LOUIS_PHONE)
    assert conv.report.outcome_of("reschedule") == "rescheduled", conv.said
    (new,) = booked(demo_any, "100002")
    assert new.id != old.id and new.replaces_id == old.id
    assert new.practitioner_id == old.practitioner_id
    assert holds(demo_any) == 0


def test_reschedule_too_late_is_explained_before_proposing(demo: Demo) -> None:
    tuesday_9am = datetime(2030, 1, 8, 8, 0, tzinfo=UTC)
    conv = demo.call(*START, "#3", "le 12 mars 1984", "#1", at=tuesday_9am)
    assert conv.report.outcome_of("reschedule") == "refused"
    assert "refusal_too_late_to_cancel" in conv.said
    assert "slot_choices" not in conv.said


def test_hangup_mid_reschedule_keeps_the_old_appointment(demo: Demo) -> None:
    (old,) = booked(demo, "100002")
    demo.call(*START, "#3", "le 2 novembre 1951", "#1", "#1", "#1", caller=LOUIS_PHONE)
    assert [a.id for a in booked(demo, "100002")] == [old.id]
    assert holds(demo) == 0


def test_confirm_next_appointment(demo: Demo) -> None:
    conv = demo.call(*START, "je voudrais confirmer mon rendez-vous", "le 12 mars 1984", "oui")
    assert conv.report.outcome_of("my_appointments") == "confirmed"
    assert "appointment_confirmed" in conv.said


# ---- voicemail and transfer -------------------------------------------------------------

def test_voicemail_to_a_doctor_listened_and_rerecorded(demo: Demo) -> None:
    conv = demo.call(*START, "#4", "#1", "Premier essai", "#1", "#2",
                     "Bonjour docteur, pouvez-vous me rappeler", "#3")
    assert conv.report.outcome_of("message") == "saved"
    kept = [m for m in voicemails(demo, conv.channel.call_id)
            if m.status == ObjectStatus.COMPLETE]
    assert len(kept) == 1
    assert kept[0].practitioner_id is not None
    assert kept[0].patient_id is None  # a message needs no identity: never linked unverified
    assert demo.vault.read(kept[0].id) == b"Bonjour docteur, pouvez-vous me rappeler"
    assert "voicemail.recorded" in audit_actions(demo, conv.channel.call_id)


def test_voicemail_kept_when_caller_hangs_up_after_speaking(demo: Demo) -> None:
    conv = demo.call(*START, "#4", "#0", "Je rappellerai demain")
    assert conv.report.ended_by == "caller"
    (message,) = voicemails(demo, conv.channel.call_id)
    assert message.status == ObjectStatus.COMPLETE and message.practitioner_id is None


def test_transfer_with_no_answer_goes_to_a_message(demo: Demo) -> None:
    conv = demo.call(*START, "#0", "#0", "Merci de me rappeler", "#3")
    assert conv.report.outcome_of("secretary") == "no_answer"
    assert "transfer_no_answer" in conv.said
    assert conv.report.outcome_of("message") == "saved"


def test_secretary_passes_the_caller_to_a_doctors_voicemail_box(demo: Demo) -> None:
    """The secretary who answered chose "Messagerie du Dr Lambert": the caller hears the
    voicemail prompt and leaves her a message (encrypted, for her, linked to the call)."""
    conv = demo.call(*START, "je voudrais parler à la secrétaire", "Rappelez-moi, merci",
                     "#3", secretary_answers=True, passes_to_box="dr-lambert")
    assert conv.report.transferred
    assert conv.said.count("voicemail_instructions") == 1
    assert "voicemail_saved" in conv.said
    (message,) = voicemails(demo, conv.channel.call_id)
    with demo.db.session() as session:
        lambert = session.scalar(select(Practitioner.id).where(Practitioner.slug == "dr-lambert"))
    assert message.status == ObjectStatus.COMPLETE and message.practitioner_id == lambert
    assert demo.vault.read(message.id) == b"Rappelez-moi, merci"


def test_transfer_answered_carries_the_context(demo: Demo) -> None:
    conv = demo.call(*START, "je voudrais parler à la secrétaire", secretary_answers=True)
    assert conv.report.transferred and conv.report.ended_by == "transfer"
    assert "ask_birth_date" not in conv.said  # a person is reached without identity
    context = conv.channel.transfers[-1].context
    assert context["verified"] is False
    assert context["patient_id"] is None
    assert context["intent"] == "secretary"
    assert not conv.channel.transfers[-1].priority
