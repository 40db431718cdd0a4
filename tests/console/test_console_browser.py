"""The staff console in a real headless Chromium, against the API served by uvicorn.

Secretary: first login with TOTP (and the one-time password change), an escalation
published by the phone side appears live with its context, she claims it, books for the
caller, resolves it. Doctor: plays a voicemail (the audio element loads the decrypted
WAV), reads the transcript, marks it handled. Admin: the audit shows the playback,
users are added from the console. Screenshots of each screen land in the tmp dir (or
``$TELESEC_CONSOLE_SHOTS``).
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pyotp
from playwright.sync_api import Page, expect
from sqlalchemy import select

from staff import phones
from storage import escalations, new_patients
from storage.models import Appointment, Practitioner, VaultObject
from storage.patients import PatientDirectory
from tests.api import helpers
from tests.console.conftest import ConsoleSite, log_in
from tests.qr_codes import decode_svg_data_uri

NEW_PASSWORD = "une phrase de passe assez longue"
SAID = "Bonjour, je voudrais un rendez-vous cette semaine, j'ai mal au dos."
VOICEMAIL_SAID = "Bonjour docteur, je vous rappelle au sujet de mes résultats."
VOICEMAIL_SECONDS = 3.0
PARIS = ZoneInfo("Europe/Paris")


def _demo_patient(site: ConsoleSite, code: str = "100001") -> int:
    with site.world.db.session() as session:
        record = PatientDirectory(session).by_code(site.world.demo_id, code)
        assert record is not None
        return record.id


def _staff_bookings(site: ConsoleSite, patient_id: int) -> int:
    with site.world.db.read_session() as session:
        return len(session.scalars(select(Appointment.id).where(
            Appointment.patient_id == patient_id, Appointment.booked_by == "staff",
            Appointment.status == "booked")).all())


def _last_staff_booking(site: ConsoleSite, patient_id: int) -> datetime:
    with site.world.db.read_session() as session:
        starts_at = session.scalars(select(Appointment.starts_at).where(
            Appointment.patient_id == patient_id, Appointment.booked_by == "staff",
            Appointment.status == "booked").order_by(Appointment.id.desc())).first()
    assert starts_at is not None
    return starts_at.astimezone(PARIS)


def _no_health_data_kept(page: Page) -> None:
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert "rousseau" not in page.url.lower() and "?" not in page.url


def test_secretary_sees_an_escalation_live_claims_it_and_books(site: ConsoleSite,
                                                               page: Page) -> None:
    world = site.world
    world.add_user("sam", "secretary", practices=["demo"])
    log_in(page, site, "sam")

    # first login: the one-time password is replaced
    page.get_by_label("Mot de passe provisoire").fill(world.users["sam"].password)
    page.get_by_label("Nouveau mot de passe", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirmez le nouveau mot de passe").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Enregistrer").click()

    expect(page.get_by_role("heading", name="File d'attente")).to_be_visible()
    expect(page.locator(".live-state.live")).to_be_visible()  # the SSE stream is open
    expect(page.get_by_text("Aucun appel en attente.")).to_be_visible()
    page.evaluate("window.notReloaded = true")

    # the phone side escalates a verified caller: the card appears without a reload
    patient_id = _demo_patient(site)
    escalation_id = helpers.escalate(world, patient_id=patient_id, transcript=SAID)
    card = page.locator(f'[data-escalation="{escalation_id}"]')
    expect(card).to_be_visible()
    expect(card).to_contain_text("Prendre rendez-vous")          # what they want
    expect(card).to_contain_text("ROUSSEAU Camille")             # who (audited detail)
    expect(card).to_contain_text("12/03/1984")
    expect(card).to_contain_text("j'ai mal au dos")              # what they said
    expect(page.locator("#queue-count")).to_have_text("1")
    assert page.evaluate("window.notReloaded === true")
    site.shot(page, "secretary-queue")

    card.get_by_role("button", name="Prendre l'appel").click()
    expect(card).to_contain_text("Avec vous")
    claimed = escalations.get(world.db, escalation_id)
    assert claimed is not None and claimed.status == "claimed" and claimed.claimed_by == "sam"
    expect(page.locator("#queue-count")).to_be_hidden()
    site.shot(page, "secretary-queue-claimed")

    # book for the caller, from the card
    before = _staff_bookings(site, patient_id)
    card.get_by_role("button", name="Prendre un RDV pour ce patient").click()
    expect(page.get_by_role("heading", name="Prendre un rendez-vous")).to_be_visible()
    expect(page.locator(".chosen")).to_contain_text("ROUSSEAU Camille")
    page.get_by_label("Motif").select_option("consultation")
    page.get_by_role("button", name="Chercher des créneaux").click()
    first_slot = page.locator(".slot").first
    expect(first_slot).to_be_visible()
    first_slot.click()
    page.get_by_role("button", name="Confirmer le rendez-vous").click()
    expect(page.locator(".success")).to_contain_text("Rendez-vous confirmé")
    site.shot(page, "secretary-booking")
    assert _staff_bookings(site, patient_id) == before + 1

    # back to the queue: resolve the call, the card goes away
    page.get_by_role("link", name="File d'attente").click()
    card.get_by_label("Issue de l'appel").select_option("booked")
    card.get_by_role("button", name="Terminer").click()
    expect(card).to_have_count(0)
    done = escalations.get(world.db, escalation_id)
    assert done is not None and done.status == "resolved" and done.resolution == "booked"

    # a caller filed as new on the phone: the identity is as declared, never "vérifiée"
    with world.db.session() as session:
        fresh = new_patients.create_provisional_patient(
            session, world.demo_id, first_name="Zoé", last_name="Nouvelle",
            birth_date=date(1999, 9, 9), phone="0639980077", actor="ivr:console-test").id
    declared = page.locator(f'[data-escalation="{helpers.escalate(world, patient_id=fresh)}"]')
    expect(declared).to_contain_text("NOUVELLE Zoé")
    expect(declared).to_contain_text("identité déclarée, à confirmer")
    expect(declared).not_to_contain_text("Identité vérifiée")
    site.shot(page, "secretary-queue-new-patient")

    # the day's agenda shows the booking; the patient's name only on demand (audited)
    page.keyboard.press("Alt+2")
    expect(page.get_by_role("heading", name="Agenda du jour")).to_be_visible()
    starts_at = _last_staff_booking(site, patient_id)
    page.get_by_label("Jour", exact=True).fill(starts_at.date().isoformat())
    row = page.locator("tr", has_text=starts_at.strftime("%H:%M") + " –")
    expect(row).to_contain_text("Consultation")
    expect(row).not_to_contain_text("ROUSSEAU")
    row.get_by_role("button", name="Afficher le patient").click()
    expect(row).to_contain_text("ROUSSEAU Camille")
    site.shot(page, "secretary-agenda")
    page.get_by_role("link", name="Prendre un RDV").click()
    page.get_by_label("Rechercher par").select_option("birth_date")
    page.get_by_label("Date de naissance").fill("1951-11-02")
    page.get_by_role("button", name="Rechercher").click()
    expect(page.locator(".results")).to_contain_text("GARNIER")
    site.shot(page, "secretary-patient-search")
    _no_health_data_kept(page)


def test_doctor_plays_a_voicemail_and_the_audit_shows_it(site: ConsoleSite, page: Page) -> None:
    world = site.world
    world.add_user("lambert", "doctor", practices=["demo"], practitioner="dr-lambert")
    world.add_user("ada", "admin")
    world.ready("lambert")
    world.ready("ada")
    with world.db.read_session() as session:
        doctor_id = session.scalar(select(Practitioner.id).where(Practitioner.slug == "dr-lambert"))
    message_id, _pcm = helpers.voicemail(world, doctor_id, seconds=VOICEMAIL_SECONDS,
                                         transcript=VOICEMAIL_SAID)
    audio = []
    page.on("response", lambda r: audio.append(r) if "/audio" in r.url else None)

    log_in(page, site, "lambert")
    expect(page.get_by_role("heading", name="Messagerie")).to_be_visible()
    page.locator(f'[data-message="{message_id}"]').click()
    expect(page.locator("blockquote.transcript")).to_have_text(VOICEMAIL_SAID)
    page.evaluate("document.querySelector('audio').play()")
    page.wait_for_function("document.querySelector('audio').readyState >= 2")
    duration = page.evaluate("document.querySelector('audio').duration")
    assert abs(duration - VOICEMAIL_SECONDS) < 0.05, duration
    assert audio, "the audio element fetched nothing"
    first = audio[0]
    assert first.status in (200, 206)
    assert first.headers["content-type"] == "audio/wav"
    if first.status == 206:
        assert first.request.headers.get("range", "").startswith("bytes=")
        assert first.headers["content-range"].startswith("bytes ")
    site.shot(page, "doctor-voicemail")

    page.get_by_role("button", name="Marquer comme traité").click()
    expect(page.get_by_text("Aucun message à traiter.")).to_be_visible()
    with world.db.read_session() as session:
        assert session.get_one(VaultObject, message_id).handled_at is not None
    _no_health_data_kept(page)
    page.get_by_role("link", name="Mon agenda").click()
    expect(page.get_by_role("heading", name="Mon agenda")).to_be_visible()
    expect(page.locator(".table-wrap table, .table-wrap .empty")).to_be_visible()
    site.shot(page, "doctor-agenda")

    # the admin sees the playback in the audit, through the API...
    events = world.client.get("/audit/events", params={"action": "voicemail.play"},
                              headers=world.headers("ada")).json()
    assert any(e["object_id"] == message_id and e["actor"] == "staff:lambert" for e in events)
    # ... and in the console
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.get_by_role("heading", name="Connexion")).to_be_visible()
    log_in(page, site, "ada")
    expect(page.get_by_role("heading", name="Utilisateurs")).to_be_visible()
    expect(page.locator('tr[data-login="lambert"]')).to_contain_text("Médecin")
    page.get_by_text("Ajouter un utilisateur").click()
    page.get_by_label("Identifiant", exact=True).fill("n.martin")
    page.get_by_role("checkbox", name="Cabinet médical des Tilleuls").check()
    page.get_by_role("button", name="Créer le compte").click()
    dialog = page.locator("dialog.modal")
    expect(dialog).to_contain_text("otpauth://totp/")
    expect(dialog.locator(".codes li")).to_have_count(10)
    qr = dialog.locator("img.qr")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")  # loaded under the CSP
    shown_uri = dialog.locator(".secret.uri").inner_text().split()[0]
    assert decode_svg_data_uri(qr.get_attribute("src") or "") == shown_uri
    site.shot(page, "admin-enrolment")
    dialog.get_by_role("button", name="Fermer").click()
    expect(page.locator('tr[data-login="n.martin"]')).to_contain_text("Mot de passe provisoire")
    expect(page.get_by_role("heading", name="Lignes SIP")).to_be_visible()
    expect(page.get_by_text("Aucune ligne configurée")).to_be_visible()
    site.shot(page, "admin-users")

    # her SIP phone: the password is shown once and only its HA1 reaches the front
    page.locator('tr[data-login="n.martin"]').get_by_role("button", name="Téléphone SIP…").click()
    dialog.get_by_role("button", name="Créer le mot de passe").click()
    expect(dialog).to_contain_text("sip:n.martin@telesec")
    password = dialog.locator('[data-role="sip-password"]').inner_text()
    [phone] = phones.phone_credentials(world.db, world.keyring, "telesec")
    assert phone == phones.PhoneCredential("n.martin", phones.ha1("n.martin", "telesec", password))
    site.shot(page, "admin-sip-phone")
    dialog.get_by_role("button", name="Fermer").click()
    expect(page.locator('tr[data-login="n.martin"]')).to_contain_text("Configuré")

    # the secretaries' ring: one after another, in an order of the practice's secretaries
    ring = page.get_by_role("form", name="Sonnerie — Cabinet médical des Tilleuls")
    expect(ring).to_contain_text("Secrétaires du cabinet : n.martin")  # added since
    ring.get_by_label("Les secrétaires disponibles sonnent").select_option("hunt")
    ring.get_by_label("Ordre (identifiants, séparés par des virgules)").fill("n.martin, zorro")
    ring.get_by_role("button", name="Enregistrer").click()
    expect(ring.get_by_role("alert")).to_have_text(
        "« zorro » n'est pas une secrétaire de ce cabinet.")
    ring.get_by_label("Ordre (identifiants, séparés par des virgules)").fill("n.martin")
    ring.get_by_label("Secondes de sonnerie pour chacune").fill("12")
    ring.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_text("Sonnerie de Cabinet médical des Tilleuls enregistrée.")
           ).to_be_visible()
    site.shot(page, "admin-ring")
    profile = world.client.get("/practices/demo/profile", headers=world.headers("ada")).json()
    assert (profile["desk_ring"], profile["hunt_order"], profile["hunt_seconds"]) == (
        "hunt", ["n.martin"], 12)

    page.get_by_role("link", name="Audit").click()
    expect(page.get_by_text("Chaîne d'audit intègre")).to_be_visible()
    page.get_by_label("Action").fill("voicemail.play")
    page.get_by_role("button", name="Filtrer").click()
    row = page.locator("tr", has_text="staff:lambert")
    expect(row.first).to_contain_text("voicemail.play")
    site.shot(page, "admin-audit")
    page.get_by_role("link", name="Conservation").click()
    expect(page.locator(".stat")).to_have_count(4)
    site.shot(page, "admin-retention")


def test_login_refuses_a_wrong_code_and_accepts_a_recovery_code(site: ConsoleSite,
                                                              page: Page) -> None:
    world = site.world
    enrolment = world.add_user("nina", "secretary", practices=["demo"])
    world.ready("nina")
    page.goto(site.url("/"))
    assert page.url.endswith("/console/")
    page.get_by_label("Identifiant").fill("nina")
    page.get_by_label("Mot de passe", exact=True).fill(enrolment.password)
    wrong = "000000" if pyotp.TOTP(enrolment.totp_secret).now() != "000000" else "111111"
    page.get_by_label("Code de l'application d'authentification").fill(wrong)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("alert")).to_contain_text("incorrect")
    site.shot(page, "login-refused")

    log_in(page, site, "nina", recovery_code=enrolment.recovery_codes[0])
    expect(page.get_by_role("heading", name="File d'attente")).to_be_visible()
    page.get_by_role("link", name="Mon compte").click()
    expect(page.get_by_text("Codes restants : 9")).to_be_visible()
    site.shot(page, "account")
