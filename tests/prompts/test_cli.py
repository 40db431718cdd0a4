"""`telesec prompts synth` and `telesec prompts import` as a person runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ivr_flows.prompts import cache_dir, recordings_dir
from ivr_flows.prompts.catalogue import load_catalogue
from ivr_flows.prompts.synth import ffmpeg_exe


def _telesec(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELESEC_")}
    env["TELESEC_DATA_DIR"] = str(cwd / "var")
    return subprocess.run(
        [sys.executable, "-c", "from telesec.cli import main; main()", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=180,
    )


def test_prompts_synth_fills_the_cache(tmp_path: Path):
    run = _telesec("prompts", "synth", "--lang", "en", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    prompts = len(load_catalogue("en").ids)
    assert run.stdout.startswith(f"en: {prompts} prompts and 86 words cached")
    files = list(cache_dir((tmp_path / "var").resolve()).rglob("*.pcm"))
    assert len(files) >= prompts + 86 - 5  # a few texts are shared between prompts


def test_prompts_import(tmp_path: Path):
    source = tmp_path / "hello.wav"
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi",
         "-i", "sine=frequency=300:duration=1", str(source)], check=True, timeout=60,
    )
    run = _telesec("prompts", "import", "greeting", str(source), "--practice", "cab1",
                   cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    stored = recordings_dir((tmp_path / "var").resolve()) / "cab1" / "fr" / "greeting.pcm"
    assert stored.is_file() and 0.9 < stored.stat().st_size / 32_000 < 1.3
    bad = _telesec("prompts", "import", "nope", str(source), "--practice", "cab1", cwd=tmp_path)
    assert bad.returncode != 0
    assert bad.stderr.count("\n") == 1 and "nope" in bad.stderr
