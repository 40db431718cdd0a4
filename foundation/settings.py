"""Typed settings: defaults, then a TOML file, then ``TELESEC_*`` environment variables.

The TOML file is ``$TELESEC_CONFIG`` if set, else ``./telesec.toml`` if it exists.
Nested sections use ``__`` in environment variables (``TELESEC_API__PORT=8080``).
"""

from __future__ import annotations

import ipaddress
import os
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_ENV = "TELESEC_CONFIG"
DEFAULT_CONFIG_FILE = Path("telesec.toml")


class SettingsError(Exception):
    """A setting is wrong; the message is one line naming it and the fix."""


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    session_idle_minutes: int = Field(15, ge=1, le=24 * 60)
    session_max_hours: int = Field(12, ge=1, le=24 * 7)
    trusted_proxies: list[str] = []
    """Networks of the reverse proxies whose X-Forwarded-For/-Proto the API believes
    (e.g. ["10.0.0.0/24"]); empty: the client is the connection's peer, headers ignored."""

    rate_limit_redis_url: str | None = None
    """redis://host:port/db: keep the login limits there instead of in the database."""
    max_body_bytes: int = Field(1024 * 1024, ge=1024, le=1024**3)
    """The largest request body the API reads (bigger: 413 before reading it)."""
    https: bool = False
    """Serve the console and API over HTTPS, and the softphone's WebSocket over WSS, with
    the certificate below; without one, a self-signed certificate made on first run."""
    certificate: Path | None = None
    """PEM certificate (chain) of the console's address (turns HTTPS on)."""
    private_key: Path | None = None
    """PEM private key of ``certificate`` (not readable by others)."""

    @model_validator(mode="after")
    def _certificate_pair(self) -> ApiSettings:
        if (self.certificate is None) != (self.private_key is None):
            raise ValueError("give both certificate and private_key, or neither (a "
                             "self-signed certificate is then made when https is on)")
        if self.certificate is not None:
            self.https = True
        return self

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_networks(cls, values: list[str]) -> list[str]:
        return _networks(values)


_TRUNK_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_E164 = re.compile(r"^\+[1-9][0-9]{5,15}$")
_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$")


def _networks(values: list[str]) -> list[str]:
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(f"{value!r} is not a network; write it as 203.0.113.0/24") from None
    return values


class TrunkSettings(BaseModel):
    """One SIP account or IP trunk of the practice's provider (``[[sip.trunks]]``)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    """A short name (letters, digits, - and _), shown by `telesec trunks status`."""
    kind: Literal["register", "ip"] = "register"
    """register: a SIP account the front registers (digest auth); ip: an IP-authenticated trunk."""
    registrar: str = ""
    """host[:port] of the provider's registrar (register) or SIP proxy (ip)."""
    outbound_proxy: str = ""
    """host[:port] every request to the provider goes through (default: the registrar)."""
    aor: str = ""
    """The account's address of record, sip:user@domain (register)."""
    auth_user: str = ""
    """Digest user name (default: the AOR's user)."""
    realm: str = ""
    """Digest realm (default: the AOR's domain, which is what providers challenge with)."""
    password_env: str = ""
    """Name of the environment variable holding the account's password."""
    password_file: Path | None = None
    """Or a file holding it (mode 0600), e.g. a container secret."""
    expiry_s: int = Field(300, ge=60, le=3600)
    """Registration lifetime asked for; refreshed before it ends."""
    keepalive_s: int = Field(25, ge=0, le=300)
    """OPTIONS to the registrar this often, keeping the router's NAT mapping open (0: off)."""
    transport: Literal["udp", "tcp", "tls"] = "udp"
    number_format: Literal["e164", "national", "international"] = "e164"
    """How the provider writes numbers: +33123456789, 0123456789 or 0033123456789."""
    country_code: str = Field("33", pattern=r"^[1-9][0-9]{0,2}$")
    numbers: list[str] = []
    """The practice numbers (E.164) this account carries; calls to the account ring the first."""
    networks: list[str] = []
    """The provider's source networks: calls from them are taken and their caller ID trusted."""
    srtp: Literal["off", "offer"] = "off"
    """offer: outgoing calls to the provider offer SDES-SRTP (incoming SRTP is always taken)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _TRUNK_NAME.match(value):
            raise ValueError("use 1-32 lower-case letters, digits, - or _ (e.g. 'ovh')")
        return value

    @field_validator("registrar", "outbound_proxy")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if value and not _HOST_PORT.match(value):
            raise ValueError(f"{value!r}: write host or host:port, without sip:")
        return value

    @field_validator("numbers")
    @classmethod
    def _numbers(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _E164.match(value):
                raise ValueError(f"{value!r}: write practice numbers in E.164, e.g. +33199000000")
        return values

    @field_validator("networks")
    @classmethod
    def _trunk_networks(cls, values: list[str]) -> list[str]:
        return _networks(values)

    @model_validator(mode="after")
    def _complete(self) -> TrunkSettings:
        if not self.registrar:
            raise ValueError(f"trunk {self.name!r} needs registrar = \"host[:port]\"")
        if self.kind == "register":
            if not re.match(r"^sips?:[^@\s]+@[^@\s]+$", self.aor):
                raise ValueError(f"trunk {self.name!r} needs aor = \"sip:user@domain\"")
            if bool(self.password_env) == (self.password_file is not None):
                raise ValueError(f"trunk {self.name!r}: give exactly one of password_env "
                                 "or password_file (never the password itself)")
        elif not self.networks:
            raise ValueError(f"IP trunk {self.name!r} needs networks = [...] (its addresses)")
        return self

    @property
    def aor_user(self) -> str:
        return self.aor.split(":", 1)[1].split("@", 1)[0] if self.aor else ""

    @property
    def aor_domain(self) -> str:
        return self.aor.split("@", 1)[1] if self.aor else self.registrar


class SipTlsSettings(BaseModel):
    """SIP over TLS on the front (``[sip.tls]``)."""

    model_config = ConfigDict(extra="forbid")

    port: int = Field(5061, ge=1, le=65535)
    certificate: Path
    """PEM certificate (chain) of the front."""
    private_key: Path
    """PEM private key (mode 0600)."""
    ca_list: Path | None = None
    """PEM CA list to verify peers (providers, phones) against; none: no verification."""
    require_client_certificate: bool = False


class MediaRelaySettings(BaseModel):
    """rtpengine in the front relays all media (``[sip.media]``)."""

    model_config = ConfigDict(extra="forbid")

    relay: Literal["auto", "on", "off"] = "auto"
    """auto: use rtpengine when installed; on: required; off: RTP straight to the workers."""
    rtpengine_binary: str = "rtpengine"
    port_min: int = Field(30000, ge=1024, le=65000)
    """The fixed RTP port range at the edge (open it, or nothing behind NAT with keep-alives)."""
    port_max: int = Field(30999, ge=1025, le=65535)
    edge_address: str = ""
    """The front's own address that media uses outside (default: sip.listen_host)."""
    internal_address: str = ""
    """The front's address on the workers' side (default: sip.worker_host on one machine,
    sip.listen_host for `telesec front`: set it to the address the nodes reach it on)."""
    public_address: str = ""
    """The public address announced in SDP and SIP when it differs (a 1:1 NAT); empty: none."""

    @model_validator(mode="after")
    def _range(self) -> MediaRelaySettings:
        if self.port_max - self.port_min < 15:
            raise ValueError("port_max must be at least port_min + 15 (4 ports per call)")
        return self


class PhoneSettings(BaseModel):
    """Secretaries' SIP phones registering to the front (``[sip.phones]``)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    realm: str = Field("telesec", pattern=r"^[A-Za-z0-9.-]{1,64}$")
    """Digest realm (and domain) of the phones' accounts: sip:LOGIN@REALM."""
    networks: list[str] = ["0.0.0.0/0", "::/0"]
    """Where phones may register from (with their password): anywhere by default."""

    @field_validator("networks")
    @classmethod
    def _phone_networks(cls, values: list[str]) -> list[str]:
        return _networks(values)


class TurnSettings(BaseModel):
    """A TURN relay (coturn) for softphones on networks that block UDP
    (``[sip.webphone.turn]``): started and stopped with the front."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    binary: str = "turnserver"
    port: int = Field(3478, ge=1, le=65535)
    """TURN over UDP and TCP (browsers behind a UDP-blocking firewall use TCP)."""
    listen_host: str = ""
    """The address it listens and relays on (default: sip.listen_host)."""
    public_address: str = ""
    """The address browsers reach it at, when it differs (a 1:1 NAT); also in the URLs."""
    relay_port_min: int = Field(49152, ge=1024, le=65000)
    relay_port_max: int = Field(49951, ge=1025, le=65535)
    transports: list[Literal["udp", "tcp"]] = ["udp", "tcp"]
    """The TURN transports named to browsers."""
    relay_only: bool = False
    """Browsers send media only through TURN (iceTransportPolicy "relay"): to check a
    practice's TURN path, or where direct UDP must not be tried."""
    allow_loopback_peers: bool = False
    """Relay to loopback addresses (tests on one machine only)."""
    secret_file: Path | None = None
    """The secret the API and coturn share (use-auth-secret, made 0600 on first use);
    default <data_dir>/turn.secret."""

    @model_validator(mode="after")
    def _turn_range(self) -> TurnSettings:
        if self.relay_port_max - self.relay_port_min < 15:
            raise ValueError("relay_port_max must be at least relay_port_min + 15")
        if not self.transports:
            raise ValueError("name at least one transport: [\"udp\", \"tcp\"]")
        return self


class WebphoneSettings(BaseModel):
    """The console's softphone: SIP over WebSocket on the front (``[sip.webphone]``)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    ws_port: int = Field(5066, ge=1, le=65535)
    """Plain WebSocket (ws://) port of the front; for a page served over HTTP on loopback,
    or behind a reverse proxy that terminates TLS (docs/deploy.md)."""
    wss_port: int | None = Field(None, ge=1, le=65535)
    """Secure WebSocket (wss://) port: with the console's certificate when the API serves
    HTTPS (then ws_port + 1 when unset), else with [sip.tls]'s."""
    url: str = Field("", pattern=r"^(wss?://[^\s\"';]+)?$")
    """The address browsers connect to; empty: with HTTPS, wss on the WSS port at the
    console's own host name (the one its certificate names); else wss on wss_port if set,
    or ws on ws_port, at sip.listen_host."""
    token_ttl_s: int = Field(900, ge=60, le=12 * 3600)
    """How long a SIP token minted for a console session stays valid (renewed by the page)."""
    secret_file: Path | None = None
    """The secret the API and the front share (made 0600 on first use); default
    <data_dir>/webphone.secret."""
    turn: TurnSettings = TurnSettings()

    def effective_wss_port(self, https: bool) -> int | None:
        """The WSS port the front listens on: ``wss_port``, else ws_port + 1 with HTTPS."""
        if self.wss_port is not None:
            return self.wss_port
        return self.ws_port + 1 if https else None


DEFAULT_SCANNERS = ["friendly-scanner", "sipvicious", "sipcli", "sip-scan", "sipsak", "iWar",
                    "sundayddr", "VaxSIPUserAgent", "SIVuS", "smap", "pplsip", "PortSIP VoIP SDK"]


class SipSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    listen_host: str = "127.0.0.1"
    listen_port: int = Field(5060, ge=1, le=65535)
    worker_base_port: int = Field(5100, ge=1024, le=65000)
    workers: int = Field(2, ge=1, le=64)
    calls_per_worker: int = Field(4, ge=1, le=4)
    allowed_networks: list[str] = ["127.0.0.0/8", "::1/128"]
    kamailio_binary: str = "kamailio"
    front: Literal["own", "external"] = "own"
    """own: this node runs its Kamailio front; external: a shared `telesec front` elsewhere."""
    node_host: str = "127.0.0.1"
    """With an external front: the address this node's workers listen on."""
    front_networks: list[str] = ["127.0.0.1/32"]
    """With an external front: the only sources the workers take SIP from (the front)."""
    front_address: str = ""
    """With an external front: its SIP address (host:port), where the workers' outgoing
    calls go (transfers to phones, to the console's desks, to numbers); empty: dialled
    directly, so desks and phones registered on the front cannot be rung."""
    worker_host: str = "127.0.0.1"
    """With its own front: the private address the workers listen on (SIP and RTP)."""
    user_agent: str = Field("Telesec", min_length=1, max_length=64, pattern=r"^[ -~]+$")
    """User-Agent / Server header of the front (and the workers)."""
    scanner_user_agents: list[str] = DEFAULT_SCANNERS
    """Requests whose User-Agent contains one of these are dropped without a reply."""
    wideband: bool = False
    """False (default): the workers mix at 8 kHz, the rate of G.711 calls, so that their
    frames are never resampled (a G.722-only call is taken and resampled). True: they mix
    at 16 kHz, for pools whose callers mostly speak G.722 (docs/telephony-pool.md)."""
    trunks: list[TrunkSettings] = []
    tls: SipTlsSettings | None = None
    media: MediaRelaySettings = MediaRelaySettings()
    phones: PhoneSettings = PhoneSettings()
    webphone: WebphoneSettings = WebphoneSettings()

    @field_validator("allowed_networks", "front_networks")
    @classmethod
    def _valid_networks(cls, values: list[str]) -> list[str]:
        return _networks(values)

    @field_validator("front_address")
    @classmethod
    def _front_address(cls, value: str) -> str:
        if value and not _HOST_PORT.match(value):
            raise ValueError(f"{value!r}: write host:port of the shared front, without sip:")
        return value

    @field_validator("trunks")
    @classmethod
    def _unique_trunks(cls, values: list[TrunkSettings]) -> list[TrunkSettings]:
        names = [trunk.name for trunk in values]
        if len(set(names)) != len(names):
            raise ValueError("two trunks have the same name; give each its own")
        return values


class SpeechSettings(BaseModel):
    models_dir: Path | None = None
    model_fr: Path | None = None
    model_en: Path | None = None
    max_concurrent_streams: int = Field(8, ge=1, le=256)
    # seconds of the practice's own prompts each of the speech server's recognizers decodes
    # at start, at low priority, so the first callers of a busy hour find them warm (0: off)
    warm_up_seconds: float = Field(10.0, ge=0, le=120)


class RetentionSettings(BaseModel):
    recording_days: int = Field(30, ge=1, le=180)
    voicemail_days_after_handled: int = Field(30, ge=1, le=3650)
    transcript_days: int = Field(30, ge=1, le=3650)
    export_days: int = Field(7, ge=1, le=365)


class NotificationSettings(BaseModel):
    """Booking confirmations to patients and alerts to staff (docs/notifications.md).

    Each channel is ``none`` (not configured: nothing is sent, and the phone promises
    nothing), a real transport (``smtp`` for e-mail, ``gateway`` for SMS: an HTTP
    gateway), or ``file`` (messages written as files under ``outbox_dir``, in clear:
    for tests and demos only, never with real patients).
    """

    model_config = ConfigDict(extra="forbid")

    email: Literal["none", "smtp", "file"] = "none"
    sms: Literal["none", "gateway", "file"] = "none"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_user: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    mail_from: str = "telesec@localhost"
    sms_url: str | None = None
    """The gateway's endpoint: Telesec POSTs JSON {"to", "text", "sender"} to it."""
    sms_token: str | None = Field(default=None, repr=False)
    sms_sender: str = Field("Cabinet", max_length=11)
    outbox_dir: Path | None = None
    """Where ``file`` channels write (default: <data_dir>/outbox)."""
    console_url: str = "http://127.0.0.1:8080/"
    """The console's address, named in staff alerts."""
    confirmations: bool = True
    """Send booking confirmations to patients (when a channel is configured)."""
    timeout_seconds: float = Field(10.0, gt=0, le=120)
    max_attempts: int = Field(6, ge=1, le=50)

    @model_validator(mode="after")
    def _complete(self) -> NotificationSettings:
        if self.sms == "gateway" and not (self.sms_url or "").startswith(("https://",
                                                                          "http://")):
            raise ValueError("sms = \"gateway\" needs sms_url, the gateway's http(s) address")
        if self.email == "smtp" and self.smtp_user and not self.smtp_password:
            raise ValueError("smtp_user is set without smtp_password; set both or neither")
        return self
class CalendarSettings(BaseModel):
    """Practitioners' own calendars (docs/calendars.md)."""

    sync_interval_seconds: int = Field(300, ge=30, le=24 * 3600)
    """How often each linked calendar is read; "sync now" does not wait for it."""
    publish_interval_seconds: float = Field(5.0, ge=1, le=600)
    """How often the sync job looks for appointments to publish and syncs asked for."""
    horizon_days: int = Field(400, ge=30, le=1100)
    """How far ahead busy time is imported (slot search looks 92 days ahead by default)."""
    timeout_seconds: float = Field(20.0, ge=1, le=300)
    """Per HTTP request to a calendar server."""
class AuditSettings(BaseModel):
    anchor_file: Path | None = None
    """A file on other storage than the database's: every signed checkpoint is appended."""
    anchor_syslog: str | None = None
    """``unix:/dev/log`` or ``udp:HOST:PORT``: every signed checkpoint is also sent there."""

    @field_validator("anchor_syslog")
    @classmethod
    def _syslog_address(cls, value: str | None) -> str | None:
        if value is None:
            return value
        kind, _, where = value.partition(":")
        if not ((kind == "unix" and where) or
                (kind == "udp" and where.rpartition(":")[2].isdigit())):
            raise ValueError("use unix:/dev/log or udp:HOST:PORT")
        return value


class Settings(BaseSettings):
    """All of Telesec's settings. Paths are resolved against the working directory."""

    model_config = SettingsConfigDict(
        env_prefix="TELESEC_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    data_dir: Path = Path("var")
    database_url: str | None = None
    vault_dir: Path | None = None
    keyring_path: Path | None = None
    keyring_passphrase: str | None = Field(default=None, repr=False)
    timezone: str = "Europe/Paris"
    log_level: str = "INFO"
    api: ApiSettings = ApiSettings()
    sip: SipSettings = SipSettings()
    speech: SpeechSettings = SpeechSettings()
    retention: RetentionSettings = RetentionSettings()
    notifications: NotificationSettings = NotificationSettings()
    calendars: CalendarSettings = CalendarSettings()
    audit: AuditSettings = AuditSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file()
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as 'Europe/Paris'"
            ) from exc
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("use one of DEBUG, INFO, WARNING, ERROR")
        return level

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError(
                "use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB"
            )
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @cached_property
    def data_path(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def webphone_secret_path(self) -> Path:
        """The secret the API and the front share for the console softphone's tokens."""
        named = self.sip.webphone.secret_file
        return (named or self.data_path / "webphone.secret").expanduser().resolve()

    @property
    def turn_secret_path(self) -> Path:
        """The secret the API and coturn share for the softphones' TURN credentials."""
        named = self.sip.webphone.turn.secret_file
        return (named or self.data_path / "turn.secret").expanduser().resolve()

    @property
    def turn_urls(self) -> list[str]:
        """The TURN server's addresses as browsers are given them (``turn:host:port?...``)."""
        turn = self.sip.webphone.turn
        host = turn.public_address or turn.listen_host or self.sip.listen_host
        host = f"[{host}]" if ":" in host else host
        return [f"turn:{host}:{turn.port}?transport={t}" for t in turn.transports]

    @property
    def webphone_url(self) -> str:
        """The WebSocket address the console's softphone connects to; with HTTPS and no
        ``url``, ``{host}`` stands for the host name the page was loaded from."""
        phone = self.sip.webphone
        if phone.url:
            return phone.url
        wss_port = phone.effective_wss_port(self.api.https)
        if self.api.https:
            return f"wss://{{host}}:{wss_port}"
        host = self.sip.listen_host
        host = f"[{host}]" if ":" in host else host
        if wss_port is not None:
            return f"wss://{host}:{wss_port}"
        return f"ws://{host}:{phone.ws_port}"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_path / 'telesec.db'}"

    @property
    def effective_keyring_path(self) -> Path:
        return (self.keyring_path or self.data_path / "keyring.json").expanduser().resolve()

    @property
    def vault_path(self) -> Path:
        if self.vault_dir is not None:  # shared storage of several engine nodes
            return self.vault_dir.expanduser().resolve()
        return self.data_path / "vault"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _config_file() -> Path | None:
    named = os.environ.get(CONFIG_ENV)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise SettingsError(
                f"{CONFIG_ENV}={named}: no such file; point it at a TOML settings file or unset it"
            )
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def _describe(error: dict[str, Any]) -> str:
    name = ".".join(str(part) for part in error["loc"]) or "settings"
    env_name = "TELESEC_" + "__".join(str(part) for part in error["loc"]).upper()
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"setting '{name}' is not a Telesec setting; remove it or check its spelling"
    return f"setting '{name}' ({env_name}): {message}"


def load_settings(**overrides: Any) -> Settings:
    """Load settings, turning any validation error into one clear :class:`SettingsError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError("; ".join(_describe(e) for e in exc.errors())) from None
    except SettingsError:
        raise
    except Exception as exc:  # a TOML syntax error, an unreadable file
        where = os.environ.get(CONFIG_ENV) or str(DEFAULT_CONFIG_FILE)
        raise SettingsError(
            f"settings file {where} could not be read ({exc}); fix its TOML syntax"
        ) from None
