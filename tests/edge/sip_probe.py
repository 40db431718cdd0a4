"""Single SIP requests from a chosen loopback address: OPTIONS, INVITE, OPTIONS over TLS."""

from __future__ import annotations

import re
import socket
import ssl
import time
import uuid
from pathlib import Path


def _request(method: str, uri: str, via: str, user_agent: str, extra: str = "",
             body: str = "") -> tuple[str, str, str]:
    branch = "z9hG4bK" + uuid.uuid4().hex
    call_id = uuid.uuid4().hex
    tag = uuid.uuid4().hex[:8]
    headers = (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/{via};branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@{via.split()[-1]}>;tag={tag}\r\n"
        f"To: <{uri}>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: 1 {method}\r\n"
        f"Contact: <sip:probe@{via.split()[-1]}>\r\n"
        + (f"User-Agent: {user_agent}\r\n" if user_agent else "")
        + extra
        + ("Content-Type: application/sdp\r\n" if body else "")
        + f"Content-Length: {len(body)}\r\n\r\n{body}"
    )
    return headers, branch, call_id


def options(source: str, host: str, port: int, *, user_agent: str = "edge-test",
            timeout: float = 1.5) -> str | None:
    """The reply to one OPTIONS sent from ``source``, or None on silence."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        local = sock.getsockname()
        message, branch, _ = _request("OPTIONS", f"sip:{host}:{port}",
                                      f"UDP {local[0]}:{local[1]}", user_agent)
        sock.settimeout(timeout)
        sock.sendto(message.encode(), (host, port))
        try:
            while True:
                data = sock.recv(65535).decode(errors="replace")
                if branch in data:
                    return data
        except TimeoutError:
            return None


def send_invite(source: str, host: str, port: int, user: str, *,
                wait: float = 3.0) -> list[int]:
    """Status codes received for one INVITE to ``user`` (an ACK answers a final failure)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        local = sock.getsockname()
        sdp = (f"v=0\r\no=probe 1 1 IN IP4 {local[0]}\r\ns=-\r\nc=IN IP4 {local[0]}\r\n"
               "t=0 0\r\nm=audio 9 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n")
        uri = f"sip:{user}@{host}:{port}"
        message, branch, _call_id = _request("INVITE", uri, f"UDP {local[0]}:{local[1]}",
                                            "edge-test", body=sdp)
        sock.sendto(message.encode(), (host, port))
        codes: list[int] = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = sock.recv(65535).decode(errors="replace")
            except TimeoutError:
                break
            if branch not in data or not data.startswith("SIP/2.0 "):
                continue
            code = int(data[8:11])
            codes.append(code)
            if code >= 300:
                to = re.search(r"^To:.*$", data, re.MULTILINE | re.IGNORECASE)
                ack = message.split("\r\n")
                ack[0] = f"ACK {uri} SIP/2.0"
                ack = [line for line in ack if not line.startswith(("Content-", "v=", "o=",
                       "s=", "c=", "t=", "m=", "a="))]
                ack = [to.group(0) if line.startswith("To:") and to else
                       line.replace("CSeq: 1 INVITE", "CSeq: 1 ACK") for line in ack]
                text = "\r\n".join(line for line in ack if line) + \
                    "\r\nContent-Length: 0\r\n\r\n"
                sock.sendto(text.encode(), (host, port))
                break
        return codes


def tls_options(host: str, port: int, ca_file: Path, timeout: float = 5.0) -> str:
    """OPTIONS over TLS (server certificate verified against ``ca_file``); the reply."""
    context = ssl.create_default_context(cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection((host, port), timeout=timeout) as raw, \
            context.wrap_socket(raw, server_hostname=host) as tls:
        local = tls.getsockname()
        message, _branch, _ = _request("OPTIONS", f"sips:{host}:{port}",
                                       f"TLS {local[0]}:{local[1]}", "edge-test")
        tls.sendall(message.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = tls.recv(65535)
            if not chunk:
                break
            data += chunk
        return data.decode(errors="replace")
