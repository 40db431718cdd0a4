from pathlib import Path

import pytest

from foundation.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("TELESEC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_use_local_var_and_sqlite(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.data_path == tmp_path / "var"
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'var' / 'telesec.db'}"
    assert settings.timezone == "Europe/Paris"
    assert settings.sip.calls_per_worker == 4


def test_toml_file_then_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "telesec.toml").write_text(
        'data_dir = "/srv/telesec"\ntimezone = "Europe/Brussels"\n[sip]\nworkers = 6\n'
    )
    assert load_settings().sip.workers == 6
    monkeypatch.setenv("TELESEC_SIP__WORKERS", "3")
    monkeypatch.setenv("TELESEC_TIMEZONE", "America/Cayenne")
    settings = load_settings()
    assert settings.sip.workers == 3
    assert settings.timezone == "America/Cayenne"
    assert settings.data_path == Path("/srv/telesec")


def test_postgres_url_gets_the_psycopg_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELESEC_DATABASE_URL", "postgresql://u@db:5432/telesec")
    assert load_settings().effective_database_url == "postgresql+psycopg://u@db:5432/telesec"


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("TELESEC_TIMEZONE", "Europe/Pariss", "setting 'timezone' (TELESEC_TIMEZONE): unknown"),
        ("TELESEC_SIP__WORKERS", "0", "setting 'sip.workers' (TELESEC_SIP__WORKERS)"),
        ("TELESEC_DATABASE_URL", "mysql://x", "use sqlite:///PATH or postgresql"),
        ("TELESEC_RETENTION__RECORDING_DAYS", "365", "'retention.recording_days'"),
    ],
)
def test_a_wrong_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_unknown_key_in_the_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "telesec.toml").write_text("databse_url = 'sqlite://'\n")
    with pytest.raises(SettingsError, match="'databse_url' is not a Telesec setting"):
        load_settings()


def test_broken_toml_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "telesec.toml").write_text("data_dir = \n")
    with pytest.raises(SettingsError, match="fix its TOML syntax"):
        load_settings()


def test_named_config_file_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELESEC_CONFIG", "/nonexistent/telesec.toml")
    with pytest.raises(SettingsError, match="no such file"):
        load_settings()


def test_audit_anchors_are_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "telesec.toml").write_text(
        '[audit]\nanchor_file = "/mnt/other/audit-anchor.log"\n'
        'anchor_syslog = "udp:10.0.0.5:514"\n')
    settings = load_settings()
    assert settings.audit.anchor_file == Path("/mnt/other/audit-anchor.log")
    assert settings.audit.anchor_syslog == "udp:10.0.0.5:514"
    monkeypatch.setenv("TELESEC_AUDIT__ANCHOR_SYSLOG", "tcp:somewhere")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value) == ("setting 'audit.anchor_syslog' (TELESEC_AUDIT__ANCHOR_SYSLOG): "
                                "use unix:/dev/log or udp:HOST:PORT")
