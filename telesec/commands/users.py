"""``telesec users add | list | disable | enable | reset-mfa | sip-password``: staff accounts."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from foundation.errors import TelesecError
from foundation.settings import load_settings
from scheduling.errors import SchedulingError
from staff import phones as phone_credentials
from staff.accounts import Accounts
from staff.enrolment import Enrolment, enrolment_qr_text
from staff.errors import AccountError
from storage.models import StaffRole
from telesec.wiring import open_database, open_keyring

app = typer.Typer(help="Staff accounts: add, list, disable, reset MFA, SIP phone password.",
                  no_args_is_help=True)


def _accounts() -> Accounts:
    settings = load_settings()
    keyring = open_keyring(settings)
    return Accounts(open_database(settings), keyring)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _show(enrolment: Enrolment) -> None:
    if enrolment.password:
        typer.echo(f"one-time password: {enrolment.password}  (to change at first login)")
    typer.echo("authenticator: scan this QR code, or import the otpauth URI below it")
    typer.echo(enrolment_qr_text(enrolment.otpauth_uri), nl=False)
    typer.echo(f"otpauth URI: {enrolment.otpauth_uri}")
    typer.echo("recovery codes (each works once; keep them offline):")
    for code in enrolment.recovery_codes:
        typer.echo(f"  {code}")


@app.command("add")
def add(
    login: str,
    role: Annotated[StaffRole, typer.Option(help="admin, secretary or doctor")],
    practice: Annotated[list[str] | None, typer.Option(help="practice slug (repeatable)")] = None,
    practitioner: Annotated[str | None, typer.Option(help="a doctor's practitioner slug")] = None,
    shared_box: Annotated[bool, typer.Option(help="a doctor also hears the practice box")] = False,
) -> None:
    """Create a staff account; prints its one-time password and MFA enrolment once."""
    accounts = _accounts()
    try:
        enrolment = accounts.add(login, role, actor=_actor(), practices=list(practice or []),
                                 practitioner=practitioner, shared_box=shared_box)
    except (AccountError, SchedulingError) as exc:
        raise TelesecError(str(exc).split(";")[0]) from None
    finally:
        accounts.db.dispose()
    typer.echo(f"user {login} ({role.value}) created")
    _show(enrolment)


@app.command("list")
def list_users() -> None:
    """Every account with its role, practices and state."""
    accounts = _accounts()
    try:
        users = accounts.list()
    finally:
        accounts.db.dispose()
    for user in users:
        state = "disabled" if user.disabled else ("locked" if user.locked_until else "active")
        practices = ",".join(str(p) for p in user.practice_ids) or "-"
        typer.echo(f"{user.login}\t{user.role}\tpractices={practices}\t{state}"
                   f"\tmfa={'yes' if user.mfa_enrolled else 'no'}")


def _change(action: str, login: str) -> Enrolment | None:
    accounts = _accounts()
    try:
        if action == "disable":
            accounts.disable(login, actor=_actor())
        elif action == "enable":
            accounts.enable(login, actor=_actor())
        else:
            return accounts.reset_mfa(login, actor=_actor())
    except AccountError as exc:
        raise TelesecError(str(exc)) from None
    finally:
        accounts.db.dispose()
    return None


@app.command("disable")
def disable(login: str) -> None:
    """Disable an account; its sessions end at once."""
    _change("disable", login)
    typer.echo(f"user {login} disabled")


@app.command("enable")
def enable(login: str) -> None:
    """Enable an account again (also lifts a lockout)."""
    _change("enable", login)
    typer.echo(f"user {login} enabled")


@app.command("reset-mfa")
def reset_mfa(login: str) -> None:
    """New TOTP secret and recovery codes (printed once); the user's sessions end."""
    enrolment = _change("reset-mfa", login)
    assert enrolment is not None
    typer.echo(f"MFA of {login} reset")
    _show(enrolment)


@app.command("sip-password")
def sip_password(
    login: str,
    clear: Annotated[bool, typer.Option(help="remove the phone instead")] = False,
) -> None:
    """A new password for LOGIN's SIP phone or softphone (shown once); it registers to the
    front as sip:LOGIN@<sip.phones.realm>, and transfers to LOGIN ring it."""
    settings = load_settings()
    keyring = open_keyring(settings)
    db = open_database(settings)
    realm = settings.sip.phones.realm
    try:
        if clear:
            phone_credentials.clear_password(db, login, actor=_actor())
            typer.echo(f"{login}'s phone removed; it stops ringing within a minute")
            return
        password = phone_credentials.set_password(db, keyring, login, realm, actor=_actor())
    except phone_credentials.UnknownStaff:
        raise TelesecError(f"no staff account {login!r}; see `telesec users list`") from None
    finally:
        db.dispose()
    account = phone_credentials.phone_account(settings, login, password)
    typer.echo(f"SIP account:   {account.address}")
    typer.echo(f"user / auth:   {account.login}")
    typer.echo(f"password:      {account.password}  (shown once; run this again to replace it)")
    typer.echo(f"realm:         {account.realm}")
    typer.echo(f"registrar:     {account.registrar}")
