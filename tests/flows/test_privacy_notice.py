"""The full privacy notice of a recorded line, filled in for the practice (CNIL)."""

from __future__ import annotations

import re
from pathlib import Path

from foundation.settings import RetentionSettings
from ivr_flows.practice import PracticeInfo
from ivr_flows.privacy_notice import privacy_notice, templates

DOC = Path(__file__).resolve().parents[2] / "docs" / "privacy-notice.md"


def practice(**fields: object) -> PracticeInfo:
    return PracticeInfo(1, "demo", "Cabinet médical des Tilleuls", "Europe/Paris", (), (), {},
                        **fields)


def test_the_notice_names_controller_purpose_retention_rights_and_contact() -> None:
    info = practice(spoken_name="le cabinet médical des Tilleuls",
                    address="12, rue des Tilleuls, à Villeurbanne",
                    privacy_contact="par e-mail à dpo@tilleuls.invalid")
    retention = RetentionSettings(recording_days=14, voicemail_days_after_handled=60,
                                  transcript_days=21)
    text = privacy_notice(info, "fr", retention)
    for part in ("responsable du traitement est Cabinet médical des Tilleuls, 12, rue des "
                 "Tilleuls, à Villeurbanne", "rendez-vous", "appuyez sur 9",
                 "14 jours", "60 jours après", "21 jours", "vous opposer",
                 "dpo@tilleuls.invalid", "CNIL"):
        assert part in text, part
    english = privacy_notice(info, "en", retention, refuse_key="8")
    assert "The controller is Cabinet médical des Tilleuls" in english
    assert "press 8" in english and "14 days" in english and "object" in english
    assert "{" not in text + english


def test_without_an_address_or_contact_the_notice_still_says_whom_to_ask() -> None:
    text = privacy_notice(practice(), "fr", RetentionSettings())
    assert "Tilleuls." in text and "adressez-vous au secrétariat du cabinet" in text
    assert privacy_notice(practice(), "de", RetentionSettings()) == text


def test_the_documented_template_is_the_one_said() -> None:
    doc = " ".join(DOC.read_text(encoding="utf-8").split())
    for text in templates().values():
        assert " ".join(text.split()) in doc
    assert set(re.findall(r"\{(\w+)\}", " ".join(templates().values()))) <= set(
        re.findall(r"`\{(\w+)\}`", doc))
