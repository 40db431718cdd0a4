"""The whole product, as a practice runs it: one `telesec serve`, four patient calls, a doctor.

`telesec serve` runs as a subprocess (Kamailio front, pjsua2 workers with 3 calls each so
one line stays free for a bridged transfer, the staff API, the periodic jobs) on a fresh
data directory with the demo practice. A real caller (sipp + an RTP peer that presses
keys and speaks like a person) calls the practice number four times: it books, cancels
that booking, leaves a voicemail for a doctor (synthesised speech) and asks for a
secretary, who answers (baresip, auto-answer) and is bridged. Then a doctor, created
with `telesec users add`, logs in with password + TOTP and plays the voicemail (Range);
the agenda shows the cancelled appointment; `telesec audit verify` says intact; and the
whole run's logs carry no name, birth date, phone number or words of the message.
"""

from __future__ import annotations

import io
import signal
import subprocess
import time
import wave
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from foundation.settings import load_settings
from storage.models import Appointment, CallRecord, Escalation, Practice, VisitType
from telesec.wiring import open_database
from tests.e2e.caller import PACKET_S, phone_call, spoken_alaw, start_to_menu, step
from tests.e2e.conftest import DEMO_NUMBER
from tests.e2e.engine_run import (
    add_staff,
    api_session,
    clean_env,
    prepare_demo,
    start_serve,
    telesec_cli,
)
from tests.engine.test_serve import assert_one_line_per_event
from tests.ports import free_port, free_rtp_base
from tests.telephony.peers import BARESIP_CONFIG

pytestmark = [pytest.mark.sip, pytest.mark.timeout(480)]

# demo patient 100007 (scheduling/demo.py): known to the practice, nothing booked yet
CODE, PHONE, BIRTH_KEYS = "100007", "+33639980007", "03122001"
MESSAGE = ("Bonjour docteur, ici madame Blanchard. Je voudrais renouveler mon ordonnance "
           "de ventoline avant les vacances. Merci beaucoup.")
NEVER_LOGGED = (
    "Blanchard", "BLANCHARD", "Chloé", "Chloe", "CHLOÉ",  # name
    "2001-12-03", "03/12/2001", "03.12.2001", "03-12-2001", "03122001", "20011203",
    "3 décembre 2001", "03 décembre 2001", "3 december 2001", "December 3, 2001",  # birth
    "+33639980007", "0639980007", "639980007", "06 39 98 00 07", "+33 6 39 98 00 07",  # phone
    "ventoline", "ordonnance", "renouveler", "vacances",  # what was said
)


def start_secretary(tmp: Path) -> tuple[subprocess.Popen, str, Path]:
    """A secretary's softphone: baresip on a loopback port, registered nowhere, answering
    every call at once and playing a 440 Hz tone as her voice."""
    confdir = tmp / "secretary"
    confdir.mkdir()
    port, rtp = free_port(span=2), free_rtp_base()
    (confdir / "config").write_text(BARESIP_CONFIG.format(port=port, rtp=rtp, rtp_end=rtp + 40))
    (confdir / "accounts").write_text(
        f"<sip:secretariat@127.0.0.1:{port}>;regint=0;answermode=auto\n")
    (confdir / "contacts").write_text("")
    log = confdir / "baresip.log"
    with log.open("w") as out:
        process = subprocess.Popen(["baresip", "-f", str(confdir), "-t", "600"],
                                   stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    return process, f"sip:secretariat@127.0.0.1:{port}", log


def finished_call(db, tag: str, timeout: float = 15.0) -> CallRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session() as session:
            row = session.scalar(select(CallRecord).where(CallRecord.id.like(f"{tag}-%")))
            if row is not None and row.ended_at is not None:
                session.expunge(row)
                return row
        time.sleep(0.2)
    raise AssertionError(f"no finished call {tag} in the calls log")


def test_a_practice_day_end_to_end(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    env = clean_env(data_dir)
    secretary, secretary_uri, secretary_log = start_secretary(tmp_path)
    served = None
    try:
        prepare_demo(env, data_dir, secretaries=secretary_uri)
        settings = load_settings(data_dir=data_dir)
        db = open_database(settings)
        with db.session() as session:  # this practice lets patients cancel up to the last minute
            practice_id = session.scalar(select(Practice.id).where(Practice.slug == "demo"))
            session.execute(update(VisitType).where(VisitType.practice_id == practice_id)
                            .values(min_cancel_notice_minutes=0))
        doctor = add_staff(env, "dr.lambert", "--role", "doctor", "--practice", "demo",
                           "--practitioner", "dr-lambert")
        served = start_serve(env, tmp_path, workers=1, max_calls=3)
        calls = {}

        # 1. book: consultation with Dr Lambert, as soon as possible, first slot, yes
        with phone_call(tmp_path, served.sip_port, caller=PHONE, dialled=DEMO_NUMBER,
                        tag="acc-book") as peer:
            start_to_menu(peer, BIRTH_KEYS, "1")  # prendre rendez-vous
            step(peer, "1")  # consultation
            step(peer, "1")  # Docteure Lambert
            step(peer, "1")  # as soon as possible
            step(peer, "1")  # the first slot proposed
            step(peer, "1")  # read back: yes
        calls["book"] = finished_call(db, "acc-book")

        # 2. cancel it
        with phone_call(tmp_path, served.sip_port, caller=PHONE, dialled=DEMO_NUMBER,
                        tag="acc-cancel") as peer:
            start_to_menu(peer, BIRTH_KEYS, "2")  # annuler
            step(peer, "1")  # "voulez-vous annuler votre rendez-vous ... ?" yes
        calls["cancel"] = finished_call(db, "acc-cancel")

        # 3. a voicemail for Dr Lambert, said aloud
        message = spoken_alaw(MESSAGE, tmp_path)
        with phone_call(tmp_path, served.sip_port, caller=PHONE, dialled=DEMO_NUMBER,
                        tag="acc-message") as peer:
            start_to_menu(peer, BIRTH_KEYS, "4")  # laisser un message
            step(peer, "1")  # for Docteure Lambert
            assert peer.wait_turn(), peer.timeline()  # "... après le bip ..." (not barged)
            spoken_seconds = peer.speak(message)
            step(peer, "3")  # after 3 s of silence: "pour l'envoyer, appuyez sur 3"
        calls["message"] = finished_call(db, "acc-message")

        # 4. a secretary: the worker rings her softphone on its free line; she answers
        with phone_call(tmp_path, served.sip_port, caller=PHONE, dialled=DEMO_NUMBER,
                        tag="acc-human", timeout=120) as peer:
            start_to_menu(peer, BIRTH_KEYS, "0")  # le secrétariat
            assert peer.wait_speech(), peer.timeline()  # "je vous mets en relation..."
            time.sleep(5.0)  # the prompt ends, the secretary's phone rings and answers
            before = peer.loud_packets
            time.sleep(5.0)  # she speaks (her softphone's tone), the caller hears her
            heard = (peer.loud_packets - before) * PACKET_S
            secretary.send_signal(signal.SIGINT)  # she hangs up: the caller's call ends too
            secretary.wait(20)
        calls["human"] = finished_call(db, "acc-human")
        secretary_said = secretary_log.read_text(errors="replace")
        assert heard >= 4.0, (heard, secretary_said[-2000:])
        assert "established" in secretary_said, secretary_said[-2000:]

        # the calls log
        assert calls["book"].intent == "book" and calls["book"].verified
        assert calls["cancel"].intent == "cancel" and calls["cancel"].verified
        assert not calls["message"].verified  # a message needs no identity
        assert calls["human"].outcome == "transferred", calls["human"].outcome
        with db.session() as session:
            escalation = session.scalar(select(Escalation).where(
                Escalation.call_id == calls["human"].id))
        assert escalation is not None and escalation.patient_id == calls["human"].patient_id

        # the doctor, through the API with password + TOTP
        client = api_session(served.api, doctor)
        inbox = client.get("/voicemail")
        assert inbox.status_code == 200, inbox.text
        mine = [m for m in inbox.json() if m["call_id"] == calls["message"].id]
        assert len(mine) == 1, inbox.json()
        voicemail = mine[0]
        assert not voicemail["truncated"]
        whole = client.get(f"/voicemail/{voicemail['id']}/audio")
        assert whole.status_code == 200 and whole.headers["content-type"] == "audio/wav"
        with wave.open(io.BytesIO(whole.content)) as wav:
            assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
            seconds = wav.getnframes() / 16000
        # the message as said, then the 3 s of silence that end it
        assert spoken_seconds + 1.5 <= seconds <= spoken_seconds + 6.0, (seconds, spoken_seconds)
        ranged = client.get(f"/voicemail/{voicemail['id']}/audio",
                            headers={"Range": "bytes=1000-40999"})
        assert ranged.status_code == 206, ranged.text
        assert ranged.headers["content-range"] == f"bytes 1000-40999/{len(whole.content)}"
        assert ranged.content == whole.content[1000:41000]

        # the appointment was in the agenda and is now cancelled
        with db.session() as session:
            booked = session.scalars(select(Appointment).where(
                Appointment.idempotency_key.like(f"{calls['book'].id}:book:%"))).all()
            assert len(booked) == 1
            appointment_id, starts_at = booked[0].id, booked[0].starts_at
        day = starts_at.astimezone(ZoneInfo("Europe/Paris")).date()
        agenda = client.get("/practices/demo/agenda",
                            params={"day": day.isoformat(), "include_cancelled": "true"})
        assert agenda.status_code == 200, agenda.text
        listed = [a for a in agenda.json() if a["id"] == appointment_id]
        assert len(listed) == 1 and listed[0]["status"] == "cancelled", agenda.json()
        assert datetime.fromisoformat(listed[0]["starts_at"]) == starts_at
        live = client.get("/practices/demo/agenda", params={"day": day.isoformat()})
        assert all(a["id"] != appointment_id for a in live.json())
        client.close()

        # the audit chain
        verified = telesec_cli(env, "audit", "verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "intact" in verified.stdout, verified.stdout
        db.dispose()
    finally:
        if secretary.poll() is None:
            secretary.kill()
            secretary.wait(5)
        code = served.stop() if served is not None else 0
    assert code == 0, served.logs()[-3000:]

    # the logs of the whole run: serve, its workers and Kamailio
    logs = served.logs()
    assert "acc-book-" in logs  # the calls are in the logs, by their call id only
    assert "Traceback" not in logs, logs[-3000:]
    events = assert_one_line_per_event(logs)  # one timestamp, one level, one event per line
    assert any(logger == "telesec.worker0.ivr_flows.interpreter" and "acc-book-" in message
               for _, logger, message in events)
    for word in NEVER_LOGGED:
        assert word.lower() not in logs.lower(), f"the logs carry the patient's {word!r}"
