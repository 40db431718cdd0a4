"""``telesec users add | list | disable | enable | reset-mfa`` on a fresh data directory."""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from foundation.errors import TelesecError
from foundation.settings import load_settings
from storage.keyring import Keyring
from telesec.cli import app
from telesec.wiring import api_app
from tests.qr_codes import decode_terminal

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("TELESEC_CONFIG", "TELESEC_DATABASE_URL", "TELESEC_KEYRING_PATH",
                 "TELESEC_KEYRING_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TELESEC_DATA_DIR", str(tmp_path / "var"))
    assert runner.invoke(app, ["init"]).exit_code == 0
    keyring_path = load_settings().effective_keyring_path
    if not keyring_path.exists():
        Keyring.create(keyring_path)
    assert runner.invoke(app, ["demo", "seed"]).exit_code == 0
    return tmp_path / "var"


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_an_admin_adds_a_secretary_who_logs_in_with_totp(data_dir: Path) -> None:
    code, out = run("users", "add", "sam", "--role", "secretary", "--practice", "demo")
    assert code == 0, out
    password = re.search(r"one-time password: (\S+)", out).group(1)  # type: ignore[union-attr]
    uri = re.search(r"(otpauth://\S+)", out).group(1)  # type: ignore[union-attr]
    assert decode_terminal(out) == uri  # the QR code drawn in the terminal
    assert len(re.findall(r"^  [a-z0-9]{4}-", out, re.MULTILINE)) == 10
    totp = pyotp.parse_uri(uri)
    client = TestClient(api_app(load_settings()))
    answer = client.post("/auth/login", json={"login": "sam", "password": password,
                                              "totp_code": totp.now()})
    assert answer.status_code == 200 and answer.json()["must_change_password"]
    code, out = run("users", "list")
    assert code == 0 and re.search(r"^sam\tsecretary\tpractices=1\tactive", out, re.MULTILINE)
    assert run("users", "disable", "sam")[0] == 0
    assert "disabled" in run("users", "list")[1]
    code, out = run("users", "reset-mfa", "sam")
    assert code == 0 and "otpauth://" in out and "one-time password" not in out
    assert run("users", "enable", "sam")[0] == 0


def test_a_doctor_needs_a_practitioner_and_errors_are_one_line(data_dir: Path) -> None:
    with pytest.raises(TelesecError, match="a doctor needs --practice SLUG and --practitioner"):
        run("users", "add", "lambert", "--role", "doctor", "--practice", "demo")
    code, out = run("users", "add", "lambert", "--role", "doctor", "--practice", "demo",
                    "--practitioner", "dr-lambert")
    assert code == 0, out
    with pytest.raises(TelesecError, match="already exists"):
        run("users", "add", "lambert", "--role", "admin")
    with pytest.raises(TelesecError, match="no user 'ghost'"):
        run("users", "disable", "ghost")
