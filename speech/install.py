"""Install a model archive: stream it into a temporary folder inside the models directory,
check its pinned SHA-256, unzip, check the layout, then rename it into place in one step.

Whatever goes wrong, nothing is left behind and the error is one line saying what to do.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from foundation.errors import TelesecError
from speech.models import ModelRelease, layout_problem

CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 30.0

Progress = Callable[[int, int], None]


def install_release(
    release: ModelRelease,
    target_dir: Path,
    *,
    archive: Path | None = None,
    progress: Progress | None = None,
) -> Path:
    """Download (or copy from ``archive``), verify and unpack ``release`` into ``target_dir``.

    Returns the installed model directory ``target_dir / release.name``.
    """
    final = target_dir / release.name
    if final.exists():
        raise TelesecError(
            f"{release.name} is already installed in {target_dir}; remove that folder to reinstall"
        )
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".installing-{release.language}-", dir=target_dir))
    except OSError as exc:
        raise _disk_error(exc, target_dir, release) from None
    try:
        zipped = work / "archive.zip"
        source = archive.resolve().as_uri() if archive else release.url
        digest = _fetch(source, zipped, release, progress)
        if digest != release.sha256:
            raise TelesecError(
                f"checksum mismatch for {release.name}: expected {release.sha256[:16]}…, "
                f"got {digest[:16]}…; the archive is corrupt or not the official one; "
                "nothing was installed"
            )
        unpacked = _unzip(zipped, work / "unpacked", release)
        zipped.unlink()
        problem = layout_problem(unpacked)
        if problem is not None:
            raise TelesecError(
                f"archive for {release.name} is not a Vosk model ({problem.split(' ', 1)[1]}); "
                "nothing was installed"
            )
        os.rename(unpacked, final)
    except OSError as exc:
        raise _disk_error(exc, target_dir, release) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def _fetch(source: str, dest: Path, release: ModelRelease, progress: Progress | None) -> str:
    """Stream ``source`` to ``dest`` and return the SHA-256 of what was written."""
    hasher = hashlib.sha256()
    done = 0
    try:
        with urllib.request.urlopen(source, timeout=TIMEOUT_SECONDS) as response:
            total = int(response.headers.get("Content-Length") or release.size_bytes)
            with dest.open("wb") as out:
                while chunk := response.read(CHUNK_BYTES):
                    hasher.update(chunk)
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
    except urllib.error.HTTPError as exc:
        raise TelesecError(
            f"cannot download {release.name} from {source}: the server answered {exc.code}; "
            "check the address or use --archive FILE with a copy of the zip"
        ) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        if source.startswith("file:"):
            raise TelesecError(
                f"cannot read the archive for {release.name} ({reason}); check the --archive path"
            ) from None
        raise TelesecError(
            f"cannot download {release.name} from {source}: network unreachable ({reason}); "
            "connect this machine or copy the zip here and use --archive FILE"
        ) from None
    return hasher.hexdigest()


def _unzip(zipped: Path, dest: Path, release: ModelRelease) -> Path:
    """Extract ``zipped`` (refusing paths that escape) and return its single top folder."""
    try:
        with zipfile.ZipFile(zipped) as archive:
            names = archive.namelist()
            for name in names:
                parts = PurePosixPath(name).parts
                if not parts or name.startswith("/") or ".." in parts:
                    raise TelesecError(
                        f"archive for {release.name} holds an unsafe path ({name!r}); "
                        "nothing was installed"
                    )
            archive.extractall(dest)
    except (zipfile.BadZipFile, EOFError):
        raise TelesecError(
            f"archive for {release.name} is not a valid zip file; nothing was installed"
        ) from None
    tops = [entry for entry in dest.iterdir()]
    if len(tops) == 1 and tops[0].is_dir():
        return tops[0]
    return dest


def _disk_error(exc: OSError, target_dir: Path, release: ModelRelease) -> TelesecError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        need = release.size_bytes * 3 // (1 << 20)
        return TelesecError(
            f"disk full in {target_dir} while installing {release.name}; "
            f"free about {need} MB and retry; nothing was installed"
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return TelesecError(
            f"cannot write to {target_dir} ({exc.strerror}); "
            "choose another folder with --dir or fix its permissions"
        )
    return TelesecError(
        f"installing {release.name} in {target_dir} failed ({exc.strerror or exc}); "
        "nothing was installed"
    )
