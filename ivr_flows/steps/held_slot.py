"""``held_slot()``: a slot held while the caller decides, the hold's whole life in one place.

The slot is held on entering the block. The block takes it by booking it or moving an
appointment onto it (:meth:`HeldSlot.take`); whatever else ends the block (the caller
says no, hangs up, an emergency or a database failure interrupts, or the agenda refuses
the booking), the hold is given back on the way out: no half-made appointment is ever
left behind, and nobody else's slot stays blocked until the hold expires.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from ivr_flows.call import Call
from scheduling.values import HoldView, Refused, Slot

R = TypeVar("R")


@dataclass
class HeldSlot:
    """The hold on a slot inside a ``held_slot()`` block."""

    hold: HoldView
    taken: bool = False

    def take(self, result: R) -> R:
        """Record what the hold was used for (a booking or a move) and return it; a
        refusal leaves the hold to be given back."""
        self.taken = not isinstance(result, Refused)
        return result


@contextmanager
def held_slot(call: Call, slot: Slot, *, minutes: int) -> Iterator[HeldSlot | Refused]:
    """Hold ``slot`` for ``minutes`` for the block; give it back on leaving unless taken.

    Yields the :class:`HeldSlot`, or the agenda's refusal when the slot could not be
    held (someone has just taken it...), with nothing to give back.
    """
    agenda = call.services.agenda
    held = agenda.hold(slot, timedelta(minutes=minutes), now=call.now(), actor=call.actor,
                       purpose="slot held while the caller decides")
    if isinstance(held, Refused):
        yield held
        return
    lease = HeldSlot(held.hold)
    try:
        yield lease
    finally:
        if not lease.taken:
            agenda.release(lease.hold.id, actor=call.actor,
                           purpose="caller did not take the slot")
