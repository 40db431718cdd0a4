"""The caller's frames are examined only while something needs them (telephony.media)."""

from __future__ import annotations

from telephony.audio import sine_tone
from telephony.media import CallerAudioTap, PromptPlayer, StopReason
from telephony.recording import MemorySink, StereoRecorder
from telephony.resample import downsample

LOUD = downsample(sine_tone(300, 0.04, level=0.5))  # one 40 ms frame at 8 kHz
PROMPT = bytes(8000)  # 0.5 s of silence at 8 kHz


def test_a_keys_only_prompt_leaves_the_caller_audio_alone():
    tap = CallerAudioTap(PromptPlayer(8000))
    assert not tap.wants_caller_audio()  # nothing plays, nothing listens
    prompt = tap.player.start(PROMPT, barge_in=True, speech_barge_in=False)
    assert not tap.wants_caller_audio()
    for _ in range(10):  # even if the port handed frames over, the voice stops nothing
        tap.caller_frame(LOUD)
    assert tap.counters.speech_starts == 0 and prompt.reason is None
    assert tap.player.interrupt(StopReason.KEY) and prompt.reason is StopReason.KEY


def test_a_speech_barge_in_prompt_subscribers_and_the_recorder_need_it():
    tap = CallerAudioTap(PromptPlayer(8000))
    prompt = tap.player.start(PROMPT, barge_in=True)
    assert tap.wants_caller_audio()
    for _ in range(3):
        tap.caller_frame(LOUD)
    assert prompt.reason is StopReason.SPEECH and tap.counters.speech_starts == 1
    assert not tap.wants_caller_audio()  # the prompt is over
    frames = tap.subscribe()
    assert tap.wants_caller_audio()
    tap.unsubscribe(frames)
    recorder = StereoRecorder(MemorySink(), rate=8000)
    tap.attach_recorder(recorder)
    assert tap.wants_caller_audio()
    tap.attach_recorder(None)
    recorder.stop()
    assert not tap.wants_caller_audio()


def test_the_detector_starts_afresh_after_a_pause():
    tap = CallerAudioTap(PromptPlayer(8000))
    frames = tap.subscribe()
    for _ in range(3):
        tap.caller_frame(LOUD)
    assert tap.vad.speaking
    tap.unsubscribe(frames)
    tap.caller_frame(LOUD)  # nobody listens: the detector skips it
    frames = tap.subscribe()
    tap.caller_frame(bytes(len(LOUD)))
    assert not tap.vad.speaking  # not the stale state of before
    assert frames.get(0.1)[1] is False


def test_a_lazy_listener_is_woken_by_speech_or_a_batch_of_quiet_frames_only():
    from telephony.media import QUIET_BATCH_FRAMES, FrameQueue

    frames = FrameQueue(50, 16000)
    wakes = []
    frames._ready.notify = lambda n=1: wakes.append(n)
    frames.put(bytes(640), False, -70.0)
    assert wakes == [1]  # eager by default: every frame
    frames.get(0)
    frames.quiet_dbfs = -50.0
    for _ in range(QUIET_BATCH_FRAMES - 1):
        frames.put(bytes(640), False, -70.0)
    assert wakes == [1]
    frames.put(LOUD[:640], False, -20.0)  # speech: at once, after the quiet ones
    assert wakes == [1, 1]
    assert len(frames) == QUIET_BATCH_FRAMES
    while frames.get(0):
        pass
    for _ in range(QUIET_BATCH_FRAMES):
        frames.put(bytes(640), False, -70.0)
    assert wakes == [1, 1, 1]  # a full batch of quiet frames


def test_a_batch_is_upsampled_as_frame_by_frame_and_wakes_on_the_first_loud_frame():
    from telephony.media import FrameQueue

    narrow = [bytes(320)] * 3 + [LOUD[:320]] + [bytes(320)]
    one, batch = FrameQueue(50, 8000), FrameQueue(50, 8000)
    for frames in (one, batch):
        frames.quiet_dbfs = -50.0
    wakes = []
    batch._ready.notify = lambda n=1: wakes.append(n)
    for frame in narrow[:4]:
        one.put(frame, False, -70.0)
        batch.put(frame, False, -20.0 if frame == LOUD[:320] else -70.0)
    assert wakes == [1]  # the loud frame wakes the listener at once
    got = batch.get_batch(0)
    assert [frame for frame, _ in got] == [one.get(0)[0] for _ in range(4)]
    one.put(narrow[4], False, -70.0)
    batch.put(narrow[4], False, -70.0)
    assert batch.get_batch(0) == [one.get(0)]  # the filter's history carried over
    assert batch.get_batch(0) == []


def test_wake_ends_a_long_wait_for_a_batch_even_before_it_starts():
    import time

    from telephony.media import FrameQueue

    frames = FrameQueue(50, 8000)
    frames.wake()  # before the wait: the next one returns at once (no lost wake-up)
    started = time.monotonic()
    assert frames.get_batch(5.0) == []
    assert time.monotonic() - started < 1.0
    frames.put(bytes(320), False, -70.0)
    assert len(frames.get_batch(5.0)) == 1  # the flag is spent: frames come as before


def test_a_counting_listener_is_given_a_silent_run_as_its_length():
    """With ``quiet_keep``, a silent run wakes nobody and comes as its number of 16 kHz
    samples; its last frames are kept as audio and handed over before the louder one."""
    from telephony.media import FrameQueue

    frames = FrameQueue(50, 8000)
    frames.quiet_dbfs, frames.quiet_keep = -50.0, 3
    wakes = []
    frames._ready.notify = lambda n=1: wakes.append(n)
    for _ in range(20):
        frames.put(bytes(320), False, -70.0)
    assert wakes == []  # the first one is a quiet frame as before, the others a run
    first, counted = frames.get_counted(0)
    assert len(first[0]) == 640 and counted == 16 * 320  # 20 ms frames; 3 still kept
    frames.put(bytes(320), False, -53.0)  # quiet, but too near the floor to be counted
    frames.put(LOUD[:320], False, -20.0)
    assert wakes == [1]
    got = frames.get_counted(0)
    assert [len(item[0]) for item in got] == [640] * 5 and not any(got[4][0][:2])
    assert frames.get_counted(0) == []


def test_a_counted_run_left_behind_comes_as_silence_frame_by_frame():
    from telephony.media import FrameQueue

    frames = FrameQueue(50, 8000)
    frames.quiet_dbfs, frames.quiet_keep = -50.0, 2
    for _ in range(6):
        frames.put(bytes(320), False, -70.0)
    frames.quiet_dbfs, frames.quiet_keep = None, 0  # the listener hears speech: every frame
    frames.put(LOUD[:320], True, -20.0)
    sizes = []
    while (item := frames.get(0)) is not None:
        sizes.append(len(item[0]))
    assert sizes == [640, 3 * 640, 640, 640, 640]  # 3 frames counted: one of zeros


def test_a_key_wakes_a_listener_waiting_for_a_silent_callers_frames():
    import threading
    import time

    tap = CallerAudioTap(PromptPlayer(8000))
    frames = tap.subscribe()
    frames.quiet_dbfs, frames.quiet_keep = -50.0, 3
    threading.Timer(0.1, tap.wake_listeners).start()  # what CallSession.dtmf does
    started = time.monotonic()
    frames.get_counted(5.0)
    assert time.monotonic() - started < 2.0
    for _ in range(5):
        tap.caller_frame(bytes(640))
    assert frames.held_samples == 3 * 640  # the run's last 3 frames, at 16 kHz
