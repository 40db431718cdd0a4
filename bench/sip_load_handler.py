"""The call handler of bench/sip_load.py: a recorded one-key DTMF menu, then a held line.

``menu_recorded(session)``: starts recording (into the encrypted vault, or an in-memory
sink that only counts bytes: ``SIP_LOAD_SINK=vault|memory``), plays the menu prompt
(440 Hz, quiet, barge-in), collects one key, plays the next prompt (660 Hz, loud: the
caller detects its first packet), then keeps the line up until ``hold`` seconds after
the answer and hangs up. The hold time comes from the dialled number
(``lvl<level>-hold<seconds>``), so one worker pool serves every level of the benchmark.

With ``SIP_LOAD_VAD=1`` (``sip_load.py --vad``), the call is also watched as an IVR with
speech on watches it: the caller's frames go to a Silero VAD (``speech.vad``) in a thread of
their own for the whole call, behind :class:`speech.barge_in.BargeInDetector` (the prompt's
echo taken out) while the menu plays, as ``ivr_flows.telephony_channel`` does.

One JSON line per call is appended to ``$SIP_LOAD_REPORT`` (engine-side figures only:
call-id, key-to-prompt delay, media clock and jitter-buffer counters; no caller number,
no audio).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from typing import Any

from telephony.audio import FRAME_MS, sine_tone
from telephony.recording import RECORDING_CHANNELS
from telephony.session import CallEnded, CallSession

PROMPT_MENU = sine_tone(440, 4.0, level=0.1)  # A-law peak class < 100 at the caller
PROMPT_NEXT = sine_tone(660, 1.0, level=0.6)  # A-law peak class >= 100: "the next prompt"
_HOLD = re.compile(r"hold(\d+)")
FRAME_SAMPLES = 16_000 * FRAME_MS // 1000  # a frame handed to the VAD (16 kHz)

_lock = threading.Lock()
_vault: Any = None


class CountingSink:
    """A recording sink that discards the audio and counts the bytes."""

    def __init__(self) -> None:
        self.size = 0
        self.closed = False
        self.aborted = False

    def append(self, data: bytes) -> None:
        self.size += len(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


def vad_on() -> bool:
    return os.environ.get("SIP_LOAD_VAD") == "1"


class VadWatcher:
    """The caller's frames through Silero VAD for the whole call (as an IVR with speech on:
    barge-in detection while the menu plays, then the turn detector)."""

    def __init__(self, session: CallSession, prompt: bytes) -> None:
        self.session = session
        self.prompt = prompt
        self.menu_done = threading.Event()
        self.stop = threading.Event()
        self.frames_seen = 0
        self.model_windows = 0
        self.lazy = os.environ.get("SIP_LOAD_VAD_LAZY", "1") == "1"
        self.batched = self.lazy  # --vad-eager: one frame per wake-up, as before
        self._context = session.audio_frames(max_frames=100)
        self._frames = self._context.__enter__()
        self._thread = threading.Thread(target=self._run, name="vad-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from speech.barge_in import BargeInDetector
        from speech.vad import voice_detector

        barge = BargeInDetector(self.prompt)
        turn = voice_detector()
        frames = self._frames
        # quiet frames need not wake this thread one by one, unless a turn is under way
        # (its end is timed on them): telephony.media.FrameQueue.quiet_dbfs
        floor = turn.settings.floor_dbfs if self.lazy else None
        frames.quiet_dbfs = floor
        # quiet frames per wake-up (FrameQueue.quiet_batch; 5 = 200 ms unless set)
        frames.quiet_batch = int(os.environ.get("SIP_LOAD_VAD_BATCH", frames.quiet_batch))
        # a silent caller's frames only counted, the last 16 (640 ms) kept, as the IVR's
        # listener keeps its pre-roll (FrameQueue.get_counted; SIP_LOAD_VAD_KEEP=0: not)
        frames.quiet_keep = int(os.environ.get("SIP_LOAD_VAD_KEEP", "16")) if self.lazy else 0
        while not self.stop.is_set() and not frames.closed:
            batch: list[tuple[bytes, bool] | int]
            if not self.batched:
                item = frames.get(0.1)
                batch = [item] if item is not None else []
            else:  # every queued frame in one wake-up (FrameQueue.get_counted); close()
                # wakes it, so quiet frames, not the timeout, set the pace
                batch = frames.get_counted(1.0)
            if not batch:
                continue
            chunks = [item if isinstance(item, int) else item[0] for item in batch]
            self.frames_seen += sum(1 if isinstance(c, bytes) else c // FRAME_SAMPLES
                                    for c in chunks)
            if self.menu_done.is_set():
                self._feed_turn(turn, chunks)
                frames.quiet_dbfs = None if turn.speaking else floor
            else:
                barge.feed_many(chunks)
        self.model_windows = barge.detector.model_windows + turn.model_windows

    @staticmethod
    def _feed_turn(turn: Any, chunks: list[bytes | int]) -> None:
        """Frames joined between silent runs only counted (``VoiceDetector.skip``)."""
        run: list[bytes] = []
        for chunk in chunks:
            if isinstance(chunk, int):
                if run:
                    turn.feed(b"".join(run))
                    run = []
                turn.skip(chunk)
            else:
                run.append(chunk)
        if run:
            turn.feed(b"".join(run))

    def close(self) -> None:
        self.stop.set()
        self._context.__exit__(None, None, None)
        self._thread.join(2.0)


def sink_kind() -> str:
    return os.environ.get("SIP_LOAD_SINK", "vault")


def shared_vault() -> Any:
    """The vault of the configured data directory (TELESEC_*), opened once per process."""
    global _vault
    with _lock:
        if _vault is None:
            from foundation.settings import load_settings
            from telesec.wiring import open_vault

            _vault = open_vault(load_settings())
        return _vault


def _open_sink(session: CallSession) -> Any:
    if sink_kind() != "vault":
        return CountingSink()
    from telephony.recording import open_vault_sink

    return open_vault_sink(shared_vault(), call_id=session.call_id,
                           rate=session.sample_rate)


def _stream_counters(session: CallSession) -> dict[str, int] | None:
    """Jitter-buffer counters of the call's stream, read on the SIP thread (or None).

    Reaches into the call leg (``session._control``): a benchmark-only peek that
    degrades to None if the worker's internals change.
    """
    leg = getattr(session, "_control", None)
    endpoint = getattr(leg, "endpoint", None)
    if leg is None or endpoint is None:
        return None

    def read() -> dict[str, int] | None:
        call = leg.call
        if call is None or leg.audio_index < 0:
            return None
        stat = call.getStreamStat(leg.audio_index)
        return {"jb_empty": stat.jbuf.empty, "jb_lost": stat.jbuf.lost,
                "jb_discard": stat.jbuf.discard, "rx_loss": stat.rtcp.rxStat.loss,
                "rx_pkt": stat.rtcp.rxStat.pkt}

    try:
        return endpoint.post(read).result(timeout=2.0)
    except Exception:
        return None


def _snapshot(session: CallSession) -> dict[str, Any]:
    counters = session.tap.counters
    return {"t": time.monotonic(), "engine_frames": counters.engine_frames,
            "caller_frames": counters.caller_frames, "stream": _stream_counters(session)}


def _window(first: dict[str, Any], last: dict[str, Any]) -> dict[str, Any]:
    """Engine-side media figures between two snapshots."""
    expected = (last["t"] - first["t"]) * 1000 / FRAME_MS
    out: dict[str, Any] = {
        "window_s": round(last["t"] - first["t"], 2),
        "clock_deficit_ms": round(
            (expected - (last["engine_frames"] - first["engine_frames"])) * FRAME_MS),
        "caller_deficit_ms": round(
            (expected - (last["caller_frames"] - first["caller_frames"])) * FRAME_MS),
    }
    if first["stream"] and last["stream"]:
        for key in ("jb_empty", "jb_lost", "jb_discard", "rx_loss"):
            out[key] = last["stream"][key] - first["stream"][key]
    return out


def _report(record: dict[str, Any]) -> None:
    path = os.environ.get("SIP_LOAD_REPORT")
    if not path:
        return
    line = (json.dumps(record) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)  # one write on O_APPEND: lines from many workers never mix
    finally:
        os.close(fd)


def menu_recorded(session: CallSession) -> None:
    """Recorded menu: prompt, one key, next prompt, hold until the set time, hang up."""
    answered = time.monotonic()
    match = _HOLD.search(session.dialled)
    hold_until = answered + (float(match.group(1)) if match else 10.0)
    record: dict[str, Any] = {"call_id": session.call_id, "dialled": session.dialled,
                              "sink": sink_kind(), "ok": False}
    sink: Any = None
    watcher: VadWatcher | None = None
    try:
        sink = _open_sink(session)
        record["sink_open_ms"] = round((time.monotonic() - answered) * 1000, 1)
        session.start_recording(sink)
        recording_from = time.monotonic()
        if vad_on():
            watcher = VadWatcher(session, PROMPT_MENU)
        session.play(PROMPT_MENU)
        digits = session.collect_digits(max_digits=1, timeout=10.0, terminator=None)
        if watcher is not None:
            watcher.menu_done.set()
        nxt = session.play(PROMPT_NEXT, barge_in=False)
        # media counters over the held part (the key itself leaves a hole in the
        # caller's audio stream that the jitter buffer would count)
        first = _snapshot(session)
        if digits.digits and nxt.started_at:
            record["key_to_prompt_ms"] = round((nxt.started_at - session.last_key_at) * 1000, 1)
        record["digits"] = len(digits.digits)
        remaining = hold_until - time.monotonic()
        if remaining > 0 and session.wait_ended(remaining):
            raise CallEnded(session.end_reason or "call ended")
        last = _snapshot(session)
        record.update(_window(first, last))
        session.stop_recording()
        recorded_s = time.monotonic() - recording_from
        record["rec_expected_ms"] = round(recorded_s * 1000)
        record["rec_ms"] = (getattr(sink, "size", 0) * 1000  # kept at the bridge's rate
                            // (RECORDING_CHANNELS * 2 * session.sample_rate))
        record["ok"] = bool(digits.digits) and not sink_failed(sink)
        if not digits.digits:
            record["ended"] = "no key received"
        elif sink_failed(sink):
            record["ended"] = "recording sink failed"
        session.hangup()
    except CallEnded as ended:
        record["ended"] = ended.reason
    except Exception as exc:  # type only: a message might carry data
        record["error"] = type(exc).__name__
    finally:
        with contextlib.suppress(Exception):
            session.stop_recording()
        if watcher is not None:
            with contextlib.suppress(Exception):
                watcher.close()
            record["vad_frames"] = watcher.frames_seen
            record["vad_model_windows"] = watcher.model_windows
        record["seconds"] = round(time.monotonic() - answered, 2)
        _report(record)


def sink_failed(sink: Any) -> bool:
    return bool(getattr(sink, "aborted", False))


if sink_kind() == "vault" and os.environ.get("SIP_LOAD_REPORT"):
    # Open the vault when the worker imports this module (at its start), as a production
    # worker should: opening it on the first call costs ~1.5 s of CPU (imports, database,
    # keyring) in the handler thread, which holds the GIL and makes that worker's media late.
    shared_vault()

if vad_on():
    from speech.vad import load_silero

    load_silero()  # at start, as ivr_flows.telephony_channel does: not on the first call
