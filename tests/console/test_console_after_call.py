"""After the call, in a real headless Chromium: a caller who hung up waiting is shown as
such, with the voicemail they left; the number to call back is revealed on a click
(audited); "Rappeler" records its outcome. New patients registered by phone are
confirmed or merged from "À confirmer"."""

from __future__ import annotations

import uuid
from datetime import date

from playwright.sync_api import Page, expect
from sqlalchemy import select

from storage import calls, escalations, new_patients
from storage.models import AuditEvent, ObjectKind
from tests.console.conftest import ConsoleSite, log_in


def _ready_secretary(site: ConsoleSite, page: Page) -> None:
    site.world.add_user("sam", "secretary", practices=["demo"])
    site.world.ready("sam")
    log_in(page, site, "sam")
    expect(page.get_by_role("heading", name="File d'attente")).to_be_visible()
    expect(page.locator(".live-state.live")).to_be_visible()


def test_a_caller_who_hung_up_is_called_back(site: ConsoleSite, page: Page) -> None:
    world = site.world
    _ready_secretary(site, page)
    call_id = uuid.uuid4().hex
    calls.call_started(world.db, call_id, world.demo_id)
    escalation_id = escalations.publish(world.db, call_id=call_id, practice_id=world.demo_id,
                                        intent="book", reason="caller_transfer",
                                        caller_number="+33639980088")
    card = page.locator(f'[data-escalation="{escalation_id}"]')
    expect(card).to_contain_text("En ligne")
    world.vault.put(ObjectKind.VOICEMAIL, b"\0\0" * 1600, practice_id=world.demo_id,
                    call_id=call_id)
    escalations.call_ended(world.db, call_id, outcome="caller_hung_up")
    expect(card).to_contain_text("A raccroché")  # live, through the stream
    expect(card).to_contain_text("Message vocal laissé après le transfert")
    expect(card).not_to_contain_text("06 39 98 00 88")  # not before the click
    site.shot(page, "secretary-hung-up")

    card.get_by_role("button", name="Afficher le numéro à rappeler").click()
    expect(card.get_by_role("link", name="06 39 98 00 88")).to_be_visible()
    with world.db.read_session() as session:
        reads = session.scalars(select(AuditEvent.actor).where(
            AuditEvent.action == "escalation.caller_number.read")).all()
    assert reads == ["staff:sam"]

    card.get_by_label("Résultat du rappel").select_option("no_answer")
    card.get_by_role("button", name="Noter le rappel").click()
    expect(card).to_contain_text("pas de réponse (sam)")
    expect(card).to_contain_text("Avec vous")
    site.shot(page, "secretary-call-back")
    card.get_by_label("Résultat du rappel").select_option("reached")
    card.get_by_role("button", name="Noter le rappel").click()
    expect(card).to_be_hidden()
    done = escalations.get(world.db, escalation_id)
    assert done is not None and (done.status, done.resolution) == ("resolved", "called_back")

    # a caller with no number at all says so rather than showing nothing
    hidden = escalations.publish(world.db, call_id=uuid.uuid4().hex,
                                 practice_id=world.demo_id, intent="message",
                                 caller_number="anonymous")
    expect(page.locator(f'[data-escalation="{hidden}"]')).to_contain_text(
        "Numéro masqué : aucun numéro pour rappeler.")


def test_new_patients_are_confirmed_or_merged(site: ConsoleSite, page: Page) -> None:
    world = site.world
    with world.db.session() as session:
        fresh = new_patients.create_provisional_patient(
            session, world.demo_id, first_name="Zoé", last_name="Nouvelle",
            birth_date=date(1999, 9, 9), phone="0639980077", actor="ivr:console-test").id
        again = new_patients.create_provisional_patient(
            session, world.demo_id, first_name="Camille", last_name="Rousseau",
            birth_date=date(1984, 3, 12), phone=None, actor="ivr:console-test").id
    _ready_secretary(site, page)
    page.get_by_role("link", name="À confirmer").click()
    expect(page.get_by_role("heading", name="Patients à confirmer")).to_be_visible()
    first = page.locator(f'[data-patient="{fresh}"]')
    second = page.locator(f'[data-patient="{again}"]')
    expect(first).to_contain_text("NOUVELLE Zoé")
    expect(first).to_contain_text("06 39 98 00 77")
    expect(first).to_contain_text("Aucun dossier existant ne lui ressemble.")
    expect(second).to_contain_text("Ce patient est peut-être déjà connu")
    expect(second).to_contain_text("code 100001")
    site.shot(page, "secretary-to-confirm")

    first.get_by_role("button", name="Confirmer le dossier").click()
    expect(first).to_be_hidden()
    second.get_by_role("button", name="Fusionner avec ce dossier").click()
    expect(page.get_by_text("Aucun nouveau patient à confirmer.")).to_be_visible()
    with world.db.read_session() as session:
        assert new_patients.provisional_ids(session, world.demo_id) == []
        done = set(session.scalars(select(AuditEvent.action).where(
            AuditEvent.actor == "staff:sam")))
    assert {"patient.confirm", "patient.merge"} <= done
