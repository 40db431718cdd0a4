"""Settings of one worker process (filled from ``python -m telephony.worker`` options)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pjsua2 as pj

from telephony.rtp_ports import derived_rtp_port

#: calls one pjsua2 process holds at once, in and out (compiled into the wheel)
PJSUA_MAX_CALLS = 4
SRTP_MODES = {
    "off": pj.PJMEDIA_SRTP_DISABLED,
    "optional": pj.PJMEDIA_SRTP_OPTIONAL,
    "mandatory": pj.PJMEDIA_SRTP_MANDATORY,
}


@dataclass(frozen=True)
class TlsSettings:
    """SIP over TLS: a listening port with this certificate and key (PEM files)."""

    port: int
    cert_file: str
    key_file: str
    ca_file: str = ""  # when set, peers' certificates are verified against it
    verify_client: bool = False  # require and verify a client certificate


@dataclass(frozen=True)
class Registration:
    """Registered mode: register ``aor`` to ``registrar`` with digest credentials."""

    aor: str  # sip:user@domain
    registrar: str  # sip:host[:port][;transport=...]
    auth_user: str
    password: str = field(repr=False)
    realm: str = "*"
    expiry: int = 300  # seconds asked for; refreshed before it runs out
    retry_seconds: int = 30  # after a failed registration


class RegistrationStatus:
    """What the registrar said (updated on the SIP thread, read from anywhere)."""

    def __init__(self) -> None:
        self.registered = False
        self.successes = 0  # 2xx answers to REGISTER (first one and each refresh)
        self.failures = 0
        self.last_code = 0
        self.expires = 0


@dataclass
class WorkerConfig:
    """Settings of one worker (see ``python -m telephony.worker --help``)."""

    port: int
    host: str = "127.0.0.1"
    tcp: bool = True
    accept_users: frozenset[str] = frozenset()  # empty: any user
    allowed_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = field(
        default_factory=lambda: [ipaddress.ip_network("127.0.0.0/8")]
    )
    max_calls: int = 4
    rtp_port: int = 0  # 0: derived from the SIP port
    rtp_timeout: float = 30.0
    retry_after: int = 5
    ring_seconds: float = 0.0  # ring (180) this long before answering
    pjsip_log_level: int = 1
    tls: TlsSettings | None = None
    srtp: str = "off"  # off | optional | mandatory
    srtp_secure_signaling: int = 1  # 0: any transport, 1: TLS hop, 2: sips end to end
    registration: Registration | None = None
    outbound_proxy: str = ""  # sip:host:port of the front: outgoing legs go through it
    user_agent: str = "Telesec"
    trusted_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = field(
        default_factory=list
    )  # direct mode: sources whose P-Asserted-Identity is believed
    wideband: bool = False  # G.722 offered and the bridge at 16 kHz; else G.711 at 8 kHz

    @property
    def clock_rate(self) -> int:
        """The conference bridge's rate: 8 kHz for a G.711 worker, 16 kHz for a wideband one."""
        return 16000 if self.wideband else 8000

    @property
    def effective_rtp_port(self) -> int:
        return self.rtp_port or derived_rtp_port(self.port)
