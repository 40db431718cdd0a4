"""Ways to send one message: SMTP e-mail, an SMS gateway over HTTP, files (tests, demos).

Each transport's ``send`` either returns or raises :class:`SendFailed` with a short code
(never the message or the address: they would end in a log line).
"""

from __future__ import annotations

import json
import os
import secrets
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

import httpx


@dataclass(frozen=True)
class Message:
    to: str  # an e-mail address or an E.164 number
    subject: str
    text: str


class SendFailed(Exception):
    """The message was not sent; ``str(exc)`` is a short code (no content, no address)."""


class Transport(Protocol):
    channel: str  # "email" or "sms"

    def send(self, message: Message) -> None: ...


class SmtpMail:
    """E-mail through an SMTP server (STARTTLS, implicit TLS, or plain on a trusted link)."""

    channel = "email"

    def __init__(self, host: str, port: int, *, security: str = "starttls",
                 user: str | None = None, password: str | None = None,
                 sender: str = "telesec@localhost", timeout: float = 10.0,
                 tls_context: ssl.SSLContext | None = None) -> None:
        self.host, self.port, self.security = host, port, security
        self.user, self.password, self.sender = user, password, sender
        self.timeout = timeout
        self.tls_context = tls_context or ssl.create_default_context()

    def send(self, message: Message) -> None:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        mail.set_content(message.text)
        try:
            if self.security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port,
                                                        timeout=self.timeout,
                                                        context=self.tls_context)
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if self.security == "starttls":
                    client.starttls(context=self.tls_context)
                if self.user:
                    client.login(self.user, self.password or "")
                client.send_message(mail)
        except smtplib.SMTPAuthenticationError:
            raise SendFailed("smtp_auth_refused") from None
        except smtplib.SMTPRecipientsRefused:
            raise SendFailed("smtp_recipient_refused") from None
        except smtplib.SMTPNotSupportedError:
            raise SendFailed("smtp_starttls_unsupported") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise SendFailed(f"smtp_{type(exc).__name__}"[:64]) from None


class SmsGateway:
    """SMS through an HTTP gateway: ``POST url`` with JSON ``{"to", "text", "sender"}``
    and ``Authorization: Bearer <token>``; any 2xx is sent, 4xx is refused for good."""

    channel = "sms"

    def __init__(self, url: str, *, token: str | None = None, sender: str = "Cabinet",
                 timeout: float = 10.0, client: httpx.Client | None = None) -> None:
        self.url, self.token, self.sender = url, token, sender
        self.client = client or httpx.Client(timeout=timeout)

    def send(self, message: Message) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            answer = self.client.post(self.url, headers=headers, json={
                "to": message.to, "text": message.text, "sender": self.sender})
        except httpx.HTTPError as exc:
            raise SendFailed(f"sms_{type(exc).__name__}"[:64]) from None
        if answer.status_code >= 300:
            raise SendFailed(f"sms_http_{answer.status_code}")


class FileOutbox:
    """Writes each message as a JSON file under ``directory`` (mode 600).

    For tests and demos only: the files are in clear (a patient's number and
    appointment), which real patient data must never be.
    """

    def __init__(self, directory: Path, channel: str) -> None:
        self.directory = directory
        self.channel = channel

    def send(self, message: Message) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = self.directory / f"{stamp}-{self.channel}-{secrets.token_hex(4)}.json"
        body = json.dumps({"channel": self.channel, "to": message.to,
                           "subject": message.subject, "text": message.text},
                          ensure_ascii=False, indent=1)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(body + "\n")
        except OSError as exc:
            raise SendFailed(f"file_{type(exc).__name__}"[:64]) from None
