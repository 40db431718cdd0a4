"""What the front does at the network's edge: trunks, phones, TLS, media relay, hygiene.

:func:`edge_from_settings` turns ``[sip]`` settings into an :class:`Edge`, the plain data
the Kamailio configuration is generated from (``telephony/kamailio_config.py``). Trunk
passwords are read here, from an environment variable or a file, and only ever written
to the front's private table files (mode 0600 in a 0700 directory), never to the
configuration itself nor to a command line.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from foundation.certificates import CertificatePair
from foundation.errors import TelesecError
from foundation.settings import SipSettings, TrunkSettings


@dataclass(frozen=True)
class EdgeTrunk:
    """One provider account or IP trunk, ready for the front's configuration."""

    name: str
    kind: str  # "register" | "ip"
    uuid: str  # the Contact user of the registration: calls to it are this account's
    registrar: str  # host[:port]
    proxy: str  # host[:port] requests to the provider go to
    aor_user: str
    aor_domain: str
    auth_user: str
    realm: str
    password: str = field(repr=False)
    expiry_s: int = 300
    keepalive_s: int = 25
    transport: str = "udp"
    number_format: str = "e164"
    country_code: str = "33"
    numbers: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    srtp: bool = False

    @property
    def proxy_uri(self) -> str:
        suffix = "" if self.transport == "udp" else f";transport={self.transport}"
        return f"sip:{self.proxy}{suffix}"


@dataclass(frozen=True)
class TlsListener:
    port: int
    certificate: Path
    private_key: Path
    ca_list: Path | None = None
    require_client_certificate: bool = False


@dataclass(frozen=True)
class RelayLink:
    """Where the front reaches rtpengine (its ng control socket) and how media is named."""

    ng_host: str
    ng_port: int
    srtp_to_workers: bool = False  # never: workers get plain RTP on the private side


@dataclass(frozen=True)
class PhoneAccess:
    realm: str
    networks: tuple[str, ...]


@dataclass(frozen=True)
class WebphoneAccess:
    """The console's softphones: SIP over WebSocket, tokens checked with the shared secret."""

    realm: str
    ws_port: int
    wss_port: int | None
    secret: str = field(repr=False)
    certificate: Path | None = None  # the WSS listener's own (the console's); else [sip.tls]'s
    private_key: Path | None = None


@dataclass(frozen=True)
class Edge:
    """Everything of the front's configuration beyond spreading calls over the workers."""

    trunks: tuple[EdgeTrunk, ...] = ()
    tls: TlsListener | None = None
    relay: RelayLink | None = None
    phones: PhoneAccess | None = None
    webphone: WebphoneAccess | None = None
    user_agent: str = "Telesec"
    scanners: tuple[str, ...] = ()
    advertise: str = ""  # public address announced in SIP when behind a 1:1 NAT
    check_numbers: bool = False  # refuse (404) dialled numbers that are no practice's


def read_trunk_password(trunk: TrunkSettings) -> str:
    """The account's password, from its environment variable or file (one line on error)."""
    if trunk.password_env:
        value = os.environ.get(trunk.password_env, "")
        if not value:
            raise TelesecError(
                f"trunk {trunk.name}: the environment variable {trunk.password_env} is not "
                "set; set it to the SIP account's password"
            )
        return value
    path = trunk.password_file
    assert path is not None
    try:
        mode = path.stat().st_mode
        value = path.read_text().strip()
    except OSError as exc:
        raise TelesecError(
            f"trunk {trunk.name}: cannot read password_file {path} ({exc.strerror}); "
            "check the path and its permissions"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TelesecError(
            f"trunk {trunk.name}: password_file {path} is readable by others; "
            f"chmod 600 {path}"
        )
    if not value:
        raise TelesecError(f"trunk {trunk.name}: password_file {path} is empty")
    return value


def trunk_uuid(name: str, aor: str, password: str) -> str:
    """Stable, unguessable Contact user of a registration (the same at every restart, so
    a provider still holding the previous binding reaches us under the same name)."""
    digest = hashlib.sha256(f"telesec-trunk\0{name}\0{aor}\0{password}".encode()).hexdigest()
    return f"t{digest[:15]}"


def edge_trunk(trunk: TrunkSettings) -> EdgeTrunk:
    password = read_trunk_password(trunk) if trunk.kind == "register" else ""
    return EdgeTrunk(
        name=trunk.name,
        kind=trunk.kind,
        uuid=trunk_uuid(trunk.name, trunk.aor or trunk.registrar, password),
        registrar=trunk.registrar,
        proxy=trunk.outbound_proxy or trunk.registrar,
        aor_user=trunk.aor_user,
        aor_domain=trunk.aor_domain,
        auth_user=trunk.auth_user or trunk.aor_user,
        # the front's table cannot hold an empty realm; providers challenge with their domain
        realm=trunk.realm or trunk.aor_domain.split(":")[0],
        password=password,
        expiry_s=trunk.expiry_s,
        keepalive_s=trunk.keepalive_s,
        transport=trunk.transport,
        number_format=trunk.number_format,
        country_code=trunk.country_code,
        numbers=tuple(trunk.numbers),
        networks=tuple(trunk.networks),
        srtp=trunk.srtp == "offer",
    )


def edge_from_settings(sip: SipSettings, *, relay: RelayLink | None = None,
                       check_numbers: bool = False, webphone_secret: str | None = None,
                       console_tls: CertificatePair | None = None) -> Edge:
    """The :class:`Edge` of ``sip`` (reads the trunks' passwords); the console's softphones
    register only when ``sip.webphone`` is enabled and ``webphone_secret`` is given, over
    WSS with ``console_tls`` (the console's HTTPS certificate) when it is given."""
    tls = None
    if sip.tls is not None:
        for what, path in (("certificate", sip.tls.certificate),
                           ("private_key", sip.tls.private_key),
                           ("ca_list", sip.tls.ca_list)):
            if path is not None and not os.access(path, os.R_OK):
                raise TelesecError(f"sip.tls.{what} {path}: file not readable; fix the path "
                                   "or its permissions")
        tls = TlsListener(sip.tls.port, sip.tls.certificate.resolve(),
                          sip.tls.private_key.resolve(),
                          sip.tls.ca_list.resolve() if sip.tls.ca_list else None,
                          sip.tls.require_client_certificate)
    for trunk in sip.trunks:
        if trunk.transport == "tls" and tls is None:
            raise TelesecError(f"trunk {trunk.name} uses transport = \"tls\" but the front has "
                               "no TLS listener; add a [sip.tls] section (certificate, key)")
    phones = (PhoneAccess(sip.phones.realm, tuple(sip.phones.networks))
              if sip.phones.enabled else None)
    webphone = None
    if sip.webphone.enabled and webphone_secret:
        webphone = _webphone_access(sip, webphone_secret, tls, console_tls)
    return Edge(
        webphone=webphone,
        trunks=tuple(edge_trunk(trunk) for trunk in sip.trunks),
        tls=tls,
        relay=relay,
        phones=phones,
        user_agent=sip.user_agent,
        scanners=tuple(sip.scanner_user_agents),
        advertise=sip.media.public_address,
        check_numbers=check_numbers or any(trunk.numbers for trunk in sip.trunks),
    )


def _webphone_access(sip: SipSettings, secret: str, tls: TlsListener | None,
                     console_tls: CertificatePair | None) -> WebphoneAccess:
    """The softphones' WebSocket listeners: WSS with the console's certificate (HTTPS),
    else with the front's [sip.tls] one."""
    wss_port = sip.webphone.effective_wss_port(console_tls is not None)
    if wss_port is not None and console_tls is None and tls is None:
        raise TelesecError("sip.webphone.wss_port needs a certificate: serve the console "
                           "over HTTPS (api.https) or add a [sip.tls] section")
    if console_tls is None or wss_port is None:
        return WebphoneAccess(sip.phones.realm, sip.webphone.ws_port, wss_port, secret)
    return WebphoneAccess(sip.phones.realm, sip.webphone.ws_port, wss_port, secret,
                          console_tls.certificate, console_tls.private_key)


# -- numbers -----------------------------------------------------------------------------------

def provider_number(e164: str, number_format: str, country_code: str) -> str:
    """``+33612345678`` written the way a provider wants it (e164, national, international)."""
    if not e164.startswith("+"):
        return e164
    if number_format == "e164":
        return e164
    if number_format == "international":
        return "00" + e164[1:]
    if e164.startswith("+" + country_code):
        return "0" + e164[1 + len(country_code):]
    return "00" + e164[1:]


def e164_number(number: str, number_format: str, country_code: str) -> str:
    """A number as a provider wrote it, back in E.164 (unchanged if not a number)."""
    digits = number.strip()
    if digits.startswith("+"):
        return digits
    if not digits.isdigit():
        return digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    if digits.startswith("0"):
        return f"+{country_code}{digits[1:]}"
    if number_format == "e164" and digits.startswith(country_code) and len(digits) > 9:
        return "+" + digits  # some providers drop the plus
    return digits
