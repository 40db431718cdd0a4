"""SIGKILL of the engine (the worker process) while a caller leaves a voicemail.

The message is kept up to its last complete chunk and flagged truncated once the vault's
recovery ran (as `telesec serve` does at start and every few minutes); before that, the
API shows nothing of it: a half-written object is never served as whole.
"""

from __future__ import annotations

import io
import signal
import time
import wave

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from foundation.settings import load_settings
from storage import identity
from storage.keyring import Keyring
from storage.models import ObjectKind, ObjectStatus, VaultObject
from storage.vault import Vault
from storage.vault.format import DEFAULT_CHUNK_SIZE
from telesec.wiring import open_database
from tests.e2e.caller import PhonePeer, spoken_alaw, start_sipp, start_to_menu, step
from tests.e2e.conftest import DEMO_NUMBER
from tests.e2e.engine_run import add_staff, clean_env, log_in
from tests.telephony.peers import start_worker

pytestmark = [pytest.mark.sip, pytest.mark.timeout(180)]

PHONE, BIRTH_KEYS = "+33639980008", "21041942"  # demo patient 100008
MESSAGE = ("Bonjour docteur, je vous appelle pour mes résultats d'analyse. Pouvez-vous me "
           "rappeler demain matin ? Je reste joignable toute la journée. Merci beaucoup. ")


def test_worker_killed_mid_voicemail_keeps_complete_chunks_flagged_truncated(
        demo_data, tmp_path):
    data_dir = demo_data()
    env = clean_env(data_dir)
    doctor = add_staff(env, "dr.lambert", "--role", "doctor", "--practice", "demo",
                       "--practitioner", "dr-lambert")
    worker = start_worker(tmp_path, "telesec.call_handler:answer", "--rtp-timeout", "20",
                          env={"TELESEC_DATA_DIR": str(data_dir)})
    peer = PhonePeer()
    sipp = start_sipp(tmp_path, worker.port, caller=PHONE, dialled=DEMO_NUMBER,
                      rtp_port=peer.port, tag="fault-kill")
    try:
        start_to_menu(peer, BIRTH_KEYS, "4")  # a message
        step(peer, "1")  # for Docteure Lambert
        assert peer.wait_turn(), peer.timeline()
        peer.speak(spoken_alaw(MESSAGE * 2, tmp_path))  # about 20 s of speech
        time.sleep(7.0)  # 7 s said: 3 complete 64 KiB chunks of 16 kHz audio, and a part
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait(10)
    finally:
        sipp.kill()
        sipp.wait(5)
        peer.close()

    settings = load_settings(data_dir=data_dir)
    db = open_database(settings)
    ring = Keyring.load(settings.effective_keyring_path)
    identity.install(ring)
    vault = Vault(db, ring, settings.vault_path)
    with db.session() as session:
        rows = session.scalars(select(VaultObject).where(
            VaultObject.kind == ObjectKind.VOICEMAIL)).all()
    assert len(rows) == 1 and rows[0].status is ObjectStatus.WRITING
    message_id = rows[0].id

    with TestClient(create_app(settings, db=db, keyring=ring, vault=vault)) as client:
        log_in(client, doctor)
        # before recovery: nothing of the message is shown, let alone played
        assert client.get("/voicemail").json() == []
        assert client.get(f"/voicemail/{message_id}").status_code == 404
        assert client.get(f"/voicemail/{message_id}/audio").status_code == 404

        report = vault.recover()
        assert message_id in report.truncated, report.summary()  # (and the call recording)
        row = vault.get(message_id)
        assert row.status is ObjectStatus.TRUNCATED
        chunks = row.size // DEFAULT_CHUNK_SIZE
        assert row.size % DEFAULT_CHUNK_SIZE == 0 and 2 <= chunks <= 6, row.size
        assert len(vault.read(message_id)) == row.size

        listed = client.get("/voicemail").json()
        assert [(m["id"], m["truncated"]) for m in listed] == [(message_id, True)]
        audio = client.get(f"/voicemail/{message_id}/audio")
        assert audio.status_code == 200
        with wave.open(io.BytesIO(audio.content)) as wav:
            assert wav.getnframes() * 2 == row.size
    db.dispose()
    assert "Traceback" not in worker.stderr()
