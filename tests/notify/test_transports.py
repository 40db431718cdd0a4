"""Each transport against a real peer: SMTP with STARTTLS (aiosmtpd), an HTTP SMS gateway,
files; and what the notifier promises from the settings."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from foundation.settings import load_settings
from notify.notifier import Notifier, is_mobile
from notify.transports import FileOutbox, Message, SendFailed, SmsGateway, SmtpMail
from tests.notify.peers import sms_gateway, smtp_server
from tests.ports import free_port

MESSAGE = Message("secretariat@tilleuls.invalid", "1 nouveau message vocal — Cabinet",
                  "1 nouveau message vocal — Cabinet. Console : http://127.0.0.1:8080/")


def test_smtp_with_starttls_delivers_the_message(tmp_path: Path) -> None:
    with smtp_server(tmp_path) as box:
        SmtpMail("127.0.0.1", box.port, sender="telesec@tilleuls.invalid",
                 tls_context=box.client_context).send(MESSAGE)
    (mail,) = box.received
    assert mail["tls"] and mail["to"] == ["secretariat@tilleuls.invalid"]
    assert "1 nouveau message vocal" in str(mail["data"])


def test_smtp_failures_are_short_codes(tmp_path: Path) -> None:
    with smtp_server(tmp_path, starttls=False) as box, pytest.raises(SendFailed) as failed:
        SmtpMail("127.0.0.1", box.port, security="starttls").send(MESSAGE)
    assert str(failed.value) == "smtp_starttls_unsupported"
    with pytest.raises(SendFailed) as refused:
        SmtpMail("127.0.0.1", free_port(), security="none", timeout=2).send(MESSAGE)
    assert str(refused.value).startswith("smtp_") and "@" not in str(refused.value)


def test_the_sms_gateway_gets_json_and_the_token() -> None:
    text = Message("+33639980001", "", "Cabinet : votre rendez-vous est confirmé")
    with sms_gateway() as gateway:
        SmsGateway(gateway.url, token="t0k3n", sender="Tilleuls").send(text)
        gateway.status = 503
        with pytest.raises(SendFailed, match="sms_http_503"):
            SmsGateway(gateway.url).send(text)
    assert gateway.requests[0] == {"auth": "Bearer t0k3n", "body": {
        "to": "+33639980001", "text": text.text, "sender": "Tilleuls"}}
    with pytest.raises(SendFailed, match="sms_ConnectError"):
        SmsGateway(f"http://127.0.0.1:{free_port()}/send", timeout=2).send(text)


def test_the_file_outbox_writes_private_files(tmp_path: Path) -> None:
    FileOutbox(tmp_path / "outbox", "email").send(MESSAGE)
    (written,) = (tmp_path / "outbox").iterdir()
    assert stat.S_IMODE(os.stat(written).st_mode) == 0o600
    assert '"to": "secretariat@tilleuls.invalid"' in written.read_text()


def test_what_the_notifier_promises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nothing = Notifier.from_settings(load_settings(data_dir=tmp_path))
    assert not nothing.configured and nothing.confirmation_channel("+33639980001") is None
    assert "not configured" in nothing.describe()
    files = Notifier.from_settings(load_settings(
        data_dir=tmp_path, notifications={"sms": "file", "email": "file"}))
    assert files.configured and files.confirmation_channel("+33639980001") == "sms"
    assert files.confirmation_channel("+33199000000") is None  # a landline takes no SMS
    assert files.confirmation_channel(None) is None  # withheld, no number given
    assert "in clear" in files.describe()
    off = Notifier.from_settings(load_settings(
        data_dir=tmp_path, notifications={"sms": "file", "confirmations": False}))
    assert off.confirmation_channel("+33639980001") is None
    assert is_mobile("+447700900123") and not is_mobile("0639980001")
    gateway = Notifier.from_settings(load_settings(
        data_dir=tmp_path, notifications={"sms": "gateway", "sms_url": "https://sms.invalid/x",
                                          "sms_token": "secret", "email": "smtp"}))
    assert isinstance(gateway.sms, SmsGateway) and isinstance(gateway.email, SmtpMail)
    assert "secret" not in gateway.describe()
