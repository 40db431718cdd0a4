"""The verbs of the flow language, one module each. ``STEP_KINDS`` maps a verb to its kind."""

from __future__ import annotations

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
from ivr_flows.steps.base import StepKind

STEP_KINDS: dict[str, StepKind] = {
    kind.name: kind
    for kind in (
        say.KIND, ask.KIND, branch.KIND, hangup.KIND, transfer.KIND, hours.KIND,
        recording.KIND, language.KIND, identity.KIND, booking.KIND,
        appointments.CANCEL, appointments.RESCHEDULE, appointments.CONFIRM, voicemail.KIND,
    )
}

# Steps that say or change something about a patient: only after verification.
PERSONAL_KINDS = frozenset({"book_appointment", "cancel_appointment", "reschedule_appointment",
                            "confirm_appointment"})
