"""The call handler the telephony workers run: ``--handler telesec.call_handler:answer``.

Each worker process builds, once and on its first call, everything a call needs from
``foundation.settings.load_settings()`` (the worker inherits the ``TELESEC_*`` environment of
its supervisor): database, keyring, vault, agenda services, prompt audio and, when models
are installed, speech recognition. Then, for every answered call:

- the dialled number picks the practice (``Practice.phone_number``); an unknown number
  hears one sentence saying so and is hung up on;
- the practice's flow runs: ``<data_dir>/flows/<practice slug>.yaml`` if the practice has
  its own, else the default French flow (the caller may switch to English in it);
- the call is recorded into the vault (stereo, caller left) from the recording notice on,
  unless the caller refused; the recording is linked to the patient once verified;
- the calls log gets one row per call; a transfer puts the call on the escalation queue
  with the number to call back (sealed); a transfer to ``secretaries`` rings the
  practice's secretaries' line (its profile); when the call ends, its escalation learns
  how (answered, or the caller hung up) and the voicemail left after it;
- with speech on, a voicemail is transcribed in the background once closed (a
  ``transcript`` vault object beside it), and an emergency heard in it raises an urgent
  escalation (``ivr_flows.voicemail_emergency``).

Logs carry the call id only: never the caller's number, name or anything they said.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

import ivr_flows
from foundation.settings import Settings, load_settings
from foundation.webphone_tokens import DESK_PREFIX, desk_user, hunt_user
from ivr_flows.checker import load_flow
from ivr_flows.flow import Flow
from ivr_flows.interpreter import CallReport, Interpreter
from ivr_flows.practice import PracticeInfo, load_practice
from ivr_flows.prompts import composer_for
from ivr_flows.prompts.compose import PromptComposer
from ivr_flows.services import audit_to, build_services, vault_voicemail_sinks
from ivr_flows.steps import STEP_KINDS
from ivr_flows.telephony_channel import (
    Hunt,
    SpeechListener,
    StreamingSpeech,
    TelephonyChannel,
)
from ivr_flows.transcription import VoicemailTranscriber
from ivr_flows.voicemail_emergency import EmergencyVoicemails
from notify.notifier import Notifier
from storage import calls, escalations
from storage.models import Practice
from storage.outage import DATABASE_DOWN
from storage.patients import normalise_phone
from storage.vault import Vault
from telephony.recording import RecordingSink, open_vault_sink
from telephony.session import CallEnded, CallSession
from telesec.wiring import open_database, open_vault

log = logging.getLogger(__name__)

DEFAULT_FLOWS = Path(ivr_flows.__file__).resolve().parent / "flows"
DEFAULT_LANGUAGE = "fr"
LINE_CACHE_SECONDS = 60.0  # a practice's doctors, hours and flow are re-read this often
ENDINGS = {  # CallReport.ended_by -> calls log outcome code
    "flow": "completed",
    "caller": "caller_hung_up",
    "emergency": "emergency",
    "transfer": "transferred",
    "loop guard": "loop_guard",
    "outage": "database_down",
}


@dataclass(frozen=True)
class PracticeLine:
    """What a practice's number answers with: the practice and its flow, ready to run."""

    practice: PracticeInfo
    interpreter: Interpreter
    loaded_at: float


class CallRecording:
    """Opens the call's recording in the vault when the flow turns recording on."""

    def __init__(self, vault: Vault, practice_id: int, call_id: str, rate: int) -> None:
        self.vault = vault
        self.practice_id = practice_id
        self.call_id = call_id
        self.rate = rate  # the call's bridge rate: the recording is kept at it
        self.object_id: str | None = None

    def open(self) -> RecordingSink | None:
        """The recording's vault writer; None (the call goes on unrecorded) with no database."""
        try:
            writer = open_vault_sink(self.vault, call_id=self.call_id, rate=self.rate,
                                     practice_id=self.practice_id)
        except DATABASE_DOWN:
            log.warning("call %s: database unreachable; this call is not recorded",
                        self.call_id)
            return None
        self.object_id = writer.object_id
        return writer


class CallEngine:
    """Everything one worker process needs to answer calls; built once, shared by calls."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = open_database(settings)
        self.vault = open_vault(settings, self.db)  # also installs the keyring for identity
        self.speech = speech_listener(settings)
        # Voicemail is transcribed in the background with the calls' own speech engine.
        engine = getattr(self.speech, "engine", None)
        self.transcriber = VoicemailTranscriber(
            self.vault, engine, audit_to(self.db),
            on_transcript=EmergencyVoicemails(self.db)) if engine is not None else None
        self.notifier = Notifier.from_settings(settings)
        self.services = build_services(
            self.db, voicemail_sinks=vault_voicemail_sinks(self.vault, self.transcriber),
            notifier=self.notifier, retention=settings.retention)
        self.prompts: PromptComposer = composer_for(settings.data_path)
        self._lines: dict[str, PracticeLine] = {}
        self._lines_lock = threading.Lock()
        self.warm_lines()

    # -- practices and flows ---------------------------------------------------------------
    def warm_lines(self) -> None:
        """Load every practice's line now, so calls are answered even if the database
        goes down later (a line is then served from this copy)."""
        try:
            with self.db.session() as session:
                numbers = session.scalars(select(Practice.phone_number).where(
                    Practice.phone_number.is_not(None))).all()
            for number in numbers:
                self.line(number)
        except DATABASE_DOWN:
            log.warning("database unreachable at start; practices are loaded at their "
                        "first call")
        except Exception as exc:  # e.g. one practice's broken flow: its calls will say so
            log.warning("practices not preloaded (%s); loaded at their first call",
                        type(exc).__name__)

    def line(self, dialled: str) -> PracticeLine | None:
        """The practice answering ``dialled`` (cached a minute; the last copy while the
        database is down), or None for an unknown number."""
        number = normalise_phone(dialled) if dialled else ""
        if not number:
            return None
        with self._lines_lock:
            cached = self._lines.get(number)
        if cached is not None and time.monotonic() - cached.loaded_at < LINE_CACHE_SECONDS:
            return cached
        try:
            return self._load_line(number, dialled)
        except DATABASE_DOWN:
            if cached is None:
                raise
            return cached

    def _load_line(self, number: str, dialled: str) -> PracticeLine | None:
        with self.db.session() as session:
            practice_id = session.scalar(
                select(Practice.id).where(Practice.phone_number.in_({number, dialled}))
            )
        if practice_id is None:
            return None
        practice = load_practice(self.db, practice_id)
        line = PracticeLine(practice, Interpreter(self.flow_for(practice), self.services,
                                                  practice), time.monotonic())
        with self._lines_lock:
            self._lines[number] = line
        return line

    def flow_for(self, practice: PracticeInfo) -> Flow:
        """The practice's own flow file if there is one, else the default flow."""
        own = self.settings.data_path / "flows" / f"{practice.slug}.yaml"
        if own.is_file():
            return load_flow(own, kinds=STEP_KINDS)
        return load_flow(DEFAULT_FLOWS / f"default_{DEFAULT_LANGUAGE}.yaml", kinds=STEP_KINDS)

    # -- one call --------------------------------------------------------------------------
    def answer(self, session: CallSession) -> None:
        """Run one answered call to its end (the worker hangs up when this returns)."""
        try:
            line = self.line(session.dialled)
        except DATABASE_DOWN:
            log.error("call %s: database unreachable and this practice's line not loaded; "
                      "the caller is asked to call back", session.call_id)
            self.refuse(session, "all_lines_busy")
            return
        if line is None:
            log.info("call %s: the dialled number is no practice's line; refused",
                     session.call_id)
            self.refuse(session)
            return
        practice = line.practice
        try:
            calls.call_started(self.db, session.call_id, practice.id)
        except DATABASE_DOWN:
            log.warning("call %s: database unreachable; the call is not in the calls log",
                        session.call_id)
        recording = CallRecording(self.vault, practice.id, session.call_id,
                                  session.sample_rate)
        escalated: dict[str, int | None] = {}
        channel = TelephonyChannel(
            session, self.prompts, practice_slug=practice.slug, speech=self.speech,
            recording_sinks=recording.open,
            transfer_targets=self.transfer_targets(practice),
            publish_context=lambda context: escalated.update(
                id=self.escalate(practice, context, session.caller)),
            on_answered=lambda target: self.answered(escalated.get("id"), target,
                                                     session.call_id),
            hunts=self.hunts(practice),
            on_lost=lambda: self.lost(escalated.get("id"), session.call_id),
        )
        report: CallReport | None = None
        try:
            report = line.interpreter.run(channel)
        finally:
            session.stop_recording()
            try:
                outcome = self.log_call(session.call_id, practice, report, recording.object_id)
                escalations.call_ended(self.db, session.call_id, outcome=outcome,
                                       caller_number=session.caller,
                                       practice_id=practice.id)
            except DATABASE_DOWN:
                log.warning("call %s: database unreachable; the end of the call is not in "
                            "the calls log", session.call_id)

    def transfer_targets(self, practice: PracticeInfo) -> dict[str, str]:
        """Where "secretaries" rings: the practice's line (its profile), and with the
        console softphone on, every secretary's page that is available (the desk)."""
        targets = dict(practice.settings)
        if self.settings.sip.webphone.enabled:
            desk = f"sip:{desk_user(practice.slug)}"
            line = targets.get("secretaries")
            targets["secretaries"] = f"{line}, {desk}" if line else desk
        return targets

    def hunts(self, practice: PracticeInfo) -> dict[str, Hunt]:
        """With the practice's setting "hunt": "secretaries" rings the pages of its
        secretaries one after another in its order (those not available are skipped at
        once: the front has no such page), then its line if it has one."""
        if not self.settings.sip.webphone.enabled or practice.desk_ring != "hunt" \
                or not practice.hunt_order:
            return {}
        line = practice.settings.get("secretaries")
        return {"secretaries": Hunt(
            tuple(f"sip:{hunt_user(practice.slug, login)}" for login in practice.hunt_order),
            float(practice.hunt_seconds), then=(line,) if line else ())}

    def lost(self, escalation_id: int | None, call_id: str) -> None:
        """The secretary's softphone leg was lost mid-call: her card waits again."""
        if escalation_id is None:
            return
        try:
            escalations.reopen(self.db, escalation_id)
        except Exception as exc:  # the queue is down: the desk rings all the same
            log.info("call %s: the escalation was not put back to waiting (%s)", call_id,
                     exc.__class__.__name__)

    def refuse(self, session: CallSession, prompt: str = "number_not_in_service") -> None:
        """Tell the caller why the call cannot go on (``prompt``), then hang up."""
        try:
            session.play(self.prompts.prompt(prompt, DEFAULT_LANGUAGE), barge_in=False)
        except CallEnded:
            return
        session.hangup()

    def escalate(self, practice: PracticeInfo, context: Mapping[str, Any],
                 caller: str | None = None) -> int | None:
        """Put the call on the secretaries' queue with its context (codes and ids only)
        and the number to call back: ``callback_number`` from the flow (a caller who
        withheld theirs gave one), else the caller ID (sealed with the escalation)."""
        verified = bool(context.get("verified"))
        try:
            return escalations.publish(
                self.db,
                call_id=str(context.get("call_id")),
                practice_id=practice.id,
                intent=_code(context.get("intent")),
                reason="emergency" if context.get("emergency") else "caller_transfer",
                patient_id=context.get("patient_id") if verified else None,
                priority=bool(context.get("priority")),
                language=_code(context.get("language")),
                caller_number=context.get("callback_number") or caller,
            )
        except Exception as exc:  # the queue is down: the caller is still rung through
            log.error("call %s: could not put the call on the secretaries' queue (%s)",
                      context.get("call_id"), exc.__class__.__name__)
            return None

    def answered(self, escalation_id: int | None, target: str, call_id: str) -> None:
        """Whoever answered the transfer takes the call on the queue: the escalation card
        says who (a secretary's login for her phone, else the address, its number masked)."""
        if escalation_id is None or is_desk(target):
            return  # a console softphone claims the call itself, with the secretary's login
        try:
            escalations.claim(self.db, escalation_id, answered_by(target))
        except Exception as exc:  # claimed from the console meanwhile, or the queue is down
            log.info("call %s: the escalation was not marked answered (%s)", call_id,
                     exc.__class__.__name__)

    def log_call(self, call_id: str, practice: PracticeInfo, report: CallReport | None,
                 recording_id: str | None) -> str:
        """One row in the calls log; the recording is linked to the verified patient.
        Returns the call's outcome code."""
        patient_id = report.patient_id if report is not None and report.verified else None
        if recording_id is not None and patient_id is not None:
            self.vault.link_patient(recording_id, patient_id)
        outcome = ENDINGS.get(report.ended_by, "ended") if report is not None else "failed"
        calls.call_ended(
            self.db, call_id, outcome=outcome, verified=patient_id is not None,
            intent=_code(report.intent) if report is not None else None,
            patient_id=patient_id, recording_object_id=recording_id,
            practice_id=practice.id,
        )
        return outcome


def is_desk(target: str) -> bool:
    """Whether ``target`` is a practice's desk (the console softphones)."""
    return target.partition(":")[2].startswith(DESK_PREFIX)


def answered_by(target: str) -> str:
    """Who answered a transfer, for the escalation card: ``sip:alice`` (a phone registered
    to the front) is ``alice``; an outside number keeps only its last 4 digits."""
    scheme, _, rest = target.partition(":")
    user = rest.split("@", 1)[0].split(";", 1)[0]
    if scheme.lower() in ("sip", "sips") and "@" not in rest and user and not any(
            ch.isdigit() for ch in user[:1]) and not user.startswith("+"):
        return user[:64]
    digits = "".join(ch for ch in user if ch.isdigit())
    if len(digits) >= 6:
        return f"phone …{digits[-4:]}"
    return (user or target)[:64]


def _code(value: Any) -> str | None:
    text = str(value) if value is not None else ""
    return text if text and len(text) <= 32 and text.replace("_", "").isalnum() else None


def speech_listener(settings: Settings) -> SpeechListener | None:
    """Speech recognition, else None (keys only).

    In the pool, the supervisor's speech server holds the models once for every worker
    (``TELESEC_RECOGNIZER_SOCKET``); a worker started on its own loads them itself.
    """
    from speech.client import RemoteSpeechEngine

    remote = RemoteSpeechEngine.from_environment()
    if remote is not None:
        return StreamingSpeech(remote)
    from speech.status import announce

    status = announce(settings, log)
    if not status.enabled:
        return None
    from speech.models import ModelRegistry
    from speech.recognizer import SpeechEngine

    engine = SpeechEngine(ModelRegistry.from_settings(settings),
                          max_concurrent_streams=settings.speech.max_concurrent_streams)
    return StreamingSpeech(engine)


_engine: CallEngine | None = None
_engine_lock = threading.Lock()


def engine() -> CallEngine:
    """This process's call engine, built on first use from the settings."""
    global _engine
    with _engine_lock:
        if _engine is None:
            started = time.monotonic()
            _engine = CallEngine(load_settings())
            log.info("call engine ready in %.1f s", time.monotonic() - started)
        return _engine


def prepare() -> None:
    """Build the engine when the worker starts (the worker calls this before READY);
    a failure is logged and retried on the first call."""
    try:
        engine()
    except Exception as exc:
        log.error("the call engine cannot start yet (%s: %s)", exc.__class__.__name__, exc)


def answer(session: CallSession) -> None:
    """The workers' handler (``--handler telesec.call_handler:answer``): one call, to its end."""
    try:
        current = engine()
    except Exception as exc:  # settings, database or keyring unusable: say why, drop the call
        log.error("call %s: the engine cannot start (%s: %s)", session.call_id,
                  exc.__class__.__name__, exc)
        session.hangup()
        return
    current.answer(session)
