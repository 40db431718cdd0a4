"""What can be sent, and by which channel an address is reached.

Built once from the settings. The phone flow asks :meth:`Notifier.confirmation_channel`
before saying "vous recevrez une confirmation par SMS": it answers ``"sms"`` only when
an SMS channel is configured, confirmations are on, and the patient's number can take
an SMS (a mobile number); otherwise None, and the flow promises nothing. The sender
(``notify.dispatch``) applies the same rule, so what is said is what is sent.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from notify.transports import FileOutbox, SmsGateway, SmtpMail, Transport

log = logging.getLogger(__name__)

FRENCH_MOBILE = ("+336", "+337")


def is_mobile(number: str | None) -> bool:
    """An E.164 number that can take an SMS: French mobiles (06, 07) and foreign numbers
    (whose mobile ranges Telesec does not know: the gateway decides)."""
    if not number or not number.startswith("+") or not number[1:].isdigit():
        return False
    if number.startswith("+33"):
        return number.startswith(FRENCH_MOBILE) and len(number) == 12
    return len(number) >= 8


class Notifier:
    """The configured channels: ``email`` and ``sms`` transports, each possibly None."""

    def __init__(self, *, email: Transport | None = None, sms: Transport | None = None,
                 confirmations: bool = True, console_url: str = "http://127.0.0.1:8080/",
                 max_attempts: int = 6) -> None:
        self.email = email
        self.sms = sms
        self.confirmations = confirmations
        self.console_url = console_url
        self.max_attempts = max_attempts

    @classmethod
    def from_settings(cls, settings: Any) -> Notifier:
        """From ``foundation.settings.Settings`` (its ``notifications`` section)."""
        config = settings.notifications
        outbox = Path(config.outbox_dir).expanduser().resolve() if config.outbox_dir \
            else settings.data_path / "outbox"
        email: Transport | None = None
        if config.email == "smtp":
            email = SmtpMail(config.smtp_host, config.smtp_port,
                             security=config.smtp_security, user=config.smtp_user,
                             password=config.smtp_password, sender=config.mail_from,
                             timeout=config.timeout_seconds)
        elif config.email == "file":
            email = FileOutbox(outbox, "email")
        sms: Transport | None = None
        if config.sms == "gateway":
            sms = SmsGateway(config.sms_url, token=config.sms_token, sender=config.sms_sender,
                             timeout=config.timeout_seconds)
        elif config.sms == "file":
            sms = FileOutbox(outbox, "sms")
        return cls(email=email, sms=sms, confirmations=config.confirmations,
                   console_url=config.console_url, max_attempts=config.max_attempts)

    @property
    def configured(self) -> bool:
        """Whether anything can be sent at all."""
        return self.email is not None or self.sms is not None

    def transport_for(self, address: str) -> Transport | None:
        """The transport that reaches ``address`` (e-mail or mobile number), if any."""
        if "@" in address:
            return self.email
        return self.sms if is_mobile(address) else None

    def confirmation_channel(self, phone: str | None) -> str | None:
        """``"sms"`` when a booking confirmation will be sent to ``phone`` (E.164), else
        None: what the flow may promise the caller."""
        if not self.confirmations or self.sms is None or not is_mobile(phone):
            return None
        return "sms"

    def describe(self) -> str:
        """One line for the start-up log (no addresses, no secrets)."""
        parts = [f"e-mail: {_name(self.email)}", f"SMS: {_name(self.sms)}",
                 f"booking confirmations: {'on' if self.confirmations else 'off'}"]
        return "notifications: " + ", ".join(parts)


def _name(transport: Transport | None) -> str:
    if transport is None:
        return "not configured"
    if isinstance(transport, FileOutbox):
        return f"files in clear under {transport.directory} (tests and demos only)"
    return type(transport).__name__
