"""The pure-Python parts of a call: keys, prompts, voice detection, the recorder (no SIP)."""

from __future__ import annotations

import threading
import time

import pjsua2 as pj

from telephony.audio import FRAME_BYTES, SILENT_FRAME, samples, sine_tone
from telephony.dtmf import DigitBuffer
from telephony.media import (
    AnswererTap,
    CallerAudioTap,
    PromptPlayer,
    StopReason,
    fill_vector,
    mix_frames,
    vector_bytes,
)
from telephony.recording import MemorySink, StereoRecorder
from telephony.vad import VoiceActivityDetector, VoiceEvent


def test_digits_are_collected_in_order_up_to_the_terminator():
    keys = DigitBuffer()
    for key in "12#9":
        keys.push(key)
    assert keys.collect(8, timeout=0.1) == ("12", True)
    assert keys.collect(8, timeout=0.05) == ("9", False)
    assert keys.push("x") is False


def test_collect_wakes_when_the_call_ends():
    keys = DigitBuffer()
    threading.Timer(0.1, keys.close).start()
    started = time.monotonic()
    assert keys.collect(4, timeout=5.0) == ("", False)
    assert time.monotonic() - started < 1.0


def test_a_key_or_speech_stops_a_barge_in_prompt_but_not_a_mandatory_one():
    player = PromptPlayer()
    prompt = player.start(sine_tone(440, 1.0), barge_in=True)
    assert player.next_frame() != SILENT_FRAME
    assert player.interrupt(StopReason.KEY)
    assert prompt.reason is StopReason.KEY and prompt.done.is_set()
    assert player.next_frame() == SILENT_FRAME
    mandatory = player.start(sine_tone(440, 0.1), barge_in=False)
    assert not player.interrupt(StopReason.SPEECH)
    frames = [player.next_frame() for _ in range(5)]
    assert mandatory.reason is StopReason.FINISHED
    assert all(len(f) == FRAME_BYTES for f in frames)


def test_voice_detector_starts_and_ends_speech():
    vad = VoiceActivityDetector()
    loud = sine_tone(300, 0.02)
    events = [vad.feed(loud) for _ in range(10)] + [vad.feed(SILENT_FRAME) for _ in range(40)]
    assert events.count(VoiceEvent.SPEECH_STARTED) == 1
    assert events.count(VoiceEvent.SPEECH_ENDED) == 1


def test_voice_detector_times_speech_in_milliseconds_whatever_the_frame_length():
    for frame_s in (0.02, 0.04, 0.06):
        vad = VoiceActivityDetector()
        loud, quiet = sine_tone(300, frame_s), bytes(int(16000 * frame_s) * 2)
        started = ended = None
        loud_frames = round(1.2 / frame_s)  # 1.2 s: a whole number of frames of each length
        feed = [loud] * loud_frames + [quiet] * round(1.5 / frame_s)
        for index, frame in enumerate(feed):
            event = vad.feed(frame)
            at_ms = round((index + 1) * frame_s * 1000)
            if event is VoiceEvent.SPEECH_STARTED:
                started = at_ms
            elif event is VoiceEvent.SPEECH_ENDED:
                ended = at_ms
        frame_ms = frame_s * 1000
        assert started is not None and 60 <= started < 60 + frame_ms, (frame_s, started)
        assert ended is not None and 1900 <= ended < 1900 + frame_ms, (frame_s, ended)


def test_caller_speech_interrupts_the_prompt_through_the_tap():
    player = PromptPlayer()
    tap = CallerAudioTap(player)
    prompt = player.start(sine_tone(440, 2.0), barge_in=True)
    frames = tap.subscribe(max_frames=3)
    for _ in range(5):
        tap.caller_frame(sine_tone(300, 0.02))
    assert prompt.reason is StopReason.SPEECH
    assert frames.dropped == 2 and len(frames) == 3  # bounded, oldest dropped


def test_recorder_writes_caller_left_engine_right():
    sink = MemorySink()
    recorder = StereoRecorder(sink)
    caller, engine = sine_tone(300, 0.02), SILENT_FRAME
    for _ in range(50):
        recorder.caller_frame(caller)
        recorder.engine_frame(engine)
    recorder.stop()
    assert sink.closed and not sink.aborted
    stereo = samples(sink.data)
    assert len(stereo) == 2 * 50 * (FRAME_BYTES // 2)
    assert max(abs(v) for v in stereo[0::2]) > 5000
    assert max(abs(v) for v in stereo[1::2]) == 0


def test_a_bridged_answerer_is_recorded_on_the_engine_side_not_sent_back():
    player = PromptPlayer()
    tap = CallerAudioTap(player)
    sink = MemorySink()
    recorder = StereoRecorder(sink)
    tap.attach_recorder(recorder)
    answerer = AnswererTap(tap)  # what the bridge port hearing the secretary feeds
    voice = sine_tone(1000, 0.02)
    sent = []
    for _ in range(25):
        answerer.caller_frame(voice)
        assert answerer.engine_frame() == SILENT_FRAME
        tap.caller_frame(SILENT_FRAME)
        sent.append(tap.engine_frame())
    recorder.stop()
    assert all(frame == SILENT_FRAME for frame in sent)  # the caller hears her via the bridge
    stereo = samples(sink.data)
    assert max(abs(v) for v in stereo[1::2]) > 5000 and max(abs(v) for v in stereo[0::2]) == 0
    loud = sine_tone(300, 0.02)
    mixed = samples(mix_frames(loud, loud))
    assert max(mixed) == 32767 or max(mixed) == 2 * max(samples(loud))  # summed, clipped


def test_an_engine_frame_is_copied_into_the_frame_buffer_pjsua2_reads():
    frame = pj.MediaFrame()
    for data in (bytes(range(256)) * 2 + bytes(128), b"", b"\x01\x02\x03", SILENT_FRAME):
        fill_vector(frame.buf, data)
        assert vector_bytes(frame.buf) == data


def test_a_failing_sink_is_aborted_not_fatal():
    class BrokenSink(MemorySink):
        def append(self, data: bytes) -> None:
            raise OSError("disk full")

    sink = BrokenSink()
    recorder = StereoRecorder(sink)
    recorder.caller_frame(SILENT_FRAME)
    recorder.engine_frame(SILENT_FRAME)
    recorder.stop()
    assert sink.aborted and isinstance(recorder.error, OSError)


def test_hold_audio_loops_until_stopped():
    player = PromptPlayer()
    hold = player.start(sine_tone(440, 0.05), barge_in=False, loop=True)
    frames = [player.next_frame() for _ in range(20)]  # 0.4 s from a 0.05 s loop
    assert all(f != SILENT_FRAME for f in frames[:2]) and not hold.done.is_set()
    other = PromptPlayer().start(b"", barge_in=False)
    assert not player.interrupt(StopReason.STOPPED, only_barge_in=False, only=other)
    assert player.interrupt(StopReason.STOPPED, only_barge_in=False, only=hold)
    assert hold.reason is StopReason.STOPPED


class _FakeLeg:
    def __init__(self) -> None:
        self.disconnected = False
        self.end_reason = ""
        self.bridge = None
        self.call = object()
        self.info = type("Info", (), {"call_id": "test"})()


class _FakeEndpoint:
    def __init__(self, free: int) -> None:
        self.free = free
        self.dialled: list[str] = []
        self.bridges: list = []

    def free_lines(self) -> int:
        return self.free

    def dial(self, target: str, bridge):
        from telephony.transfer import OutboundLeg

        self.dialled.append(target)
        return OutboundLeg(self, len(self.dialled), target, bridge)

    def add_bridge(self, bridge) -> None:
        self.bridges.append(bridge)

    def sip_call(self, key: int):
        return None


def test_a_bridge_with_no_free_line_is_refused_cleanly():
    from concurrent.futures import Future

    from telephony.transfer import BridgedTransfer

    endpoint, future = _FakeEndpoint(free=0), Future()
    BridgedTransfer(endpoint, _FakeLeg(), ["sip:a@x", "sip:b@x"], 5.0, future).start()
    result = future.result(0)
    assert not result.ok and result.detail == "no free line for the outbound call"
    assert endpoint.dialled == []


def test_a_bridge_dials_only_as_many_targets_as_free_lines_and_gives_up_at_the_deadline():
    from concurrent.futures import Future

    from telephony.transfer import BridgedTransfer

    endpoint, future = _FakeEndpoint(free=1), Future()
    bridge = BridgedTransfer(endpoint, _FakeLeg(), ["sip:a@x", "sip:b@x"], 5.0, future)
    bridge.start()
    assert endpoint.dialled == ["sip:a@x"] and not future.done()
    bridge.tick(time.monotonic() + 1.0)
    assert not future.done()
    bridge.tick(time.monotonic() + 6.0)
    result = future.result(0)
    assert not result.ok and result.status_code == 408 and result.detail == "no answer"
