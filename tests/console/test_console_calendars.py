"""The calendars in the console (real Chromium, real Radicale): the admin links a doctor's
calendar and turns the identity setting on and off (warned); the secretary sees an
appointment in conflict flagged in the day's agenda, moves it, and sees the warning of a
calendar whose server does not answer. The engine's job is run by the test between steps.
"""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect
from sqlalchemy import select

from calendars.credentials import checked_source
from calendars.links import link_calendar
from calendars.sync import CalendarSync
from scheduling.values import Booked, Channel
from storage.models import Appointment, AppointmentStatus, Practitioner
from storage.patients import PatientDirectory
from tests.calendars.conftest import DOCTOR, DOCTOR_PASSWORD, radicale, vcalendar, vevent  # noqa: F401
from tests.calendars.radicale_server import RadicaleServer
from tests.console.conftest import ConsoleSite, log_in

PARIS = ZoneInfo("Europe/Paris")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again on leaving: nothing listens there


def test_admin_links_a_calendar_and_the_secretary_moves_a_conflict(
        site: ConsoleSite, page: Page, radicale: RadicaleServer) -> None:  # noqa: F811
    world = site.world
    world.add_user("ada", "admin")
    world.add_user("sam", "secretary", practices=["demo"])
    world.ready("ada")
    world.ready("sam")
    url = radicale.make_calendar(DOCTOR, f"console-{uuid.uuid4().hex[:6]}")
    job = CalendarSync(world.db, world.keyring)  # what `telesec serve` runs every few seconds
    with world.db.read_session() as session:
        ids = {p.slug: p.id for p in session.scalars(select(Practitioner))}

    # the admin links dr-lambert's calendar from the console
    log_in(page, site, "ada")
    page.get_by_role("link", name="Calendriers").click()
    expect(page.get_by_role("heading", name="Calendriers des praticiens")).to_be_visible()
    row = page.locator('tr[data-practitioner="dr-lambert"]')
    row.get_by_role("button", name="Lier un calendrier…").click()
    dialog = page.locator("dialog.modal")
    dialog.get_by_label("Adresse du calendrier").fill(url)
    dialog.get_by_label("Identifiant").fill(DOCTOR)
    dialog.get_by_label("Mot de passe").fill(DOCTOR_PASSWORD)
    dialog.get_by_role("button", name="Lier").click()
    expect(row).to_contain_text("En attente de synchronisation")
    assert [r.ok for r in job.run_due()] == [True]
    expect(row).to_contain_text("Synchronisé")  # the screen polls while a sync is pending
    expect(row).to_contain_text(f"CalDAV (deux sens) · 127.0.0.1:{radicale.port}")
    body = page.content()
    assert url not in body and DOCTOR_PASSWORD not in body
    site.shot(page, "admin-calendars")

    # patient names in the calendars: warned, confirmed, audited; then off again
    page.once("dialog", lambda box: box.accept())
    page.get_by_label("Publier le nom et le numéro du patient dans les calendriers").check()
    expect(page.get_by_role("alert")).to_contain_text("quittent le chiffrement de Telesec")
    site.shot(page, "admin-calendars-identity-warning")
    page.get_by_label("Publier le nom et le numéro du patient dans les calendriers").uncheck()
    expect(page.get_by_role("alert")).to_have_count(0)

    # dr-moreau's calendar is on a server that does not answer
    with world.db.session() as session:
        link_calendar(session, world.keyring, world.demo_id, ids["dr-moreau"],
                      checked_source("ics", f"http://127.0.0.1:{_closed_port()}/moreau.ics",
                                     None, None), actor="cli:test")
    # a booking for dr-lambert, then the doctor's phone puts an event over it
    slots = world.app.state.context.agenda.find_slots(
        world.demo_id, "consultation", practitioner=ids["dr-lambert"], by=Channel.STAFF,
        after=datetime.now(UTC) + timedelta(days=1))
    assert isinstance(slots, list) and slots
    slot = slots[0]
    with world.db.read_session() as session:
        patient = PatientDirectory(session).by_code(world.demo_id, "100002")
        assert patient is not None
    booked = world.app.state.context.agenda.book(slot, patient.id, "console-conflict",
                                                 actor="staff:sam")
    assert isinstance(booked, Booked)
    with radicale.client(DOCTOR) as client:
        client.calendar(url=url).add_event(vcalendar(vevent(
            "meeting@phone", slot.starts_at.astimezone(PARIS),
            (slot.starts_at + timedelta(minutes=30)).astimezone(PARIS))))
    job.sync_now()

    # the secretary's agenda of that day: the appointment is flagged, she moves it
    page.get_by_role("button", name="Se déconnecter").click()
    log_in(page, site, "sam")
    page.get_by_role("link", name="Agenda du jour").click()
    day = slot.starts_at.astimezone(PARIS).date().isoformat()
    page.get_by_label("Jour", exact=True).fill(day)
    flagged = page.locator(f'tr[data-appointment="{booked.appointment.id}"]')
    expect(flagged).to_contain_text("Conflit agenda personnel — à déplacer")
    expect(page.locator(".calendar-warnings")).to_contain_text(
        "Calendrier de Docteur Julien Moreau : la dernière synchronisation a échoué")
    site.shot(page, "secretary-agenda-conflict")
    flagged.get_by_role("button", name="Déplacer…").click()
    page.locator("dialog.modal .slot").first.click()
    expect(page.locator(".toast.ok")).to_contain_text("Rendez-vous déplacé")
    expect(flagged).to_have_count(0)
    with world.db.read_session() as session:
        moved = session.get_one(Appointment, booked.appointment.id)
        new = session.scalar(select(Appointment).where(Appointment.replaces_id == moved.id))
    assert moved.status == AppointmentStatus.MOVED and new is not None
    assert new.starts_at >= slot.starts_at + timedelta(minutes=30)  # never over the event
    site.shot(page, "secretary-agenda-moved")
