"""The certificate the console (HTTPS) and the softphone's WebSocket (WSS) are served with.

``api.certificate`` and ``api.private_key`` name a certificate (a chain, PEM) and its key;
they are checked before anything listens, each problem reported in one line. With
``api.https`` and no files named, a self-signed certificate is made on first use in
``<data_dir>/tls`` (key 0600) and reused after: browsers warn about it until each
secretary accepts it, so the warning says how to use a trusted one instead.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import TelesecError
from foundation.files import write_atomically
from foundation.settings import Settings

log = logging.getLogger(__name__)

SELF_SIGNED_DAYS = 365
RENEW_BEFORE_DAYS = 30


@dataclass(frozen=True)
class CertificatePair:
    """A checked certificate and key, PEM files that uvicorn and Kamailio can read."""

    certificate: Path
    private_key: Path
    self_signed: bool = False


def console_certificate(settings: Settings) -> CertificatePair | None:
    """The console's certificate and key, checked (TelesecError, one line, if not usable);
    a self-signed pair made on first use when HTTPS is asked for without files; None
    when the console is served over plain HTTP."""
    api = settings.api
    if api.certificate is not None and api.private_key is not None:
        check_pair(api.certificate, api.private_key)
        return CertificatePair(api.certificate.resolve(), api.private_key.resolve())
    if not api.https:
        return None
    directory = settings.data_path / "tls"
    certificate, key = directory / "console.crt", directory / "console.key"
    if certificate.exists() and key.exists() and _still_good(certificate, key):
        return CertificatePair(certificate, key, self_signed=True)
    _make_self_signed(certificate, key, _names(settings))
    log.warning("HTTPS with a self-signed certificate made for this machine (%s): browsers "
                "warn until each user accepts it; set api.certificate and api.private_key "
                "to a certificate they trust", certificate)
    return CertificatePair(certificate, key, self_signed=True)


def check_pair(certificate: Path, private_key: Path, *, what: str = "api") -> None:
    """Raise TelesecError (one line) unless ``certificate`` is a current PEM certificate
    and ``private_key`` its unencrypted PEM key, not readable by everyone."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert_data = _read(certificate, f"{what}.certificate")
    key_data = _read(private_key, f"{what}.private_key")
    try:
        cert = x509.load_pem_x509_certificate(cert_data)
    except ValueError:
        raise TelesecError(f"{what}.certificate {certificate} is not a PEM certificate; "
                           "give the certificate file (-----BEGIN CERTIFICATE-----)") from None
    try:
        key = serialization.load_pem_private_key(key_data, password=None)
    except (ValueError, TypeError):
        raise TelesecError(f"{what}.private_key {private_key} is not an unencrypted PEM "
                           "private key; give the key file without a passphrase") from None
    if private_key.stat().st_mode & stat.S_IROTH:
        raise TelesecError(f"{what}.private_key {private_key} is readable by everyone; "
                           f"chmod 600 {private_key}")
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if (key.public_key().public_bytes(encoding, public)
            != cert.public_key().public_bytes(encoding, public)):
        raise TelesecError(f"{what}.private_key {private_key} is not the key of "
                           f"{what}.certificate {certificate}; give the key it was made for")
    ends = cert.not_valid_after_utc
    if ends <= datetime.datetime.now(datetime.UTC):
        raise TelesecError(f"{what}.certificate {certificate} expired on {ends:%Y-%m-%d}; "
                           "renew it")


def _read(path: Path, name: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise TelesecError(f"{name} {path}: no such file; fix the path") from None
    except OSError as exc:
        raise TelesecError(f"{name} {path}: cannot read it ({exc.strerror}); check its "
                           "permissions") from None


def _still_good(certificate: Path, key: Path) -> bool:
    """Whether the self-signed pair made earlier still matches and is not about to end."""
    from cryptography import x509

    try:
        check_pair(certificate, key)
        ends = x509.load_pem_x509_certificate(certificate.read_bytes()).not_valid_after_utc
    except TelesecError as exc:
        log.warning("the self-signed certificate is made again: %s", exc)
        return False
    return ends - datetime.datetime.now(datetime.UTC) > datetime.timedelta(RENEW_BEFORE_DAYS)


def _names(settings: Settings) -> list[str]:
    """The names and addresses the self-signed certificate covers."""
    names = ["localhost", socket.gethostname() or "localhost", "127.0.0.1", "::1",
             settings.api.host, settings.sip.listen_host]
    return list(dict.fromkeys(n for n in names if n not in ("0.0.0.0", "::")))


def _make_self_signed(certificate: Path, key_path: Path, names: list[str]) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    # browsers read the names from the subject alternative names only
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Telesec console"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Telesec (self-signed)")])
    alternatives: list[x509.GeneralName] = []
    for name in names:
        try:
            alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternatives.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    certificate.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomically(key_path, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), mode=0o600)
    write_atomically(certificate, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    os.chmod(certificate.parent, 0o700)
