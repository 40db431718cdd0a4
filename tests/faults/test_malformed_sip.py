"""Hostile SIP at the Kamailio front and at a worker directly: no crash, floods dropped.

`telesec serve` runs its front and one pjsua2 worker (a handler that just keeps the
line). Garbage, broken headers, a huge Content-Length, broken SDP and an oversized
header go to both; then one source (127.0.0.2) floods the front while an ordinary
caller (127.0.0.1) places a call: pike drops the flood, the call succeeds, and both the
front and the worker still answer.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import DEMO_NUMBER, _telesec
from tests.e2e.engine_run import clean_env, start_serve
from tests.engine.test_serve import sip_options
from tests.ports import free_port, free_rtp_base

pytestmark = [pytest.mark.sip, pytest.mark.timeout(150)]

SIPP_DIR = Path(__file__).resolve().parent / "sipp"


def request(method: str, port: int, *, headers: str = "", body: str = "",
            length: int | None = None) -> bytes:
    tag = uuid.uuid4().hex[:10]
    return (
        f"{method} sip:1000@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK{tag};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@127.0.0.1>;tag={tag}\r\nTo: <sip:1000@127.0.0.1:{port}>\r\n"
        f"Call-ID: {tag}@hostile\r\nCSeq: 1 {method}\r\nContact: <sip:probe@127.0.0.1:5999>\r\n"
        f"{headers}Content-Length: {len(body) if length is None else length}\r\n\r\n{body}"
    ).encode()


def hostile_messages(port: int) -> list[bytes]:
    broken_sdp = "v=0\r\no=x\r\nm=audio notaport RTP/AVP eight\r\nc=IN IP4\r\n"
    return [
        os.urandom(900),
        b"\x00\x01\x02 INVITE \xff\xfe SIP/9.9\r\n\r\n",
        b"INVITE sip:1000@127.0.0.1 SIP/2.0\r\nVia: ???\r\nFrom: <<<<\r\nCSeq: x y z\r\n\r\n",
        request("OPTIONS", port, body="x", length=99_999_999),
        request("INVITE", port, headers="Content-Type: application/sdp\r\n", body=broken_sdp),
        request("INVITE", port, headers="Content-Type: application/sdp\r\n", body="v=0\r\n",
                length=-5),
        request("OPTIONS", port, headers="Subject: " + "A" * 20_000 + "\r\n"),
        request("REGISTER", port, headers="Expires: -1\r\nContact: *\r\n" * 40),
    ]


def send_all(port: int, messages: list[bytes]) -> list[str]:
    """Send each message from one socket; the status lines of whatever came back."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.5)
        for message in messages:
            sock.sendto(message, ("127.0.0.1", port))
        answers = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                data, _ = sock.recvfrom(65535)
            except TimeoutError:
                continue
            answers.append(data.split(b"\r\n", 1)[0].decode(errors="replace"))
        return answers


def flood(port: int, count: int, answered: list[int]) -> None:
    """``count`` OPTIONS from 127.0.0.2 as fast as possible; counts the answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.2", 0))
        sock.setblocking(False)
        got = 0
        for index in range(count):
            sock.sendto(request("OPTIONS", port), ("127.0.0.1", port))
            if index % 10 == 0:
                time.sleep(0.005)
            try:
                while True:
                    sock.recvfrom(65535)
                    got += 1
            except (TimeoutError, BlockingIOError):
                pass
        sock.settimeout(0.2)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            try:
                sock.recvfrom(65535)
                got += 1
            except TimeoutError:
                pass
        answered.append(got)


def test_hostile_sip_is_refused_and_a_flood_does_not_stop_other_callers(tmp_path):
    env = clean_env(tmp_path / "var")
    # the front refuses numbers that are no practice's: the ordinary caller dials the demo
    _telesec(env, "init")
    _telesec(env, "demo", "seed")
    served = start_serve(env, tmp_path, workers=1, max_calls=3,
                         extra_args=("--no-api", "--no-jobs", "--handler",
                                     "tests.telephony.handlers:hold_line"))
    worker_port = served.worker_base_port
    try:
        for port in (served.sip_port, worker_port):
            send_all(port, hostile_messages(port))
        direct = send_all(worker_port, [request(
            "INVITE", worker_port, headers="Content-Type: application/sdp\r\n",
            body="v=0\r\nm=audio notaport RTP/AVP eight\r\n")])
        assert not any(" 200 " in line for line in direct), direct  # never taken as a call
        for port in (served.sip_port, worker_port):
            status = sip_options(port)
            assert status is not None and " 200 " in status, (port, status)

        # a flood from one source while an ordinary caller calls
        answered: list[int] = []
        flooder = threading.Thread(target=flood, args=(served.sip_port, 3000, answered))
        flooder.start()
        time.sleep(0.3)
        text = (SIPP_DIR / "normal_call.xml").read_text().replace("@PAUSE_MS@", "2000")
        scenario = tmp_path / "normal_call.xml"
        scenario.write_text(text)
        call = subprocess.run(
            ["sipp", f"127.0.0.1:{served.sip_port}", "-sf", str(scenario), "-s", DEMO_NUMBER,
             "-m", "1", "-i", "127.0.0.1", "-p", str(free_port()), "-mp",
             str(free_rtp_base()), "-t", "u1", "-timeout", "30s", "-timeout_error",
             "-nostdin", "-trace_err", "-error_file", str(tmp_path / "call.errors.log")],
            capture_output=True, text=True, timeout=45, cwd=tmp_path)
        flooder.join(60)
        assert call.returncode == 0, (tmp_path / "call.errors.log").read_text()[-2000:] \
            if (tmp_path / "call.errors.log").exists() else call.stderr
        assert answered and answered[0] < 600, answered  # 3000 sent; pike let few through
        assert served.process.poll() is None
        for port in (served.sip_port, worker_port):
            status = sip_options(port)
            assert status is not None and " 200 " in status, (port, status)
    finally:
        code = served.stop()
    logs = served.logs()
    assert code == 0, logs[-3000:]
    assert "flood from 127.0.0.2 dropped" in logs
    assert "Traceback" not in logs
    assert "restarting" not in logs  # neither the worker nor Kamailio died
