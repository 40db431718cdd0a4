"""Behind NAT, no port forwarded: the practice registers out and its calls have audio.

The Telesec node runs in its own network namespace behind a router namespace doing
nftables masquerade and forwarding only replies; the stand-in provider and a caller
live in a third ("public") namespace. The front registers the account through the NAT
and keeps the mapping open; a caller then calls the practice through the provider, and
media flows both ways through the node's rtpengine, which announces the router's public
address and sends first, so the router's mapping lets the caller's audio in.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.edge.netns import NatLab
from tests.edge.provider import start_provider
from tests.edge.test_trunk_and_calls import PCMA_OFFER
from tests.telephony.peers import REPO, sipp_errors

pytestmark = [pytest.mark.sip, pytest.mark.timeout(150)]

SIPP_DIR = Path(__file__).parent / "sipp"
ACCOUNT, DOMAIN, PRACTICE = "0972000000", "provider.test", "+33199000000"
PROVIDER_PORT, FRONT_PORT = 5070, 5060


@pytest.fixture(scope="module")
def nat_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NatLab, Path]]:
    if os.geteuid() != 0:
        pytest.fail("the NAT test makes network namespaces: run it as root (CI does)")
    tmp = tmp_path_factory.mktemp("nat")
    lab = NatLab()
    try:
        lab.create()
        yield lab, tmp
    finally:
        lab.destroy()


def test_behind_nat_the_account_registers_and_calls_have_audio_both_ways(nat_lab):
    lab, tmp = nat_lab
    password = secrets.token_urlsafe(12)
    provider = start_provider(
        tmp / "provider", host=lab.public_address, port=PROVIDER_PORT, user=ACCOUNT,
        password=password, domain=DOMAIN, did=ACCOUNT, routes={}, netns=lab.public)
    lab.processes.append(provider.process)
    report = tmp / "calls.jsonl"
    spec = {
        "run_dir": str(tmp / "run"),
        "numbers": [PRACTICE],
        "settings": {
            "data_dir": str(tmp / "data"),
            "sip": {
                "listen_host": lab.node_address, "listen_port": FRONT_PORT,
                "worker_base_port": 5100, "workers": 1, "calls_per_worker": 2,
                "media": {"relay": "on", "port_min": 31000, "port_max": 31099,
                          "public_address": lab.router_outside},
                "trunks": [{
                    "name": "provider", "registrar": f"{lab.public_address}:{PROVIDER_PORT}",
                    "aor": f"sip:{ACCOUNT}@{DOMAIN}", "password_env": "NAT_TRUNK_PASSWORD",
                    "expiry_s": 60, "keepalive_s": 5, "number_format": "national",
                    "numbers": [PRACTICE], "networks": [f"{lab.public_address}/32"],
                }],
            },
        },
    }
    (tmp / "node.json").write_text(json.dumps(spec))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELESEC_")}
    env.update(NAT_TRUNK_PASSWORD=password, TELESEC_DEMO_REPORT=str(report),
               PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    node_log = (tmp / "node.log").open("w")
    node = lab.popen(lab.node, [sys.executable, "-m", "tests.edge.node_run",
                                str(tmp / "node.json")],
                     cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=node_log, text=True)
    assert node.stdout is not None
    line = node.stdout.readline().strip()
    assert line == "UP", (tmp / "node.log").read_text()[-3000:]

    # the REGISTER reached the provider from the router's public address, not the node's
    assert provider.wait_for(r"PROVIDER REGISTER ok user=" + ACCOUNT, timeout=25), \
        provider.log()[-2000:] + (tmp / "node.log").read_text()[-2000:]
    assert f"source={lab.router_outside}" in provider.log()
    assert lab.node_address not in provider.log().split("REGISTER ok", 1)[1].split("\n")[0]

    # the caller (sipp for SIP, a peer for RTP) in the public namespace
    peer_port, peer_result = tmp / "peer.port", tmp / "peer.json"
    lab.popen(lab.public, [sys.executable, "-m", "tests.edge.rtp_peer", lab.public_address,
                           str(peer_port), str(peer_result), "14"], cwd=REPO,
              env=dict(env))
    deadline = time.monotonic() + 10
    while not peer_port.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    text = (SIPP_DIR / "caller.xml").read_text()
    for key, value in {**PCMA_OFFER, "CALLER": "0611111111", "HEADERS": "X-Test: nat",
                       "MEDIA_IP": lab.public_address, "RTP_PORT": peer_port.read_text(),
                       "PAUSE_MS": 6000}.items():
        text = text.replace(f"@{key}@", str(value))
    xml = tmp / "caller.xml"
    xml.write_text(text)
    run = lab.run(lab.public, [
        "sipp", f"{lab.public_address}:{PROVIDER_PORT}", "-sf", str(xml), "-s", ACCOUNT,
        "-m", "1", "-i", lab.public_address, "-p", "5090", "-mp", "40000",
        "-timeout", "40s", "-timeout_error", "-nostdin", "-trace_err",
        "-error_file", str(xml.with_suffix(".errors.log"))], cwd=tmp, timeout=60)
    assert run.returncode == 0, sipp_errors(xml) + provider.log()[-2000:]
    deadline = time.monotonic() + 15
    while not peer_result.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    heard = json.loads(peer_result.read_text())
    deadline = time.monotonic() + 15
    records: list[dict] = []
    while time.monotonic() < deadline and not records:
        records = [json.loads(x) for x in report.read_text().splitlines()] \
            if report.exists() else []
        time.sleep(0.1)
    assert records, (tmp / "node.log").read_text()[-3000:]
    (record,) = records
    # two-way audio with no port forwarded
    assert heard["loud"] > 30, heard  # Telesec's prompt reached the caller
    assert all(s.startswith(lab.router_outside + ":") for s in heard["sources"]), heard
    assert heard["sent"] > 100, heard
    assert record["rec_loud_100ms"] >= 15, record  # the caller's audio reached the recording
    assert record["dialled"] == PRACTICE and record["ended_by"] == "caller hung up"
    ruleset = lab.ruleset()
    assert "masquerade" in ruleset and "dnat" not in ruleset  # nothing forwarded in
