"""The composition root: builds the parts from the settings. Thin on purpose."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from storage.db import Database
from storage.migrate import current_revision, head_revision
from telesec.errors import TelesecError
from telesec.settings import Settings


def open_database(settings: Settings, *, require_current: bool = True) -> Database:
    """Open the configured database; refuse, with the fix, if it is missing or outdated."""
    db = Database(settings.effective_database_url)
    if not require_current:
        return db
    try:
        current = current_revision(db.engine)
    except OperationalError as exc:
        raise TelesecError(
            f"cannot reach the database ({exc.orig.__class__.__name__}); "
            "check TELESEC_DATABASE_URL and that the server is running"
        ) from None
    if current is None:
        raise TelesecError("the database is not initialised; run `telesec init`")
    if current != head_revision():
        raise TelesecError(
            f"the database schema is at {current}, this Telesec needs {head_revision()}; "
            "run `telesec db upgrade`"
        )
    return db
