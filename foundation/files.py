"""Writing a file so that readers see either the old one or the whole new one, never a part."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes, *, mode: int = 0o600, sync: bool = False) -> None:
    """Replace ``path`` with ``data`` in one step (a temporary file in the same directory,
    then a rename). The file gets ``mode`` from its creation on, so it is never readable
    by more people than ``mode`` says, not even for an instant. With ``sync`` the data is
    on disk before the rename (for files whose loss would lose keys)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)
            out.write(data)
            if sync:
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
