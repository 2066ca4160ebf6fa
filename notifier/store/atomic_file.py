"""Files replaced whole or not at all: a temp file in the same folder, fsync, then rename.

A crash or a full disk mid-write leaves the old file as it was (and no temp file behind),
never a half-written one: settings, autostart entries.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes, *, mode: int, prefix: str) -> None:
    """``data`` as ``path`` with permissions ``mode``; the folder is created if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
