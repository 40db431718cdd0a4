"""Withheld callers never share a lockout key (the identity check limits them per call)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ivr_flows.lockout import MemoryLockout, lockable
from telephony.caller_id import caller_number, network_caller

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("user", ["anonymous", "Anonymous", "unavailable", "restricted",
                                  "", "private", "alice"])
def test_a_withheld_caller_has_no_number(user):
    assert caller_number(user) == ""
    assert not lockable(user)


def test_many_withheld_callers_lock_nobody_out():
    lockout = MemoryLockout(after_failures=3)
    for minute in range(12):
        assert lockout.record_failure("anonymous", NOW + timedelta(minutes=minute)) is False
        assert lockout.record_failure("", NOW) is False
    assert not lockout.is_locked("anonymous", NOW + timedelta(minutes=13))
    assert not lockout.is_locked(None, NOW)
    # a real number still is
    for _ in range(3):
        locked = lockout.record_failure("+33612345678", NOW)
    assert locked and lockout.is_locked("+33612345678", NOW + timedelta(minutes=1))


INVITE = (
    "INVITE sip:+33199000000@front SIP/2.0\r\n"
    "From: <sip:anonymous@anonymous.invalid>;tag=1\r\n"
    "To: <sip:+33199000000@front>\r\n"
    "Privacy: id\r\n"
    "P-Asserted-Identity: <sip:+33622222222@provider.example>\r\n"
    "Content-Length: 0\r\n\r\n"
)


def test_the_asserted_identity_counts_only_from_a_trusted_network():
    assert network_caller(INVITE, trust_asserted=True) == "+33622222222"
    assert network_caller(INVITE, trust_asserted=False) == ""  # From is anonymous
    rpid = INVITE.replace("P-Asserted-Identity", "Remote-Party-ID")
    assert network_caller(rpid, trust_asserted=True) == "+33622222222"
    plain = INVITE.replace("sip:anonymous@anonymous.invalid", "sip:0611111111@gw")
    assert network_caller(plain, trust_asserted=False) == "0611111111"
    withheld_pai = INVITE.replace("+33622222222", "anonymous")
    assert network_caller(withheld_pai, trust_asserted=True) == ""
