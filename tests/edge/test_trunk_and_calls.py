"""The front registers the practice's SIP account and carries its calls, in and out.

Real peers on loopback: the stand-in provider (Kamailio, digest auth: 401 on REGISTER,
407 on the account's INVITEs), sipp callers and a sipp "mobile" behind it, baresip as a
secretary's softphone registered to the front, rtpengine relaying every call's media.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from foundation.front_status import read_trunk_status
from tests.edge.conftest import (
    ACCOUNT,
    CALLER_HOST,
    FRONT_HOST,
    MOBILE_HOST,
    MOBILE_NATIONAL,
    OTHER_PRACTICE,
    PRACTICE,
    PROVIDER_HOST,
    EdgePool,
)
from tests.edge.rtp_peer import RtpPeer
from tests.ports import free_port, free_rtp_base
from tests.telephony.peers import REPO, sipp_errors, wait_exit

pytestmark = [pytest.mark.sip, pytest.mark.timeout(120)]

SIPP_DIR = Path(__file__).parent / "sipp"


PCMA_OFFER = {"PAYLOADS": "8 101", "RTPMAPS": "a=rtpmap:8 PCMA/8000\n"
              "a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15"}


def edge_scenario(tmp, name: str, **values: object):
    values = {**PCMA_OFFER, **values}
    text = (SIPP_DIR / name).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", str(value))
    path = tmp / f"{name.removesuffix('.xml')}-{len(list(tmp.iterdir()))}.xml"
    path.write_text(text)
    return path


def call_through_provider(tmp, pool: EdgePool, *, caller: str, headers: str = "",
                          pause_ms: int = 5000, service: str = ACCOUNT,
                          host: str = CALLER_HOST, target: str = "",
                          offer: dict[str, str] | None = None):
    """sipp calls ``service`` at the provider (or ``target``); an RtpPeer is its audio."""
    peer = RtpPeer(host)
    xml = edge_scenario(tmp, "caller.xml", CALLER=caller, HEADERS=headers or "X-Test: 1",
                        MEDIA_IP=host, RTP_PORT=peer.port, PAUSE_MS=pause_ms,
                        **(offer or {}))
    run = subprocess.run(
        ["sipp", target or f"{PROVIDER_HOST}:{pool.provider.port}", "-sf", str(xml),
         "-s", service, "-m", "1", "-i", host, "-p", str(free_port()),
         "-mp", str(free_rtp_base()), "-timeout", "40s", "-timeout_error", "-nostdin",
         "-trace_err", "-error_file", str(xml.with_suffix(".errors.log"))],
        capture_output=True, text=True, timeout=60, cwd=tmp,
    )
    peer.close()
    return run, peer, xml


def test_the_account_registers_with_digest_and_stays_alive(edge_pool: EdgePool):
    provider = edge_pool.provider
    assert provider.wait_for(r"PROVIDER REGISTER ok user=" + ACCOUNT, timeout=25) >= 1, \
        provider.log()[-3000:]
    assert provider.count(r"PROVIDER REGISTER challenged 401") >= 1
    deadline = time.monotonic() + 10
    states = {}
    while time.monotonic() < deadline:
        states = edge_pool.supervisor.trunk_states()
        if states and all(state.registered for state in states.values()):
            break
        time.sleep(0.3)
    assert len(states) == 1 and next(iter(states.values())).state == "registered", states
    # what `telesec trunks status`, /health and the metrics read
    settings = edge_pool.supervisor.settings
    deadline = time.monotonic() + 10
    while read_trunk_status(settings, edge_pool.run_dir) != {"provider": "registered"}:
        assert time.monotonic() < deadline, read_trunk_status(settings, edge_pool.run_dir)
        time.sleep(0.3)
    # keep-alives from the registration's own socket keep a router's mapping open
    assert provider.wait_for(r"PROVIDER OPTIONS from " + FRONT_HOST, 2, timeout=10) >= 2
    assert "ua=Cabinet Tilleuls PBX" in provider.log()
    # the password is in no file but the front's private table
    cfg = (edge_pool.run_dir / "kamailio.cfg").read_text()
    assert edge_pool.trunk_password not in cfg
    table = edge_pool.run_dir / "tables" / "uacreg"
    assert table.stat().st_mode & 0o077 == 0 and (edge_pool.run_dir / "tables").stat(
    ).st_mode & 0o077 == 0


def test_a_caller_reaches_the_practice_with_audio_both_ways(edge_pool: EdgePool, tmp_path):
    edge_pool.provider.wait_for(r"PROVIDER REGISTER ok", timeout=25)
    run, peer, xml = call_through_provider(tmp_path, edge_pool, caller="0611111111")
    assert run.returncode == 0, sipp_errors(xml) + edge_pool.provider.log()[-2000:]
    (record,) = edge_pool.record_for("0611111111")
    assert record["dialled"] == PRACTICE  # the account's calls ring the practice number
    assert record["ended_by"] == "caller hung up"
    # the 1 s menu prompt (50 packets of 20 ms) reached the caller
    assert peer.loud_packets >= 45, (str(record), peer.facts())
    assert record["rec_loud_100ms"] >= 15, record  # and the caller reached Telesec
    # media went through the relay: the caller heard it from the front's edge address
    assert all(source.startswith(FRONT_HOST + ":") for source in peer.facts()["sources"])


def test_withheld_callers_have_no_number(edge_pool: EdgePool, tmp_path):
    edge_pool.provider.wait_for(r"PROVIDER REGISTER ok", timeout=25)
    run, _peer, xml = call_through_provider(tmp_path, edge_pool, caller="anonymous",
                                            headers="Privacy: id", pause_ms=1500)
    assert run.returncode == 0, sipp_errors(xml)
    records = edge_pool.record_for("", timeout=15)
    assert records and records[-1]["dialled"] == PRACTICE


def test_a_number_asserted_by_the_provider_is_the_caller(edge_pool: EdgePool, tmp_path):
    edge_pool.provider.wait_for(r"PROVIDER REGISTER ok", timeout=25)
    run, _peer, xml = call_through_provider(
        tmp_path, edge_pool, caller="anonymous", pause_ms=1500,
        headers="Privacy: id\nP-Asserted-Identity: <sip:+33622222222@provider.test>")
    assert run.returncode == 0, sipp_errors(xml)
    assert edge_pool.record_for("+33622222222", timeout=15)


def test_an_asserted_number_from_outside_the_trunk_is_ignored(edge_pool: EdgePool, tmp_path):
    # 127.0.0.1 may call (an allowed network) but is no trunk: its PAI is not believed
    run, _peer, xml = call_through_provider(
        tmp_path, edge_pool, caller="0633333333", pause_ms=1500, service=PRACTICE,
        host="127.0.0.1", target=f"{FRONT_HOST}:{edge_pool.front_port}",
        headers="P-Asserted-Identity: <sip:+33644444444@provider.test>")
    assert run.returncode == 0, sipp_errors(xml)
    assert edge_pool.record_for("0633333333", timeout=15)
    assert not [r for r in edge_pool.records() if r.get("caller") == "+33644444444"]


def test_bridged_to_a_mobile_through_the_provider_with_407(edge_pool: EdgePool, tmp_path):
    provider = edge_pool.provider
    provider.wait_for(r"PROVIDER REGISTER ok", timeout=25)
    mobile_peer = RtpPeer(MOBILE_HOST)
    mobile_xml = edge_scenario(tmp_path, "mobile.xml", MEDIA_IP=MOBILE_HOST,
                               RTP_PORT=mobile_peer.port)
    mobile = subprocess.Popen(
        ["sipp", "-sf", str(mobile_xml), "-p", str(edge_pool.mobile_port), "-i", MOBILE_HOST,
         "-mp", str(free_rtp_base()), "-m", "1", "-timeout", "40s", "-timeout_error",
         "-nostdin", "-trace_err", "-error_file", str(mobile_xml.with_suffix(".errors.log"))],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path,
    )
    try:
        run, caller_peer, xml = call_through_provider(tmp_path, edge_pool,
                                                      caller="+33600000001", pause_ms=6000)
        assert run.returncode == 0, sipp_errors(xml) + provider.log()[-3000:]
        assert wait_exit(mobile, 15) == 0, sipp_errors(mobile_xml) + provider.log()[-3000:]
    finally:
        wait_exit(mobile, 0.1)
        mobile_peer.close()
    (record,) = edge_pool.record_for("+33600000001")
    assert record["bridge_ok"] is True, record
    assert record["answered_by"] == "tel:+33612345678"
    assert provider.count(r"PROVIDER INVITE challenged 407") >= 1
    # the provider saw the account's From and the practice's number, in its own format
    seen = rf"PROVIDER OUT to={MOBILE_NATIONAL} from={ACCOUNT} pai=sip:0199000000@"
    assert provider.count(seen) == 1, provider.log()[-2000:]
    assert mobile_peer.loud_packets > 40, mobile_peer.facts()  # the caller reached the mobile
    assert caller_peer.loud_packets > 40, caller_peer.facts()  # hold music, then the mobile's voice


def test_unknown_numbers_and_scanners_get_no_answer(edge_pool: EdgePool, tmp_path):
    from tests.edge.sip_probe import options, send_invite

    # a number that is no practice's, through the provider: refused at the front, 404
    codes = send_invite(CALLER_HOST, PROVIDER_HOST, edge_pool.provider.port, "0972999999")
    assert 404 in codes and 200 not in codes and 180 not in codes, codes
    # a scanner gets nothing at all, even from an allowed network
    assert options("127.0.0.1", FRONT_HOST, edge_pool.front_port,
                   user_agent="friendly-scanner") is None
    assert options("127.0.0.1", FRONT_HOST, edge_pool.front_port,
                   user_agent="sipvicious 0.3") is None
    # nor does a source outside the allowed networks
    assert options("127.0.0.9", FRONT_HOST, edge_pool.front_port) is None
    assert send_invite("127.0.0.9", FRONT_HOST, edge_pool.front_port, PRACTICE) == []
    # while an allowed one is answered, with the configured Server header
    reply = options("127.0.0.1", FRONT_HOST, edge_pool.front_port)
    assert reply is not None and reply.startswith("SIP/2.0 200")
    assert "Server: Cabinet Tilleuls PBX" in reply


def test_tls_client_reaches_the_front(edge_pool: EdgePool):
    from tests.edge.sip_probe import tls_options

    reply = tls_options(FRONT_HOST, edge_pool.tls_port, edge_pool.cert)
    assert reply.startswith("SIP/2.0 200"), reply
    assert "Server: Cabinet Tilleuls PBX" in reply




@pytest.mark.parametrize(("codec", "payload_type"), [("G722/8000", 9), ("PCMU/8000", 0)])
def test_single_codec_offers_go_through_the_relay(edge_pool: EdgePool, tmp_path, codec,
                                                   payload_type):
    caller = f"06777777{payload_type:02d}"
    run, peer, xml = call_through_provider(
        tmp_path, edge_pool, caller=caller, pause_ms=2500, service=OTHER_PRACTICE,
        host="127.0.0.1", target=f"{FRONT_HOST}:{edge_pool.front_port}",
        offer={"PAYLOADS": str(payload_type),
               "RTPMAPS": f"a=rtpmap:{payload_type} {codec}"})
    assert run.returncode == 0, sipp_errors(xml)
    (record,) = edge_pool.record_for(caller)
    assert record["dialled"] == OTHER_PRACTICE
    assert peer.payload_types == {payload_type}, peer.facts()  # the codec offered, relayed


def through_the_front(name: str, caller: str = "0600000001") -> str:
    """A worker-level sipp scenario whose in-dialog requests follow the route set."""
    text = (REPO / "tests" / "telephony" / "sipp" / name).read_text()
    text = text.replace("0600000001", caller)
    text = text.replace('<recv response="200" rtd="true"/>',
                        '<recv response="200" rtd="true" rrs="true"/>', 1)
    first_ack = text.index("ACK sip:[service]")
    head, tail = text[:first_ack], text[first_ack:]
    for method in ("ACK", "INVITE", "INFO", "BYE"):
        tail = tail.replace(f"{method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0",
                            f"{method} [next_url] SIP/2.0")
    return head + tail.replace("Call-ID: [call_id]\n", "Call-ID: [call_id]\n      [routes]\n")


def run_through_the_front(pool: EdgePool, tmp_path, xml: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sipp", f"{FRONT_HOST}:{pool.front_port}", "-sf", str(xml),
         "-s", OTHER_PRACTICE, "-m", "1", "-i", "127.0.0.1", "-p", str(free_port()),
         "-mp", str(free_rtp_base()), "-timeout", "40s", "-timeout_error", "-nostdin",
         "-trace_err", "-error_file", str(xml.with_suffix(".errors.log"))],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)


def test_hold_and_resume_through_the_front_and_the_relay(edge_pool: EdgePool, tmp_path):
    # the worker-level hold/resume scenario, following the front's route set this time
    from tests.telephony.rtp import RtpSink, RtpTrack

    text = through_the_front("caller_hold.xml")
    sink = RtpSink()
    pcap = RtpTrack().silence(0.4).keys("12#").silence(2.0).write_pcap(tmp_path / "k.pcap")
    values = {"RTP_SINK_PORT": sink.port, "HOLD": "sendonly", "HOLD_MS": 2500,
              "PCAP": pcap, "BYE_TIMEOUT_MS": 20000}
    for key, value in values.items():
        text = text.replace(f"@{key}@", str(value))
    xml = tmp_path / "caller_hold.xml"
    xml.write_text(text)
    try:
        run = run_through_the_front(edge_pool, tmp_path, xml)
    finally:
        sink.close()
    assert run.returncode == 0, sipp_errors(xml)
    (record,) = edge_pool.record_for("0600000001")
    assert record["digits"] == "12", record  # keys after the resume went through the relay
    assert record["events"][:2] == ["hold", "resume"], record


def test_sip_info_keys_through_the_front(edge_pool: EdgePool, tmp_path):
    from tests.telephony.rtp import RtpSink

    sink = RtpSink()
    text = through_the_front("caller_info.xml", caller="0600000003")
    for key, value in {"RTP_SINK_PORT": sink.port, "PAUSE_MS": 1500,
                       "BYE_TIMEOUT_MS": 20000}.items():
        text = text.replace(f"@{key}@", str(value))
    xml = tmp_path / "caller_info.xml"
    xml.write_text(text)
    try:
        run = run_through_the_front(edge_pool, tmp_path, xml)
    finally:
        sink.close()
    assert run.returncode == 0, sipp_errors(xml)
    (record,) = edge_pool.record_for("0600000003")
    assert record["digits"] == "456", record
    assert sink.payload_types == {8} and sink.packets > 50  # the prompt, via the relay
