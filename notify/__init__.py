"""Notifications: booking confirmations to patients, alerts to staff (docs/notifications.md).

``transports`` sends one message (SMTP e-mail, an SMS gateway over HTTP, or files for
tests and demos); ``notifier`` says what is configured and which channel reaches an
address; ``messages`` writes the texts (staff alerts carry no health data); ``dispatch``
sends the outbox (``storage.outbox``) from a periodic job of ``telesec serve``.
"""

from notify.notifier import Notifier

__all__ = ["Notifier"]
