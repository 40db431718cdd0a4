"""foundation.files.write_atomically: all or nothing, with the mode from the start."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from foundation.files import write_atomically


def test_the_file_is_replaced_whole_with_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "keys.json"
    target.write_bytes(b"old")
    target.chmod(0o644)
    write_atomically(target, b"new contents", mode=0o600, sync=True)
    assert target.read_bytes() == b"new contents"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    write_atomically(target, b"shared", mode=0o640)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"]  # no temporary file left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "prompt.pcm"
    target.write_bytes(b"old audio")
    # a process allowed files of 1 kB at most: the write fails half-way, as on a full disk
    script = (
        "import resource, signal, sys\n"
        "from pathlib import Path\n"
        "from foundation.files import write_atomically\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))\n"
        "try:\n"
        "    write_atomically(Path(sys.argv[1]), b'x' * 100_000, sync=True)\n"
        "except OSError as exc:\n"
        "    sys.exit(f'failed: {exc.strerror}')\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 1 and "failed: File too large" in done.stderr, done.stderr
    assert target.read_bytes() == b"old audio"
    assert [p.name for p in tmp_path.iterdir()] == ["prompt.pcm"]
