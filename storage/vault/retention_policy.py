"""How long each kind of vault object lives (a practice's retention settings).

The vault stamps each new object with its expiry from this policy;
:class:`storage.retention.Retention` destroys what is due.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from storage.models import ObjectKind

log = logging.getLogger(__name__)

RECORDING_CAP_DAYS = 180  # CNIL: call recordings are kept at most six months


@dataclass(frozen=True)
class RetentionPolicy:
    """Days each retention class lives. Voicemail counts from when it was handled.

    ``recording_days`` is capped at 180 whatever is configured.
    """

    recording_days: int = 30
    voicemail_days_after_handled: int = 30
    transcript_days: int = 30
    export_days: int = 7
    spool_days: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.recording_days <= RECORDING_CAP_DAYS:
            log.warning("recording retention of %s days is outside 1..%s; using %s",
                        self.recording_days, RECORDING_CAP_DAYS, RECORDING_CAP_DAYS)
            object.__setattr__(self, "recording_days",
                               min(max(self.recording_days, 1), RECORDING_CAP_DAYS))

    @classmethod
    def from_settings(cls, retention: Any) -> RetentionPolicy:
        """Build from ``Settings.retention`` (any object with the same attribute names)."""
        return cls(
            recording_days=retention.recording_days,
            voicemail_days_after_handled=retention.voicemail_days_after_handled,
            transcript_days=retention.transcript_days,
            export_days=retention.export_days,
        )

    def created_days(self) -> dict[str, int]:
        """Lifetime from creation of each class counted from creation."""
        return {
            ObjectKind.RECORDING.value: self.recording_days,
            ObjectKind.TRANSCRIPT.value: self.transcript_days,
            ObjectKind.EXPORT.value: self.export_days,
            ObjectKind.SPOOL.value: self.spool_days,
        }

    def expires_at(self, retention_class: str, created: datetime) -> datetime | None:
        """Expiry of a new object; None for voicemail (set when it is handled)."""
        if retention_class == ObjectKind.VOICEMAIL.value:
            return None
        try:
            return created + timedelta(days=self.created_days()[retention_class])
        except KeyError:
            raise ValueError(f"unknown retention class {retention_class!r}") from None

    def expires_after_handling(self, retention_class: str, handled: datetime) -> datetime | None:
        if retention_class == ObjectKind.VOICEMAIL.value:
            return handled + timedelta(days=self.voicemail_days_after_handled)
        return None
