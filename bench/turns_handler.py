"""The call handler of bench/turns.py: questions answered by voice, each followed by a reply.

``answer_questions(session)`` runs, on the real ``TelephonyChannel`` and speech listener of
the workers (the speech server's Korean model serves the language "fr"), the questions of
:func:`plan`: for each, a short catalogue question, the caller's spoken answer, then a reply
composed with a date, a time and a doctor's name (synthesised in memory, as on a real call).
How the turn ends and when the reply is composed depends on the question's mode:

* ``vosk``: the old path: the utterance ends at Vosk's endpoint or the energy check
  (``quiet_after_speech``); the reply is composed once the result is in;
* ``main``: main's path before this change (:class:`MainSpeech`, ``MAIN_TURNS``): the
  recognizer is fed from the end of the question, the Silero detector ends the turn and the
  recognizer is finalized at once; the reply is composed once the result is in;
* ``after``: today's ``StreamingSpeech`` (the recognizer starts at the detector's start of
  speech) with ``CLOSED_TURN`` / ``OPEN_TURN``, and the replies composed ahead
  (``TelephonyChannel.prepare``) while the question plays and the caller speaks;
* ``cold``: as ``after``, decoded by a second speech server that makes a new recognizer for
  every utterance (``--warm 0``: before speech/warm_recognizers.py), at
  ``$TURNS_COLD_SOCKET``;
* ``unprimed``: as ``after``, decoded by a speech server that keeps recognizers but did not
  warm them at start on the prompts (before ``speech.warm_up_seconds``), at
  ``$TURNS_UNPRIMED_SOCKET``;
* ``fedsilence``: as ``after``, but the recognizer is fed the whole trailing silence until
  the turn ends (before ``speech.turns.SILENCE_FED_MS``);
* ``modelend``: as ``after``, but only the Silero model says when speech ends, not the
  line's noise level (before ``VadSettings.noise_margin_db``).

Closed questions (yes/no, a birth date as eight digits) decode with a grammar and end early
once the partial answers them; the open one decodes freely. One JSON line per question goes
to ``$TURNS_REPORT``: wall-clock times of the engine's steps and the number of words heard
(never the words).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import threading
import time
from datetime import datetime
from typing import Any

from ivr_flows.channel import Prompt
from ivr_flows.telephony_channel import StreamingSpeech, TelephonyChannel
from speech.turns import CLOSED_TURN, OPEN_TURN, TurnSettings, TurnTaker
from speech.vad import VadSettings
from telephony.session import CallEnded, CallSession

KINDS = ("yesno", "digits", "open")
CLOSED_KINDS = ("yesno", "digits")
YES_NO = ["네", "네 맞습니다", "아니요"]
DIGITS = ["공", "영", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"]
BIRTH_DIGITS = 8
QUESTIONS = {"yesno": "ask_known_patient", "digits": "ask_patient_code",
             "open": "ask_first_name"}
#: main's end-of-turn settings before this change: closed, open
MAIN_TURNS = (TurnSettings(end_ms=700, closed_end_ms=250), TurnSettings(end_ms=1000,
                                                                        closed_end_ms=1000))
LANGUAGE = "fr"  # the prompts' language; the speech server serves it with the Korean model
#: modes decoded by a speech server of their own (bench/turns.py starts it): its socket
OTHER_SERVERS = {"cold": "TURNS_COLD_SOCKET", "unprimed": "TURNS_UNPRIMED_SOCKET"}


@dataclasses.dataclass(frozen=True)
class Slot:
    """What the reply says: a moment with a doctor (as an appointment is said)."""

    local_start: datetime
    practitioner_name: str


SLOT = Slot(datetime(2026, 12, 15, 10, 30), "Docteur Lemaire")
REPLIES = {
    "yesno": Prompt("booking_confirmed", {"appointment": SLOT}),
    "digits": Prompt("existing_appointments", {"count": 2, "appointment": SLOT}),
    "open": Prompt("booking_readback", {"slot": SLOT}),
}
REPLY_SECONDS = 1.0  # a reply is cut after this (its start is what the benchmark times)
_SERVICE = re.compile(r"^turns-(?P<modes>[a-z.]+)-(?P<kinds>[a-z.]+)-r(?P<rounds>\d+)$")


def service_name(modes: list[str], rounds: int, kinds: tuple[str, ...] = KINDS) -> str:
    return f"turns-{'.'.join(modes)}-{'.'.join(kinds)}-r{rounds}"


def plan(service: str) -> list[tuple[str, str]]:
    """(kind, mode) of each question of a call, the same on both sides of the benchmark.

    Modes alternate inside each kind, their order turning from round to round."""
    match = _SERVICE.match(service)
    if match is None:
        return []
    modes, kinds = match["modes"].split("."), match["kinds"].split(".")
    out = []
    for round_ in range(int(match["rounds"])):
        turned = modes[round_ % len(modes):] + modes[: round_ % len(modes)]
        out += [(kind, mode) for kind in kinds for mode in turned]
    return out


def yes_no_answered(partial: str) -> bool:
    return bool({w for p in YES_NO for w in p.split()} & set(partial.split()))


def digits_answered(partial: str) -> bool:
    return sum(word in DIGITS for word in partial.split()) >= BIRTH_DIGITS


class TimedStream:
    """An utterance stream that notes when its input ended and its result came (wall time)."""

    def __init__(self, stream: Any, marks: dict[str, float]) -> None:
        self._stream, self._marks = stream, marks

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def end_input(self) -> None:
        self._marks["turn_end"] = time.time()  # the last segment's end counts
        self._stream.end_input()

    def result(self, timeout: float | None = None) -> Any:
        result = self._stream.result(timeout)
        self._marks["result"] = time.time()
        self._marks["end_reason"] = result.end_reason.value
        return result


class TimedEngine:
    """The workers' speech engine, its streams timed into the current question's marks."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.limits = engine.limits
        self.marks: dict[str, Any] = {}

    def start_utterance(self, language: str, **options: Any) -> Any:
        stream = self.engine.start_utterance(language, **options)
        return TimedStream(stream, self.marks) if hasattr(stream, "feed") else stream


class MainSpeech(StreamingSpeech):
    """main's listener before this change: the recognizer fed from the question's end, the
    turn ended by ``speech.turns.TurnTaker`` with main's settings (``MAIN_TURNS``)."""

    def listen(self, session: CallSession, language: str, timeout: float, *,
               turn: Any = None, satisfied: Any = None, phrases: Any = None) -> str:
        limits = dataclasses.replace(self.engine.limits, silence_timeout=timeout,
                                     vosk_endpoint=False)
        stream = self.engine.start_utterance(language, phrases=phrases, limits=limits)
        if not hasattr(stream, "feed"):
            return ""
        try:
            taker = TurnTaker(stream, settings=turn, satisfied=satisfied, silence_fed_ms=None)
            with session.audio_frames(max_frames=250) as frames:
                while not stream.done and not session.ended:
                    item = frames.get(0.1)
                    if item is not None and taker.feed(item[0]):
                        break
                stream.end_input()
            return stream.result(self.result_timeout).text
        except Exception:  # CallEnded, or no result in time: nothing heard
            stream.cancel()
            return ""


class EndpointSpeech(StreamingSpeech):
    """The old way of ending a turn: Vosk's endpoint or the energy check, nothing else."""

    def listen(self, session: CallSession, language: str, timeout: float, *,
               turn: Any = None, satisfied: Any = None, phrases: Any = None) -> str:
        limits = dataclasses.replace(self.engine.limits, silence_timeout=timeout,
                                     vosk_endpoint=True)
        stream = self.engine.start_utterance(language, phrases=phrases, limits=limits)
        if not hasattr(stream, "feed"):
            return ""
        try:
            with session.audio_frames(max_frames=250) as frames:
                while not stream.done and not session.ended:
                    item = frames.get(0.1)
                    if item is not None and not stream.feed(item[0]):
                        break
            return stream.result(self.result_timeout).text
        except Exception:  # CallEnded, or no result in time: nothing heard
            stream.cancel()
            return ""


_lock = threading.Lock()
_parts: dict[str, Any] = {}


def _engine_parts() -> dict[str, Any]:
    """This worker's speech engine and prompt composer, built once."""
    with _lock:
        if not _parts:
            from pathlib import Path

            from ivr_flows.prompts import composer_for
            from speech.client import RemoteSpeechEngine

            remote = RemoteSpeechEngine.from_environment()
            if remote is None:
                raise RuntimeError("TELESEC_RECOGNIZER_SOCKET is not set")
            _parts.update(remote=remote,
                          composer=composer_for(Path(os.environ["TELESEC_DATA_DIR"])))
            for mode, variable in OTHER_SERVERS.items():
                socket_path = os.environ.get(variable)
                _parts[mode] = RemoteSpeechEngine(Path(socket_path)) if socket_path else remote
        return _parts


def _listeners(engines: dict[str, TimedEngine]) -> dict[str, StreamingSpeech]:
    """One call's listeners, each mode's, timing into that call's marks."""
    engine = engines["after"]
    return {"after": StreamingSpeech(engine), "main": MainSpeech(engine),
            "fedsilence": StreamingSpeech(engine, silence_fed_ms=None),
            "modelend": StreamingSpeech(engine, vad=VadSettings(noise_margin_db=None)),
            "vosk": EndpointSpeech(engine),
            **{mode: StreamingSpeech(engines[mode]) for mode in OTHER_SERVERS}}


def _report(record: dict[str, Any]) -> None:
    path = os.environ.get("TURNS_REPORT")
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
    finally:
        os.close(fd)


def _timed_play(session: CallSession, marks: dict[str, Any]) -> None:
    """Note when each reply's first frame left the player (wall time)."""
    play = session.play

    def timed(audio: Any, **options: Any) -> Any:
        marks.setdefault("play_called", time.time())
        played = play(audio, **options)
        if played.started_at:
            marks.setdefault("first_frame", time.time() - (time.monotonic() - played.started_at))
        return played

    session.play = timed  # type: ignore[method-assign]


def answer_questions(session: CallSession) -> None:
    """Ask the questions of the dialled plan, reply to each, hang up."""
    parts = _engine_parts()
    engines = {"after": TimedEngine(parts["remote"]),  # this call's: its marks are its own
               **{mode: TimedEngine(parts[mode]) for mode in OTHER_SERVERS}}
    listeners = _listeners(engines)
    channel = TelephonyChannel(session, parts["composer"], speech=listeners["after"])
    marks: dict[str, Any] = {}
    _timed_play(session, marks)
    try:
        for index, (kind, mode) in enumerate(plan(session.dialled)):
            channel.speech = listeners[mode]
            if mode not in ("main", "vosk"):
                channel.prepare(list(REPLIES.values()), LANGUAGE)
            else:  # nothing composed ahead for an earlier question may serve this one
                channel.forget_prepared()
            channel.say([Prompt(QUESTIONS[kind])], LANGUAGE, barge_in=False)
            marks.clear()
            for timed in engines.values():
                timed.marks = marks
            closed = kind in CLOSED_KINDS
            turns = MAIN_TURNS if mode == "main" else (CLOSED_TURN, OPEN_TURN)
            heard = channel.listen(
                timeout=8.0, turn=turns[0] if closed else turns[1],
                satisfied=(yes_no_answered if kind == "yesno" else digits_answered)
                if closed else None,
                phrases=(YES_NO if kind == "yesno" else DIGITS) if closed else None)
            marks["heard"] = time.time()
            if "result" in marks:  # vosk: the turn ended at its own endpoint
                marks.setdefault("turn_end", marks["result"])
            words = len(heard.text.split())
            cut = threading.Timer(REPLY_SECONDS, session.stop_playing)
            cut.start()
            channel.say([REPLIES[kind]], LANGUAGE, barge_in=False)
            cut.cancel()
            _report({"call_id": session.call_id, "index": index, "kind": kind, "mode": mode,
                     "words": words, "digits": sum(w in DIGITS for w in heard.text.split()),
                     **marks})
        channel.hangup()
    except CallEnded:
        pass
    except Exception as exc:  # the type only: a message might carry data
        _report({"call_id": session.call_id, "error": type(exc).__name__})
    finally:
        with contextlib.suppress(Exception):
            session.hangup()


if os.environ.get("TURNS_REPORT"):
    # build the worker's speech engine and composer at start, not on the first call
    with contextlib.suppress(Exception):
        _engine_parts()
