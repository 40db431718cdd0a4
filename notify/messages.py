"""The texts sent: a booking confirmation for the patient, alerts for staff.

A staff alert says what waits and where, never about whom or why: no name, no reason,
no words of a message ("1 nouveau message vocal — Cabinet X", and the console's
address). A booking confirmation goes to the patient's own number and says when, with
whom and where to call to change it.
"""

from __future__ import annotations

from datetime import datetime

from notify.transports import Message

DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
          "septembre", "octobre", "novembre", "décembre")


def french_moment(local: datetime) -> str:
    """``mardi 12 mars à 9 h 20`` (``à 9 h`` on the hour)."""
    minutes = f" {local.minute:02d}" if local.minute else ""
    return (f"{DAYS[local.weekday()]} {local.day} {MONTHS[local.month - 1]} "
            f"à {local.hour} h{minutes}")


def booking_confirmation(to: str, *, practice: str, doctor: str, local_start: datetime,
                         practice_phone: str | None) -> Message:
    change = f" Pour annuler ou déplacer : {practice_phone}." if practice_phone else ""
    text = (f"{practice} : votre rendez-vous est confirmé le {french_moment(local_start)}"
            f" avec {doctor}.{change}")
    return Message(to, f"Rendez-vous confirmé — {practice}", text)


def new_voicemail_alert(to: str, *, practice: str, count: int, console_url: str) -> Message:
    what = "1 nouveau message vocal" if count == 1 else f"{count} nouveaux messages vocaux"
    return Message(to, f"{what} — {practice}", f"{what} — {practice}. Console : {console_url}")


def urgent_escalation_alert(to: str, *, practice: str, count: int,
                            console_url: str) -> Message:
    what = "1 appel urgent" if count == 1 else f"{count} appels urgents"
    text = f"{what} en attente — {practice}. Console : {console_url}"
    return Message(to, f"{what} en attente — {practice}", text)
