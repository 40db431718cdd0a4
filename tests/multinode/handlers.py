"""The call handler the engine nodes run in the multi-node tests (test numbers only).

- a call to ``race-<patient id>`` books the one slot named in the file ``MULTINODE_RACE_FILE``
  for that patient, through the real agenda on the shared database, at the instant the
  file gives (so that two calls on two nodes really race), then keeps the line;
- a call to ``desk-<practice>`` rings that desk's console softphones through the shared
  front and reports the answer;
- any other call holds the line until the caller hangs up (``tests.telephony.handlers.hold_line``).

Both write one JSON line per call to ``TELESEC_DEMO_REPORT`` (the node's own file), with
the node's name from ``MULTINODE_NODE``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from telephony.session import CallSession
from tests.telephony import handlers

if TYPE_CHECKING:
    from scheduling.service import Agenda

_agenda: Agenda | None = None
_lock = threading.Lock()


def prepare() -> None:
    """Open the agenda before the worker says READY: building it (imports, the keyring's
    key derivation) takes seconds on a loaded machine, and a race call must book at the
    instant the race file gives, not after (its report came after the test had looked)."""
    _shared_agenda()


def answer(session: CallSession) -> None:
    if session.dialled.startswith("race-"):
        book_the_raced_slot(session, int(session.dialled.removeprefix("race-")))
    elif session.dialled.startswith("desk-"):
        ring_the_desk(session, session.dialled)
    else:
        handlers.hold_line(session)


def ring_the_desk(session: CallSession, desk: str) -> None:
    """Ring the console softphones registered on the shared front for ``desk`` (through
    ``sip.front_address``), report how that ended, then keep the line."""
    result = session.bridge([f"sip:{desk}"], ring_seconds=10)
    _report({"call_id": session.call_id, "desk": result.status_code, "bridged": result.ok})
    session.wait_ended(30.0)


def _shared_agenda() -> Agenda:
    """The agenda on the shared database (opened once, by :func:`prepare`)."""
    from foundation.settings import load_settings
    from scheduling.service import Agenda
    from telesec.wiring import open_database, open_keyring

    global _agenda
    with _lock:
        if _agenda is None:
            settings = load_settings()
            open_keyring(settings)  # the audit trail and identity columns need it
            _agenda = Agenda(open_database(settings))
        return _agenda


def book_the_raced_slot(session: CallSession, patient_id: int) -> None:
    from scheduling.values import Booked, Held, Refused, Slot

    race = json.loads(Path(os.environ["MULTINODE_RACE_FILE"]).read_text())
    slot = Slot(
        practice_id=race["practice_id"], practitioner_id=race["practitioner_id"],
        practitioner_name=race["practitioner_name"], visit_type_code=race["visit_type_code"],
        starts_at=datetime.fromisoformat(race["starts_at"]),
        ends_at=datetime.fromisoformat(race["ends_at"]), timezone=race["timezone"],
    )
    agenda = _shared_agenda()
    time.sleep(max(0.0, race["go_at"] - time.time()))
    actor = f"ivr:{session.call_id}"
    held = agenda.hold(slot, timedelta(minutes=2), actor=actor)
    if isinstance(held, Held):
        result = agenda.confirm(held.hold.id, patient_id, session.call_id, actor=actor)
    else:
        result = held
    outcome = "booked" if isinstance(result, Booked) else (
        result.reason.value if isinstance(result, Refused) else "unknown")
    _report({"call_id": session.call_id, "race": outcome, "patient_id": patient_id})
    session.wait_ended(30.0)  # the caller hangs up


def _report(record: dict) -> None:
    record["node"] = os.environ.get("MULTINODE_NODE", "")
    with _lock, open(os.environ["TELESEC_DEMO_REPORT"], "a", encoding="utf-8") as report:
        report.write(json.dumps(record) + "\n")
