"""Staff members' SIP phone credentials: set a password, give the front their HA1s.

A secretary's phone registers to the front with digest authentication as
``sip:LOGIN@REALM``. Telesec keeps only HA1 = MD5(login:realm:password), the value the
front needs, sealed (AES-GCM) under a key derived from the keyring, exactly like the
TOTP secrets; the password is shown once when it is set and never stored. The front gets
the HA1s of active accounts in a private table (``telephony/kamailio_config.py``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select

from foundation.settings import Settings
from storage import audit
from storage.db import Database
from storage.keyring import Keyring
from storage.models import StaffUser

PURPOSE = "staff-sip-phone"


class UnknownStaff(LookupError):
    """No staff account has this login."""


def _aad(login: str, realm: str, kek_id: str) -> bytes:
    return f"telesec:sip-phone:{login}:{realm}:{kek_id}".encode()


@dataclass(frozen=True)
class PhoneAccount:
    """What a secretary types into her SIP phone (the password is shown once)."""

    address: str
    login: str
    password: str
    realm: str
    registrar: str


def phone_account(settings: Settings, login: str, password: str) -> PhoneAccount:
    """The account settings of ``login``'s phone on this node's front."""
    sip = settings.sip
    realm = sip.phones.realm
    registrar = f"{sip.media.public_address or sip.listen_host}:{sip.listen_port}"
    if sip.tls:
        registrar += f" (TLS: port {sip.tls.port})"
    return PhoneAccount(address=f"sip:{login}@{realm}", login=login, password=password,
                        realm=realm, registrar=registrar)


def ha1(login: str, realm: str, password: str) -> str:
    """The digest HA1 of ``login`` in ``realm`` (RFC 2617 MD5)."""
    return hashlib.md5(f"{login}:{realm}:{password}".encode()).hexdigest()


def set_password(db: Database, keyring: Keyring, login: str, realm: str, *, actor: str) -> str:
    """Give ``login`` a new random SIP phone password for ``realm``; returns it (once)."""
    password = secrets.token_urlsafe(15)
    kek_id = keyring.current_kek_id
    nonce = secrets.token_bytes(12)
    key = keyring.derive(PURPOSE, kek_id)
    sealed = nonce + AESGCM(key).encrypt(nonce, ha1(login, realm, password).encode(),
                                         _aad(login, realm, kek_id))
    with db.session() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.login == login))
        if user is None:
            raise UnknownStaff(login)
        user.sip_ha1_sealed, user.sip_kek_id, user.sip_realm = sealed, kek_id, realm
        audit.record(session, actor=actor, action="staff.sip_password", object_type="staff_user",
                     object_id=login, purpose="SIP phone password set")
    return password


def clear_password(db: Database, login: str, *, actor: str) -> None:
    """Take ``login``'s phone off the front (its registration ends at the next refresh)."""
    with db.session() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.login == login))
        if user is None:
            raise UnknownStaff(login)
        user.sip_ha1_sealed = user.sip_kek_id = user.sip_realm = None
        audit.record(session, actor=actor, action="staff.sip_password_cleared",
                     object_type="staff_user", object_id=login, purpose="SIP phone removed")


@dataclass(frozen=True)
class PhoneCredential:
    login: str
    ha1: str


def phone_credentials(db: Database, keyring: Keyring, realm: str) -> list[PhoneCredential]:
    """(login, HA1) of every active account with a phone password for ``realm``.

    A credential that does not open (retired KEK, edited row) is left out: that phone
    cannot register until its password is set again.
    """
    with db.read_session() as session:
        rows = session.execute(
            select(StaffUser.login, StaffUser.sip_ha1_sealed, StaffUser.sip_kek_id)
            .where(StaffUser.sip_ha1_sealed.is_not(None), StaffUser.sip_realm == realm,
                   StaffUser.disabled_at.is_(None))
        ).all()
    found = []
    for login, sealed, kek_id in rows:
        try:
            key = keyring.derive(PURPOSE, kek_id)
            value = AESGCM(key).decrypt(sealed[:12], sealed[12:], _aad(login, realm, kek_id))
        except Exception:  # InvalidTag, a retired KEK: that phone cannot register
            continue
        found.append(PhoneCredential(login, value.decode()))
    return found
