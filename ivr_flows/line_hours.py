"""Whether the practice's phone line is open now, from the flow's or the agenda's hours."""

from __future__ import annotations

from datetime import datetime, time
from typing import TYPE_CHECKING

from ivr_flows.practice import parse_hours

if TYPE_CHECKING:
    from ivr_flows.call import Call

Hours = dict[int, tuple[tuple[time, time], ...]]


def line_hours(call: Call) -> Hours:
    """The flow's ``practice.opening_hours`` if given, else the doctors' opening hours."""
    written = call.flow.practice.get("opening_hours")
    if written is not None:
        parsed = parse_hours(written)
        if isinstance(parsed, dict):
            return parsed
    return call.practice.hours


def open_at(hours: Hours, moment: datetime) -> bool:
    wall = moment.time()
    return any(start <= wall < end for start, end in hours.get(moment.weekday(), ()))


def is_open(call: Call) -> bool:
    return open_at(line_hours(call), call.now().astimezone(call.zone))
