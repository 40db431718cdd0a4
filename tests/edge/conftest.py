"""One Telesec pool at the edge of loopback, with a stand-in provider, for the edge tests.

Addresses (all on loopback, ports free at run time): the front listens on 127.0.0.6
(UDP/TCP and TLS), its workers on 127.0.0.1 behind it, rtpengine between them; the
stand-in provider on 127.0.0.2, its callers on 127.0.0.3, an outside "mobile" on
127.0.0.4, a secretary's softphone on 127.0.0.5; 127.0.0.1 is an allowed network (an
IP caller), 127.0.0.9 is not.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from foundation.settings import load_settings
from telephony.pool_settings import PoolTuning
from telephony.supervisor import Supervisor
from tests.edge.provider import Provider, free_loopback_port, start_provider
from tests.ports import free_port, free_rtp_range
from tests.telephony.peers import self_signed_cert

FRONT_HOST = "127.0.0.6"
PROVIDER_HOST = "127.0.0.2"
CALLER_HOST = "127.0.0.3"
MOBILE_HOST = "127.0.0.4"
PHONE_HOST = "127.0.0.5"
PRACTICE = "+33199000000"
OTHER_PRACTICE = "+33199000001"  # a practice reached as an IP trunk would, directly
ACCOUNT = "0972000000"  # the SIP account's user at the provider
DOMAIN = "provider.test"
MOBILE_NATIONAL = "0612345678"
PHONE_LOGIN, PHONE_REALM = "alice", "telesec"


class TestDirectory:
    """The front's view of the database: practice numbers, phones' credentials."""

    def __init__(self, phone_password: str) -> None:
        self.phone_password = phone_password

    def numbers(self) -> set[str]:
        return {PRACTICE, OTHER_PRACTICE}

    def phones(self, realm: str) -> list[tuple[str, str]]:
        ha1 = hashlib.md5(f"{PHONE_LOGIN}:{realm}:{self.phone_password}".encode()).hexdigest()
        return [(PHONE_LOGIN, ha1)]

    def desks(self) -> dict[str, str]:
        return {}


@dataclass
class EdgePool:
    supervisor: Supervisor
    provider: Provider
    front_port: int
    tls_port: int
    cert: Path
    mobile_port: int
    report: Path
    phone_password: str
    trunk_password: str
    run_dir: Path

    def records(self) -> list[dict]:
        if not self.report.exists():
            return []
        return [json.loads(line) for line in self.report.read_text().splitlines() if line]

    def record_for(self, caller: str, count: int = 1, timeout: float = 25.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [r for r in self.records() if r.get("caller") == caller]
            if len(found) >= count:
                return found
            time.sleep(0.1)
        return [r for r in self.records() if r.get("caller") == caller]


@pytest.fixture(scope="package")
def edge_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgePool]:
    tmp = tmp_path_factory.mktemp("edge")
    trunk_password, phone_password = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    provider_port, mobile_port = free_loopback_port(), free_port()
    front_port, tls_port, worker_base = free_port(), free_port(), free_port()
    cert, key = self_signed_cert(tmp, FRONT_HOST)
    report = tmp / "calls.jsonl"
    saved = {name: os.environ.get(name) for name in
             ("EDGE_TRUNK_PASSWORD", "TELESEC_DEMO_REPORT", "EDGE_TARGET_1", "EDGE_TARGET_2")}
    os.environ.update(EDGE_TRUNK_PASSWORD=trunk_password, TELESEC_DEMO_REPORT=str(report),
                      EDGE_TARGET_1="tel:+33612345678", EDGE_TARGET_2=f"sip:{PHONE_LOGIN}")
    provider = start_provider(
        tmp / "provider", host=PROVIDER_HOST, port=provider_port, user=ACCOUNT,
        password=trunk_password, domain=DOMAIN, did=ACCOUNT,
        routes={MOBILE_NATIONAL: f"{MOBILE_HOST}:{mobile_port}"},
        unknown=f"{FRONT_HOST}:{front_port}",
    )
    relay_first, relay_last = free_rtp_range()
    settings = load_settings(data_dir=tmp / "data", sip={
        "listen_host": FRONT_HOST, "listen_port": front_port,
        "worker_base_port": worker_base, "workers": 1, "calls_per_worker": 2,
        "allowed_networks": ["127.0.0.1/32", "127.0.0.6/32"],
        "user_agent": "Cabinet Tilleuls PBX",
        "tls": {"port": tls_port, "certificate": str(cert), "private_key": str(key)},
        "media": {"relay": "on", "port_min": relay_first, "port_max": relay_last},
        "trunks": [{
            "name": "provider", "registrar": f"{PROVIDER_HOST}:{provider_port}",
            "aor": f"sip:{ACCOUNT}@{DOMAIN}", "password_env": "EDGE_TRUNK_PASSWORD",
            "expiry_s": 60, "keepalive_s": 3, "number_format": "national",
            "numbers": [PRACTICE], "networks": [f"{PROVIDER_HOST}/32"],
        }],
    })
    supervisor = Supervisor(settings, "tests.edge.handlers:edge_call",
                            tuning=PoolTuning(probe_interval_s=2, drain_deadline_s=5),
                            run_dir=tmp / "run", directory=TestDirectory(phone_password))
    try:
        supervisor.start()
        yield EdgePool(supervisor, provider, front_port, tls_port, cert, mobile_port, report,
                       phone_password, trunk_password, tmp / "run")
    finally:
        supervisor.stop(deadline=5)
        provider.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
