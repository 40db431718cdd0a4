"""The verbs of the flow language, a module each, named after its verb (``appointments``
holds the three verbs on an existing appointment). ``STEP_KINDS`` maps a verb to its kind.
"""

from __future__ import annotations

from ivr_flows.step_kind import StepKind
from ivr_flows.steps import (
    appointments,
    ask,
    book_appointment,
    branch,
    choose_language,
    hangup,
    information,
    intake,
    new_or_known,
    opening_hours,
    recording_notice,
    register_patient,
    resume,
    say,
    transfer,
    verify_identity,
    voicemail,
)

STEP_KINDS: dict[str, StepKind] = {
    kind.name: kind
    for kind in (
        say.KIND, ask.KIND, branch.KIND, hangup.KIND, transfer.KIND, opening_hours.KIND,
        recording_notice.KIND, choose_language.KIND, verify_identity.KIND, book_appointment.KIND,
        appointments.CANCEL, appointments.RESCHEDULE, appointments.CONFIRM, voicemail.KIND,
        information.KIND,
        intake.KIND, new_or_known.KIND, register_patient.KIND, resume.KIND,
    )
}
