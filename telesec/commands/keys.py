"""``telesec keys ...``: the keyring (create, inspect, rotate, retire keys)."""

from __future__ import annotations

import typer

from calendars.links import reseal_all as reseal_calendar_sources
from foundation.errors import TelesecError
from foundation.settings import load_settings
from storage import escalations
from storage.keyring import Keyring, KeyringError
from storage.patients import PatientDirectory
from telesec.wiring import open_vault

app = typer.Typer(help="Keys: the keyring file and key rotation.", no_args_is_help=True)


@app.command("init")
def init() -> None:
    """Create the keyring (sealed with TELESEC_KEYRING_PASSPHRASE if set)."""
    settings = load_settings()
    path = settings.effective_keyring_path
    try:
        ring = Keyring.create(path, settings.keyring_passphrase)
    except KeyringError as exc:
        raise TelesecError(str(exc)) from None
    sealed = "sealed with the passphrase" if settings.keyring_passphrase else "not sealed"
    typer.echo(f"keyring created at {path} (mode 0600, {sealed}); current key "
               f"{ring.current_kek_id}. Back it up apart from the data: backups never hold it.")


@app.command("status")
def status() -> None:
    """List the keys, which one is current, and how many data keys each wraps."""
    settings = load_settings()
    vault = open_vault(settings)
    in_use = vault.keys_in_use()
    ring = vault.keyring
    typer.echo(f"keyring {ring.path}; {len(ring.shredded)} ids on the shred register")
    for kek_id in sorted(ring.keks, key=ring.kek_created):
        mark = "current" if kek_id == ring.current_kek_id else "old"
        typer.echo(f"{kek_id}  created {ring.kek_created(kek_id)}  {mark:7}  "
                   f"{in_use.get(kek_id, 0)} data keys")
    unknown = set(in_use) - set(ring.keks)
    if unknown:
        raise TelesecError(f"data keys are wrapped under keys missing from the keyring: "
                           f"{', '.join(sorted(unknown))}; restore the right keyring")


@app.command("rotate")
def rotate() -> None:
    """Make a new key current and rewrap every data key under it (no blob is touched)."""
    settings = load_settings()
    vault = open_vault(settings)
    new = vault.keyring.rotate()
    rewrapped = vault.rewrap_all()
    with vault.db.session() as session:
        resealed = PatientDirectory(session).reseal_all()
        calendars = reseal_calendar_sources(session, vault.keyring)
    numbers = escalations.reseal_caller_numbers(vault.db)
    typer.echo(f"current key is now {new}; {rewrapped} data keys rewrapped, "
               f"{resealed} patient records, {numbers} call-back numbers and "
               f"{calendars} calendar credentials resealed")


@app.command("retire")
def retire(kek_id: str = typer.Argument(..., help="id of an old key")) -> None:
    """Forget an old key once nothing is wrapped under it (archives made under it die)."""
    settings = load_settings()
    vault = open_vault(settings)
    still = vault.keys_in_use().get(kek_id, 0)
    if still:
        raise TelesecError(f"{still} data keys are still wrapped under {kek_id}; "
                           "run `telesec keys rotate` first")
    try:
        vault.keyring.retire(kek_id)
    except KeyringError as exc:
        raise TelesecError(str(exc)) from None
    typer.echo(f"key {kek_id} retired; backup archives made under it can no longer be opened")
