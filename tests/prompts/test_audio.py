"""Prompt audio: espeak-ng synthesis and its cache, practices' recordings, run-time composition."""

from __future__ import annotations

import array
import math
import subprocess
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from foundation.errors import TelesecError
from ivr_flows.prompts import composer_for, recordings_dir
from ivr_flows.prompts.compose import PromptComposer, trim
from ivr_flows.prompts.synth import Synthesizer, ffmpeg_exe, from_espeak_wav, to_engine_format
from ivr_flows.prompts.upload import TARGET_DBFS, import_recording, normalise
from scheduling.values import Slot

BYTES_PER_SECOND = 32_000


def _rms_dbfs(pcm: bytes) -> float:
    samples = array.array("h", pcm)
    mean_square = sum(s * s for s in samples) / len(samples)
    return 20 * math.log10(math.sqrt(mean_square) / 32768)


def _cache_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.pcm")) if root.exists() else []


@pytest.fixture
def composer(tmp_path: Path) -> PromptComposer:
    return composer_for(tmp_path / "var")


def test_synth_gives_16k_pcm_of_plausible_length_and_caches_it(tmp_path: Path):
    synth = Synthesizer(tmp_path / "cache")
    text = "Bonjour, vous êtes bien au secrétariat du cabinet médical."
    pcm = synth.cached("fr-fr", text)
    assert len(pcm) % 2 == 0
    seconds = len(pcm) / BYTES_PER_SECOND
    assert 2.0 < seconds < 8.0, seconds  # ten words at a normal pace
    assert _rms_dbfs(pcm) > -40, "speech, not silence"
    cached = _cache_files(tmp_path / "cache")
    assert cached == [synth.cache_path("fr-fr", text)]
    assert cached[0].read_bytes() == pcm
    cached[0].write_bytes(b"\x01\x00" * 10)  # the cache is what is read the second time
    assert synth.cached("fr-fr", text) == b"\x01\x00" * 10
    assert synth.cache_path("en-gb", text) != cached[0], "keyed by voice too"


def test_speak_never_writes_to_disk(tmp_path: Path):
    synth = Synthesizer(tmp_path / "cache")
    assert len(synth.speak("fr-fr", "Madame Dupont")) > BYTES_PER_SECOND // 4
    assert not (tmp_path / "cache").exists()


def test_prompt_audio_is_cached_but_names_are_not(composer: PromptComposer, tmp_path: Path):
    slot = Slot(1, 2, "Docteur Zébulon Quintavalle", "consult",
                datetime(2024, 12, 3, 9, 30, tzinfo=UTC), datetime(2024, 12, 3, 9, 45, tzinfo=UTC),
                "Europe/Paris")
    pcm = composer.prompt("booking_readback", "fr", {"slot": slot})
    assert 3.0 < len(pcm) / BYTES_PER_SECOND < 15.0
    synth = composer.synth
    cached = {p.name for p in _cache_files(synth.cache_dir)}
    assert synth.cache_path("fr-fr", "décembre").name in cached
    assert synth.cache_path("fr-fr", "Je récapitule :").name in cached
    assert synth.cache_path("fr-fr", "Docteur Zébulon Quintavalle").name not in cached
    # every cached file is a catalogue piece or a fixed word, nothing else
    assert len(cached) == len({"Je récapitule :", "Est-ce que cela vous convient ?", "le",
                               "mardi", "3", "décembre", "à", "10", "heures", "30", "avec"})


def test_compose_date_and_time(composer: PromptComposer):
    day = composer.date(date(2024, 12, 3), "fr")
    clock = composer.time(time(10, 30), "fr")
    assert 0.8 < len(day) / BYTES_PER_SECOND < 4.0
    assert 0.6 < len(clock) / BYTES_PER_SECOND < 4.0
    assert len(composer.date(date(2024, 12, 3), "en")) > BYTES_PER_SECOND // 2
    both = composer.value(datetime(2024, 12, 3, 10, 30), "fr")
    assert len(both) > len(day) + len(clock) - BYTES_PER_SECOND // 2


def test_trim_removes_quiet_edges():
    quiet = bytes(3200)
    loud = array.array("h", [5000, -5000] * 800).tobytes()
    assert trim(quiet + loud + quiet) == loud
    assert trim(quiet) == b""


def _tone_file(tmp_path: Path, name: str, volume: float, extra: list[str]) -> Path:
    """A 1.5 s, 44.1 kHz stereo tone between silences, written by ffmpeg."""
    out = tmp_path / name
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi",
         "-i", f"sine=frequency=440:duration=1.5:sample_rate=44100,volume={volume},"
               "adelay=700|700,apad=pad_dur=0.8",
         "-ac", "2", *extra, str(out)],
        check=True, timeout=60,
    )
    return out


@pytest.mark.parametrize(("name", "extra"), [("quiet.wav", []), ("quiet.mp3", ["-b:a", "64k"])])
def test_uploaded_recording_is_normalised(tmp_path: Path, name: str, extra: list[str]):
    source = _tone_file(tmp_path, name, 0.05, extra)
    pcm = normalise(source)
    seconds = len(pcm) / BYTES_PER_SECOND
    assert 1.5 <= seconds < 1.8, f"silences trimmed to ~0.1 s each side, got {seconds}"
    assert abs(_rms_dbfs(pcm) - TARGET_DBFS) < 1.0
    assert max(abs(s) for s in array.array("h", pcm)) < 32767, "no clipping"


def test_import_recording_replaces_the_synthesised_prompt(tmp_path: Path):
    data = tmp_path / "var"
    source = _tone_file(tmp_path, "greeting.mp3", 0.5, ["-b:a", "64k"])
    stored = import_recording(source, practice="cabinet-durand", language="fr",
                              prompt_id="greeting", recordings_dir=recordings_dir(data))
    composer = composer_for(data)
    assert composer.prompt("greeting", "fr", practice="cabinet-durand") == stored.read_bytes()
    assert composer.prompt("greeting", "fr", practice="other") != stored.read_bytes()
    with pytest.raises(TelesecError, match="composed during the call"):
        import_recording(source, practice="cabinet-durand", language="fr",
                         prompt_id="cancel_done", recordings_dir=recordings_dir(data))
    with pytest.raises(TelesecError, match="not a valid"):
        import_recording(source, practice="../etc", language="fr",
                         prompt_id="greeting", recordings_dir=recordings_dir(data))


def test_garbage_upload_is_refused_in_one_line(tmp_path: Path):
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"definitely not audio" * 50)
    with pytest.raises(TelesecError) as refused:
        normalise(junk)
    assert "junk.mp3" in str(refused.value) and "\n" not in str(refused.value)
    silent = _tone_file(tmp_path, "silent.wav", 0.0, [])
    with pytest.raises(TelesecError, match="silent"):
        normalise(silent)


def test_espeak_audio_is_converted_in_process_as_ffmpeg_would():
    """A name said after an answer no longer waits for an ffmpeg process."""
    import numpy as np

    wav = subprocess.run(["espeak-ng", "-v", "fr", "--stdout", "--stdin"],
                         input=b"Docteur Lemaire", capture_output=True,
                         check=True).stdout
    ours = np.frombuffer(from_espeak_wav(wav) or b"", dtype="<i2").astype(float)
    theirs = np.frombuffer(to_engine_format(wav), dtype="<i2").astype(float)
    assert abs(len(ours) - len(theirs)) <= 2 and len(ours) > 8000
    n = min(len(ours), len(theirs))
    assert np.corrcoef(ours[:n], theirs[:n])[0, 1] > 0.99
    stereo = wav[:22] + (2).to_bytes(2, "little") + wav[24:]
    assert from_espeak_wav(stereo) is None  # anything else goes to ffmpeg
    assert from_espeak_wav(b"ID3 not a wav at all" * 4) is None


def test_serve_warms_recognizers_on_cached_catalogue_prompts(tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture):
    from foundation.settings import load_settings
    from telesec.commands.serve import warm_up_speech

    settings = load_settings(data_dir=tmp_path, speech={"warm_up_seconds": 3})
    files = warm_up_speech(settings, ["fr", "ko"])
    assert set(files) == {"fr"}  # no catalogue in Korean: said, and left out
    assert "not warmed for ko" in caplog.text
    audio = b"".join(path.read_bytes() for path in files["fr"])
    assert 2.5 <= len(audio) / 32000 <= 3
    assert all(path.is_relative_to(tmp_path) for path in files["fr"])
    off = load_settings(data_dir=tmp_path, speech={"warm_up_seconds": 0})
    assert warm_up_speech(off, ["fr"]) == {}
