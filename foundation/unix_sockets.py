"""Unix socket paths: the kernel takes at most 107 bytes, and a longer one fails obscurely."""

from __future__ import annotations

from pathlib import Path

from foundation.errors import TelesecError

MAX_SOCKET_PATH = 107  # sun_path is 108 bytes on Linux, with the final NUL


def check_socket_path(path: Path, what: str) -> None:
    """Raise a one-line :class:`TelesecError` when ``path`` is too long for a Unix socket."""
    length = len(str(path).encode())
    if length > MAX_SOCKET_PATH:
        raise TelesecError(
            f"{what} would be {path} ({length} bytes), longer than the {MAX_SOCKET_PATH} a "
            "Unix socket may have: move the data directory (data_dir) to a shorter path"
        )
