"""The secretary answers in the browser: the console's softphone against `telesec serve`.

`telesec serve` on the demo practice with the softphone on (SIP over WebSocket on the
front, rtpengine between the browser's DTLS-SRTP and the worker's RTP). Debian's Chromium
with fake media devices (its microphone: an espeak-ng sentence) logs in as a secretary and
sets herself available. A patient (sipp + an RTP peer) presses 0: the page rings, the test
clicks "Décrocher", her booking screen opens on the verified caller, the card says she
took it, the caller hears her microphone, her page hears the caller (the level meter of
the received audio), her page is reloaded mid-call (the engine keeps the caller and rings
the desk again; her reloaded page answers, audio both ways), she transfers the caller to
the secretariat (REFER), her colleague answers in his page and hangs up, and the caller's
call ends. The answer time (click → call confirmed, click → her voice at the caller) is
printed.
"""

from __future__ import annotations

import array
import math
import os
import subprocess
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect
from sqlalchemy import select

from foundation.processes import descendants
from foundation.settings import load_settings
from storage import escalations
from storage.db import Database
from storage.identity import install
from storage.keyring import Keyring
from storage.models import CallRecord, ObjectStatus
from storage.vault import Vault
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
from tests.ports import free_port, free_rtp_range

pytestmark = [pytest.mark.sip, pytest.mark.timeout(300)]

PHONE, BIRTH_KEYS = "+33639980007", "03122001"  # demo patient 100007
TONE_HZ = 1000
NEW_PASSWORD = "Un-mot-de-passe-assez-long-2026"
MEDIA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
              "--allow-loopback-in-peer-connection"]


def _microphone(tmp: Path) -> Path:
    """The secretary's fake microphone, looped by Chromium: a 1 kHz tone (1 s on, 0.5 s
    off), which no prompt of the engine contains, so the recording shows where she is."""
    wav = tmp / "secretary.wav"
    subprocess.run(["sox", "-n", "-r", "48000", "-c", "1", "-b", "16", str(wav),
                    "synth", "1", "sine", str(TONE_HZ), "vol", "0.5", "pad", "0", "0.5"],
                   check=True, timeout=30)
    return wav


def tone_seconds(stereo: bytes, channel: int, rate: int = 16000) -> float:
    """Seconds of one channel of a 16-bit stereo recording that are the 1 kHz tone
    (Goertzel power over 20 ms blocks against the block's whole power)."""
    samples = array.array("h")
    samples.frombytes(stereo[: len(stereo) // 4 * 4])
    side = samples[channel::2]
    block = rate // 50
    coeff = 2 * math.cos(2 * math.pi * TONE_HZ / rate)
    found = 0
    for start in range(0, len(side) - block + 1, block):
        s1 = s2 = energy = 0.0
        for x in side[start:start + block]:
            s1, s2 = x + coeff * s1 - s2, s1
            energy += x * x
        if energy < block * 500.0 ** 2:
            continue  # quiet
        power = s1 * s1 + s2 * s2 - coeff * s1 * s2
        if power / (energy * block / 2) > 0.6:
            found += 1
    return found * block / rate


def relay_and_front_cpu(served: Served) -> float:
    """CPU seconds used so far by the serve's rtpengine and Kamailio processes."""
    total = 0.0
    for pid in descendants(served.process.pid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if command.endswith((b"rtpengine", b"kamailio")):
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def recording_of(db: Database, vault: Vault, call_tag: str) -> tuple[bytes, int]:
    """The decrypted recording of the call whose Call-ID starts with ``call_tag``, and its
    sample rate (the worker's bridge rate, from the object's media type)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with db.session() as session:
            object_id = session.scalar(select(CallRecord.recording_object_id).where(
                CallRecord.id.like(f"{call_tag}-%")))
        if object_id and (found := vault.get(object_id)).status is ObjectStatus.COMPLETE:
            rate = int((found.media_type or "rate=16000").split("rate=")[1].split(";")[0])
            return vault.read(object_id), rate
        time.sleep(0.3)
    raise AssertionError(f"no finished recording for {call_tag}")


#: test instrumentation: the page's RTCPeerConnections, to read which ICE path carried media
_RECORD_PEERS = """(() => {
  const Native = window.RTCPeerConnection;
  window.__peers = [];
  window.RTCPeerConnection = function (...args) {
    const peer = new Native(...args);
    window.__peers.push(peer);
    return peer;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
})();"""

_MEDIA_PATH = """async () => {
  const peer = window.__peers[window.__peers.length - 1];
  if (!peer) return null;
  const stats = await peer.getStats();
  let pair = null;
  stats.forEach(s => {
    if (s.type === "transport" && s.selectedCandidatePairId) {
      pair = stats.get(s.selectedCandidatePairId);
    }
  });
  if (!pair) return null;
  const local = stats.get(pair.localCandidateId);
  return {policy: peer.getConfiguration().iceTransportPolicy, type: local.candidateType,
          relayProtocol: local.relayProtocol || ""};
}"""


def _console(browser: Browser, served: Served, staff: StaffLogin,
             problems: list[str], sockets: list[str] | None = None
             ) -> tuple[BrowserContext, Page]:
    """A secretary's console, logged in (first password changed), her panel available.
    The console is served over HTTPS with its self-signed certificate, which the page
    accepts as a secretary would (ignore_https_errors: for the page and its WSS)."""
    context = browser.new_context(viewport=VIEWPORT, locale="fr-FR", timezone_id="Europe/Paris",
                                  ignore_https_errors=True)
    context.set_default_timeout(20_000)
    context.add_init_script(_RECORD_PEERS)
    page = context.new_page()
    page.on("pageerror", lambda error: problems.append(f"{staff.login}: script error: {error}"))
    if sockets is not None:
        page.on("websocket", lambda socket: sockets.append(socket.url))
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


def test_the_secretary_answers_in_the_browser(tmp_path: Path,
                                             playwright_driver: Playwright) -> None:
    data_dir = tmp_path / "var"
    wss_port, (relay_first, relay_last) = free_port(), free_rtp_range()
    env = clean_env(data_dir, TELESEC_SIP__WEBPHONE__ENABLED="true",
                    TELESEC_SIP__WEBPHONE__WS_PORT=str(free_port()),
                    TELESEC_SIP__WEBPHONE__WSS_PORT=str(wss_port),
                    TELESEC_API__HTTPS="true",  # remote by default: HTTPS and WSS
                    # a network that blocks UDP: media only through TURN over TCP
                    TELESEC_SIP__WEBPHONE__TURN__ENABLED="true",
                    TELESEC_SIP__WEBPHONE__TURN__PORT=str(free_port()),
                    TELESEC_SIP__WEBPHONE__TURN__RELAY_PORT_MIN=str(relay_first),
                    TELESEC_SIP__WEBPHONE__TURN__RELAY_PORT_MAX=str(relay_last),
                    TELESEC_SIP__WEBPHONE__TURN__TRANSPORTS='["tcp"]',
                    TELESEC_SIP__WEBPHONE__TURN__RELAY_ONLY="true",
                    TELESEC_SIP__WEBPHONE__TURN__ALLOW_LOOPBACK_PEERS="true")
    prepare_demo(env, data_dir)  # no secretaries' line: only the console's desk rings
    alice = add_staff(env, "alice", "--role", "secretary", "--practice", "demo")
    bob = add_staff(env, "bob", "--role", "secretary", "--practice", "demo")
    served = start_serve(env, tmp_path, workers=1, max_calls=3)
    settings = load_settings(data_dir=data_dir)
    install(Keyring.load(settings.effective_keyring_path))
    db = open_database(settings)
    microphone = _microphone(tmp_path)
    try:
        driver = playwright_driver
        browser = driver.chromium.launch(
            executable_path=CHROMIUM,
            args=[*CHROMIUM_ARGS, *MEDIA_ARGS,
                  f"--use-file-for-fake-audio-capture={microphone}"])
        problems: list[str] = []
        sockets: list[str] = []
        assert served.api.startswith("https://")
        context, page = _console(browser, served, alice, problems, sockets)
        # her softphone registered over WSS, with the console's self-signed certificate
        assert sockets and all(url.startswith(f"wss://127.0.0.1:{wss_port}")
                               for url in sockets), sockets
        assert "self-signed certificate" in served.logs()
        assert "TURN relay up" in served.logs()
        other_context, other_page = _console(browser, served, bob, problems)
        phone = page.locator("#softphone")
        other_phone = other_page.locator("#softphone")

        hello = spoken_alaw("Bonjour, je voudrais un rendez-vous demain matin.", tmp_path)
        with phone_call(tmp_path, served.sip_port, caller=PHONE, dialled=DEMO_NUMBER,
                        tag="softphone", timeout=120) as peer:
            start_to_menu(peer, BIRTH_KEYS, "1")  # to book: verified by caller ID + birth date
            step(peer, "0")  # le secrétariat: the page rings
            answer = phone.get_by_role("button", name="Décrocher")
            expect(answer).to_be_visible(timeout=40_000)
            expect(other_phone.get_by_role("button", name="Décrocher")).to_be_visible()
            expect(phone).to_contain_text("Identité vérifiée")  # the caller's context
            time.sleep(2.0)  # let "je vous mets en relation" end: then only she speaks
            before = peer.loud_packets
            cpu_before = relay_and_front_cpu(served)
            clicked = time.monotonic()
            answer.click()
            expect(phone.get_by_text("En communication")).to_be_visible()
            # the colleague's page stops ringing and her card says who took the call
            expect(other_phone.get_by_role("button", name="Décrocher")).to_have_count(0)
            expect(other_page.locator("article.call-card")).to_contain_text(
                "Pris par alice")
            confirmed_ms = int(phone.get_attribute("data-answer-ms") or -1)
            # the caller's identity was verified: her booking screen opens on him by itself
            expect(page.get_by_role("heading", name="Prendre un rendez-vous")).to_be_visible()
            expect(page.locator(".chosen")).to_contain_text("BLANCHARD Chloé")
            heard_at = None
            while time.monotonic() - clicked < 15:
                if peer.loud_packets - before >= 10:  # 200 ms of her voice
                    heard_at = time.monotonic()
                    break
                time.sleep(0.02)
            assert heard_at is not None, peer.timeline()  # her microphone reached him
            # ... through coturn over TCP: the only path a relay-only page may take
            assert page.evaluate(_MEDIA_PATH) == {
                "policy": "relay", "type": "relay", "relayProtocol": "tcp"}
            peer.speak(hello)
            deadline = time.monotonic() + 10
            peak = 0.0
            while time.monotonic() < deadline and peak < 0.05:
                peak = float(phone.locator("meter").get_attribute("data-peak") or 0)
                time.sleep(0.2)
            assert peak >= 0.05, peak  # his voice reached her page
            page.get_by_role("link", name="File d'attente").click()
            card = page.locator("article.call-card")
            expect(card).to_contain_text("Avec vous")  # she took the call
            phone.get_by_role("button", name="Couper le micro").click()
            expect(phone.get_by_role("button", name="Réactiver le micro")).to_be_visible()
            time.sleep(1.0)
            muted = peer.loud_packets
            time.sleep(1.5)
            assert peer.loud_packets - muted <= 5, peer.loud_packets - muted  # she is muted
            # on hold (her microphone still muted): the caller hears the engine's music
            phone.get_by_role("button", name="Mettre en attente").click()
            expect(phone.get_by_text("En attente")).to_be_visible()
            held = peer.loud_packets
            deadline = time.monotonic() + 6
            while time.monotonic() < deadline and peer.loud_packets - held < 25:
                time.sleep(0.1)
            assert peer.loud_packets - held >= 25, peer.timeline()  # 0.5 s of music
            phone.get_by_role("button", name="Reprendre").click()
            expect(phone.get_by_text("En communication")).to_be_visible()
            phone.get_by_role("button", name="Réactiver le micro").click()
            time.sleep(3.0)  # she talks again (the recording must hold her voice)
            cpu = relay_and_front_cpu(served) - cpu_before
            talked = time.monotonic() - clicked
            # her page is reloaded mid-call: the engine keeps the caller (a prompt, music),
            # the card waits again and the desk rings again; her reloaded page answers
            reloaded = time.monotonic()
            page.reload()
            expect(phone.get_by_role("button", name="Me rendre disponible")).to_be_visible()
            phone.get_by_role("button", name="Me rendre disponible").click()
            expect(phone.get_by_role("status")).to_have_text("Disponible")
            expect(other_page.locator("article.call-card")).not_to_contain_text(
                "Pris par alice", timeout=20_000)  # back to waiting
            answer = phone.get_by_role("button", name="Décrocher")
            expect(answer).to_be_visible(timeout=30_000)
            rung_again = time.monotonic() - reloaded
            answer.click()
            expect(phone.get_by_text("En communication")).to_be_visible()
            expect(other_page.locator("article.call-card")).to_contain_text("Pris par alice")
            expect(other_phone.get_by_role("button", name="Décrocher")).to_have_count(0)
            time.sleep(0.5)  # the hold music stops at the answer
            before = peer.loud_packets
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and peer.loud_packets - before < 10:
                time.sleep(0.05)
            assert peer.loud_packets - before >= 10, peer.timeline()  # her voice again
            peer.speak(hello)
            deadline = time.monotonic() + 10
            peak = 0.0
            while time.monotonic() < deadline and peak < 0.05:
                peak = float(phone.locator("meter").get_attribute("data-peak") or 0)
                time.sleep(0.2)
            assert peak >= 0.05, peak  # and his voice reaches her reloaded page
            # she passes the caller on to the secretariat (REFER): bob's page rings,
            # he answers, her call ends; then he hangs up
            phone.get_by_role("button", name="Transférer").click()
            other_phone.get_by_role("button", name="Décrocher").click()
            expect(other_phone.get_by_text("En communication")).to_be_visible()
            expect(other_phone).to_contain_text("Identité vérifiée")  # the caller's card
            expect(phone.get_by_text("En communication")).to_have_count(0)
            other_phone.get_by_role("button", name="Raccrocher").click()
            expect(other_phone.get_by_text("En communication")).to_have_count(0)
        # the caller's call ended (phone_call waited for Telesec's BYE)
        print(f"\nsoftphone answer: click -> call confirmed {confirmed_ms} ms, "
              f"click -> her voice at the caller {int((heard_at - clicked) * 1000)} ms; "
              f"rtpengine + Kamailio CPU {100 * cpu / talked:.1f}% of a core over "
              f"{talked:.0f} s of the browser call; page reloaded -> rung again "
              f"{rung_again:.1f} s")
        # the recording holds both sides: him on the left, her tone on the right
        audio, rate = recording_of(db, Vault(db, Keyring.load(settings.effective_keyring_path),
                                       settings.vault_path), "softphone")
        assert tone_seconds(audio, 1, rate) >= 2.5, tone_seconds(audio, 1, rate)
        assert tone_seconds(audio, 0, rate) < 1.0, tone_seconds(audio, 0, rate)
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
