"""An emergency said into a voicemail raises an urgent escalation, in either language,
whatever the language of the call (the hook on a transcript; storage is faked)."""

from __future__ import annotations

import pytest

from ivr_flows import voicemail_emergency
from ivr_flows.call import VoicemailMeta
from ivr_flows.voicemail_emergency import EmergencyVoicemails


@pytest.fixture
def raised(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    calls: list[dict] = []

    def urgent_voicemail(db: object, **fields: object) -> int:
        calls.append(fields)
        return len(calls)

    monkeypatch.setattr(voicemail_emergency.escalations, "urgent_voicemail", urgent_voicemail)
    return calls


@pytest.mark.parametrize(("call_language", "text"), [
    ("fr", "Docteur, mon mari ne respire plus, venez vite"),
    ("fr", "my husband has chest pain and he can't breathe"),
    ("en", "my wife has chest pain"),
    ("en", "c'est urgent, ma mère a fait un malaise"),
])
def test_an_emergency_voicemail_is_escalated(raised: list[dict], call_language: str,
                                             text: str) -> None:
    meta = VoicemailMeta("call-1", 1, None, None, call_language)
    assert EmergencyVoicemails(db=None)("vm-1", meta, text, "tr-1") == 1  # type: ignore[arg-type]
    assert raised[0]["voicemail_object_id"] == "vm-1" and raised[0]["call_id"] == "call-1"


@pytest.mark.parametrize(("call_language", "text"), [
    ("fr", "Bonjour, je voudrais renouveler mon ordonnance, ce n'est pas urgent"),
    ("en", "ce n'est pas urgent, rappelez-moi demain"),
    ("fr", "it's not urgent, please call me back"),
])
def test_an_ordinary_voicemail_is_not(raised: list[dict], call_language: str, text: str) -> None:
    meta = VoicemailMeta("call-2", 1, None, None, call_language)
    assert EmergencyVoicemails(db=None)("vm-2", meta, text, "tr-2") is None  # type: ignore[arg-type]
    assert raised == []
