"""Staff users (admin): create with enrolment, change access, disable, reset MFA, SIP phones.

An unknown login is a 404 and a refused change a 409, answered in :mod:`api.errors`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from api.deps import Admin, Context
from api.errors import COMMON_RESPONSES, responses
from api.schemas.common import Done
from api.schemas.staff import EnrolmentOut, SipPhoneOut, UserIn, UserOut, UserPatch
from staff import phones
from staff.accounts import StaffView
from staff.enrolment import Enrolment, enrolment_qr_data_uri

router = APIRouter(prefix="/users", tags=["users"], responses=COMMON_RESPONSES)

Login = Annotated[str, Path(pattern=r"^[a-z][a-z0-9._-]{1,63}$")]


def _out(view: StaffView) -> UserOut:
    return UserOut.model_validate(view, from_attributes=True)


def _enrolment(found: Enrolment) -> EnrolmentOut:
    return EnrolmentOut(login=found.login, one_time_password=found.password,
                        otpauth_uri=found.otpauth_uri,
                        otpauth_qr=enrolment_qr_data_uri(found.otpauth_uri),
                        recovery_codes=found.recovery_codes)


@router.get("", response_model=list[UserOut])
def list_users(admin: Admin, ctx: Context) -> list[UserOut]:
    return [_out(v) for v in ctx.accounts.list()]


@router.post("", response_model=EnrolmentOut, status_code=status.HTTP_201_CREATED,
             responses=responses(409))
def create_user(body: UserIn, admin: Admin, ctx: Context) -> EnrolmentOut:
    """Create a user; the answer (shown once) holds the one-time password, the otpauth
    URI for the authenticator app and the recovery codes."""
    return _enrolment(ctx.accounts.add(
        body.login, body.role, actor=admin.actor, practices=list(body.practices),
        practitioner=body.practitioner, shared_box=body.shared_box,
    ))


@router.get("/{login}", response_model=UserOut)
def get_user(login: Login, admin: Admin, ctx: Context) -> UserOut:
    return _out(ctx.accounts.get(login))


@router.patch("/{login}", response_model=UserOut, responses=responses(409))
def update_user(login: Login, body: UserPatch, admin: Admin, ctx: Context) -> UserOut:
    """Change the practices a user is assigned to, or a doctor's shared-box grant."""
    return _out(ctx.accounts.update(login, actor=admin.actor, practices=body.practice_ids,
                                    shared_box=body.shared_box))


@router.post("/{login}/disable", response_model=Done)
def disable_user(login: Login, admin: Admin, ctx: Context) -> Done:
    """Disable the account; its sessions end at once."""
    ctx.accounts.disable(login, actor=admin.actor)
    return Done()


@router.post("/{login}/enable", response_model=Done)
def enable_user(login: Login, admin: Admin, ctx: Context) -> Done:
    ctx.accounts.enable(login, actor=admin.actor)
    return Done()


@router.post("/{login}/reset-mfa", response_model=EnrolmentOut)
def reset_mfa(login: Login, admin: Admin, ctx: Context) -> EnrolmentOut:
    """New TOTP secret and recovery codes (shown once); the user's sessions end."""
    return _enrolment(ctx.accounts.reset_mfa(login, actor=admin.actor))


@router.post("/{login}/sip-password", response_model=SipPhoneOut)
def set_sip_password(login: Login, admin: Admin, ctx: Context) -> SipPhoneOut:
    """A new password for the user's SIP phone (shown once; the old one stops working);
    transfers to the user then ring that phone wherever it registers from."""
    settings = ctx.settings
    password = phones.set_password(ctx.db, ctx.keyring, login, settings.sip.phones.realm,
                                   actor=admin.actor)
    account = phones.phone_account(settings, login, password)
    return SipPhoneOut(address=account.address, login=account.login,
                       password=account.password, realm=account.realm,
                       registrar=account.registrar)


@router.delete("/{login}/sip-password", response_model=Done)
def clear_sip_password(login: Login, admin: Admin, ctx: Context) -> Done:
    """Take the user's phone off the front (it stops ringing within a minute)."""
    phones.clear_password(ctx.db, login, actor=admin.actor)
    return Done()
