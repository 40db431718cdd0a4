"""What can go wrong with a request about a staff account. The message says why.

The API answers each by type in one place (:mod:`api.errors`); the CLI prints the
message as one line.
"""

from __future__ import annotations


class AccountError(Exception):
    """A request about an account that cannot be done (a login taken, a doctor without
    a practitioner...)."""


class UnknownAccount(AccountError):
    """No staff user with that login or id."""


class PasswordRefused(AccountError):
    """A password change refused: the current password is wrong, or the new one is weak."""


class LoginFailed(Exception):
    """Wrong login, password or code, disabled or locked account: deliberately vague."""

    def __init__(self, failures: int = 0) -> None:
        super().__init__("login failed")
        self.failures = failures
