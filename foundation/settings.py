"""Typed settings: defaults, then a TOML file, then ``TELESEC_*`` environment variables.

The TOML file is ``$TELESEC_CONFIG`` if set, else ``./telesec.toml`` if it exists.
Nested sections use ``__`` in environment variables (``TELESEC_API__PORT=8080``).
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, ValidationError, field_validator
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


class SipSettings(BaseModel):
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


class SpeechSettings(BaseModel):
    models_dir: Path | None = None
    model_fr: Path | None = None
    model_en: Path | None = None
    max_concurrent_streams: int = Field(8, ge=1, le=256)


class RetentionSettings(BaseModel):
    recording_days: int = Field(30, ge=1, le=180)
    voicemail_days_after_handled: int = Field(30, ge=1, le=3650)
    transcript_days: int = Field(30, ge=1, le=3650)
    export_days: int = Field(7, ge=1, le=365)


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
