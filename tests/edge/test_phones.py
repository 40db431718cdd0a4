"""Secretaries' softphones register to the front; transfers ring them; SRTP via the relay."""

from __future__ import annotations

import subprocess
import time

import pytest

from telephony.kamailio_rpc import call as rpc_call
from tests.edge.conftest import FRONT_HOST, PHONE_HOST, PHONE_LOGIN, PHONE_REALM, EdgePool
from tests.edge.test_trunk_and_calls import call_through_provider
from tests.ports import free_port, free_rtp_base
from tests.telephony.peers import sipp_errors

pytestmark = [pytest.mark.sip, pytest.mark.timeout(120)]

BARESIP = """poll_method epoll
sip_listen {host}:{port}
sip_trans_def udp
audio_player aubridge,nil
audio_source ausine,{hz}
audio_alert aubridge,nil
ausrc_srate 48000
auplay_srate 48000
ausrc_channels 2
auplay_channels 1
rtp_ports {rtp}-{rtp_end}
module_path /usr/lib/baresip/modules
module g711.so
module ausine.so
module aubridge.so
module srtp.so
module account.so
module menu.so
"""


def baresip(tmp, account: str, *, host: str, seconds: int, hz: int = 440,
            command: str = "") -> subprocess.Popen:
    confdir = tmp / f"baresip-{len(list(tmp.iterdir()))}"
    confdir.mkdir()
    rtp = free_rtp_base()
    (confdir / "config").write_text(BARESIP.format(host=host, port=free_port(), rtp=rtp,
                                                   rtp_end=rtp + 40, hz=hz))
    (confdir / "accounts").write_text(account + "\n")
    (confdir / "contacts").write_text("")
    args = ["baresip", "-f", str(confdir), "-t", str(seconds)]
    if command:
        args += ["-e", command]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def registered(pool: EdgePool, login: str) -> bool:
    try:
        found = rpc_call(pool.run_dir / "kamailio_rpc.sock", "ul.lookup", "location", login)
    except Exception:
        return False
    return bool(found)


def test_a_registered_softphone_is_rung_wherever_it_is(edge_pool: EdgePool, tmp_path):
    edge_pool.provider.wait_for(r"PROVIDER REGISTER ok", timeout=25)
    account = (f"<sip:{PHONE_LOGIN}@{PHONE_REALM}>;auth_user={PHONE_LOGIN};"
               f"auth_pass={edge_pool.phone_password};"
               f"outbound=\"sip:{FRONT_HOST}:{edge_pool.front_port}\";regint=60;"
               "answermode=auto")
    phone = baresip(tmp_path, account, host=PHONE_HOST, seconds=40, hz=880)
    try:
        deadline = time.monotonic() + 15
        while not registered(edge_pool, PHONE_LOGIN) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert registered(edge_pool, PHONE_LOGIN), "the softphone did not register"
        run, caller_peer, xml = call_through_provider(tmp_path, edge_pool,
                                                      caller="+33600000002", pause_ms=6000)
        assert run.returncode == 0, sipp_errors(xml)
    finally:
        phone.terminate()
        output = phone.communicate(timeout=10)[0]
    (record,) = edge_pool.record_for("+33600000002")
    assert record["bridge_ok"] is True, (record, output[-2000:])
    assert record["answered_by"] == f"sip:{PHONE_LOGIN}"  # who answered, for the card
    assert caller_peer.loud_packets > 40, caller_peer.facts()  # the secretary's voice


def test_a_wrong_phone_password_does_not_register(edge_pool: EdgePool, tmp_path):
    account = (f"<sip:bob@{PHONE_REALM}>;auth_user=bob;auth_pass=not-the-password;"
               f"outbound=\"sip:{FRONT_HOST}:{edge_pool.front_port}\";regint=60")
    phone = baresip(tmp_path, account, host=PHONE_HOST, seconds=4)
    phone.communicate(timeout=20)
    assert not registered(edge_pool, "bob")


def test_an_srtp_offer_is_taken_by_the_relay(edge_pool: EdgePool, tmp_path):
    # a caller offering SDES-SRTP only (RTP/SAVP + a=crypto): rtpengine decrypts, the
    # worker gets plain RTP; before the relay, such an offer got 488 from the pool
    account = f"<sip:0655555555@{PHONE_HOST}>;regint=0;mediaenc=srtp-mand"
    phone = baresip(tmp_path, account, host="127.0.0.1", seconds=7, hz=330,
                    command=f"/dial sip:+33199000001@{FRONT_HOST}:{edge_pool.front_port}")
    output = phone.communicate(timeout=30)[0]
    records = edge_pool.record_for("0655555555", timeout=15)
    assert records, output[-3000:]
    assert records[-1]["rec_loud_100ms"] >= 10, records[-1]  # decrypted audio reached us
    assert records[-1]["srtp"] is False  # the worker itself got plain RTP from the relay
