"""``telesec keys ...``: the keyring (create, inspect, rotate, retire keys, seal)."""

from __future__ import annotations

import typer

from calendars.links import reseal_all as reseal_calendar_sources
from foundation.errors import TelesecError
from foundation.settings import load_settings
from storage import escalations
from storage.identity import IdentityCipher
from storage.keyring import Keyring, KeyringError, public_key_text
from storage.patients import PatientDirectory
from telesec.wiring import open_vault

app = typer.Typer(help="Keys: the keyring file and key rotation.", no_args_is_help=True)


def checkpoint_key_line(ring: Keyring) -> str:
    """The public key to keep apart and pin (`telesec audit verify --public-key`)."""
    return (f"audit checkpoint public key: {public_key_text(ring.checkpoint_public_key)} "
            "(keep a copy apart; pin it with `telesec audit verify --public-key`)")


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
    typer.echo(checkpoint_key_line(ring))


@app.command("status")
def status() -> None:
    """List the keys, which one is current, and how many data keys each wraps."""
    settings = load_settings()
    vault = open_vault(settings)
    in_use = vault.keys_in_use()
    ring = vault.keyring
    typer.echo(f"keyring {ring.path}; {len(ring.shredded)} ids on the shred register, "
               f"{len(ring.erased)} patients on the erasure register")
    for kek_id in sorted(ring.keks, key=ring.kek_created):
        mark = "current" if kek_id == ring.current_kek_id else "old"
        typer.echo(f"{kek_id}  created {ring.kek_created(kek_id)}  {mark:7}  "
                   f"{in_use.get(kek_id, 0)} data keys")
    typer.echo(checkpoint_key_line(ring))
    if ring.blind_index_pending is not None:
        typer.echo("a blind-index key rotation was interrupted: run "
                   "`telesec keys rotate --blind-index` again")
    unknown = set(in_use) - set(ring.keks)
    if unknown:
        raise TelesecError(f"data keys are wrapped under keys missing from the keyring: "
                           f"{', '.join(sorted(unknown))}; restore the right keyring")


@app.command("rotate")
def rotate(
    blind_index: bool = typer.Option(
        False, "--blind-index",
        help="Rotate the blind-index key instead: every patient's lookup indexes are "
             "recomputed, and copies of the old indexes (backups, WAL) can no longer be "
             "tested against guesses. Restart the engine and API afterwards."),
) -> None:
    """Make a new key current and rewrap every data key under it (no blob is touched)."""
    settings = load_settings()
    vault = open_vault(settings)
    if blind_index:
        ring = vault.keyring
        new_key = ring.begin_blind_index_rotation()
        with vault.db.session() as session:
            count = PatientDirectory(session).reindex_all(
                IdentityCipher(ring, blind_index_key=new_key))
        ring.finish_blind_index_rotation()
        vault.db.truncate_wal()
        typer.echo(f"blind-index key rotated; {count} patients reindexed. Restart the engine "
                   "and the API now: until then they look patients up with the old key. "
                   "Back the keyring up again.")
        return
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


@app.command("seal")
def seal() -> None:
    """Seal an unsealed keyring with TELESEC_KEYRING_PASSPHRASE (or reseal it)."""
    settings = load_settings()
    passphrase = settings.keyring_passphrase
    if not passphrase:
        raise TelesecError("set TELESEC_KEYRING_PASSPHRASE to the passphrase to seal with")
    path = settings.effective_keyring_path
    try:
        try:
            ring = Keyring.load(path)
        except KeyringError:
            ring = Keyring.load(path, passphrase)  # already sealed: reseal at today's cost
        ring.seal_with(passphrase)
    except KeyringError as exc:
        raise TelesecError(str(exc)) from None
    typer.echo(f"keyring {path} is sealed with the passphrase; keep the passphrase apart "
               "from the keyring's backups")
