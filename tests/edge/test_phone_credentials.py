"""`telesec users sip-password`, the front's directory, `telesec trunks status`."""

from __future__ import annotations

import hashlib
import json
import re
import time

import pytest

from foundation.front_status import front_run_dir, read_trunk_status, write_trunk_status
from foundation.settings import SettingsError, load_settings
from telesec.wiring import DatabaseDirectory, open_database, open_keyring
from tests.e2e.conftest import _telesec
from tests.e2e.engine_run import add_staff, clean_env, telesec_cli


def test_a_phone_password_gives_the_front_an_ha1_and_nothing_else(tmp_path):
    data = tmp_path / "var"
    env = clean_env(data)
    _telesec(env, "init")
    _telesec(env, "demo", "seed")
    add_staff(env, "alice", "--role", "secretary", "--practice", "demo")
    done = telesec_cli(env, "users", "sip-password", "alice")
    assert done.returncode == 0, done.stderr
    password = re.search(r"password:\s+(\S+)", done.stdout).group(1)
    assert "sip:alice@telesec" in done.stdout
    settings = load_settings(data_dir=data)
    db = open_database(settings)
    try:
        directory = DatabaseDirectory(settings, db, open_keyring(settings))
        expected = hashlib.md5(f"alice:telesec:{password}".encode()).hexdigest()
        assert directory.phones("telesec") == [("alice", expected)]
        assert directory.phones("another-realm") == []  # an HA1 is for one realm only
        assert "+33199000000" in directory.numbers()  # the demo practice's number
        # what a softphone's call-back from the demo desk shows the patient
        assert directory.desks()["desk-demo"] == "+33199000000"
        # the password is nowhere in the database, in any form but the sealed HA1
        with db.session() as session:
            raw = session.connection().exec_driver_sql(
                "SELECT sip_ha1_sealed FROM staff_users WHERE login = 'alice'").scalar()
        assert password.encode() not in raw and expected.encode() not in raw
        assert telesec_cli(env, "users", "disable", "alice").returncode == 0
        assert directory.phones("telesec") == []  # a disabled account's phone is dropped
        assert telesec_cli(env, "users", "enable", "alice").returncode == 0
        assert telesec_cli(env, "users", "sip-password", "alice", "--clear").returncode == 0
        assert directory.phones("telesec") == []
    finally:
        db.dispose()
    missing = telesec_cli(env, "users", "sip-password", "nobody")
    assert missing.returncode == 2 and "no staff account 'nobody'" in missing.stderr


def test_trunks_status_reads_what_the_front_reports(tmp_path):
    data = tmp_path / "var"
    toml = tmp_path / "telesec.toml"
    toml.write_text(
        f'data_dir = "{data}"\n'
        "[[sip.trunks]]\n"
        'name = "ovh"\nregistrar = "sip.provider.example"\n'
        'aor = "sip:0033972000000@sip.provider.example"\npassword_env = "OVH_PASSWORD"\n'
        "[[sip.trunks]]\n"
        'name = "sbc"\nkind = "ip"\nregistrar = "192.0.2.10"\nnetworks = ["192.0.2.0/28"]\n'
    )
    env = clean_env(data, TELESEC_CONFIG=str(toml))
    down = telesec_cli(env, "trunks", "status")
    assert down.returncode == 1
    assert "ovh\tregister" in down.stdout and "the front is not running" in down.stdout
    settings = load_settings(_env_file=None, data_dir=data,
                             sip={"trunks": [t.model_dump() for t in _trunks(toml)]})
    write_trunk_status(front_run_dir(settings), [
        {"name": "ovh", "state": "registered", "registered": True, "expires_s": 300},
        {"name": "sbc", "state": "ip", "registered": False}])
    up = telesec_cli(env, "trunks", "status")
    assert up.returncode == 0, up.stdout + up.stderr
    assert re.search(r"ovh\tregister\tsip:0033972000000@sip.provider.example\tregistered",
                     up.stdout)
    assert "sbc\tip\t192.0.2.10\tIP trunk" in up.stdout
    assert read_trunk_status(settings) == {"ovh": "registered", "sbc": "ip"}
    # a status file nobody refreshed for a minute means the front is gone
    path = front_run_dir(settings) / "trunks.json"
    stale = json.loads(path.read_text())
    stale["at"] = time.time() - 120
    path.write_text(json.dumps(stale))
    assert read_trunk_status(settings) == {"ovh": "unknown", "sbc": "unknown"}


def test_a_misspelt_sip_key_stops_telesec_with_one_line(tmp_path, monkeypatch):
    toml = tmp_path / "telesec.toml"
    toml.write_text("[sip]\nregister = \"sip:1000@provider.example\"\n")
    env = clean_env(tmp_path / "var", TELESEC_CONFIG=str(toml))
    done = telesec_cli(env, "trunks", "status")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "setting 'sip.register' is not a Telesec setting" in done.stderr
    monkeypatch.setenv("TELESEC_SIP__REGISTER", "sip:1000@provider.example")
    with pytest.raises(SettingsError, match=r"setting 'sip\.register' is not a Telesec setting"):
        load_settings()


def _trunks(toml):
    import tomllib

    from foundation.settings import TrunkSettings

    return [TrunkSettings(**t) for t in tomllib.loads(toml.read_text())["sip"]["trunks"]]
