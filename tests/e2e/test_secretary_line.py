"""The demo practice's secretaries' line, out of the box, over real SIP.

`telesec serve` on the demo practice (whose profile names the secretaries' line) and the
secretary's softphone started exactly as the README says (`scripts/softphone.sh
secretary`: baresip, headless, a WAV as microphone). A patient (sipp + an RTP peer) asks
for the secretariat: the worker rings her, she answers, they hear each other; the queue
then shows the call answered by phone, with the number to call back sealed. Once she has
gone, a second caller who asks for her gets the voicemail instead and the queue shows
the caller gone (hung up), the call-back number kept.
"""

from __future__ import annotations

import array
import os
import signal
import subprocess
import time
import wave
from pathlib import Path

import pytest
from sqlalchemy import select

from foundation.settings import load_settings
from ivr_flows.checker import load_flow
from ivr_flows.steps import STEP_KINDS
from storage import escalations
from storage.identity import install
from storage.keyring import Keyring
from storage.models import Escalation
from telesec.wiring import open_database
from tests.e2e.caller import PACKET_S, phone_call, spoken_alaw, start_to_menu
from tests.e2e.conftest import DEMO_NUMBER
from tests.e2e.engine_run import clean_env, prepare_demo, start_serve
from tests.ports import free_port, free_rtp_base
from tests.telephony.peers import REPO

pytestmark = [pytest.mark.sip, pytest.mark.timeout(420)]

PHONE, BIRTH_KEYS = "+33639980007", "03122001"  # demo patient 100007
OTHER = "+33639980008"  # demo patient 100008, born 21 April 1942


def start_secretary(env: dict[str, str], port: int) -> tuple[subprocess.Popen, Path]:
    log = Path(env["TELESEC_DATA_DIR"]) / "secretary.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            ["bash", str(REPO / "scripts" / "softphone.sh"), "secretary", "-t", "300"],
            env={**env, "SOFTPHONE_PORT": str(port), "SOFTPHONE_RTP": str(free_rtp_base())},
            cwd=Path(env["TELESEC_DATA_DIR"]).parent, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while "baresip is ready" not in log.read_text(errors="replace"):
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    return process, log


def loud_seconds(path: Path) -> float:
    """Seconds of a WAV file louder than a quiet line."""
    with wave.open(str(path)) as wav:
        rate, width = wav.getframerate(), wav.getsampwidth()
        samples = array.array("h", wav.readframes(wav.getnframes())) if width == 2 else []
    step_ = rate // 50
    loud = sum(1 for i in range(0, len(samples), step_)
               if max((abs(s) for s in samples[i:i + step_]), default=0) > 2000)
    return loud / 50


def escalation_of(db, call_tag: str) -> Escalation:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with db.session() as session:
            row = session.scalar(select(Escalation).where(Escalation.call_id.like(
                f"{call_tag}-%")))
            if row is not None and row.call_ended_at is not None:
                session.expunge(row)
                return row
        time.sleep(0.3)
    raise AssertionError(f"no finished escalation for {call_tag}")


def test_the_demo_secretary_line_answers_then_a_gone_caller_is_shown(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    env = clean_env(data_dir)
    port = free_port(span=2)
    # the demo's own flow (`transfer: secretaries`), its line set as a practice manager would
    flow = prepare_demo(env, data_dir, secretary_line=f"sip:secretariat@127.0.0.1:{port}")
    # the message after no answer goes to the practice's box: a caller who says nothing
    # would otherwise sit through "which doctor?" and its retries (about 45 s of the test)
    text = flow.read_text()
    assert text.count("voicemail: {to: ask,") == 1
    flow.write_text(text.replace("voicemail: {to: ask,", "voicemail: {to: practice,"))
    load_flow(flow, kinds=STEP_KINDS)
    secretary, secretary_log = start_secretary(env, port)
    served = start_serve(env, tmp_path, workers=1, max_calls=3)
    settings = load_settings(data_dir=data_dir)
    install(Keyring.load(settings.effective_keyring_path))
    db = open_database(settings)
    try:
        hello = spoken_alaw("Bonjour, je voudrais parler au docteur.", tmp_path)
        with phone_call(tmp_path, served.sip_port, caller=PHONE, dialled=DEMO_NUMBER,
                        tag="sec-answered", timeout=120) as peer:
            # le secrétariat: "je vous mets en relation", then it rings
            start_to_menu(peer, BIRTH_KEYS, "0")
            deadline = time.monotonic() + 40
            while "established" not in secretary_log.read_text(errors="replace"):
                assert time.monotonic() < deadline, secretary_log.read_text()[-2000:]
                time.sleep(0.05)
            before = peer.loud_packets  # from here on, only she can be heard
            time.sleep(5.0)  # "Secrétariat du cabinet médical des Tilleuls, bonjour..."
            heard = (peer.loud_packets - before) * PACKET_S
            peer.speak(hello)
            time.sleep(4.0)
            secretary.send_signal(signal.SIGINT)  # she hangs up: the caller's call ends
            secretary.wait(20)
        assert heard >= 2.0, (heard, peer.timeline())  # her sentence reached the caller
        dumps = sorted((data_dir / "softphones" / "secretary").glob("dump*-dec.wav"))
        assert dumps and max(loud_seconds(p) for p in dumps) >= 1.0, dumps  # she heard
        answered = escalation_of(db, "sec-answered")
        assert answered.call_outcome == "transferred"
        view = escalations.get(db, answered.id)
        assert view is not None and view.caller_line == "answered"
        assert escalations.caller_number(db, answered.id) == PHONE

        # she has gone: the next caller gets the voicemail, and is shown as gone
        with phone_call(tmp_path, served.sip_port, caller=OTHER, dialled=DEMO_NUMBER,
                        tag="sec-gone", timeout=150) as peer:
            start_to_menu(peer, "21041942", "0")
            # nobody answers; the caller says nothing into the voicemail; Telesec hangs up
        gone = escalation_of(db, "sec-gone")
        view = escalations.get(db, gone.id)
        assert view is not None and view.caller_line == "hung_up" and view.status == "waiting"
        assert escalations.caller_number(db, gone.id) == OTHER
    finally:
        db.dispose()
        if secretary.poll() is None:
            secretary.kill()
            secretary.wait(5)
        code = served.stop()
    assert code == 0, served.logs()[-3000:]
    assert PHONE not in served.logs() and OTHER not in served.logs()
    assert os.path.exists(data_dir / "softphones" / "secretary" / "config")
