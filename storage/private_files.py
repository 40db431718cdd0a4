"""Files and directories only their owner can read, whatever the umask.

``mkdir(mode=0o700, parents=True)`` leaves the parents it creates at the umask's mode
(often 0755), and the mode it is given is itself reduced by the umask; these helpers
create every missing level with 0700 and set the mode explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents, each with mode 0700 (existing ones are kept)."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # made by another process meanwhile: its maker set its mode
        os.chmod(directory, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` (empty) with mode 0600 if missing, or bring an existing one to 0600."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def restrict(path: Path, mode: int) -> None:
    """Set ``path`` to ``mode`` if it exists and is wider (group or others have access)."""
    try:
        current = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        return
    if current & 0o077:
        os.chmod(path, mode)
