"""The secretary answers in the browser: the console's softphone against `telesec serve`.

`telesec serve` on the demo practice with the softphone on (SIP over WebSocket on the
front, rtpengine between the browser's DTLS-SRTP and the worker's RTP). Debian's Chromium
with fake media devices (its microphone: an espeak-ng sentence) logs in as a secretary and
sets herself available. A patient (sipp + an RTP peer) presses 0: the page rings, the test
clicks "Décrocher", the card says she took it, the caller hears her microphone, her page
hears the caller (the level meter of the received audio), she hangs up and the caller's
call ends. The answer time (click → call confirmed, click → her voice at the caller) is
printed.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from foundation.settings import load_settings
from storage import escalations
from storage.identity import install
from storage.keyring import Keyring
from telesec.wiring import open_database
from tests.console.conftest import CHROMIUM, CHROMIUM_ARGS, VIEWPORT
from tests.e2e.caller import phone_call, spoken_alaw, start_to_menu, step
from tests.e2e.conftest import DEMO_NUMBER
from tests.e2e.engine_run import (
    Served,
    StaffLogin,
    add_staff,
    clean_env,
    prepare_demo,
    start_serve,
)
from tests.e2e.test_secretary_line import escalation_of
from tests.telephony.peers import free_port

pytestmark = [pytest.mark.sip, pytest.mark.timeout(300)]

PHONE, BIRTH_KEYS = "+33639980007", "03122001"  # demo patient 100007
NEW_PASSWORD = "Un-mot-de-passe-assez-long-2026"
MEDIA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
              "--allow-loopback-in-peer-connection"]


def _microphone(tmp: Path) -> Path:
    """The secretary's fake microphone: a sentence, looped by Chromium."""
    wav = tmp / "secretary.wav"
    subprocess.run(["espeak-ng", "-v", "fr", "-w", str(wav),
                    "Secrétariat du cabinet, bonjour, je vous écoute."], check=True, timeout=30)
    return wav


def _console(browser: Browser, served: Served, staff: StaffLogin,
             problems: list[str]) -> tuple[BrowserContext, Page]:
    """A secretary's console, logged in (first password changed), her panel available."""
    context = browser.new_context(viewport=VIEWPORT, locale="fr-FR", timezone_id="Europe/Paris")
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.on("pageerror", lambda error: problems.append(f"{staff.login}: script error: {error}"))
    page.goto(f"{served.api}/")
    page.get_by_label("Identifiant").fill(staff.login)
    page.get_by_label("Mot de passe", exact=True).fill(staff.password)
    page.get_by_label("Code de l'application d'authentification").fill(staff.totp.now())
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_label("Mot de passe provisoire").fill(staff.password)
    page.get_by_label("Nouveau mot de passe", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirmez le nouveau mot de passe").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_role("heading", name="File d'attente")).to_be_visible()
    phone = page.locator("#softphone")
    phone.get_by_role("button", name="Me rendre disponible").click()
    expect(phone.get_by_role("status")).to_have_text("Disponible")
    return context, page


def test_the_secretary_answers_in_the_browser(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    env = clean_env(data_dir, TELESEC_SIP__WEBPHONE__ENABLED="true",
                    TELESEC_SIP__WEBPHONE__WS_PORT=str(free_port()))
    prepare_demo(env, data_dir)  # no secretaries' line: only the console's desk rings
    alice = add_staff(env, "alice", "--role", "secretary", "--practice", "demo")
    bob = add_staff(env, "bob", "--role", "secretary", "--practice", "demo")
    served = start_serve(env, tmp_path, workers=1, max_calls=3)
    settings = load_settings(data_dir=data_dir)
    install(Keyring.load(settings.effective_keyring_path))
    db = open_database(settings)
    microphone = _microphone(tmp_path)
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(
                executable_path=CHROMIUM,
                args=[*CHROMIUM_ARGS, *MEDIA_ARGS,
                      f"--use-file-for-fake-audio-capture={microphone}"])
            problems: list[str] = []
            context, page = _console(browser, served, alice, problems)
            other_context, other_page = _console(browser, served, bob, problems)
            phone = page.locator("#softphone")
            other_phone = other_page.locator("#softphone")

            hello = spoken_alaw("Bonjour, je voudrais un rendez-vous demain matin.", tmp_path)
            with phone_call(tmp_path, served.sip_port, caller=PHONE, dialled=DEMO_NUMBER,
                            tag="softphone", timeout=120) as peer:
                start_to_menu(peer, BIRTH_KEYS)
                step(peer, "0")  # le secrétariat: the page rings
                answer = phone.get_by_role("button", name="Décrocher")
                expect(answer).to_be_visible(timeout=40_000)
                expect(other_phone.get_by_role("button", name="Décrocher")).to_be_visible()
                expect(phone).to_contain_text("Identité vérifiée")  # the caller's context
                time.sleep(2.0)  # let "je vous mets en relation" end: then only she speaks
                before = peer.loud_packets
                clicked = time.monotonic()
                answer.click()
                expect(phone.get_by_text("En communication")).to_be_visible()
                # the colleague's page stops ringing and her card says who took the call
                expect(other_phone.get_by_role("button", name="Décrocher")).to_have_count(0)
                expect(other_page.locator("article.call-card")).to_contain_text(
                    "Pris par alice")
                confirmed_ms = int(phone.get_attribute("data-answer-ms") or -1)
                heard_at = None
                while time.monotonic() - clicked < 15:
                    if peer.loud_packets - before >= 10:  # 200 ms of her voice
                        heard_at = time.monotonic()
                        break
                    time.sleep(0.02)
                assert heard_at is not None, peer.timeline()  # her microphone reached him
                peer.speak(hello)
                deadline = time.monotonic() + 10
                peak = 0.0
                while time.monotonic() < deadline and peak < 0.05:
                    peak = float(phone.locator("meter").get_attribute("data-peak") or 0)
                    time.sleep(0.2)
                assert peak >= 0.05, peak  # his voice reached her page
                card = page.locator("article.call-card")
                expect(card).to_contain_text("Avec vous")  # she took the call
                phone.get_by_role("button", name="Couper le micro").click()
                expect(phone.get_by_role("button", name="Réactiver le micro")).to_be_visible()
                phone.get_by_role("button", name="Réactiver le micro").click()
                phone.get_by_role("button", name="Raccrocher").click()
                expect(phone.get_by_text("En communication")).to_have_count(0)
            # the caller's call ended (phone_call waited for Telesec's BYE)
            print(f"\nsoftphone answer: click -> call confirmed {confirmed_ms} ms, "
                  f"click -> her voice at the caller {int((heard_at - clicked) * 1000)} ms")
            escalation = escalation_of(db, "softphone")
            view = escalations.get(db, escalation.id)
            assert view is not None and view.claimed_by == "alice"
            phone.get_by_role("button", name="Me mettre en pause").click()
            expect(phone.get_by_role("status")).to_have_text("En pause")
            assert not problems, problems
            context.close()
            other_context.close()
            browser.close()
    finally:
        db.dispose()
        code = served.stop()
    assert code == 0, served.logs()[-3000:]
    assert PHONE not in served.logs()
