"""The vault's disk fills up during a recorded call (a 1 MiB tmpfs as the vault directory).

The recording stops with one clear alarm line and the `telesec_recordings_lost` metric;
the call itself goes on to its normal end, and nothing half-written is left behind.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from foundation.settings import load_settings
from storage import identity
from storage.keyring import Keyring
from storage.models import CallRecord, VaultObject
from storage.vault import Vault
from telesec.wiring import open_database
from tests.e2e.caller import phone_call, start_to_menu
from tests.e2e.conftest import DEMO_NUMBER
from tests.telephony.peers import start_worker

pytestmark = [pytest.mark.sip, pytest.mark.timeout(150)]

PHONE, BIRTH_KEYS = "+33639980008", "21041942"  # demo patient 100008: nothing booked
LEFT_FREE = 160 * 1024  # the header and two 64 KiB chunks fit: about 2 s of stereo audio


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "vault"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount)],
                   check=True, timeout=10)
    try:
        free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
        (mount / "filler").write_bytes(b"\0" * (free - LEFT_FREE))
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, timeout=10)


def test_full_disk_stops_the_recording_with_an_alarm_and_the_call_goes_on(
        demo_data, small_disk, tmp_path):
    data_dir = demo_data()
    worker = start_worker(tmp_path, "telesec.call_handler:answer", "--rtp-timeout", "20",
                          env={"TELESEC_DATA_DIR": str(data_dir),
                               "TELESEC_VAULT_DIR": str(small_disk)})
    try:
        with phone_call(tmp_path, worker.port, caller=PHONE, dialled=DEMO_NUMBER,
                        tag="fault-disk") as peer:
            # recording from the end of the notice; cancel: "aucun rendez-vous à venir",
            # goodbye, Telesec hangs up
            start_to_menu(peer, BIRTH_KEYS, "2")
    finally:
        assert worker.terminate() == 0
    logs = worker.stderr()
    alarms = [line for line in logs.splitlines() if "ALARM recording stopped" in line]
    assert len(alarms) == 1, logs[-3000:]
    assert "the vault's disk is full; the call goes on unrecorded" in alarms[0]
    assert "Traceback" not in logs

    settings = load_settings(data_dir=data_dir, vault_dir=small_disk)
    db = open_database(settings)
    ring = Keyring.load(settings.effective_keyring_path)
    identity.install(ring)
    with db.session() as session:
        call = session.scalar(select(CallRecord).where(CallRecord.id.like("fault-disk-%")))
        assert call is not None and call.outcome == "completed" and call.verified
        assert call.recording_object_id is not None
        assert session.get(VaultObject, call.recording_object_id) is None  # nothing half-kept
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"] or all(
        not list(d.iterdir()) for d in small_disk.iterdir() if d.is_dir())
    vault = Vault(db, ring, settings.vault_path)
    with TestClient(create_app(settings, db=db, keyring=ring, vault=vault)) as client:
        metrics = client.get("/metrics").text
    assert "telesec_recordings_lost 1.0" in metrics, metrics
    free = next(line for line in metrics.splitlines()
                if line.startswith("telesec_vault_free_bytes "))
    assert float(free.split()[1]) <= LEFT_FREE
    db.dispose()
