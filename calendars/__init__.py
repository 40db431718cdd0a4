"""Practitioners' own calendars: two-way CalDAV sync and read-only ICS imports.

Above ``scheduling`` (it reads and flags appointments) and ``storage`` (its tables, the
keyring). The network is only touched by the sync job and ``telesec calendars sync``:
slot search reads the imported busy time from the database (``scheduling.imported_busy``)
and bookings only queue an outbox row (``scheduling.calendar_outbox``).
"""
