"""End to end over SIP: a patient calls the demo practice and books with keys only.

Real parts all the way: a pjsua2 worker running ``telesec.call_handler:answer``, sipp for
SIP, an RTP peer that presses RFC 4733 keys when Telesec has finished speaking (see
``caller.py``), the default French flow, the agenda in SQLite, the encrypted vault, the
audit chain. Then the database, the vault and the audit trail are checked, and the
worker's logs are searched for the patient's identity.
"""

from __future__ import annotations

import array
import math
import time

import pytest
from sqlalchemy import select

from scheduling.service import Agenda
from storage import audit
from storage.keyring import Keyring
from storage.models import (
    AuditEvent,
    CallRecord,
    Escalation,
    Hold,
    ObjectStatus,
    Practice,
    VisitType,
)
from storage.new_patients import is_provisional
from storage.patients import PatientDirectory
from storage.vault import Vault
from tests.e2e.caller import PACKET_S, phone_call, spoken_alaw, start_to_menu, step
from tests.e2e.conftest import DEMO_NUMBER, Engine

pytestmark = [pytest.mark.sip, pytest.mark.timeout(150)]

# demo patients (scheduling/demo.py): code, phone, birth date as keyed, words never logged
BOOKER = ("100005", "+33639980005", "08051978", ("Marchand", "Léa", "1978-05-08",
                                                 "08/05/1978", "639980005"))
EMERGENCY_CALLER = ("100006", "+33639980006", "17091965",
                    ("Perrin", "Nathan", "1965-09-17", "17/09/1965", "639980006"))


def patient_call(engine: Engine, tmp_path, *, caller: str, dialled: str, tag: str):
    """A call from ``caller`` to ``dialled``; yields the peer, then waits for the BYE."""
    return phone_call(tmp_path, engine.worker.port, caller=caller, dialled=dialled, tag=tag)


def call_row(engine: Engine, tag: str, timeout: float = 10.0) -> CallRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.db.session() as session:
            row = session.scalar(select(CallRecord).where(CallRecord.id.like(f"{tag}-%")))
            if row is not None and row.ended_at is not None:
                session.expunge(row)
                return row
        time.sleep(0.1)
    raise AssertionError(f"no finished call {tag} in the calls log")


def patient_id(engine: Engine, code: str) -> int:
    with engine.db.session() as session:
        practice = session.scalar(select(Practice).where(Practice.slug == "demo"))
        record = PatientDirectory(session).by_code(practice.id, code)
        assert record is not None
        return record.id


def events_of(engine: Engine, call_id: str) -> list[str]:
    with engine.db.session() as session:
        return list(session.scalars(
            select(AuditEvent.action).where(AuditEvent.actor == f"ivr:{call_id}")
            .order_by(AuditEvent.seq)
        ))


def vault(engine: Engine) -> Vault:
    return Vault(engine.db, Keyring.load(engine.settings.effective_keyring_path),
                 engine.settings.vault_path)


def channel_dbfs(stereo: bytes, channel: int, rate: int, window_s: float = 0.1) -> list[float]:
    samples = array.array("h")
    samples.frombytes(stereo[: len(stereo) // 4 * 4])
    side = samples[channel::2]
    step_n = int(rate * window_s)
    levels = []
    for start in range(0, len(side) - step_n + 1, step_n):
        chunk = side[start:start + step_n]
        power = sum(s * s for s in chunk) / len(chunk)
        levels.append(10 * math.log10(power / 32768**2) if power else -120.0)
    return levels


def assert_nothing_personal(logs: str, words: tuple[str, ...]) -> None:
    for word in words:
        assert word not in logs, f"the worker's logs carry a patient's {word!r}"


def test_patient_books_the_first_slot_with_keys(engine: Engine, tmp_path):
    code, phone, birth_keys, identity = BOOKER
    with patient_call(engine, tmp_path, caller=phone, dialled=DEMO_NUMBER, tag="e2e-book"
                      ) as peer:
        start_to_menu(peer, birth_keys, "1")  # prendre rendez-vous
        assert peer.wait_speech(), peer.timeline()  # "quel type de consultation ?"
        peer.speak(spoken_alaw("Une consultation, s'il vous plaît.", tmp_path))
        peer.press("1")  # consultation
        step(peer, "0")  # any doctor
        step(peer, "1")  # as soon as possible
        step(peer, "1")  # the first slot proposed
        step(peer, "1")  # read back: yes
        began = peer.started_at
    ended = time.monotonic()
    call_seconds = ended - began
    row = call_row(engine, "e2e-book")
    who = patient_id(engine, code)

    # the appointment is in the agenda, booked by this call
    agenda = Agenda(engine.db)
    upcoming = agenda.upcoming(who, actor="system:e2e-test", purpose="end-to-end test check")
    assert len(upcoming) == 1 and upcoming[0].visit_type_code == "consultation"
    with engine.db.session() as session:
        assert session.scalar(select(Hold.id)) is None, "a hold was left behind"

    # the calls log
    assert row.outcome == "completed" and row.verified and row.patient_id == who
    assert row.intent == "book"

    # the recording: in the vault, decrypts, stereo at the worker's bridge rate (8 kHz by
    # default), from the notice to the end
    assert row.recording_object_id
    store = vault(engine)
    deadline = time.monotonic() + 10
    while store.get(row.recording_object_id).status is not ObjectStatus.COMPLETE:
        assert time.monotonic() < deadline, "the recording was never finished"
        time.sleep(0.1)
    meta = store.get(row.recording_object_id)
    assert meta.patient_id == who and meta.call_id == row.id
    audio = store.read(row.recording_object_id)
    rate = int((meta.media_type or "").split("rate=")[1].split(";")[0])
    assert rate in (8000, 16000), meta.media_type
    rec_seconds = len(audio) / (4 * rate)
    # recorded from the end of the recording notice (the greeting naming the practice, the
    # language offer and the notice: about 16 s in) to the hang-up
    assert call_seconds - 26 <= rec_seconds <= call_seconds - 10, (rec_seconds, call_seconds)
    caller_loud = sum(level > -35 for level in channel_dbfs(audio, 0, rate)) / 10
    engine_loud = sum(level > -35 for level in channel_dbfs(audio, 1, rate)) / 10
    assert caller_loud >= 0.8, caller_loud  # the caller's words, on the left
    assert engine_loud >= 5.0, engine_loud  # Telesec's prompts, on the right

    # the audit trail: verification by caller ID + birth date, then the booking
    actions = events_of(engine, row.id)
    assert "identity.verified:caller_id+birth_date" in actions, actions
    assert "appointment.book" in actions, actions
    assert actions.index("identity.verified:caller_id+birth_date") < actions.index(
        "appointment.book")
    with engine.db.session() as session:
        check = audit.verify(session, Keyring.load(engine.settings.effective_keyring_path))
    assert check.intact, check.problems

    assert_nothing_personal(engine.logs(), (phone, *identity))


def test_emergency_key_mid_booking_gives_advice_and_offers_a_priority_transfer(
        engine: Engine, tmp_path):
    code, phone, birth_keys, identity = EMERGENCY_CALLER
    with patient_call(engine, tmp_path, caller=phone, dialled=DEMO_NUMBER, tag="e2e-sos"
                      ) as peer:
        start_to_menu(peer, birth_keys, "1")  # book
        step(peer, "1")  # consultation
        step(peer, "0")  # any doctor
        step(peer, "1")  # as soon as possible
        step(peer, "1")  # first slot: now held while the caller hears it read back
        step(peer, "*")  # emergency, instead of yes or no
        before = peer.loud_packets
        # "... raccrochez et appelez le 15 ou le 112, maintenant. Pour parler tout de suite à une
        # personne, appuyez sur 0 ou restez en ligne."
        assert peer.wait_turn(), peer.timeline()
        offered = peer.loud_packets
        peer.press("0")
    row = call_row(engine, "e2e-sos")
    who = patient_id(engine, code)
    actions = events_of(engine, row.id)
    assert "call.emergency" in actions, actions
    assert "hold.create" in actions and "hold.release" in actions, actions
    assert "appointment.book" not in actions
    with engine.db.session() as session:
        assert session.scalar(select(Hold.id)) is None, "the held slot was not given back"
        escalation = session.scalar(select(Escalation).where(Escalation.call_id == row.id))
        assert escalation is not None, "the call was not put on the secretaries' queue"
        assert escalation.priority and escalation.patient_id == who
        assert '"reason": "emergency"' in escalation.context
    assert row.outcome == "emergency" and row.intent == "emergency"
    assert Agenda(engine.db).upcoming(who, actor="system:e2e-test", purpose="e2e check") == []
    # the advice and the offer were said in full; after the failed transfer, the advice
    # was said again before the goodbye
    advice, after = (offered - before) * PACKET_S, (peer.loud_packets - offered) * PACKET_S
    assert advice > 4.0 and after > 5.0, (advice, after)
    assert_nothing_personal(engine.logs(), (phone, *identity))


def test_a_call_to_a_number_that_is_no_practice_is_refused_politely(engine: Engine, tmp_path):
    with patient_call(engine, tmp_path, caller="+33639980001", dialled="+33199000099",
                      tag="e2e-unknown") as peer:
        pass  # the caller listens until Telesec hangs up
    spoken = peer.loud_packets * 0.02
    assert 2.0 <= spoken <= 12.0, spoken  # one sentence, then Telesec hung up
    with engine.db.session() as session:
        assert session.scalar(
            select(CallRecord.id).where(CallRecord.id.like("e2e-unknown-%"))) is None
    assert "is no practice's line; refused" in engine.logs()
    assert "+33199000099" not in engine.logs()


def test_an_english_caller_new_to_the_practice_books_by_keys_only(engine: Engine, tmp_path):
    """No speech model: every answer is a key. English, a new patient, a first visit."""
    phone = "+33612340077"  # nobody's number in the demo practice
    with patient_call(engine, tmp_path, caller=phone, dialled=DEMO_NUMBER, tag="e2e-new"
                      ) as peer:
        step(peer, "2")  # "For English, press 2" (over the greeting)
        assert peer.wait_turn(), peer.timeline()  # the recording notice: no key, recorded
        step(peer, "1")  # "how can I help you?" 1: book
        step(peer, "2")  # "have you been to the practice before?" 2: no
        # no speech: the name is left to the secretaries (said, not asked), then the
        # birth date is asked
        step(peer, "21031990")
        step(peer, "1")  # "can we call you back on the number ending in 00 77?" yes
        step(peer, "1")  # visit type: the first one open to new patients
        step(peer, "1")  # the first free slot
        step(peer, "1")  # the first slot proposed
        step(peer, "1")  # read back: yes
    row = call_row(engine, "e2e-new")
    assert row.outcome == "completed" and row.patient_id is not None

    with engine.db.session() as session:
        record = PatientDirectory(session).get(row.patient_id)
        assert is_provisional(session, row.patient_id)  # "à confirmer" in the console
    assert record.birth_date.isoformat() == "1990-03-21" and record.phone == phone
    agenda = Agenda(engine.db)
    upcoming = agenda.upcoming(row.patient_id, actor="system:e2e-test",
                               purpose="end-to-end test check")
    assert len(upcoming) == 1, upcoming
    with engine.db.session() as session:
        open_to_new = set(session.scalars(select(VisitType.code).where(
            VisitType.practice_id == record.practice_id, VisitType.new_patients_allowed)))
    assert upcoming[0].visit_type_code in open_to_new, (upcoming, open_to_new)
    assert_nothing_personal(engine.logs(), (phone, "612340077", "1990-03-21", "21/03/1990"))
