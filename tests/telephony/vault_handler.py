"""A test handler that records calls into the encrypted vault (settings from TELESEC_*).

Apart from ``tests.telephony.handlers`` because its ``prepare()`` opens the vault when the
worker starts, which the other test handlers must not need. Reports like them, as JSON
lines to ``$TELESEC_DEMO_REPORT``.
"""

from __future__ import annotations

import threading
import time

from telephony.session import CallEnded, CallSession
from tests.telephony.handlers import PROMPT_OK, _report

_vault_lock = threading.Lock()
_vault = None


def prepare() -> None:
    """Open the vault before the worker says READY (telephony.worker runs this): opening it
    on the first call's thread takes 0.5-1.5 s and would cut the start of its recording."""
    _shared_vault()


def _shared_vault():
    """The vault of the configured data directory, opened once per worker process."""
    global _vault
    with _vault_lock:
        if _vault is None:
            from foundation.settings import load_settings
            from storage import identity
            from storage.db import Database
            from storage.keyring import Keyring
            from storage.vault import Vault

            settings = load_settings()
            keyring = Keyring.load(settings.effective_keyring_path, settings.keyring_passphrase)
            identity.install(keyring)
            _vault = Vault(Database(settings.effective_database_url), keyring,
                           settings.vault_path)
        return _vault


def record_to_vault(session: CallSession) -> None:
    """Record the call into the encrypted vault (settings from TELESEC_*) until hang-up;
    play a short prompt first so the engine channel is not empty."""
    from telephony.recording import open_vault_sink

    sink = open_vault_sink(_shared_vault(), call_id=session.call_id,
                           rate=session.sample_rate)
    record: dict = {"call_id": session.call_id, "object_id": sink.object_id,
                    "dialled": session.dialled}
    started = time.monotonic()
    try:
        session.start_recording(sink)
        session.play(PROMPT_OK, barge_in=False)
        session.wait_ended(60.0)
    except CallEnded:
        pass
    finally:
        session.stop_recording()
        record["seconds"] = round(time.monotonic() - started, 2)
        record["end_reason"] = session.end_reason
        _report(record)
