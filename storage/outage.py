"""What "the database is down" looks like to the code that must carry on without it."""

from __future__ import annotations

from sqlalchemy import exc

# Connection refused, dropped, terminated or timed out; not a bug in a query (those stay
# exceptions: IntegrityError, ProgrammingError... are not outages).
DATABASE_DOWN: tuple[type[BaseException], ...] = (
    exc.OperationalError,
    exc.InterfaceError,
    exc.TimeoutError,
)
