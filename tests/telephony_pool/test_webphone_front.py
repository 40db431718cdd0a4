"""The front's WebSocket listener for the console softphone: handshake, token registration."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import re
import socket
import time
import uuid
from pathlib import Path

import pytest
import websockets

from foundation.webphone_tokens import mint
from telephony.edge import Edge, EdgeTrunk, PhoneAccess, WebphoneAccess
from telephony.kamailio import KamailioFront, find_kamailio
from telephony.kamailio_config import Backend, FrontLayout

from .test_front import FAST

pytestmark = pytest.mark.timeout(90)

SECRET = "test-secret-for-the-front"
REALM = "telesec"


def _register(desk: str, call_id: str, cseq: int, auth: str = "") -> str:
    branch = "z9hG4bK" + uuid.uuid4().hex[:12]
    lines = [
        f"REGISTER sip:{REALM} SIP/2.0",
        f"Via: SIP/2.0/WSS abc.invalid;branch={branch}",
        "Max-Forwards: 69",
        f"To: <sip:{desk}@{REALM}>",
        f"From: <sip:{desk}@{REALM}>;tag=t{cseq}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        f"Contact: <sip:x{cseq}@abc.invalid;transport=ws>;expires=60",
        "Expires: 60",
    ]
    if auth:
        lines.append(auth)
    return "\r\n".join([*lines, "Content-Length: 0", "", ""])


def _digest(challenge: str, username: str, password: str, uri: str,
            method: str = "REGISTER") -> str:
    nonce = re.search(r'nonce="([^"]+)"', challenge).group(1)
    ha1 = hashlib.md5(f"{username}:{REALM}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
    return (f'Authorization: Digest username="{username}", realm="{REALM}", '
            f'nonce="{nonce}", uri="{uri}", response="{response}", algorithm=MD5')


async def _register_with(url: str, desk: str, username: str, password: str) -> str:
    """The status line of the REGISTER answered after the digest challenge."""
    async with websockets.connect(url, subprotocols=["sip"], open_timeout=10) as ws:
        call_id = uuid.uuid4().hex
        await ws.send(_register(desk, call_id, 1))
        challenge = await asyncio.wait_for(ws.recv(), 10)
        assert challenge.startswith("SIP/2.0 401"), challenge.splitlines()[0]
        header = next(line for line in challenge.split("\r\n")
                      if line.lower().startswith("www-authenticate"))
        await ws.send(_register(desk, call_id, 2,
                                _digest(header, username, password, f"sip:{REALM}")))
        answer = await asyncio.wait_for(ws.recv(), 10)
        return answer.split("\r\n", 1)[0]


def test_a_token_registers_its_desk_and_nothing_else(tmp_path: Path, port_base: int) -> None:
    ws_port = port_base + 5
    edge = Edge(phones=PhoneAccess(REALM, ("127.0.0.0/8",)),
                webphone=WebphoneAccess(REALM, ws_port, None, SECRET))
    layout = FrontLayout("127.0.0.1", port_base, [Backend("127.0.0.1", port_base + 1)],
                         tmp_path / "run", tuning=FAST, edge=edge)
    front = KamailioFront(find_kamailio() or "kamailio", layout)
    front.start()
    try:
        assert layout.config_path.stat().st_mode & 0o077 == 0  # the secret is in it
        url = f"ws://127.0.0.1:{ws_port}"
        good = mint(SECRET, login="alice", practice_slug="demo", now=time.time(), ttl_s=600)
        assert _run(_register_with(url, "desk-demo", good.username,
                                          good.password)) == "SIP/2.0 200 OK"
        # the same token for another practice's desk
        assert _run(_register_with(url, "desk-other", good.username,
                                          good.password)).startswith("SIP/2.0 403")
        # expired, or signed with another secret: challenged again
        old = mint(SECRET, login="alice", practice_slug="demo", now=time.time() - 700,
                   ttl_s=600)
        assert _run(_register_with(url, "desk-demo", old.username,
                                          old.password)).startswith("SIP/2.0 401")
        forged = mint("another secret", login="alice", practice_slug="demo",
                      now=time.time(), ttl_s=600)
        assert _run(_register_with(url, "desk-demo", forged.username,
                                          forged.password)).startswith("SIP/2.0 401")
    finally:
        front.stop()


def _worker_invite(user: str, front_port: int, worker_port: int, call_id: str) -> bytes:
    """The engine's INVITE to a page (as a bridged transfer sends it through the front)."""
    body = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio 40000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n")
    lines = [
        f"INVITE sip:{user}@127.0.0.1:{front_port} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{worker_port};branch=z9hG4bK{call_id[:10]};rport",
        "Max-Forwards: 70",
        f"To: <sip:{user}@127.0.0.1:{front_port}>",
        f"From: <sip:+33100000001@127.0.0.1:{worker_port}>;tag=w1",
        f"Call-ID: {call_id}", "CSeq: 1 INVITE",
        f"Contact: <sip:engine@127.0.0.1:{worker_port}>",
        "Content-Type: application/sdp",
    ]
    return "\r\n".join([*lines, f"Content-Length: {len(body)}", "", body]).encode()


async def _hunted(url: str, username: str, password: str, front_port: int,
                  worker_port: int) -> tuple[str, str, str]:
    """Alice's page registers the desk; the engine then rings desk-demo~bob (not
    available), desk-demo~alice (her page), and again once her page is gone: what bob's
    gets, what reaches her page, what her closed page gets."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", worker_port))
    sock.setblocking(False)

    async def final(user: str) -> str:
        sock.sendto(_worker_invite(user, front_port, worker_port, uuid.uuid4().hex),
                    ("127.0.0.1", front_port))
        while True:
            data = (await asyncio.wait_for(loop.sock_recv(sock, 4096), 10)).decode()
            if data.startswith("SIP/2.0") and "INVITE" in data.split("CSeq:")[1][:20] \
                    and int(data.split()[1]) >= 200:
                return data.split("\r\n", 1)[0]

    try:
        bob, rung = await _ring_her_page(url, username, password, front_port, worker_port,
                                         sock, final)
        await asyncio.sleep(0.5)
        closed = await final("desk-demo~alice")
        return bob, rung, closed
    finally:
        sock.close()


async def _ring_her_page(url, username, password, front_port, worker_port, sock,
                         final):  # type: ignore[no-untyped-def]
    async with websockets.connect(url, subprotocols=["sip"], open_timeout=10) as ws:
        call_id = uuid.uuid4().hex
        await ws.send(_register("desk-demo", call_id, 1))
        challenge = await asyncio.wait_for(ws.recv(), 10)
        header = next(line for line in challenge.split("\r\n")
                      if line.lower().startswith("www-authenticate"))
        await ws.send(_register("desk-demo", call_id, 2,
                                _digest(header, username, password, f"sip:{REALM}")))
        registered = (await asyncio.wait_for(ws.recv(), 10)).split("\r\n", 1)[0]
        assert registered == "SIP/2.0 200 OK", registered
        bob = await final("desk-demo~bob")
        sock.sendto(_worker_invite("desk-demo~alice", front_port, worker_port,
                                   uuid.uuid4().hex), ("127.0.0.1", front_port))
        rung = await asyncio.wait_for(ws.recv(), 10)
        return bob, rung.split("\r\n", 1)[0]


def test_a_hunt_rings_one_secretarys_page(tmp_path: Path, port_base: int) -> None:
    """A page registers the desk and, beside it, desk-<practice>~<login> (her own page):
    the engine's hunt rings her alone there; a secretary who is not available is not
    found (404 at once, the hunt goes on to the next), nor one whose page was closed."""
    ws_port, worker_port = port_base + 5, port_base + 1
    edge = Edge(webphone=WebphoneAccess(REALM, ws_port, None, SECRET))
    layout = FrontLayout("127.0.0.1", port_base, [Backend("127.0.0.1", worker_port)],
                         tmp_path / "run", tuning=FAST, edge=edge)
    front = KamailioFront(find_kamailio() or "kamailio", layout)
    front.start()
    try:
        token = mint(SECRET, login="alice", practice_slug="demo", now=time.time(), ttl_s=600)
        bob, rung, closed = _run(_hunted(f"ws://127.0.0.1:{ws_port}", token.username,
                                         token.password, port_base, worker_port))
        assert bob.startswith("SIP/2.0 404"), bob
        assert rung.startswith("INVITE sip:") and "transport=ws" in rung, rung
        # her page reloaded or closed: its WebSocket is gone, and its contacts with it
        assert closed.startswith("SIP/2.0 404"), closed
    finally:
        front.stop()


PRACTICE_NUMBER = "+33100000001"
PATIENT = "+33612345678"


def _invite(desk: str, call_id: str, cseq: int, auth: str = "") -> str:
    body = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
    lines = [
        f"INVITE sip:{PATIENT}@{REALM} SIP/2.0",
        f"Via: SIP/2.0/WSS abc.invalid;branch=z9hG4bK{call_id[:8]}{cseq}",
        "Max-Forwards: 69",
        f"To: <sip:{PATIENT}@{REALM}>",
        f"From: <sip:{desk}@{REALM}>;tag=d{cseq}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} INVITE",
        "Contact: <sip:x@abc.invalid;transport=ws>",
        "Content-Type: application/sdp",
    ]
    if auth:
        lines.append(auth)
    return "\r\n".join([*lines, f"Content-Length: {len(body)}", "", body])


async def _call_back(url: str, desk: str, username: str, password: str) -> str:
    """The final status line of a softphone's INVITE to the patient (after the challenge)."""
    async with websockets.connect(url, subprotocols=["sip"], open_timeout=10) as ws:
        call_id = uuid.uuid4().hex
        await ws.send(_invite(desk, call_id, 1))
        challenge = await asyncio.wait_for(ws.recv(), 10)
        assert challenge.startswith("SIP/2.0 407"), challenge.splitlines()[0]
        header = next(line for line in challenge.split("\r\n")
                      if line.lower().startswith("proxy-authenticate"))
        uri = f"sip:{PATIENT}@{REALM}"
        auth = _digest(header, username, password, uri, "INVITE")
        await ws.send(_invite(desk, call_id, 2, "Proxy-" + auth))
        while True:
            answer = await asyncio.wait_for(ws.recv(), 20)
            status = answer.split("\r\n", 1)[0]
            if int(status.split()[1]) >= 200:
                return status


def test_a_desk_calls_back_through_the_trunk_as_the_practice(tmp_path: Path,
                                                              port_base: int) -> None:
    """A softphone's call-back leaves through the practice's trunk with the practice's
    number as caller ID (checked by the sipp patient); another desk's From is refused."""
    from .conftest import finish_sipp, sipp_args, start_sipp

    ws_port, patient_port = port_base + 5, port_base + 20
    trunk = EdgeTrunk(name="line", kind="ip", uuid="tline",
                      registrar=f"127.0.0.1:{patient_port}", proxy=f"127.0.0.1:{patient_port}",
                      aor_user="", aor_domain="", auth_user="", realm="", password="",
                      numbers=(PRACTICE_NUMBER,))
    edge = Edge(trunks=(trunk,), webphone=WebphoneAccess(REALM, ws_port, None, SECRET))
    layout = FrontLayout("127.0.0.1", port_base, [Backend("127.0.0.1", port_base + 1)],
                         tmp_path / "run", tuning=FAST, edge=edge)
    front = KamailioFront(find_kamailio() or "kamailio", layout)
    front.update_tables(desks={"desk-demo": PRACTICE_NUMBER})
    front.start()
    patient = start_sipp(sipp_args("patient_called_back.xml", f"127.0.0.1:{port_base}",
                                   patient_port, 1), tmp_path)
    try:
        url = f"ws://127.0.0.1:{ws_port}"
        token = mint(SECRET, login="alice", practice_slug="demo", now=time.time(), ttl_s=600)
        # a desk the token does not name, or one with no practice number: refused
        assert _run(_call_back(url, "desk-other", token.username,
                                      token.password)).startswith("SIP/2.0 403")
        lost = mint(SECRET, login="alice", practice_slug="gone", now=time.time(), ttl_s=600)
        assert _run(_call_back(url, "desk-gone", lost.username,
                                      lost.password)).startswith("SIP/2.0 403")
        assert _run(_call_back(url, "desk-demo", token.username,
                                      token.password)) == "SIP/2.0 486 Busy Here"
        result = finish_sipp(patient, tmp_path, patient_port, timeout=30)
        assert (result.returncode, result.successful, result.failed) == (0, 1, 0)
    finally:
        if patient.poll() is None:
            patient.kill()
            patient.wait()
        front.stop()


def _in_dialog(method: str, ok: str, cseq: int, desk: str) -> str:
    """ACK or BYE for the dialog of ``ok`` (the 200 to the INVITE), along its route set."""
    headers = [line for line in ok.split("\r\n\r\n", 1)[0].split("\r\n")[1:]]

    def value(name: str) -> str:
        return next(line.split(":", 1)[1].strip() for line in headers
                    if line.lower().startswith(name.lower() + ":"))
    routes = [line.split(":", 1)[1].strip() for line in headers
              if line.lower().startswith("record-route:")]
    contact = value("Contact").strip("<>")
    branch = "z9hG4bK" + uuid.uuid4().hex[:12]
    lines = [f"{method} {contact} SIP/2.0", f"Via: SIP/2.0/WSS abc.invalid;branch={branch}",
             "Max-Forwards: 69", *(f"Route: {route}" for route in reversed(routes)),
             f"To: {value('To')}", f"From: {value('From').replace('+33100000001', desk)}",
             f"Call-ID: {value('Call-ID')}", f"CSeq: {cseq} {method}"]
    return "\r\n".join([*lines, "Content-Length: 0", "", ""])


async def _talk_and_hang_up(url: str, desk: str, username: str, password: str) -> None:
    """Call back, wait for the 200, ACK it, then hang up (BYE answered 200)."""
    async with websockets.connect(url, subprotocols=["sip"], open_timeout=10) as ws:
        call_id = uuid.uuid4().hex
        await ws.send(_invite(desk, call_id, 1))
        challenge = await asyncio.wait_for(ws.recv(), 10)
        header = next(line for line in challenge.split("\r\n")
                      if line.lower().startswith("proxy-authenticate"))
        auth = _digest(header, username, password, f"sip:{PATIENT}@{REALM}", "INVITE")
        await ws.send(_invite(desk, call_id, 2, "Proxy-" + auth))
        while True:
            ok = await asyncio.wait_for(ws.recv(), 20)
            if ok.startswith("SIP/2.0 200"):
                break
            assert int(ok.split()[1]) < 200, ok.split("\r\n", 1)[0]
        await ws.send(_in_dialog("ACK", ok, 2, desk))
        await asyncio.sleep(0.5)
        await ws.send(_in_dialog("BYE", ok, 3, desk))
        answer = await asyncio.wait_for(ws.recv(), 10)
        while not answer.startswith("SIP/2.0"):  # the 200's retransmissions end with the ACK
            answer = await asyncio.wait_for(ws.recv(), 10)
        assert answer.startswith("SIP/2.0 200") and "BYE" in answer, answer.split("\r\n")[:8]


def test_an_answered_call_back_is_acknowledged_and_hung_up(tmp_path: Path,
                                                            port_base: int) -> None:
    """The patient answers: the page's ACK and BYE reach him through the front."""
    from tests.telephony.peers import sipp_errors, sipp_uas, wait_exit

    ws_port, patient_port = port_base + 5, port_base + 20
    trunk = EdgeTrunk(name="line", kind="ip", uuid="tline",
                      registrar=f"127.0.0.1:{patient_port}", proxy=f"127.0.0.1:{patient_port}",
                      aor_user="", aor_domain="", auth_user="", realm="", password="",
                      numbers=(PRACTICE_NUMBER,))
    edge = Edge(trunks=(trunk,), webphone=WebphoneAccess(REALM, ws_port, None, SECRET))
    layout = FrontLayout("127.0.0.1", port_base, [Backend("127.0.0.1", port_base + 1)],
                         tmp_path / "run", tuning=FAST, edge=edge)
    front = KamailioFront(find_kamailio() or "kamailio", layout)
    front.update_tables(desks={"desk-demo": PRACTICE_NUMBER})
    front.start()
    answers_xml = tmp_path / "patient_answers.xml"
    answers_xml.write_text((Path(__file__).parent / "sipp" / "patient_answers.xml").read_text()
                           .replace("@RING_MS@", "100")
                           .replace("@RTP_SINK_PORT@", str(port_base + 150)))
    patient = sipp_uas(tmp_path, answers_xml, patient_port)
    try:
        token = mint(SECRET, login="alice", practice_slug="demo", now=time.time(), ttl_s=600)
        _run(_talk_and_hang_up(f"ws://127.0.0.1:{ws_port}", "desk-demo",
                                      token.username, token.password))
        assert wait_exit(patient, 10) == 0, sipp_errors(answers_xml)
    finally:
        wait_exit(patient, 0.1)
        front.stop()


def _run(coroutine):  # type: ignore[no-untyped-def]
    """Run ``coroutine`` on a fresh loop in its own thread: a browser test of the same run
    may hold an event loop in the main thread (Playwright's sync API)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_the_wss_listener_serves_the_consoles_certificate(tmp_path: Path,
                                                          port_base: int) -> None:
    """With HTTPS on the console, the softphones' WSS listener has the console's
    certificate, while SIP over TLS keeps the front's own (a profile per listener)."""
    import socket
    import ssl

    from telephony.edge import TlsListener
    from tests.telephony.peers import self_signed_cert

    (tmp_path / "front").mkdir()
    (tmp_path / "console").mkdir()
    front_cert, front_key = self_signed_cert(tmp_path / "front")
    console_cert, console_key = self_signed_cert(tmp_path / "console")
    tls_port, ws_port, wss_port = port_base + 2, port_base + 5, port_base + 6
    edge = Edge(tls=TlsListener(tls_port, front_cert, front_key),
                webphone=WebphoneAccess(REALM, ws_port, wss_port, SECRET, console_cert,
                                        console_key))
    layout = FrontLayout("127.0.0.1", port_base, [Backend("127.0.0.1", port_base + 1)],
                         tmp_path / "run", tuning=FAST, edge=edge)
    front = KamailioFront(find_kamailio() or "kamailio", layout)
    front.start()
    try:
        for port, certificate in ((tls_port, front_cert), (wss_port, console_cert)):
            trust = ssl.create_default_context(cafile=str(certificate))
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                    trust.wrap_socket(raw, server_hostname="127.0.0.1"):
                pass  # the handshake verifies against that one certificate only
        token = mint(SECRET, login="alice", practice_slug="demo", now=time.time(), ttl_s=600)
        trust = ssl.create_default_context(cafile=str(console_cert))
        assert _run(_register_over(f"wss://127.0.0.1:{wss_port}", trust, token)
                    ) == "SIP/2.0 200 OK"
    finally:
        front.stop()


async def _register_over(url: str, trust, token) -> str:  # type: ignore[no-untyped-def]
    async with websockets.connect(url, subprotocols=["sip"], open_timeout=10, ssl=trust) as ws:
        call_id = uuid.uuid4().hex
        await ws.send(_register("desk-demo", call_id, 1))
        challenge = await asyncio.wait_for(ws.recv(), 10)
        header = next(line for line in challenge.split("\r\n")
                      if line.lower().startswith("www-authenticate"))
        await ws.send(_register("desk-demo", call_id, 2, _digest(
            header, token.username, token.password, f"sip:{REALM}")))
        answer = await asyncio.wait_for(ws.recv(), 10)
        return answer.split("\r\n", 1)[0]
