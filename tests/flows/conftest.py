"""The demo practice on a migrated database, and a driver for scripted calls."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr_flows.call import Services
from ivr_flows.checker import load_flow
from ivr_flows.interpreter import Interpreter
from ivr_flows.lockout import MemoryLockout
from ivr_flows.practice import load_practice
from ivr_flows.services import build_services, vault_voicemail_sinks
from ivr_flows.simulator import Conversation, run_script
from ivr_flows.steps import STEP_KINDS
from scheduling.demo import DEMO_SLUG, seed_demo
from storage.db import Database
from storage.identity import cipher
from storage.vault import Vault

FLOWS = Path(__file__).resolve().parents[2] / "ivr_flows" / "flows"

# Monday 7 January 2030, 10:00 in Paris: the line is open.
NOW = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
# Sunday 6 January 2030, 15:00 in Paris: closed.
SUNDAY = datetime(2030, 1, 6, 14, 0, tzinfo=UTC)

CAMILLE_PHONE = "+33639980001"  # demo patient 100001, born 12 March 1984, has a visit booked
LOUIS_PHONE = "+33639980002"  # demo patient 100002, born 2 November 1951
UNKNOWN_PHONE = "+33639989999"


@dataclass
class Demo:
    """The demo practice, seeded at NOW, and everything a scripted call needs."""

    db: Database
    vault: Vault
    practice_id: int
    lockout: MemoryLockout
    clock_at: list[datetime] = field(default_factory=lambda: [NOW])
    show: Callable[[str], None] = print

    @property
    def services(self) -> Services:
        services = build_services(self.db, voicemail_sinks=vault_voicemail_sinks(self.vault),
                                  lockout=self.lockout, clock=lambda: self.clock_at[0])
        return services

    def interpreter(self, lang: str = "fr", flow: Path | None = None) -> Interpreter:
        flow_path = flow or FLOWS / f"default_{lang}.yaml"
        return Interpreter(load_flow(flow_path, kinds=STEP_KINDS), self.services,
                           load_practice(self.db, DEMO_SLUG))

    def call(self, *lines: str, caller: str | None = CAMILLE_PHONE, lang: str = "fr",
             at: datetime | None = None, secretary_answers: bool = False,
             flow: Path | None = None, speech: bool = True,
             passes_to_box: str | None = None) -> Conversation:
        """Run one scripted call of the default flow; the caller hangs up after ``lines``."""
        self.clock_at[0] = at or NOW
        return run_script(self.interpreter(lang, flow), lines, caller_number=caller,
                          secretary_answers=secretary_answers, show=self.show, speech=speech,
                          passes_to_box=passes_to_box)


def _demo(db: Database, tmp_path: Path) -> Iterator[Demo]:
    keyring = cipher().keyring  # the one the database's audit trail was started with
    report = seed_demo(db, now=NOW)
    clock = [NOW]
    yield Demo(db, Vault(db, keyring, tmp_path / "vault"), report.practice_id,
               MemoryLockout(clock=lambda: clock[0]), clock)


@pytest.fixture
def demo(sqlite_db: Database, tmp_path: Path) -> Iterator[Demo]:
    """The demo practice on SQLite."""
    yield from _demo(sqlite_db, tmp_path)


@pytest.fixture
def demo_any(db: Database, tmp_path: Path) -> Iterator[Demo]:
    """The demo practice on SQLite and on PostgreSQL in turn."""
    yield from _demo(db, tmp_path)
