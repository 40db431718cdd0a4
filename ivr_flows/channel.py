"""The caller channel: everything the interpreter needs from a call, and nothing about SIP.

Two implementations: :class:`ivr_flows.telephony_channel.TelephonyChannel` (a real call,
over ``telephony.session``) and :class:`ivr_flows.simulator.TextChannel` (typed text, for
the console and the tests).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from speech.turns import Satisfied, TurnSettings


class CallerHungUp(Exception):
    """The caller is gone; the interpreter stops and every step cleans up after itself."""


@dataclass(frozen=True, slots=True)
class Utterance:
    """What the caller did while we listened: words heard and/or keys pressed."""

    text: str = ""
    keys: str = ""

    @property
    def silent(self) -> bool:
        return not self.text.strip() and not self.keys


SILENCE = Utterance()


@dataclass(frozen=True, slots=True)
class Prompt:
    """One piece of what Telesec says: a catalogue prompt id and the values it composes."""

    id: str
    values: Mapping[str, Any] = field(default_factory=dict)


class MessageSink(Protocol):
    """Where a recording goes as it is made (the encrypted vault writer)."""

    def append(self, data: bytes) -> None: ...
    def close(self) -> Any: ...
    def abort(self) -> None: ...


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    """A message just recorded: its length, and a handle the channel can play back."""

    seconds: float
    handle: Any = None
    caller_hung_up: bool = False  # the caller hung up while (or instead of) speaking


class CallerChannel(ABC):
    """One call, seen from the flow interpreter."""

    call_id: str
    caller_number: str | None
    dialled_number: str | None

    @property
    def hears_speech(self) -> bool:
        """Whether the caller's words are recognised (False: keys only, e.g. no model)."""
        return True

    @abstractmethod
    def say(self, parts: Sequence[Prompt], language: str, *, barge_in: bool = True) -> Utterance:
        """Say ``parts`` in order. Returns what the caller said or keyed over it (barge-in)."""

    def prepare(self, parts: Sequence[Prompt], language: str) -> None:
        """Compose ``parts`` ahead (while the caller is still speaking), so that saying
        one of them right after the answer starts at once. Nothing by default."""
        return None

    @abstractmethod
    def listen(
        self,
        *,
        timeout: float,
        max_keys: int = 1,
        terminator: str | None = None,
        speech: bool = True,
        turn: TurnSettings | None = None,
        satisfied: Satisfied | None = None,
    ) -> Utterance:
        """Wait for keys and/or speech; an empty :class:`Utterance` after ``timeout`` seconds.

        ``turn``: how long a silence ends a spoken answer; ``satisfied(partial)``: whether
        the words heard so far already answer a closed question (see speech/turns.py).
        """

    @abstractmethod
    def record_message(self, sink: MessageSink, *, max_seconds: float) -> RecordedMessage:
        """Record the caller into ``sink`` until silence, '#' or ``max_seconds``."""

    @abstractmethod
    def play_message(self, message: RecordedMessage) -> None:
        """Play a message just recorded back to the caller."""

    @abstractmethod
    def transfer(self, target: str, *, context: Mapping[str, Any], priority: bool = False,
                 method: str = "bridge") -> bool:
        """Hand the call to ``target`` (bridged, or by REFER); True if someone answered."""

    def voicemail_requested(self) -> str | None:
        """After an answered transfer: the doctor (slug) whose voicemail box the secretary
        passed the caller on to, else None (asked once: the answer is then cleared)."""
        return None

    @abstractmethod
    def set_recording(self, on: bool) -> None:
        """Start or stop recording the whole call (consent may be refused)."""

    @abstractmethod
    def hangup(self) -> None:
        """End the call."""
