"""The text simulator: a caller channel made of typed lines, for the console and the tests.

What the caller types:

- words: what they say (``je voudrais un rendez-vous``);
- ``#1``, ``key 1`` or ``keys 12031984#``: keys pressed (``touche 1`` works too);
- an empty line, ``.`` or ``(silence)``: silence until the timeout;
- ``hangup`` (or ``/hangup``, ``raccroche``): the caller hangs up.

Telesec's side is printed as the text of each prompt, in the call's language, and the
ids said are kept (``said``) so tests can assert on them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ivr_flows import rendering
from ivr_flows.call import Services
from ivr_flows.channel import (
    SILENCE,
    CallerChannel,
    CallerHungUp,
    MessageSink,
    Prompt,
    RecordedMessage,
    Utterance,
)
from ivr_flows.checker import load_flow
from ivr_flows.interpreter import CallReport, Interpreter
from ivr_flows.practice import load_practice
from ivr_flows.steps import STEP_KINDS
from speech.turns import Satisfied, TurnSettings

_KEYS = re.compile(r"^(?:#|keys?\s+|touches?\s+)([0-9*#]+)$", re.IGNORECASE)
HANGUP_WORDS = {"hangup", "/hangup", "raccroche", "/raccroche", "hang up"}
SILENCE_WORDS = {"", ".", "(silence)", "/silence", "silence"}


def parse_line(line: str) -> Utterance | None:
    """One typed line as an utterance; None means the caller hung up."""
    text = line.strip()
    if text.lower() in HANGUP_WORDS:
        return None
    if text.lower() in SILENCE_WORDS:
        return SILENCE
    keys = _KEYS.match(text)
    if keys:
        return Utterance(keys=keys.group(1))
    return Utterance(text=text)


@dataclass
class Transfer:
    target: str
    context: Mapping[str, Any]
    priority: bool
    answered: bool


class TextChannel(CallerChannel):
    """A caller channel fed by ``next_line`` (None = hang up) and printing to ``show``."""

    def __init__(
        self,
        next_line: Callable[[], str | None],
        *,
        show: Callable[[str], None] = lambda text: None,
        caller_number: str | None = None,
        dialled_number: str | None = None,
        call_id: str | None = None,
        secretary_answers: bool = False,
        speech: bool = True,
        passes_to_box: str | None = None,
    ) -> None:
        self.next_line = next_line
        self.speech = speech
        self.show = show
        self.call_id = call_id or f"sim-{secrets.token_hex(6)}"
        self.caller_number = caller_number
        self.dialled_number = dialled_number
        self.secretary_answers = secretary_answers
        self.passes_to_box = passes_to_box  # she passes the caller to this doctor's box
        self.said: list[str] = []  # prompt ids, in order
        self.spoken: list[str] = []  # the texts, in order
        self.languages: list[str] = []  # the voice of each prompt, in order
        # what was said before each listen (since the previous one): the questions heard
        self.questions: list[str] = []
        self._since_listen: list[str] = []
        self.transfers: list[Transfer] = []
        self.recording_changes: list[bool] = []
        self.hung_up_by_caller = False
        self.hung_up_by_us = False

    @property
    def hears_speech(self) -> bool:
        return self.speech

    # -- input -------------------------------------------------------------------------
    def _next(self) -> Utterance:
        if self.hung_up_by_caller or self.hung_up_by_us:
            raise CallerHungUp
        line = self.next_line()
        heard = parse_line(line) if line is not None else None
        if heard is None:
            self.hung_up_by_caller = True
            raise CallerHungUp
        return heard

    def say(self, parts: Sequence[Prompt], language: str, *, barge_in: bool = True) -> Utterance:
        if self.hung_up_by_caller or self.hung_up_by_us:
            raise CallerHungUp
        for part in parts:
            text = rendering.text(part, language)
            self.said.append(part.id)
            self.spoken.append(text)
            self.languages.append(language)
            self._since_listen.append(text)
            self.show(text)
        return SILENCE  # typed input arrives when Telesec listens

    def listen(self, *, timeout: float, max_keys: int = 1, terminator: str | None = None,
               speech: bool = True, turn: TurnSettings | None = None,
               satisfied: Satisfied | None = None) -> Utterance:
        self.questions.append(" ".join(self._since_listen))
        self._since_listen = []
        heard = self._next()
        if heard.text and not self.speech:
            heard = SILENCE  # no speech model: words are not heard
        if heard.keys and terminator and terminator in heard.keys:
            heard = Utterance(keys=heard.keys.split(terminator, 1)[0] + terminator)
        return heard

    def record_message(self, sink: MessageSink, *, max_seconds: float) -> RecordedMessage:
        self.show("[bip — recording]")
        try:
            heard = self._next()
        except CallerHungUp:
            return RecordedMessage(0.0, None, caller_hung_up=True)
        words = heard.text.split()
        seconds = min(max_seconds, round(len(words) / 2.5, 1)) if words else 0.0
        if seconds:
            # stands for audio: what the caller "said", kept only inside the sink
            sink.append(heard.text.encode("utf-8"))
        return RecordedMessage(seconds, heard.text)

    def play_message(self, message: RecordedMessage) -> None:
        self.show(f"[playing back {message.seconds:g} s]")

    # -- call control --------------------------------------------------------------------
    def transfer(self, target: str, *, context: Mapping[str, Any], priority: bool = False,
                 method: str = "bridge") -> bool:
        answered = self.secretary_answers
        self.transfers.append(Transfer(target, dict(context), priority, answered))
        self.show(f"[transfer to {target}{' (priority)' if priority else ''}: "
                  f"{'answered' if answered else 'no answer'}]")
        return answered

    def voicemail_requested(self) -> str | None:
        chosen, self.passes_to_box = self.passes_to_box, None
        if chosen:
            self.show(f"[the secretary passes the caller to {chosen}'s voicemail box]")
        return chosen

    def set_recording(self, on: bool) -> None:
        self.recording_changes.append(on)
        self.show(f"[recording {'on' if on else 'off'}]")

    def hangup(self) -> None:
        if not self.hung_up_by_us:
            self.hung_up_by_us = True
            self.show("[Telesec hangs up]")


class MemorySink:
    """A message sink kept in memory (tests and the console without a vault)."""

    def __init__(self, meta: Any) -> None:
        self.meta = meta
        self.data = bytearray()
        self.state = "writing"

    def append(self, data: bytes) -> None:
        assert self.state == "writing"
        self.data.extend(data)

    def close(self) -> int:
        self.state = "closed"
        return len(self.data)

    def abort(self) -> None:
        self.state = "aborted"
        self.data.clear()


@dataclass
class Conversation:
    """A scripted call: the lines the caller types, and what happened."""

    report: CallReport
    channel: TextChannel
    unused_lines: list[str] = field(default_factory=list)

    @property
    def said(self) -> list[str]:
        return self.channel.said

    def said_any(self, *ids: str) -> bool:
        return any(i in self.channel.said for i in ids)


def run_script(
    interpreter: Interpreter,
    lines: Iterable[str],
    *,
    caller_number: str | None = None,
    secretary_answers: bool = False,
    language: str | None = None,
    call_id: str | None = None,
    speech: bool = True,
    show: Callable[[str], None] = lambda text: None,
    passes_to_box: str | None = None,
) -> Conversation:
    """Run one call where the caller types ``lines`` in turn, then hangs up."""
    remaining = list(lines)

    def next_line() -> str | None:
        if not remaining:
            return None
        line = remaining.pop(0)
        show(f"> {line}")
        return line

    channel = TextChannel(next_line, show=show, caller_number=caller_number,
                          secretary_answers=secretary_answers, call_id=call_id, speech=speech,
                          passes_to_box=passes_to_box)
    report = interpreter.run(channel, language=language)
    return Conversation(report, channel, remaining)


def make_interpreter(services: Services, practice: str | int, flow_path: Any) -> Interpreter:
    """An interpreter for ``practice`` (slug or id) running the checked flow at ``flow_path``."""
    flow = load_flow(flow_path, kinds=STEP_KINDS)
    return Interpreter(flow, services, load_practice(services.db, practice))


def fixed_clock(moment: datetime) -> Callable[[], datetime]:
    """A clock that always says ``moment`` (scripted conversations)."""
    return lambda: moment
