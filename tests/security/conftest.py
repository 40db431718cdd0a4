"""A real `telesec serve` (API only) on a fresh data directory, for the attack scripts.

The data directory is made as a user would (`telesec init`, with the audit anchor on
"other storage"); the demo practice and two staff accounts are put in place in-process
(their passwords and TOTP secrets are needed here); then `telesec serve --no-sip
--no-jobs` runs as a subprocess on a free loopback port, its output kept to be grepped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pyotp
import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from scheduling.demo import seed_demo
from staff.accounts import Accounts
from staff.enrolment import Enrolment
from storage import identity
from storage.db import Database
from storage.keyring import Keyring
from storage.models import StaffUser
from telesec.cli import app as cli
from tests.ports import free_port

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    base: str
    env: dict[str, str]
    data_dir: Path
    anchor: Path
    public_key: str
    users: dict[str, Enrolment]
    log: Path
    process: subprocess.Popen[bytes]
    sessions: dict[str, dict[str, str]] = field(default_factory=dict)

    def cli(self, *args: str, **env: str | None) -> tuple[int, str]:
        """Run a `telesec` command in-process with this instance's settings."""
        with pytest.MonkeyPatch.context() as patch:
            for name in [k for k in os.environ if k.startswith("TELESEC_")]:
                patch.delenv(name)
            for name, value in {**self.env, **env}.items():
                if name.startswith("TELESEC_") and value is not None:
                    patch.setenv(name, value)
            patch.chdir(self.data_dir.parent)
            result = CliRunner().invoke(cli, list(args))
        return result.exit_code, result.output + (str(result.exception or "")
                                                  if result.exit_code else "")

    def login(self, login: str) -> dict[str, str]:
        """A bearer header of ``login`` (one real login each: a TOTP code works once)."""
        if login in self.sessions:
            return self.sessions[login]
        enrolment = self.users[login]
        answer = httpx.post(f"{self.base}/auth/login", timeout=60, json={
            "login": login, "password": enrolment.password,
            "totp_code": pyotp.TOTP(enrolment.totp_secret).now()})
        assert answer.status_code == 200, answer.text
        self.sessions[login] = {"Authorization": f"Bearer {answer.json()['token']}"}
        return self.sessions[login]


def _seed(data_dir: Path) -> dict[str, Enrolment]:
    keyring = Keyring.load(data_dir / "keyring.json")
    identity.install(keyring)
    db = Database(f"sqlite:///{data_dir / 'telesec.db'}")
    try:
        seed_demo(db)
        accounts = Accounts(db, keyring)
        users = {"ada": accounts.add("ada", "admin", actor="cli:test"),
                 "sam": accounts.add("sam", "secretary", actor="cli:test", practices=["demo"])}
        with db.session() as session:
            session.execute(update(StaffUser).values(must_change_password=False))
    finally:
        db.dispose()
        identity.uninstall()
    return users


@pytest.fixture(scope="package")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("security")
    data_dir, anchor = root / "var", root / "other-storage" / "audit-anchor.log"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELESEC_")}
    env.update(TELESEC_DATA_DIR=str(data_dir), TELESEC_AUDIT__ANCHOR_FILE=str(anchor),
               TELESEC_API__PORT=str(port), TELESEC_TIMEZONE="Europe/Paris",
               TELESEC_LOG_LEVEL="DEBUG")
    served = Served(f"http://127.0.0.1:{port}", env, data_dir, anchor, "", {},
                    root / "serve.log", None)  # type: ignore[arg-type]
    code, output = served.cli("init")
    assert code == 0, output
    served.public_key = output.splitlines()[-1].split()[4]
    served.users = _seed(data_dir)
    with served.log.open("wb") as log:
        served.process = subprocess.Popen(
            [sys.executable, "-m", "telesec.cli", "serve", "--no-sip", "--no-jobs"],
            env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert served.process.poll() is None, served.log.read_text()[-3000:]
            try:
                if httpx.get(f"{served.base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            raise AssertionError("telesec serve did not answer:\n" + served.log.read_text())
        for login in served.users:  # before any attack uses up this address's logins
            served.login(login)
        yield served
    finally:
        served.process.send_signal(signal.SIGTERM)
        try:
            served.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            served.process.kill()
            served.process.wait()
