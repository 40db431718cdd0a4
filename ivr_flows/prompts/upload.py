"""A practice's own recordings (WAV, MP3...) turned into engine audio: 16 kHz mono s16le,
silence trimmed at both ends, loudness brought to a common level so every prompt of a call
sounds equally loud. Decoding uses the ffmpeg shipped by imageio-ffmpeg; pydub does the levels.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from foundation.errors import TelesecError
from foundation.files import write_atomically
from ivr_flows.prompts.catalogue import load_catalogue
from ivr_flows.prompts.compose import recording_path
from ivr_flows.prompts.synth import SAMPLE_RATE, ffmpeg_exe, to_engine_format

TARGET_DBFS = -20.0  # average loudness (RMS) of every prompt
PEAK_CEILING_DBFS = -1.0  # never amplify into clipping
KEEP_EDGE_MS = 100  # silence kept before and after the voice
SILENCE_BELOW_PEAK_DB = 35.0  # quieter than the loudest moment by this much: silence
MAX_SECONDS = 120.0


def _audio_segment_class():
    with warnings.catch_warnings():  # pydub warns about audioop and a missing system ffmpeg
        warnings.simplefilter("ignore")
        from pydub import AudioSegment
    AudioSegment.converter = ffmpeg_exe()
    return AudioSegment


def normalise(source: Path) -> bytes:
    """The recording in ``source`` as loudness-normalised engine PCM."""
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise TelesecError(f"cannot read {source} ({exc.strerror}); check the path") from None
    try:
        pcm = to_engine_format(raw)
    except TelesecError as exc:
        raise TelesecError(f"{source.name}: {exc}; give a WAV or MP3 file") from None
    audio_segment = _audio_segment_class()
    from pydub.silence import detect_leading_silence

    segment = audio_segment(data=pcm, sample_width=2, frame_rate=SAMPLE_RATE, channels=1)
    if len(segment) == 0 or segment.rms == 0:
        raise TelesecError(f"{source.name} is silent; record the prompt again")
    if segment.duration_seconds > MAX_SECONDS:
        raise TelesecError(
            f"{source.name} lasts {segment.duration_seconds:.0f} s; a prompt may last at most "
            f"{MAX_SECONDS:.0f} s"
        )
    quiet = max(segment.max_dBFS - SILENCE_BELOW_PEAK_DB, -70.0)  # relative: quiet files too
    lead = max(0, detect_leading_silence(segment, silence_threshold=quiet) - KEEP_EDGE_MS)
    tail = max(0, detect_leading_silence(segment.reverse(), silence_threshold=quiet) - KEEP_EDGE_MS)
    segment = segment[lead : len(segment) - tail]
    gain = min(TARGET_DBFS - segment.dBFS, PEAK_CEILING_DBFS - segment.max_dBFS)
    segment = segment.apply_gain(gain)
    return segment.raw_data


def import_recording(
    source: Path, *, practice: str, language: str, prompt_id: str, recordings_dir: Path
) -> Path:
    """Normalise ``source`` and store it as the practice's recording of ``prompt_id``."""
    catalogue = load_catalogue(language)
    placeholders = catalogue.composed_parts(prompt_id)  # raises for an unknown prompt id
    if placeholders:
        raise TelesecError(
            f"prompt {prompt_id!r} has parts composed during the call "
            f"({', '.join(placeholders)}); it cannot be replaced by a recording"
        )
    target = recording_path(recordings_dir, practice, language, prompt_id)
    pcm = normalise(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, pcm)
    return target
