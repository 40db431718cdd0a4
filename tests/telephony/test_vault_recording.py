"""A sipp call recorded by a worker straight into the encrypted vault, then decrypted."""

from __future__ import annotations

import pytest

from foundation.settings import load_settings
from storage.db import Database
from storage.keyring import Keyring
from storage.migrate import upgrade
from storage.models import ObjectStatus
from storage.vault import Vault
from telephony.audio import rms_dbfs, samples
from telephony.recording import recording_media_type
from tests.telephony.peers import scenario, sipp, sipp_errors, start_worker
from tests.telephony.rtp import RtpSink, RtpTrack, tone_alaw

pytestmark = [pytest.mark.sip, pytest.mark.timeout(90)]


def _channel_loud_seconds(stereo: bytes, channel: int, rate: int) -> float:
    values = samples(stereo)[channel::2]
    window = rate // 10
    loud = sum(
        1 for start in range(0, len(values), window)
        if rms_dbfs(values[start : start + window].tobytes()) > -30
    )
    return loud / 10


# a narrowband worker (bridge at 8 kHz) records at its bridge's rate, a wideband one at 16 kHz;
# the prompt (16 kHz PCM) is converted to 8 kHz by the narrowband one
@pytest.mark.parametrize(("flags", "SAMPLE_RATE"), [(("--wideband",), 16000), ((), 8000)])
def test_a_call_recorded_into_the_vault_decrypts_and_leaves_no_plaintext(tmp_path, flags,
                                                                          SAMPLE_RATE):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    settings = load_settings(data_dir=data_dir)
    keyring = Keyring.create(settings.effective_keyring_path)
    upgrade(settings.effective_database_url, keyring=keyring)
    worker = start_worker(tmp_path, "tests.telephony.vault_handler:record_to_vault", *flags,
                          env={"TELESEC_DATA_DIR": str(data_dir)})
    sink = RtpSink()
    try:
        # the caller: 0.5 s of silence, 2.5 s of a 330 Hz tone, then hangs up at 3.5 s
        sink.play(RtpTrack().silence(0.5).audio(tone_alaw(330, 2.5)))
        caller = scenario(tmp_path, "caller_hangup.xml", RTP_SINK_PORT=sink.port,
                          PAUSE_MS=3500)
        run = sipp(worker.port, caller, timeout=20)
        assert run.returncode == 0, sipp_errors(caller)
        (record,) = worker.wait_records(1)
    finally:
        sink.close()
        assert worker.terminate() == 0
    db = Database(settings.effective_database_url)
    try:
        vault = Vault(db, keyring, settings.vault_path)
        row = vault.get(record["object_id"])
        assert row.status is ObjectStatus.COMPLETE
        assert row.media_type == recording_media_type(SAMPLE_RATE)
        assert row.call_id == record["call_id"]
        with vault.open(record["object_id"]) as reader:
            stereo = reader.read_all()
    finally:
        db.dispose()
    seconds = len(stereo) / (4 * SAMPLE_RATE)
    assert abs(seconds - record["seconds"]) < 0.5  # as long as the call, stereo
    assert 2.5 <= seconds <= 4.5  # (the vault is opened before the worker is READY)
    print(f"recording {seconds:.2f} s, left loud {_channel_loud_seconds(stereo, 0, SAMPLE_RATE)} s")
    assert 2.0 <= _channel_loud_seconds(stereo, 0, SAMPLE_RATE) <= 2.8  # the caller's tone, left
    assert 0.3 <= _channel_loud_seconds(stereo, 1, SAMPLE_RATE) <= 0.6  # the 0.4 s prompt, right
    # no plaintext audio anywhere under the data directory: pieces of the loud part of
    # the recording appear in no file (blob, database, journal...)
    loud_start = int(1.5 * SAMPLE_RATE) * 4
    probes = [stereo[loud_start + i * 4000 : loud_start + i * 4000 + 64] for i in range(8)]
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".tsv" for p in files)
    for path in files:
        content = path.read_bytes()
        assert not any(probe in content for probe in probes), path
        assert b"RIFF" not in content[:4]
