"""The server's write-ahead log is checkpointed by its own thread, never inside a commit.

SQLite's automatic checkpoint runs in the COMMIT that crosses 1,000 pages of log: the write
that crossed it (a notification, every ~100) and everything queued behind it on the database
thread waited for the copy and the sync, which was most of the server's p99 latency
(benchmarks/README.md, "Toast latency"). db.Database turns it off on its connection and
checkpoints from a :class:`~notifier.server.db.Checkpointer` instead.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from notifier.server.db import Database, transaction

PAGE = 4096
ROW = b"x" * 3000  # about a page of log a row


def write_rows(connection: sqlite3.Connection, count: int) -> None:
    """``count`` rows in one transaction (the shape of one helpdesk write)."""
    with transaction(connection):
        connection.execute("CREATE TABLE IF NOT EXISTS filler(id INTEGER PRIMARY KEY, data BLOB)")
        connection.executemany("INSERT INTO filler(data) VALUES (?)", [(ROW,)] * count)


def wal_pages(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size // PAGE if wal.exists() else 0


async def within(seconds: float, condition: object) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        await asyncio.sleep(0.02)


@pytest.mark.asyncio
async def test_commits_past_a_thousand_pages_of_log_do_not_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "helpdesk.db"
    database = Database(path)
    database.open()
    try:
        database.checkpointer.stop()  # only the commits themselves could checkpoint now
        main_file = (path.stat().st_size, path.stat().st_mtime_ns)
        for _ in range(150):  # 150 writes of ~10 pages: 1,500 pages of log
            await asyncio.wait_for(database.run(write_rows, 10), 10)
        assert wal_pages(path) > 1_000
        # A checkpoint copies the log into the main file; none ran, so it is as it was.
        assert (path.stat().st_size, path.stat().st_mtime_ns) == main_file
    finally:
        database.close()
    with sqlite3.connect(path) as reader:  # nothing lost: closing checkpoints the rest
        assert reader.execute("SELECT count(*) FROM filler").fetchone()[0] == 1_500


@pytest.mark.asyncio
async def test_the_checkpointer_keeps_the_log_bounded(tmp_path: Path) -> None:
    path = tmp_path / "helpdesk.db"
    database = Database(path, checkpoint_interval_s=0.05)
    database.checkpointer.limit_pages = 500
    database.open()
    try:
        # 6,000 pages written ten at a time, a write every few ms: passive checkpoints never
        # find the log idle, so it is restarted when it passes its limit, 500 pages here.
        # (The file's size is the log's longest: a restarted log is written over from its
        # start; without the restarts it would hold all 6,000.)
        for _ in range(600):
            await asyncio.wait_for(database.run(write_rows, 10), 10)
            await asyncio.sleep(0.002)
        assert wal_pages(path) < 2_500
        await within(10, lambda: database.checkpointer.checkpoints > 0)
        assert path.stat().st_size // PAGE > 3_000  # the rows were copied into the main file
        await asyncio.sleep(0.3)  # the last write's checkpoint
        reads = database.checkpointer.checkpoints
        await asyncio.wait_for(database.run(lambda c: c.execute("SELECT 1").fetchall()), 10)
        await asyncio.sleep(0.2)
        assert database.checkpointer.checkpoints == reads  # a read is no reason to checkpoint
    finally:
        database.close()
    with sqlite3.connect(path) as reader:
        assert reader.execute("SELECT count(*) FROM filler").fetchone()[0] == 6_000
