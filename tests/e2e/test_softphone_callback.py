"""A call-back from the console: the secretary calls a hung-up caller back from his card.

`telesec serve` on the demo practice, the softphone on, and an IP trunk whose far end is
a sipp "patient" on loopback. The secretary reveals the number (audited), clicks
"Appeler depuis la console": her page's INVITE (JsSIP, answering the front's 407 with her
desk's token) leaves through the trunk, and sipp checks that it shows the practice's
number (From and P-Asserted-Identity). The patient is busy: the card notes the call-back
as "Pas de réponse". At the second try he answers: her microphone reaches his phone as
RTP through the front's rtpengine, and she hangs up.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Playwright, expect
from sqlalchemy import select

from foundation.settings import load_settings
from storage import calls, escalations
from storage.identity import install
from storage.keyring import Keyring
from storage.models import AuditEvent, Practice
from telesec.wiring import open_database
from tests.console.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.conftest import DEMO_NUMBER
from tests.e2e.engine_run import add_staff, clean_env, prepare_demo, start_serve
from tests.e2e.test_softphone import MEDIA_ARGS, _console, _microphone
from tests.ports import free_port, free_rtp_base
from tests.telephony.peers import sipp_errors, sipp_uas, wait_exit
from tests.telephony.rtp import RtpSink

pytestmark = [pytest.mark.sip, pytest.mark.timeout(240)]

PATIENT = "+33639980088"
SCENARIO = Path(__file__).parents[1] / "telephony_pool" / "sipp" / "patient_called_back.xml"


def test_the_secretary_calls_a_patient_back_from_the_card(
        tmp_path: Path, playwright_driver: Playwright) -> None:
    data_dir = tmp_path / "var"
    patient_port = free_port()
    config = tmp_path / "telesec.toml"
    config.write_text("[[sip.trunks]]\n"
                      f'name = "line"\nkind = "ip"\nregistrar = "127.0.0.1:{patient_port}"\n'
                      f'numbers = ["{DEMO_NUMBER}"]\nnetworks = ["127.0.0.1/32"]\n')
    env = clean_env(data_dir, TELESEC_CONFIG=str(config), TELESEC_SIP__WEBPHONE__ENABLED="true",
                    TELESEC_SIP__WEBPHONE__WS_PORT=str(free_port()))
    prepare_demo(env, data_dir)
    alice = add_staff(env, "alice", "--role", "secretary", "--practice", "demo")
    settings = load_settings(data_dir=data_dir)
    install(Keyring.load(settings.effective_keyring_path))
    db = open_database(settings)
    with db.read_session() as session:
        demo_id = session.scalar(select(Practice.id).where(Practice.slug == "demo"))
    call_id = uuid.uuid4().hex
    calls.call_started(db, call_id, demo_id)
    escalation = escalations.publish(db, call_id=call_id, practice_id=demo_id, intent="book",
                                     reason="caller_transfer", caller_number=PATIENT)
    escalations.call_ended(db, call_id, outcome="caller_hung_up")
    # the patient's phone: answers busy once it has checked the caller ID it is shown
    busy_xml = tmp_path / "patient.xml"
    busy_xml.write_text(SCENARIO.read_text().replace("+33100000001", DEMO_NUMBER)
                        .replace("+33612345678", PATIENT))
    patient = subprocess.Popen(
        ["sipp", "-sf", str(busy_xml), "-i", "127.0.0.1", "-p", str(patient_port),
         "-mp", str(free_rtp_base()), "-m", "1", "-timeout", "150s", "-timeout_error",
         "-nostdin", "-trace_err"],
        cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    served = start_serve(env, tmp_path, workers=1, max_calls=2)
    try:
        driver = playwright_driver
        browser = driver.chromium.launch(
            executable_path=CHROMIUM,
            args=[*CHROMIUM_ARGS, *MEDIA_ARGS,
                  f"--use-file-for-fake-audio-capture={_microphone(tmp_path)}"])
        problems: list[str] = []
        context, page = _console(browser, served, alice, problems)
        card = page.locator("article.call-card")
        card.get_by_role("button", name="Afficher le numéro à rappeler").click()
        card.get_by_role("button", name="Appeler depuis la console").click()
        expect(card).to_contain_text("Pas de réponse", timeout=30_000)
        patient.wait(timeout=30)
        errors = "".join(p.read_text() for p in tmp_path.glob("patient_*_errors.log"))
        assert patient.returncode == 0, errors[-2000:]
        # the second try: he answers (G.711); her microphone reaches him through the
        # front's rtpengine (DTLS-SRTP in the page, RTP to the trunk); she hangs up
        sink = RtpSink()
        answers_xml = tmp_path / "patient_answers.xml"
        answers_xml.write_text((SCENARIO.parent / "patient_answers.xml").read_text()
                               .replace("@RING_MS@", "300")
                               .replace("@RTP_SINK_PORT@", str(sink.port)))
        answers = sipp_uas(tmp_path, answers_xml, patient_port)
        try:
            card.get_by_role("button", name="Appeler depuis la console").click()
            phone = page.locator("#softphone")
            expect(phone.get_by_text("En communication")).to_be_visible()
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and sink.loud_seconds() < 1.0:
                time.sleep(0.2)
            assert sink.loud_seconds() >= 1.0, sink.loud_seconds()
            phone.get_by_role("button", name="Raccrocher").click()
            assert wait_exit(answers, 15) == 0, sipp_errors(answers_xml)  # BYE taken
        finally:
            sink.close()
            wait_exit(answers, 0.1)
        assert not problems, problems
        context.close()
        browser.close()
        view = escalations.get(db, escalation)
        assert view is not None
        assert [(c["outcome"], c["by"]) for c in view.callbacks] == [("no_answer", "alice")]
        with db.read_session() as session:
            reads = session.scalars(select(AuditEvent.actor).where(
                AuditEvent.action == "escalation.caller_number.read")).all()
        assert reads == ["staff:alice"]
    finally:
        if patient.poll() is None:
            patient.kill()
            patient.wait()
        db.dispose()
        code = served.stop()
    assert code == 0, served.logs()[-3000:]
    assert PATIENT not in served.logs()
