"""The state of one call while a flow runs, and the helpers every step uses.

Steps never talk to the channel directly for input: :meth:`Call.listen` is where every
utterance and every key is watched for an emergency, whatever the step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ivr_flows import meaning
from ivr_flows.channel import SILENCE, CallerChannel, MessageSink, Prompt, Utterance
from ivr_flows.flow import Flow
from ivr_flows.lockout import CallerLockout
from ivr_flows.patient_lookup import PatientLookup
from ivr_flows.practice import PracticeInfo
from ivr_flows.practice_answers import spoken_name
from ivr_flows.privacy_notice import RetentionDays
from ivr_flows.prompts.catalogue import load_catalogue
from ivr_flows.prompts.wording import Fragment, Words
from notify.notifier import Notifier
from scheduling.service import Agenda
from speech.turns import CLOSED_TURN, OPEN_TURN, Satisfied, TurnSettings
from storage.db import Database
from storage.patients import PatientRecord

log = logging.getLogger(__name__)


class EmergencyHeard(Exception):
    """The caller said an emergency word or pressed the emergency key."""


class WantsHuman(Exception):
    """The caller asked for a person (key 0, "secrétariat") at a question, or stayed
    silent at one that cannot go on without an answer: the flow's ``human`` step follows.
    Never a failed identity try."""


@dataclass(frozen=True, slots=True)
class VoicemailMeta:
    """What the vault needs to file a voicemail (no content, no identity)."""

    call_id: str
    practice_id: int
    practitioner_id: int | None  # None: the practice's shared box
    patient_id: int | None  # set only when the caller was verified
    language: str


SinkFactory = Callable[[VoicemailMeta], MessageSink]
AuditRecorder = Callable[..., None]


@dataclass
class Services:
    """Everything a call uses outside itself, injected so tests and the console share it."""

    db: Database
    agenda: Agenda
    patients: PatientLookup
    voicemail_sinks: SinkFactory
    lockout: CallerLockout
    audit: AuditRecorder
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    # What can be sent after the call; ask notifier.confirmation_channel(phone) before
    # promising a confirmation. None: nothing is configured, promise nothing.
    notifier: Notifier | None = None
    # Retention periods said in the full privacy notice (None: the settings' defaults).
    retention: RetentionDays | None = None


@dataclass
class Call:
    """One caller going through one flow."""

    channel: CallerChannel
    services: Services
    practice: PracticeInfo
    flow: Flow
    language: str
    patient: PatientRecord | None = None
    recording: bool = False
    context: dict[str, Any] = field(default_factory=dict)
    pending: Utterance = SILENCE  # what the caller typed or said over the last prompt
    turns: int = 0

    # -- facts ---------------------------------------------------------------------------
    @property
    def call_id(self) -> str:
        return self.channel.call_id

    @property
    def actor(self) -> str:
        """Who acts, for the audit trail: this call (never the caller's number)."""
        return f"ivr:{self.call_id}"

    @property
    def verified(self) -> bool:
        return self.patient is not None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.practice.timezone)

    def now(self) -> datetime:
        return self.services.clock()

    def setting(self, name: str, default: Any = None) -> Any:
        """A per-practice value of the flow (``practice:`` section), else the practice's."""
        if name in self.flow.practice:
            return self.flow.practice[name]
        return self.practice.settings.get(name, default)

    @property
    def keys_mode(self) -> bool:
        """True when questions must be answered by keys: no speech on this call, or the
        caller has used keys (questions then say their keys, not speech examples)."""
        return not self.channel.hears_speech or bool(self.context.get("keys_used"))

    def question(self, prompt_id: str) -> str:
        """``prompt_id``, or its ``_keys`` wording (no speech examples) in keys mode."""
        keyed = f"{prompt_id}_keys"
        if self.keys_mode and keyed in load_catalogue(self.language).ids:
            return keyed
        return prompt_id

    @property
    def way_out_open(self) -> bool:
        """Whether key 0 / "secrétariat" at a question leads to the flow's human step."""
        return bool(self.flow.human) and not self.context.get("human_tried")

    @property
    def emergency_key(self) -> str:
        return str(self.setting("emergency_key", "*"))

    # -- speaking ------------------------------------------------------------------------
    def say(self, *parts: str | Prompt, barge_in: bool = True, language: str | None = None
            ) -> None:
        """Say prompts (in ``language``'s voice, else the call's); what the caller does
        over them is kept for the next listen."""
        prompts = self._prompts(parts, language or self.language)
        heard = self.channel.say(prompts, language or self.language, barge_in=barge_in)
        if not heard.silent:
            self._watch(heard)
            self.pending = heard

    def prepare(self, *parts: str | Prompt) -> None:
        """Compose prompts that may follow the caller's answer ahead, while he speaks."""
        if parts:
            self.channel.prepare(self._prompts(parts, self.language), self.language)

    def _prompts(self, parts: Sequence[str | Prompt], language: str) -> list[Prompt]:
        name = str(self.setting("name", spoken_name(self.practice, language)))
        # the practice's name is public, not personal: its audio may be cached
        common = {"practice": Words((Fragment(name),))}
        return [
            Prompt(p.id, {**common, **p.values}) if isinstance(p, Prompt) else Prompt(p, common)
            for p in parts
        ]

    def drop_pending(self) -> None:
        self.pending = SILENCE

    # -- listening -----------------------------------------------------------------------
    def listen(
        self, *, timeout: float = 6.0, max_keys: int = 1, terminator: str | None = None,
        speech: bool = True, turn: TurnSettings | None = None,
        satisfied: Satisfied | None = None,
    ) -> Utterance:
        """The caller's next input (keys and/or words), watched for an emergency."""
        if not self.pending.silent:
            heard, self.pending = self.pending, SILENCE
        else:
            heard = self.channel.listen(
                timeout=timeout, max_keys=max_keys, terminator=terminator, speech=speech,
                turn=turn, satisfied=satisfied,
            )
        self.turns += 1
        self._watch(heard)
        if heard.keys:
            self.context["keys_used"] = True
        return heard

    def _watch(self, heard: Utterance) -> None:
        if self.emergency_key and self.emergency_key in heard.keys:
            raise EmergencyHeard
        if heard.text and meaning.is_emergency(heard.text, self.language):
            raise EmergencyHeard

    def ask(
        self,
        prompt: str | Prompt | Sequence[str | Prompt],
        understand: Callable[[Utterance], Any],
        *,
        retries: int = 2,
        timeout: float = 6.0,
        max_keys: int = 1,
        terminator: str | None = None,
        reprompt: str | Prompt = "not_understood",
        no_input: str | Prompt = "no_input",
        closed: bool = True,
        turn: TurnSettings | None = None,
        answered: Satisfied | None = None,
        way_out: bool = True,
        ahead: Sequence[str | Prompt] = (),
    ) -> tuple[str, Any]:
        """Say ``prompt`` and listen until ``understand`` returns a value.

        Returns ("ok", value), or ("no_input", None) / ("no_match", None) after
        ``retries`` more tries. A key flood (more keys than asked for) is a no-match.
        A ``closed`` question's spoken answer ends after a short silence once ``understand``
        already accepts the words heard so far (or ``answered``, when ``understand`` does
        more than read: it runs on partial words); an open one waits longer (``turn``, else
        ``CLOSED_TURN`` / ``OPEN_TURN``).
        With ``way_out`` (and a ``human`` step in the flow), key 0 or asking for the
        secretary, when ``understand`` does not take it as an answer, raises
        :class:`WantsHuman`. ``ahead``: prompts the likely answers lead to, composed while
        the question plays and the caller speaks (the reply then starts at once).
        """
        turn = turn or (CLOSED_TURN if closed else OPEN_TURN)
        satisfied = (answered or _answers(understand)) if closed else None
        prompts = [prompt] if isinstance(prompt, str | Prompt) else list(prompt)
        last = "no_input"
        for attempt in range(retries + 1):
            if attempt:
                self.say(no_input if last == "no_input" else reprompt)
                if last == "no_match" and not self.channel.hears_speech:
                    self.say("keys_only")
            if not attempt:
                self.prepare(*ahead)  # composed while the question plays
            self.say(*prompts)
            heard = self.listen(timeout=timeout, max_keys=max_keys, terminator=terminator,
                                turn=turn, satisfied=satisfied)
            if heard.silent:
                last = "no_input"
                continue
            if len(heard.keys.rstrip("#")) > max_keys:
                last = "no_match"  # a flood of keys: ignore it, ask again
                continue
            value = understand(heard)
            if value is not None:
                return "ok", value
            if way_out and self.way_out_open and self._asks_for_human(heard):
                raise WantsHuman
            last = "no_match"
        return last, None

    def _asks_for_human(self, heard: Utterance) -> bool:
        if heard.keys:
            return heard.keys.rstrip("#") == "0"
        return meaning.asks_for_human(heard.text, self.language)

    # -- records ---------------------------------------------------------------------------
    def audit(self, action: str, *, patient_id: int | None = None, purpose: str) -> None:
        """One audit event about this call (the call id is the object; never the number)."""
        self.services.audit(
            actor=self.actor,
            action=action,
            object_type="call",
            object_id=self.call_id,
            purpose=purpose,
            patient_id=patient_id,
            practice_id=self.practice.id,
        )

    def transfer_context(self, **extra: Any) -> Mapping[str, Any]:
        """What a secretary sees when the call reaches her (no identity unless verified)."""
        context = {
            "call_id": self.call_id,
            "practice": self.practice.slug,
            "language": self.language,
            "verified": self.verified,
            "patient_id": self.patient.id if self.patient else None,
            "intent": self.context.get("intent"),
        }
        if self.context.get("callback_number"):  # given by a caller new to the practice
            context["callback_number"] = self.context["callback_number"]
        context.update(extra)
        return context


def _answers(understand: Callable[[Utterance], Any]) -> Satisfied:
    """Whether words heard so far already answer: ``understand`` accepts them."""
    return lambda partial: understand(Utterance(text=partial)) is not None
