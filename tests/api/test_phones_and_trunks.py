"""Admin API for secretaries' SIP phones and the front's SIP lines (issue 13 in the console)."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from foundation.front_status import STATUS_FILE, front_run_dir, write_trunk_status
from foundation.settings import Settings
from staff import phones
from tests.api.conftest import ApiWorld


def test_admin_sets_and_clears_a_secretary_phone(sqlite_world: ApiWorld) -> None:
    world = sqlite_world
    world.add_user("ada", "admin")
    world.add_user("sam", "secretary", practices=["demo"])
    world.ready("ada")
    world.ready("sam")

    refused = world.client.post("/users/ada/sip-password", headers=world.headers("sam"))
    assert refused.status_code == 403
    missing = world.client.post("/users/nobody/sip-password", headers=world.headers("ada"))
    assert missing.status_code == 404

    answer = world.client.post("/users/sam/sip-password", headers=world.headers("ada"))
    assert answer.status_code == 200, answer.text
    phone = answer.json()
    assert phone["address"] == "sip:sam@telesec" and phone["login"] == "sam"
    assert phone["realm"] == "telesec" and phone["registrar"].endswith(":5060")
    # the front gets the HA1 of the password shown, and nothing else is kept of it
    [credential] = phones.phone_credentials(world.db, world.keyring, "telesec")
    assert credential == phones.PhoneCredential("sam", phones.ha1("sam", "telesec",
                                                                  phone["password"]))
    users = world.client.get("/users", headers=world.headers("ada")).json()
    listed = {u["login"]: u for u in users}
    assert listed["sam"]["sip_phone"] is True and listed["ada"]["sip_phone"] is False
    events = world.client.get("/audit/events", params={"action": "staff.sip_password"},
                              headers=world.headers("ada")).json()
    assert [(e["actor"], e["object_id"]) for e in events] == [("staff:ada", "sam")]

    again = world.client.post("/users/sam/sip-password", headers=world.headers("ada")).json()
    assert again["password"] != phone["password"]
    [credential] = phones.phone_credentials(world.db, world.keyring, "telesec")
    assert credential.ha1 == phones.ha1("sam", "telesec", again["password"])

    cleared = world.client.delete("/users/sam/sip-password", headers=world.headers("ada"))
    assert cleared.status_code == 200
    assert phones.phone_credentials(world.db, world.keyring, "telesec") == []
    assert world.client.get("/users/sam", headers=world.headers("ada")).json()["sip_phone"] is False


def test_the_lines_read_as_the_running_front_last_saw_them(sqlite_world: ApiWorld,
                                                            tmp_path: Path) -> None:
    world = sqlite_world
    world.add_user("ada", "admin")
    world.add_user("sam", "secretary", practices=["demo"])
    world.ready("ada")
    world.ready("sam")
    settings = Settings(data_dir=tmp_path / "lines", sip={"trunks": [
        {"name": "ovh", "registrar": "sip.provider.test", "aor": "sip:0199000000@provider.test",
         "password_env": "OVH_PASSWORD", "numbers": ["+33199000000"]},
        {"name": "carrier", "kind": "ip", "registrar": "127.0.0.9:5060",
         "networks": ["127.0.0.9/32"]},
    ]})
    app = create_app(settings, db=world.db, keyring=world.keyring, vault=world.vault)
    with TestClient(app) as client:
        headers = world.headers("ada")  # sessions live in the database both apps share
        assert client.get("/trunks", headers=world.headers("sam")).status_code == 403

        # no front running here: every line is unknown
        unknown = client.get("/trunks", headers=headers).json()
        assert [(t["name"], t["state"]) for t in unknown] == [("ovh", "unknown"),
                                                              ("carrier", "unknown")]
        assert "not running" in unknown[0]["meaning"]

        run_dir = front_run_dir(settings)
        write_trunk_status(run_dir, [{"name": "ovh", "state": "registered"},
                                     {"name": "carrier", "state": "ip"}])
        lines = client.get("/trunks", headers=headers).json()
        assert lines[0] == {"name": "ovh", "kind": "register",
                            "where": "sip:0199000000@provider.test",
                            "numbers": ["+33199000000"], "state": "registered",
                            "meaning": "registered"}
        assert (lines[1]["kind"], lines[1]["where"], lines[1]["state"]) == (
            "ip", "127.0.0.9:5060", "ip")

        # a status file the front stopped refreshing no longer vouches for anything
        old = time.time() - 3600
        status = run_dir / STATUS_FILE
        status.write_text(status.read_text().replace('"at": ', f'"at": {old}, "was": '))
        assert {t["state"] for t in client.get("/trunks", headers=headers).json()} == {"unknown"}
    app.state.context.feed.close()

