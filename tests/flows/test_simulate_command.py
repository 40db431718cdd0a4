"""``telesec simulate``: the interactive console, fed from standard input, on a real data dir."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from storage.identity import uninstall
from telesec.cli import app


def _next_monday() -> date:
    today = date.today()
    return today + timedelta(days=7 - today.weekday())


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TELESEC_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("TELESEC_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "var"


def test_simulate_a_call_from_the_console(data_dir: Path) -> None:
    runner = CliRunner()
    try:
        for command in (["init"], ["demo", "seed"]):
            result = runner.invoke(app, command)
            assert result.exit_code == 0, (command, result.output)
        caller = "\n".join(["#1", "", "je voudrais laisser un message", "#0",
                            "Merci de me rappeler", "#3"]) + "\n"
        next_monday_10am = _next_monday().isoformat() + "T10:00"
        result = runner.invoke(app, ["simulate", "--practice", "demo", "--lang", "fr",
                                     "--at", next_monday_10am], input=caller)
    finally:
        uninstall()
    assert result.exit_code == 0, result.output
    assert "telesec: Que puis-je faire pour vous ?" in result.output
    assert "date de naissance" not in result.output  # a message needs no identity
    assert "telesec: Votre message a bien été enregistré" in result.output
    assert "steps: welcome > language > notice > hours > intake > message > goodbye" in (
        result.output.splitlines()[-1])
    assert any((data_dir / "vault").rglob("*")), "the message went to the vault"


def test_simulate_unknown_practice_is_one_line(data_dir: Path) -> None:
    runner = CliRunner()
    try:
        assert runner.invoke(app, ["init"]).exit_code == 0
        result = runner.invoke(app, ["simulate", "--practice", "nowhere"])
    finally:
        uninstall()
    assert result.exit_code != 0
    assert "telesec demo seed" in str(result.exception) + result.output
