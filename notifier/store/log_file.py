"""The app's log file, rotated by size: ``notifier.log`` plus up to N older ones.

The same rotation as :class:`logging.handlers.RotatingFileHandler`, without importing
:mod:`logging.handlers`: that module brings pickle, queue and the socket, syslog and queue
handlers: memory an idle tray app would carry for one class (benchmarks/README.md, "Where
the idle-memory budget goes").
"""

from __future__ import annotations

import logging
import os
from pathlib import Path


class RotatingLogFile(logging.FileHandler):
    """A log file that, once it has reached ``max_bytes``, becomes ``<name>.1`` (the older
    ones shift up to ``<name>.<backups>``, the oldest is dropped) and starts afresh."""

    def __init__(self, path: Path, *, max_bytes: int, backups: int) -> None:
        if max_bytes <= 0 or backups <= 0:
            raise ValueError("max_bytes and backups must be positive")
        super().__init__(path, encoding="utf-8")
        self.max_bytes = max_bytes
        self.backups = backups

    def emit(self, record: logging.LogRecord) -> None:
        # Called with the handler's lock held (Handler.handle), so rotation cannot interleave.
        super().emit(record)
        try:
            if self.stream is not None and self.stream.tell() >= self.max_bytes:
                self.rotate()
        except OSError:
            self.handleError(record)

    def rotate(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None  # FileHandler reopens on demand
        base = self.baseFilename
        for index in range(self.backups - 1, 0, -1):
            older = f"{base}.{index}"
            if os.path.exists(older):
                os.replace(older, f"{base}.{index + 1}")
        if os.path.exists(base):
            os.replace(base, f"{base}.1")
        self.stream = self._open()
