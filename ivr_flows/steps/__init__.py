"""The verbs of the flow language, one module each. ``STEP_KINDS`` maps a verb to its kind."""

from __future__ import annotations

from ivr_flows.step_kind import StepKind
from ivr_flows.steps import (
    appointments,
    ask,
    booking,
    branch,
    hangup,
    hours,
    identity,
    language,
    recording,
    say,
    transfer,
    voicemail,
)

STEP_KINDS: dict[str, StepKind] = {
    kind.name: kind
    for kind in (
        say.KIND, ask.KIND, branch.KIND, hangup.KIND, transfer.KIND, hours.KIND,
        recording.KIND, language.KIND, identity.KIND, booking.KIND,
        appointments.CANCEL, appointments.RESCHEDULE, appointments.CONFIRM, voicemail.KIND,
    )
}
