"""The 8 kHz <-> 16 kHz conversion of narrowband workers (telephony.resample)."""

from __future__ import annotations

import math
from array import array

from telephony.audio import rms_dbfs, samples, sine_tone
from telephony.media import FrameQueue
from telephony.resample import Upsampler, downsample, prompt_at


def tone_8k(hz: float, seconds: float) -> bytes:
    return array("h", (int(0.3 * 32767 * math.sin(2 * math.pi * hz * i / 8000))
                       for i in range(int(8000 * seconds)))).tobytes()


def test_downsampling_keeps_the_voice_band_and_removes_what_would_alias():
    for hz in (300, 1000, 3000):
        out = downsample(sine_tone(hz, 1.0))
        assert len(out) == 16000  # 1 s at 8 kHz
        assert abs(rms_dbfs(out[2000:-2000]) - rms_dbfs(sine_tone(hz, 1.0))) < 1.0
    # 6 kHz would fold to 2 kHz: filtered out instead
    assert rms_dbfs(downsample(sine_tone(6000, 1.0))[2000:-2000]) < -60


def test_upsampling_frame_by_frame_matches_the_16k_tone():
    upsampler = Upsampler()
    pcm = tone_8k(1000, 1.0)
    out = b"".join(upsampler.convert(pcm[i:i + 640]) for i in range(0, len(pcm), 640))
    assert len(out) == 2 * len(pcm)
    got, want = samples(out)[112:15000], samples(sine_tone(1000, 1.0))[100:14988]  # 12 late
    corr = sum(a * b for a, b in zip(got, want, strict=True)) / math.sqrt(
        sum(a * a for a in got) * sum(b * b for b in want))
    assert corr > 0.99


def test_prompts_are_converted_once_and_frames_only_for_listeners():
    pcm = sine_tone(440, 0.5)
    assert prompt_at(pcm, 16000) is pcm
    assert prompt_at(pcm, 8000) is prompt_at(pcm, 8000)  # cached
    queue = FrameQueue(rate=8000)
    queue.put(tone_8k(440, 0.04), False)
    frame, speaking = queue.get(0.1)
    assert len(frame) == 1280 and speaking is False  # 40 ms at 16 kHz for the listener
