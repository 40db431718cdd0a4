"""The composition root: builds the parts from the settings. Thin on purpose."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from foundation.errors import TelesecError
from foundation.settings import Settings
from foundation.webphone_tokens import desk_user
from staff import phones as staff_phones
from storage import identity
from storage.audit_anchor import AnchorError, AuditAnchor, FileAnchor, SyslogAnchor
from storage.db import Database
from storage.keyring import Keyring, KeyringError
from storage.migrate import current_revision, head_revision
from storage.models import Practice
from storage.vault import Vault
from storage.vault.retention_policy import RetentionPolicy

if TYPE_CHECKING:
    from fastapi import FastAPI


def open_keyring(settings: Settings, *, create_if_missing: bool = False) -> Keyring:
    """Load the keyring (creating it on first run if asked) and install it for identity."""
    path = settings.effective_keyring_path
    try:
        if create_if_missing and not path.exists():
            ring = Keyring.create(path, settings.keyring_passphrase)
        else:
            ring = Keyring.load(path, settings.keyring_passphrase)
    except KeyringError as exc:
        raise TelesecError(str(exc)) from None
    for notice in ring.notices:  # said once: the keyring file is upgraded at once
        print(f"telesec: {notice}", file=sys.stderr)
    identity.install(ring)
    return ring


def audit_anchors(settings: Settings) -> list[AuditAnchor]:
    """Where signed audit checkpoints are kept outside the database (settings ``audit``)."""
    anchors: list[AuditAnchor] = []
    if settings.audit.anchor_file is not None:
        anchors.append(FileAnchor(settings.audit.anchor_file.expanduser().resolve()))
    if settings.audit.anchor_syslog is not None:
        try:
            anchors.append(SyslogAnchor(settings.audit.anchor_syslog))
        except AnchorError as exc:
            raise TelesecError(str(exc)) from None
    return anchors


def open_database(settings: Settings, *, require_current: bool = True) -> Database:
    """Open the configured database; refuse, with the fix, if it is missing or outdated."""
    db = Database(settings.effective_database_url)
    if not require_current:
        return db
    try:
        current = current_revision(db.engine)
    except OperationalError as exc:
        db.dispose()
        raise TelesecError(
            f"cannot reach the database ({exc.orig.__class__.__name__}); "
            "check TELESEC_DATABASE_URL and that the server is running"
        ) from None
    if current is None:
        db.dispose()
        raise TelesecError("the database is not initialised; run `telesec init`")
    if current != head_revision():
        db.dispose()
        raise TelesecError(
            f"the database schema is at {current}, this Telesec needs {head_revision()}; "
            "run `telesec db upgrade`"
        )
    return db


def open_vault(settings: Settings, db: Database | None = None) -> Vault:
    """The vault of the configured data directory (database, keyring, blobs)."""
    ring = open_keyring(settings)
    return Vault(
        db or open_database(settings),
        ring,
        settings.vault_path,
        policy=RetentionPolicy.from_settings(settings.retention),
    )


def api_app(settings: Settings, **options: Any) -> FastAPI:
    """The staff API over the configured database, keyring and vault."""
    from api.app import create_app  # FastAPI is only loaded by the processes that serve it

    vault = open_vault(settings)
    return create_app(settings, db=vault.db, keyring=vault.keyring, vault=vault, **options)


def practice_desks(db: Database) -> dict[str, str]:
    """``desk-<slug>`` → the practice's number: the number a softphone's call-back shows."""
    with db.read_session() as session:
        rows = session.execute(select(Practice.slug, Practice.phone_number)
                               .where(Practice.phone_number.is_not(None))).all()
    return {desk_user(slug): number for slug, number in rows}


class DatabaseDirectory:
    """What the front needs from the database: the practices' numbers (calls to others
    are refused at the front) and the staff's phone credentials (HA1 only)."""

    def __init__(self, settings: Settings, db: Database, keyring: Keyring) -> None:
        self.settings = settings
        self.db = db
        self.keyring = keyring

    def numbers(self) -> set[str]:
        with self.db.read_session() as session:
            found = set(session.scalars(select(Practice.phone_number)
                                        .where(Practice.phone_number.is_not(None))))
        return found | {n for trunk in self.settings.sip.trunks for n in trunk.numbers}

    def desks(self) -> dict[str, str]:
        return practice_desks(self.db)

    def phones(self, realm: str) -> list[tuple[str, str]]:
        return [(c.login, c.ha1)
                for c in staff_phones.phone_credentials(self.db, self.keyring, realm)]
