"""Runs one call through a flow: a loop over steps, with emergencies watched everywhere.

Emergencies are not a step. :class:`ivr_flows.call.Call` raises ``EmergencyHeard`` from
any listen of any step; the step cleans up on the way out (a held slot is released) and
the interpreter tells the caller to hang up and dial 15 / 112, and offers an immediate
priority transfer to the secretaries.

Nothing personal before verification is enforced here too, once for every step: a step
whose kind is ``personal`` reached by a caller not yet verified does not run; the caller
hears ``need_verification`` and the step ends with ``not_verified``, which the flow leads
to a ``verify_identity`` step.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field

from ivr_flows import meaning
from ivr_flows.call import Call, EmergencyHeard, Services, WantsHuman
from ivr_flows.channel import CallerChannel, CallerHungUp, Prompt, Utterance
from ivr_flows.database_outage import carry_on_without_database
from ivr_flows.flow import Flow, Step
from ivr_flows.practice import PracticeInfo
from ivr_flows.step_kind import NEED_VERIFICATION_PROMPT, NOT_VERIFIED, StepKind, StepKinds
from ivr_flows.steps import STEP_KINDS
from storage.outage import DATABASE_DOWN

log = logging.getLogger(__name__)

MAX_STEPS = 200  # a call that runs this many steps is going round in circles: stop it


@dataclass
class CallReport:
    """How a call went: the steps it went through and how it ended (no personal data)."""

    call_id: str
    trail: list[tuple[str, str]] = field(default_factory=list)  # (step, outcome)
    ended_by: str = ""  # "flow", "caller", "emergency", "transfer", "loop guard", "outage"
    emergency: bool = False
    verified: bool = False
    patient_id: int | None = None  # set only once the caller was verified
    intent: str | None = None  # what the caller wanted, as a code (book, emergency...)
    transferred: bool = False
    language: str = "fr"

    def visited(self, step: str) -> bool:
        return any(name == step for name, _ in self.trail)

    def outcome_of(self, step: str) -> str | None:
        found = [outcome for name, outcome in self.trail if name == step]
        return found[-1] if found else None


class Interpreter:
    """Runs a checked flow for one practice; one instance serves many calls in turn."""

    def __init__(self, flow: Flow, services: Services, practice: PracticeInfo, *,
                 kinds: StepKinds = STEP_KINDS) -> None:
        self.flow = flow
        self.services = services
        self.practice = practice
        self.kinds = kinds  # the step table the flow was checked with

    def run(self, channel: CallerChannel, *, language: str | None = None) -> CallReport:
        """Drive ``channel`` through the flow until it hangs up, is transferred or ends."""
        call = Call(
            channel=channel,
            services=self.services,
            practice=self.practice,
            flow=self.flow,
            language=language or self.flow.language,
        )
        report = CallReport(call_id=channel.call_id)
        try:
            self._steps(call, report)
        except CallerHungUp:
            report.ended_by = report.ended_by or "caller"
        finally:
            report.verified = call.verified
            report.patient_id = call.patient.id if call.patient else None
            report.intent = call.context.get("intent")
            report.language = call.language
            if call.recording:
                with contextlib.suppress(CallerHungUp):
                    channel.set_recording(False)
                call.recording = False
        log.info("call %s ended by %s after %d steps", call.call_id, report.ended_by,
                 len(report.trail))
        return report

    def _steps(self, call: Call, report: CallReport) -> None:
        name: str | None = self.flow.start
        while name is not None:
            if len(report.trail) >= MAX_STEPS:
                report.ended_by = "loop guard"
                log.warning("call %s: flow %s went round in circles; hanging up",
                            call.call_id, self.flow.name)
                call.say("goodbye", barge_in=False)
                call.channel.hangup()
                return
            step = self.flow.steps[name]
            kind = self.kinds[step.kind]
            try:
                outcome = run_step(kind, call, step)
            except DATABASE_DOWN:
                report.trail.append((name, "database_down"))
                report.ended_by = "outage"
                report.transferred = carry_on_without_database(call)
                return
            except EmergencyHeard:
                report.trail.append((name, "emergency"))
                report.emergency = True
                report.ended_by = "emergency"
                report.transferred = handle_emergency(call)
                return
            except WantsHuman:
                # key 0 / "secrétariat" at a question, or silence where an answer is needed
                report.trail.append((name, "human"))
                call.drop_pending()
                call.context.setdefault("intent", "secretary")
                call.context["human_tried"] = True
                name = self.flow.human
                continue
            report.trail.append((name, outcome))
            log.debug("call %s: step %s -> %s", call.call_id, name, outcome)
            if kind.terminal:
                report.ended_by = "flow"
                return
            if outcome in kind.ends_on:
                report.ended_by = "transfer"
                report.transferred = True
                return
            name = step.target(outcome)
        report.ended_by = "flow"
        call.channel.hangup()


def run_step(kind: StepKind, call: Call, step: Step) -> str:
    """Run one step; a personal one only for a verified caller, else ``not_verified``."""
    if kind.personal and not call.verified:
        log.debug("call %s: step %s needs a verified caller", call.call_id, step.name)
        call.say(NEED_VERIFICATION_PROMPT)
        return NOT_VERIFIED
    return kind.run(call, step)


def handle_emergency(call: Call) -> bool:
    """Tell the caller to dial 15 / 112 and offer a priority transfer. True if transferred.

    Staying on the line, key 0 (or 1) or "yes" takes the transfer; another key or "no"
    ends the call after the advice is said again.
    """
    call.drop_pending()
    call.context["intent"] = "emergency"
    call.audit("call.emergency", purpose="emergency heard: advice given, transfer offered",
               patient_id=call.patient.id if call.patient else None)
    channel = call.channel
    channel.say(_prompts(call, "emergency_advice", "emergency_offer"), call.language,
                barge_in=True)
    heard = channel.listen(timeout=5.0, max_keys=1, terminator=None, speech=True)
    if _accepts_transfer(heard, call):
        channel.say(_prompts(call, "transfer_priority"), call.language, barge_in=False)
        target = str(call.setting("secretaries", "secretaries"))
        if channel.transfer(target, context=call.transfer_context(emergency=True),
                            priority=True):
            return True
        channel.say(_prompts(call, "transfer_no_answer"), call.language, barge_in=False)
    channel.say(_prompts(call, "emergency_advice", "goodbye"), call.language, barge_in=False)
    channel.hangup()
    return False


def _accepts_transfer(heard: Utterance, call: Call) -> bool:
    if heard.silent:
        return True  # "restez en ligne": staying on the line is a yes
    if heard.keys:
        return heard.keys[0] in ("0", "1", call.emergency_key)
    # "oui", "vite", "urgence" again: anything but a no
    return meaning.yes_no(heard.text, call.language) is not False


def _prompts(call: Call, *ids: str) -> list[Prompt]:
    return [Prompt(i, {"practice": call.practice.name}) for i in ids]
