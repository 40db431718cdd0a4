"""``telesec calendars``: link a Radicale calendar from a terminal, status, sync, unlink.

On a real data directory (``telesec init`` + ``demo seed``); the password goes through
standard input, never the command line.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from storage.identity import uninstall
from telesec.cli import app
from tests.calendars.conftest import DOCTOR, DOCTOR_PASSWORD, vcalendar, vevent
from tests.calendars.radicale_server import RadicaleServer


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TELESEC_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("TELESEC_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "var"


def test_link_status_sync_settings_unlink(data_dir: Path, radicale: RadicaleServer) -> None:
    url = radicale.make_calendar(DOCTOR, f"cli-{uuid.uuid4().hex[:6]}")
    tomorrow = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    with radicale.client(DOCTOR) as client:
        client.calendar(url=url).add_event(vcalendar(vevent(
            "cli@phone", tomorrow, tomorrow + timedelta(hours=1))))
    runner = CliRunner()
    try:
        for command in (["init"], ["demo", "seed"]):
            result = runner.invoke(app, command)
            assert result.exit_code == 0, (command, result.output)

        found = runner.invoke(app, ["calendars", "discover", "--server", radicale.base_url,
                                    "--username", DOCTOR, "--password-stdin"],
                              input=DOCTOR_PASSWORD + "\n")
        assert found.exit_code == 0, found.output
        assert url in found.output  # the address to give to `link --caldav`

        wrong = runner.invoke(app, ["calendars", "link", "--practice", "demo", "--doctor",
                                    "dr-lambert", "--caldav", url, "--username", DOCTOR,
                                    "--password-stdin"], input="not the password\n")
        assert wrong.exit_code != 0
        assert "refused the user name or password" in str(wrong.exception) + wrong.output
        assert "nothing was linked" in str(wrong.exception) + wrong.output

        result = runner.invoke(app, ["calendars", "link", "--practice", "demo", "--doctor",
                                     "dr-lambert", "--caldav", url, "--username", DOCTOR,
                                     "--password-stdin"], input=DOCTOR_PASSWORD + "\n")
        assert result.exit_code == 0, result.output
        assert f"linked dr-lambert's caldav calendar on 127.0.0.1:{radicale.port}" in result.output
        assert ": ok in" in result.output and "1 new" in result.output
        assert DOCTOR_PASSWORD not in result.output and url not in result.output

        result = runner.invoke(app, ["calendars", "status", "--practice", "demo"])
        assert result.exit_code == 0, result.output
        lambert = next(line for line in result.output.splitlines() if "dr-lambert" in line)
        assert "— ok; last sync" in lambert and "1 events, 1 busy periods" in lambert
        assert "dr-moreau: no calendar linked" in result.output
        assert "patient names not published" in result.output

        result = runner.invoke(app, ["calendars", "sync", "--practice", "demo"])
        assert result.exit_code == 0 and "0 new, 0 changed, 0 deleted" in result.output

        result = runner.invoke(app, ["calendars", "settings", "--practice", "demo",
                                     "--publish-patient-names"])
        assert result.exit_code == 0 and "ARE published" in result.output
        result = runner.invoke(app, ["calendars", "settings", "--practice", "demo",
                                     "--no-patient-names", "--tentative-free"])
        assert "tentative events do not block" in result.output

        result = runner.invoke(app, ["calendars", "unlink", "--practice", "demo", "--doctor",
                                     "dr-lambert"])
        assert result.exit_code == 0 and "unlinked" in result.output
        result = runner.invoke(app, ["calendars", "unlink", "--practice", "demo", "--doctor",
                                     "dr-lambert"])
        assert result.exit_code != 0
        assert "has no calendar linked" in str(result.exception) + result.output
    finally:
        uninstall()
    stored = b"".join(p.read_bytes() for p in data_dir.glob("telesec.db*"))
    assert DOCTOR_PASSWORD.encode() not in stored and url.encode() not in stored
