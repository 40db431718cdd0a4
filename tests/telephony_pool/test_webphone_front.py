"""The front's WebSocket listener for the console softphone: handshake, token registration."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import re
import time
import uuid
from pathlib import Path

import pytest
import websockets

from foundation.webphone_tokens import mint
from telephony.edge import Edge, PhoneAccess, WebphoneAccess
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


def _digest(challenge: str, username: str, password: str, uri: str) -> str:
    nonce = re.search(r'nonce="([^"]+)"', challenge).group(1)
    ha1 = hashlib.md5(f"{username}:{REALM}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
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


def _run(coroutine):  # type: ignore[no-untyped-def]
    """Run ``coroutine`` on a fresh loop in its own thread: a browser test of the same run
    may hold an event loop in the main thread (Playwright's sync API)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
