"""How a transfer rings the secretaries: all at once, or a hunt; a lost page rings again."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ivr_flows.telephony_channel import Hunt, TelephonyChannel
from scheduling.errors import InvalidProfileValue
from scheduling.practice_profile import parse_profile
from telephony.session import BridgeResult


class FakeSession(SimpleNamespace):
    """What the channel asks of a call: bridges answered as ``answers`` says."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        super().__init__(call_id="c1", caller="", dialled="", tap=SimpleNamespace(),
                         bridged_to="", ended=False, bridge_left="", voicemail_for="")
        self.answers = answers  # target -> how each of its answers ends ("" or "lost")
        self.rung: list[tuple[list[str], float, bool]] = []

    def bridge(self, targets, *, ring_seconds, hold_audio=None):
        self.rung.append((list(targets), ring_seconds, hold_audio is not None))
        for target in targets:
            if self.answers.get(target):
                self.bridge_left = self.answers[target].pop(0)  # as the SIP side leaves it
                return BridgeResult(True, 200, "bridged", target)
        return BridgeResult(False, 408, "no answer")

    def wait_ended(self, timeout):
        return False


def channel(session: FakeSession, **options) -> TelephonyChannel:
    made = TelephonyChannel(session, prompts=None, **options)  # type: ignore[arg-type]
    made.said = []
    made.say = lambda parts, language, barge_in=True: made.said.extend(p.id for p in parts)
    return made


def test_a_hunt_rings_each_page_in_turn_then_the_line() -> None:
    session = FakeSession({"sip:line": [""]})
    hunt = Hunt(("sip:desk-demo~alice", "sip:desk-demo~bob"), 12.0, then=("sip:line",))
    answered: list[str] = []
    ring = channel(session, transfer_targets={"secretaries": "sip:line, sip:desk-demo"},
                   hunts={"secretaries": hunt}, on_answered=answered.append)
    assert ring.transfer("secretaries", context={})
    assert session.rung == [(["sip:desk-demo~alice"], 12.0, False),
                            (["sip:desk-demo~bob"], 12.0, False), (["sip:line"], 20.0, False)]
    assert answered == ["sip:line"]


def test_ring_all_rings_everyone_at_once() -> None:
    session = FakeSession({"sip:desk-demo": [""]})
    ring = channel(session, transfer_targets={"secretaries": "sip:line, sip:desk-demo"})
    assert ring.transfer("secretaries", context={})
    assert session.rung == [(["sip:line", "sip:desk-demo"], 20.0, False)]


def test_a_lost_page_rings_the_desk_again_once_then_a_message() -> None:
    session = FakeSession({"sip:desk-demo": ["lost", "lost"]})
    lost: list[bool] = []
    ring = channel(session, transfer_targets={"secretaries": "sip:desk-demo"},
                   on_lost=lambda: lost.append(True))
    assert ring.transfer("secretaries", context={}) is False  # lost twice: a message
    assert ring.said == ["transfer_reconnect"] and lost == [True]
    # the second ring has hold music; nobody after it: the caller leaves a message
    assert [music for _, _, music in session.rung] == [False, True]


def test_the_hunt_setting_is_checked() -> None:
    assert parse_profile({"desk_ring": "hunt", "hunt_order": ["alice", "bob"],
                          "hunt_seconds": 10}).hunt_order == ["alice", "bob"]
    with pytest.raises(InvalidProfileValue, match="needs the secretaries' logins"):
        parse_profile({"desk_ring": "hunt"})
    with pytest.raises(InvalidProfileValue, match="hunt_seconds"):
        parse_profile({"desk_ring": "hunt", "hunt_order": ["alice"], "hunt_seconds": 2})
    with pytest.raises(InvalidProfileValue, match="each login once"):
        parse_profile({"hunt_order": ["alice", "alice"]})
    with pytest.raises(InvalidProfileValue, match="not a staff login"):
        parse_profile({"hunt_order": ["Alice Martin"]})
    with pytest.raises(InvalidProfileValue, match="desk_ring"):
        parse_profile({"desk_ring": "sometimes"})
