"""The cache's write-ahead log stays bounded while a big sync writes.

Measured before the fix: a first sign-in of 100,000 notifications left a 286 MB log beside a
31 MB cache, and the next start took 80 ms longer while SQLite worked through it. A checkpoint
on the worker thread never copied the whole log while the engine kept writing beside it, and
only a whole copy lets SQLite start the log over. Here the real engine syncs from the
reference server, with the bound made small so that a few thousand rows cross it many times;
the log's size is sampled at every change the engine publishes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_support import sync_until_live
from helpdesk import Helpdesk

import notifier.store.cache as cache_module
from notifier.core.status import CacheChange
from notifier.store.cache import NotificationCache

LIMIT = 1024 * 1024  # bytes; the history below writes ~2 KB of log a row, ~5x this
HISTORY = 2_500
REPLAY = 600  # stream events, one transaction each: ~30 KB of log an event, ~18x LIMIT
# The bound, plus what the writer adds between two looks at it (a slice: 50 rows of a page,
# or 8 stream events, ~250 KB).
BOUND = LIMIT + 512 * 1024


async def largest_log(url: str, token: str, cache: NotificationCache, head: int) -> int:
    """Sync until live with ``head`` cached; the largest size the log had at any change the
    engine published."""
    wal = cache.path.with_name(cache.path.name + "-wal")
    largest = 0

    def on_change(_: CacheChange) -> None:
        nonlocal largest
        largest = max(largest, wal.stat().st_size if wal.exists() else 0)

    await sync_until_live(url, token, cache, head, on_change)
    return largest


@pytest.mark.asyncio
async def test_the_log_stays_bounded_through_a_first_sign_in_and_a_long_replay(
    helpdesk: Helpdesk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "WAL_LIMIT", LIMIT)
    alice = helpdesk.add_agent("alice")
    bob = helpdesk.add_agent("bob")
    ticket = int(helpdesk.actions(bob).create_ticket("Printer on fire")["id"])
    head = helpdesk.seed_assignments("alice", "bob", ticket, HISTORY)[-1]
    cache = NotificationCache.open(tmp_path / "cache.sqlite3")
    try:
        largest = await largest_log(helpdesk.url, alice, cache, head)
        assert cache.count() == HISTORY
        assert largest <= BOUND, f"the log reached {largest} bytes"

        # Offline meanwhile: the next start replays the rest over the stream.
        head = helpdesk.seed_assignments("alice", "bob", ticket, REPLAY)[-1]
        largest = await largest_log(helpdesk.url, alice, cache, head)
        assert cache.count() == HISTORY + REPLAY
        assert largest <= BOUND, f"the log reached {largest} bytes in the replay"
    finally:
        cache.close()
