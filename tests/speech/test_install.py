"""`telesec models install`: download, pinned checksum, atomic unpack — and every refusal."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import socket
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from foundation.errors import TelesecError
from speech.install import install_release
from speech.models import OFFICIAL_RELEASES, ModelRelease, layout_problem

NAME = OFFICIAL_RELEASES["fr"].name


def _fake_model_zip(top: str = NAME, extra: dict[str, bytes] | None = None) -> bytes:
    """A zip laid out like a Vosk lookahead model (the contents are placeholders)."""
    files = {
        f"{top}/am/final.mdl": b"acoustic",
        f"{top}/conf/model.conf": b"--beam=10\n",
        f"{top}/conf/mfcc.conf": b"--num-ceps=40\n",
        f"{top}/graph/HCLr.fst": b"hclr",
        f"{top}/graph/Gr.fst": b"gr",
        f"{top}/README": b"fake model for tests\n",
    }
    files.update(extra or {})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _release(url: str, payload: bytes) -> ModelRelease:
    return replace(
        OFFICIAL_RELEASES["fr"], url=url, sha256=hashlib.sha256(payload).hexdigest(),
        size_bytes=len(payload),
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server publishing the files put in the returned folder."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_good_archive_over_http_is_installed_atomically(served, tmp_path: Path):
    base, root = served
    payload = _fake_model_zip()
    (root / f"{NAME}.zip").write_bytes(payload)
    target = tmp_path / "models"
    seen: list[int] = []
    installed = install_release(
        _release(f"{base}/{NAME}.zip", payload), target, progress=lambda d, t: seen.append(d)
    )
    assert installed == target / NAME
    assert layout_problem(installed) is None
    assert _leftovers(target) == [NAME], "no temporary folder left behind"
    assert seen[-1] == len(payload)
    with pytest.raises(TelesecError, match="already installed"):
        install_release(_release(f"{base}/{NAME}.zip", payload), target)


def test_checksum_mismatch_is_refused_and_leaves_nothing(served, tmp_path: Path):
    base, root = served
    payload = _fake_model_zip()
    (root / f"{NAME}.zip").write_bytes(payload)
    release = replace(_release(f"{base}/{NAME}.zip", payload), sha256="0" * 64)
    target = tmp_path / "models"
    with pytest.raises(TelesecError) as refused:
        install_release(release, target)
    message = str(refused.value)
    assert "checksum mismatch" in message and "nothing was installed" in message
    assert "\n" not in message
    assert _leftovers(target) == []


def test_unreachable_server_is_one_clear_line(tmp_path: Path):
    release = replace(OFFICIAL_RELEASES["fr"], url=f"http://127.0.0.1:{_closed_port()}/m.zip")
    with pytest.raises(TelesecError) as refused:
        install_release(release, tmp_path / "models")
    assert "network unreachable" in str(refused.value) and "\n" not in str(refused.value)
    assert _leftovers(tmp_path / "models") == []


def test_http_error_is_reported(served, tmp_path: Path):
    base, _ = served
    with pytest.raises(TelesecError, match="answered 404"):
        install_release(_release(f"{base}/missing.zip", b""), tmp_path / "models")
    assert _leftovers(tmp_path / "models") == []


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"this is not a zip file at all", "not a valid zip"),
        (_fake_model_zip(extra={"../escape.txt": b"x"}), "unsafe path"),
        (_fake_model_zip(top="x", extra={}).replace(b"x/graph/HCLr.fst", b"x/graph/HCLr.txt"),
         "not a Vosk model"),
    ],
)
def test_bad_archives_are_refused_and_leave_nothing(tmp_path: Path, payload, expected):
    local = tmp_path / "local.zip"
    local.write_bytes(payload)
    target = tmp_path / "models"
    with pytest.raises(TelesecError, match=expected):
        install_release(_release(local.as_uri(), payload), target, archive=local)
    assert _leftovers(target) == []
    assert not (tmp_path / "escape.txt").exists()


def test_disk_full_is_one_clear_line(tmp_path: Path):
    """/dev/full fails every write with ENOSPC."""
    if not Path("/dev/full").exists():
        pytest.fail("/dev/full is needed to simulate a full disk")
    payload = _fake_model_zip()
    local = tmp_path / "local.zip"
    local.write_bytes(payload)
    target = tmp_path / "models"
    target.mkdir()
    real_open = Path.open

    def full_open(self, mode="r", *args, **kwargs):
        if self.name == "archive.zip" and "w" in mode:
            return real_open(Path("/dev/full"), mode, *args, **kwargs)
        return real_open(self, mode, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "open", full_open)
        with pytest.raises(TelesecError, match="disk full"):
            install_release(_release(local.as_uri(), payload), target, archive=local)
    assert _leftovers(target) == []


def _telesec(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELESEC_")}
    env["TELESEC_DATA_DIR"] = str(cwd / "var")
    return subprocess.run(
        [sys.executable, "-c", "from telesec.cli import main; main()", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
    )


def test_cli_install_network_unreachable(tmp_path: Path):
    mirror = f"http://127.0.0.1:{_closed_port()}/vosk"
    run = _telesec("models", "install", "fr", "--dir", str(tmp_path / "m"), "--mirror", mirror,
                   cwd=tmp_path)
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "network unreachable" in lines[0], run.stderr
    assert _leftovers(tmp_path / "m") == []


def test_cli_install_refuses_a_local_archive_with_the_wrong_checksum(tmp_path: Path):
    local = tmp_path / f"{NAME}.zip"
    local.write_bytes(_fake_model_zip())
    run = _telesec("models", "install", "fr", "--dir", str(tmp_path / "m"),
                   "--archive", str(local), cwd=tmp_path)
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "checksum mismatch" in lines[0], run.stderr
    assert _leftovers(tmp_path / "m") == []


def test_cli_list_shows_installed_models(tmp_path: Path):
    payload = _fake_model_zip()
    local = tmp_path / "local.zip"
    local.write_bytes(payload)
    install_release(_release(local.as_uri(), payload), tmp_path / "m", archive=local)
    run = _telesec("models", "list", "--dir", str(tmp_path / "m"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("fr  installed") and str(tmp_path / "m" / NAME) in lines[0]
    assert lines[1].startswith("en  not installed") and "telesec models install en" in lines[1]


def test_cli_unknown_language(tmp_path: Path):
    run = _telesec("models", "install", "de", cwd=tmp_path)
    assert run.returncode != 0 and "use one of fr, en" in run.stderr
