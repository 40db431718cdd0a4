"""Blind transfer by REFER: baresip calls the engine, which refers it to a sipp 'secretary'."""

from __future__ import annotations

import socket
import subprocess

import pytest

from tests.telephony.peers import free_port, free_rtp_base, scenario, sipp_errors, start_worker

pytestmark = [pytest.mark.sip, pytest.mark.timeout(90)]

BARESIP_CONFIG = """poll_method epoll
sip_listen 127.0.0.1:{port}
sip_trans_def udp
audio_player aubridge,nil
audio_source ausine,440
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
module account.so
module menu.so
"""


def _port_with_next_free() -> int:
    """A port p with p and p+1 free on UDP and TCP (baresip also listens for TLS on p+1)."""
    for _ in range(50):
        port = free_port()
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                with socket.socket(socket.AF_INET, kind) as probe:
                    probe.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair")


def test_blind_transfer_reaches_the_target(tmp_path):
    target_port = free_port()
    worker = start_worker(
        tmp_path, "telephony.demo_handler:transfer_to",
        env={"TELESEC_DEMO_TRANSFER_TARGET": f"sip:secretary@127.0.0.1:{target_port}"},
    )
    target_xml = scenario(tmp_path, "transfer_target.xml")
    target = subprocess.Popen(
        ["sipp", "-sf", str(target_xml), "-p", str(target_port), "-i", "127.0.0.1",
         "-mp", str(free_rtp_base()), "-m", "1", "-timeout", "30s", "-timeout_error",
         "-nostdin", "-trace_err", "-error_file", str(target_xml.with_suffix(".errors.log"))],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path,
    )
    confdir = tmp_path / "baresip"
    confdir.mkdir()
    patient_port, rtp = _port_with_next_free(), free_rtp_base()
    (confdir / "config").write_text(
        BARESIP_CONFIG.format(port=patient_port, rtp=rtp, rtp_end=rtp + 40)
    )
    (confdir / "accounts").write_text(f"<sip:patient@127.0.0.1:{patient_port}>;regint=0\n")
    (confdir / "contacts").write_text("")
    try:
        baresip = subprocess.run(
            ["baresip", "-f", str(confdir), "-e", f"/dial sip:1000@127.0.0.1:{worker.port}",
             "-t", "6"],
            capture_output=True, text=True, timeout=30,
        )
        target.wait(timeout=30)
        records = worker.wait_records(1)
    finally:
        if target.poll() is None:
            target.kill()
            target.wait(5)
        assert worker.terminate() == 0
    # the secretary's phone really received the INVITE that followed our REFER, answered it
    assert target.returncode == 0, sipp_errors(target_xml) + baresip.stdout[-2000:]
    assert f"secretary@127.0.0.1:{target_port}" in baresip.stdout
    (record,) = records
    assert record["transfer_ok"] is True
    assert record["transfer_status"] == 200
    assert record["end_reason"] == "transferred"
