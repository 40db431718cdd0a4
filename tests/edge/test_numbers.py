"""Numbers as providers write them, and what a worker dials behind the front."""

from __future__ import annotations

import pytest

from foundation.errors import TelesecError
from foundation.settings import load_settings
from telephony.edge import e164_number, edge_from_settings, provider_number, trunk_uuid
from telephony.endpoint import dial_uri


@pytest.mark.parametrize(("e164", "fmt", "written"), [
    ("+33612345678", "national", "0612345678"),
    ("+33612345678", "international", "0033612345678"),
    ("+33612345678", "e164", "+33612345678"),
    ("+41441234567", "national", "0041441234567"),  # abroad, from a French account
])
def test_numbers_go_out_in_the_providers_format_and_come_back(e164, fmt, written):
    assert provider_number(e164, fmt, "33") == written
    assert e164_number(written, fmt, "33") == e164


def test_what_a_worker_dials_behind_the_front():
    front = "sip:127.0.0.1:5060"
    assert dial_uri("tel:+33612345678", front) == "sip:+33612345678@127.0.0.1:5060"
    assert dial_uri("+33612345678", front) == "sip:+33612345678@127.0.0.1:5060"
    assert dial_uri("sip:alice", front) == "sip:alice@127.0.0.1:5060"
    assert dial_uri("sip:bob@pbx.example", front) == "sip:bob@pbx.example"
    assert dial_uri("sip:alice", "") == "sip:alice"  # no front: as written


def test_the_registration_user_is_stable_and_secret():
    one = trunk_uuid("ovh", "sip:1@x", "pw")
    assert one == trunk_uuid("ovh", "sip:1@x", "pw") and one != trunk_uuid("ovh", "sip:1@x", "pw2")
    assert "pw" not in one and len(one) == 16


def test_a_password_file_readable_by_others_is_refused(tmp_path, monkeypatch):
    secret = tmp_path / "ovh.pw"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    settings = load_settings(sip={"trunks": [{
        "name": "ovh", "registrar": "sip.provider.example",
        "aor": "sip:1@sip.provider.example", "password_file": str(secret)}]})
    with pytest.raises(TelesecError, match="readable by others; chmod 600"):
        edge_from_settings(settings.sip)
    secret.chmod(0o600)
    (trunk,) = edge_from_settings(settings.sip).trunks
    assert trunk.password == "s3cret" and "s3cret" not in repr(trunk)
    monkeypatch.delenv("NOPE_PW", raising=False)
    missing = load_settings(sip={"trunks": [{
        "name": "ovh", "registrar": "h", "aor": "sip:1@h", "password_env": "NOPE_PW"}]})
    with pytest.raises(TelesecError, match="NOPE_PW is not set"):
        edge_from_settings(missing.sip)
