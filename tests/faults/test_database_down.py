"""The database goes down in the middle of a call (PostgreSQL refusing every connection).

The engine runs on a throwaway PostgreSQL database (never the shared server's others):
``ALTER DATABASE ... ALLOW_CONNECTIONS false`` and every backend terminated is an outage
the engine cannot tell from a crashed server. The call goes on: identity cannot be
checked, so the caller is offered a message; the message is spooled, encrypted, under
the vault directory, and lands (row, audit event, playable audio) once the database is
back. The recording started before the outage is finished by the vault's recovery.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from foundation.settings import load_settings
from storage import identity
from storage.keyring import Keyring
from storage.models import AuditEvent, ObjectKind, ObjectStatus, VaultObject
from storage.vault import Vault
from storage.vault.format import DEFAULT_CHUNK_SIZE
from storage.vault.spool import VaultSpool
from telesec.wiring import open_database
from tests.conftest import PG_ADMIN_URL
from tests.e2e.caller import phone_call, spoken_alaw, step
from tests.e2e.conftest import DEMO_NUMBER, _telesec
from tests.e2e.engine_run import clean_env
from tests.telephony.peers import start_worker

pytestmark = [pytest.mark.sip, pytest.mark.timeout(180)]

PHONE, BIRTH_KEYS = "+33639980002", "02111951"  # demo patient 100002
MESSAGE = "Bonjour, je voudrais avancer mon rendez-vous de la semaine prochaine. Merci."


def set_database_reachable(name: str, reachable: bool) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS '
                              f'{"true" if reachable else "false"}'))
            if not reachable:
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :name"), {"name": name})
    finally:
        admin.dispose()


def test_calls_go_on_and_voicemail_lands_when_the_database_is_back(
        demo_data, pg_database_url, tmp_path):
    data_dir = demo_data()
    env = clean_env(data_dir, TELESEC_DATABASE_URL=pg_database_url)
    _telesec(env, "init")  # the schema in PostgreSQL
    _telesec(env, "demo", "seed")
    _telesec(env, "practice", "set", "demo", "secretary_line=none")  # nobody to ring
    name = make_url(pg_database_url).database
    worker = start_worker(tmp_path, "telesec.call_handler:answer", "--rtp-timeout", "20",
                          env={"TELESEC_DATA_DIR": str(data_dir),
                               "TELESEC_DATABASE_URL": pg_database_url})
    spool_dir = data_dir / "vault" / "spool"
    try:
        message = spoken_alaw(MESSAGE, tmp_path)
        with phone_call(tmp_path, worker.port, caller=PHONE, dialled=DEMO_NUMBER,
                        tag="fault-db") as peer:
            step(peer, "1")  # français
            assert peer.wait_turn(), peer.timeline()  # the notice: recording from its end
            step(peer, "2")  # "que puis-je faire pour vous ?" annuler: identity is next
            assert peer.wait_speech(), peer.timeline()  # "tapez votre date de naissance"
            set_database_reachable(name, False)  # the database dies here
            peer.press(BIRTH_KEYS)
            peer.drain()
            # identity cannot be checked: "le secrétariat ne peut pas vous répondre...
            # laissez votre message"
            assert peer.wait_speech(), peer.timeline()
            assert peer.wait_turn(), peer.timeline()
            spoken = peer.speak(message)
        # the message waits in the spool: sealed metadata and an encrypted blob
        metas = sorted(spool_dir.glob("*.meta"))
        assert len(metas) == 1, list(spool_dir.iterdir())
        assert set(json.loads(metas[0].read_text())) == {"kek_id", "nonce", "sealed"}
        assert "fault-db" not in metas[0].read_text()
        blob = metas[0].with_suffix(".blob").read_bytes()
        assert len(blob) > spoken * 32000  # the audio, encrypted (format: tests/storage)
        logs = worker.stderr()
        assert "database unreachable; the caller is offered a transfer or a message" in logs
        assert "the voicemail is spooled" in logs
        assert "Traceback" not in logs
        assert PHONE not in logs and PHONE[3:] not in logs
    finally:
        set_database_reachable(name, True)
        assert worker.terminate() == 0

    # the database is back: the spool lands (`telesec serve` does this every 30 s)
    settings = load_settings(data_dir=data_dir, database_url=pg_database_url)
    db = open_database(settings)
    ring = Keyring.load(settings.effective_keyring_path)
    identity.install(ring)
    vault = Vault(db, ring, settings.vault_path)
    landing = VaultSpool(vault).land()
    assert len(landing.landed) == 1, landing.summary()
    assert list(spool_dir.iterdir()) == []
    row = vault.get(landing.landed[0])
    assert row.kind is ObjectKind.VOICEMAIL and row.status is ObjectStatus.COMPLETE
    assert row.practitioner_id is None and row.call_id.startswith("fault-db-")
    seconds = len(vault.read(row.id)) / 32000
    assert spoken + 1.5 <= seconds <= spoken + 6.0, (seconds, spoken)
    with db.session() as session:
        actions = session.scalars(select(AuditEvent.action).where(
            AuditEvent.actor == f"ivr:{row.call_id}")).all()
        recording = session.scalar(select(VaultObject).where(
            VaultObject.kind == ObjectKind.RECORDING, VaultObject.call_id == row.call_id))
    assert "voicemail.recorded" in actions
    # the recording begun before the outage: its file is whole, its row is finished now
    assert recording is not None and recording.status is ObjectStatus.WRITING
    report = vault.recover()
    assert recording.id in report.completed, report.summary()
    assert vault.get(recording.id).size > 4 * DEFAULT_CHUNK_SIZE
    db.dispose()
