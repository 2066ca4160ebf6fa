"""The log file's rotation by size (notifier.store.log_file), on real files in tmp."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from notifier.store.log_file import RotatingLogFile


def make_logger(handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"test-rotation-{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return logger


def test_the_file_rotates_by_size_and_keeps_only_the_backups(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    path = folder / "notifier.log"
    handler = RotatingLogFile(path, max_bytes=200, backups=3)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = make_logger(handler)
    try:
        for index in range(100):
            logger.info("line %03d %s", index, "x" * 30)  # 40 bytes a line: 5 lines a file
    finally:
        logger.removeHandler(handler)
        handler.close()

    names = sorted(p.name for p in folder.iterdir())
    assert names == ["notifier.log", "notifier.log.1", "notifier.log.2", "notifier.log.3"]
    # Five lines fill a file; the 100th line filled the 20th, which was then rotated, so the
    # live file is empty and the three backups hold the last 15 lines, oldest in .3.
    kept = [
        line.split()[1]
        for name in ("notifier.log.3", "notifier.log.2", "notifier.log.1", "notifier.log")
        for line in (folder / name).read_text(encoding="utf-8").splitlines()
    ]
    assert kept == [f"{index:03d}" for index in range(85, 100)]
    assert path.stat().st_size == 0


def test_an_existing_log_is_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "notifier.log"
    path.write_text("from yesterday\n", encoding="utf-8")
    handler = RotatingLogFile(path, max_bytes=10_000, backups=2)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = make_logger(handler)
    logger.info("today")
    logger.removeHandler(handler)
    handler.close()
    assert path.read_text(encoding="utf-8") == "from yesterday\ntoday\n"


def test_nonsense_limits_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="positive"):
        RotatingLogFile(tmp_path / "a.log", max_bytes=0, backups=1)
