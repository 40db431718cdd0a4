"""The full privacy notice of a recorded line, filled in for one practice.

The template is ``privacy_notice.yaml`` beside this file (one text per language,
documented in docs/privacy-notice.md). The controller is the practice (its name and
address from its profile), the retention periods come from the settings, and the
contact for the caller's rights is the practice's ``privacy_contact`` (else: the
practice itself, by phone or at its address).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Protocol

import yaml

from ivr_flows.practice import PracticeInfo

TEMPLATE = Path(__file__).with_name("privacy_notice.yaml")
NO_CONTACT = {"fr": "adressez-vous au secrétariat du cabinet",
              "en": "ask the practice's secretaries"}


class RetentionDays(Protocol):
    recording_days: int
    voicemail_days_after_handled: int
    transcript_days: int


@cache
def templates() -> dict[str, str]:
    return dict(yaml.safe_load(TEMPLATE.read_text(encoding="utf-8")))


def privacy_notice(practice: PracticeInfo, language: str, retention: RetentionDays, *,
                   refuse_key: str = "9") -> str:
    """The notice in ``language`` (fr or en; another falls back to French)."""
    texts = templates()
    text = texts.get(language) or texts["fr"]
    lang = language if language in texts else "fr"
    at = {"fr": ", {}", "en": ", {}"}[lang]
    return text.format(
        controller=practice.name,
        at_address=at.format(practice.address.rstrip(". ")) if practice.address else "",
        refuse_key=refuse_key,
        recording_days=retention.recording_days,
        voicemail_days=retention.voicemail_days_after_handled,
        transcript_days=retention.transcript_days,
        contact=practice.privacy_contact or NO_CONTACT[lang],
    )
