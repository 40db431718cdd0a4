"""Staff accounts and logins below the API and the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select

from scheduling import practices
from scheduling.errors import UnknownPractice
from staff.accounts import Accounts
from staff.errors import AccountError, LoginFailed, PasswordRefused, UnknownAccount
from staff.login import Authenticator
from storage.db import Database
from storage.keyring import Keyring
from storage.models import AuditEvent, StaffSession, StaffUser

NOW = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def accounts(db: Database, installed_keyring: Keyring) -> Accounts:
    with db.session() as session:
        place = practices.create_practice(session, slug="nord", name="Cabinet du Nord",
                                          actor="cli:test")
        practices.add_practitioner(session, place.id, "dr-nord", "Docteur Nord",
                                   actor="cli:test")
    return Accounts(db, installed_keyring)


def _actions(db: Database, login: str) -> list[str]:
    with db.read_session() as session:
        return list(session.scalars(select(AuditEvent.action).where(
            AuditEvent.object_id == login).order_by(AuditEvent.seq)))


def test_accounts_are_created_changed_and_disabled_and_each_change_is_audited(
    accounts: Accounts,
) -> None:
    enrolment = accounts.add("sam", "secretary", actor="cli:admin", practices=["nord"])
    assert enrolment.password and len(enrolment.recovery_codes) == 10
    assert pyotp.parse_uri(enrolment.otpauth_uri).secret == enrolment.totp_secret
    view = accounts.get("sam")
    assert (view.role, view.must_change_password, view.mfa_enrolled) == ("secretary", True, True)
    assert accounts.update("sam", actor="cli:admin", practices=[]).practice_ids == []
    with accounts.db.session() as session:
        user_id = session.scalar(select(StaffUser.id).where(StaffUser.login == "sam"))
        session.add(StaffSession(token_hash="t" * 64, csrf_hash="c" * 64, user_id=user_id,
                                 created_at=NOW, last_seen_at=NOW,
                                 expires_at=NOW + timedelta(hours=1)))
    accounts.disable("sam", actor="cli:admin")
    assert accounts.get("sam").disabled
    with accounts.db.read_session() as session:
        assert session.scalar(select(StaffSession.revoked_at)) is not None
    accounts.enable("sam", actor="cli:admin")
    reset = accounts.reset_mfa("sam", actor="cli:admin")
    assert reset.password is None and reset.totp_secret != enrolment.totp_secret
    assert [a.login for a in accounts.list()] == ["sam"]
    assert _actions(accounts.db, "sam") == ["staff.create", "staff.update", "staff.disable",
                                            "staff.enable", "staff.reset_mfa"]


def test_impossible_requests_raise_typed_errors_and_change_nothing(accounts: Accounts) -> None:
    accounts.add("sam", "secretary", actor="cli:admin", practices=["nord"])
    with pytest.raises(AccountError, match="already exists"):
        accounts.add("sam", "admin", actor="cli:admin")
    with pytest.raises(AccountError, match="a doctor needs --practice SLUG and --practitioner"):
        accounts.add("nord", "doctor", actor="cli:admin", practices=["nord"])
    with pytest.raises(AccountError, match="a secretary needs at least one --practice"):
        accounts.add("lea", "secretary", actor="cli:admin")
    with pytest.raises(AccountError, match="role 'boss'"):
        accounts.add("lea", "boss", actor="cli:admin")
    with pytest.raises(AccountError, match="only a doctor is granted"):
        accounts.update("sam", actor="cli:admin", shared_box=True)
    with pytest.raises(UnknownPractice):
        accounts.add("lea", "secretary", actor="cli:admin", practices=["sud"])
    with pytest.raises(UnknownAccount, match="no user 'ghost'"):
        accounts.disable("ghost", actor="cli:admin")
    accounts.add("nord", "doctor", actor="cli:admin", practices=["nord"],
                 practitioner="dr-nord", shared_box=True)
    assert [a.login for a in accounts.list()] == ["nord", "sam"]
    assert accounts.get("nord").shared_box


def test_login_needs_password_and_an_unused_code_and_failures_lock_nothing(
    accounts: Accounts,
) -> None:
    enrolment = accounts.add("sam", "secretary", actor="cli:admin", practices=["nord"])
    assert enrolment.password is not None
    door = Authenticator(accounts.db, accounts.keyring)
    code = pyotp.TOTP(enrolment.totp_secret).at(NOW)
    assert door.authenticate("sam", enrolment.password, totp_code=code, now=NOW).login == "sam"
    with pytest.raises(LoginFailed):  # a code works once
        door.authenticate("sam", enrolment.password, totp_code=code, now=NOW)
    with pytest.raises(LoginFailed):
        door.authenticate("nobody", enrolment.password, totp_code=code, now=NOW)
    for attempt in range(1, 5):
        with pytest.raises(LoginFailed) as failed:
            door.authenticate("sam", "wrong password", totp_code=code, now=NOW)
        assert failed.value.failures == attempt + 1  # the replayed code counted once
    # failures lock nothing (the API slows down the login *and address* that fails)
    assert accounts.get("sam").locked_until is None
    later = NOW + timedelta(minutes=1)
    fresh = pyotp.TOTP(enrolment.totp_secret).at(later)
    assert door.authenticate("sam", enrolment.password, totp_code=fresh, now=later)
    accounts.disable("sam", actor="cli:admin")
    with pytest.raises(LoginFailed):  # disabled: even the right password fails
        door.authenticate("sam", enrolment.password, recovery_code=enrolment.recovery_codes[1],
                          now=later)
    accounts.enable("sam", actor="cli:admin")
    recovery = enrolment.recovery_codes[0].upper().replace("-", " ")
    assert door.authenticate("sam", enrolment.password, recovery_code=recovery, now=later)
    with pytest.raises(LoginFailed):
        door.authenticate("sam", enrolment.password, recovery_code=recovery, now=later)
    assert accounts.remaining_recovery_codes(accounts.get("sam").id) == 9
    actions = _actions(accounts.db, "sam")
    assert actions.count("staff.login") == 3 and actions.count("staff.login_failed") == 7


def test_password_changes_are_refused_by_type(accounts: Accounts) -> None:
    enrolment = accounts.add("sam", "secretary", actor="cli:admin", practices=["nord"])
    assert enrolment.password is not None
    user_id = accounts.get("sam").id
    for current, new, why in [
        (enrolment.password, "short", "at least 12 characters"),
        ("not the password", "a long new passphrase", "the current password is wrong"),
        (enrolment.password, enrolment.password, "different from the current one"),
        (enrolment.password, "password1234", "common or breached"),
    ]:
        with pytest.raises(PasswordRefused, match=why):
            accounts.change_password(user_id, current, new)
    with pytest.raises(UnknownAccount):
        accounts.change_password(999_999, enrolment.password, "a long new passphrase")
    accounts.change_password(user_id, enrolment.password, "a long new passphrase")
    assert not accounts.get("sam").must_change_password
    assert _actions(accounts.db, "sam")[-1] == "staff.password_change"
