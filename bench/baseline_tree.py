"""The files of a git revision of this repository, for a benchmark's baseline side by side."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def export(revision: str) -> Path:
    """``revision`` (``git archive``) unpacked in a new temporary directory."""
    target = Path(tempfile.mkdtemp(prefix="telesec-baseline-"))
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target
