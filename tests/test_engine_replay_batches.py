"""A stream replay is written and published in slices, not one event at a time.

Measured before (benchmarks/replay_burst.py, the app as a process): 10,000 events replayed
after a reconnect took 36 s and 14 s of the app's CPU, because each event was its own
transaction and its own published change, and each change repainted the tray's badge. The
engine now writes the events that arrive together in one transaction, up to STREAM_SLICE, and
publishes one change for them. Counted here against the reference server, not timed.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
from engine_support import sync_until_live
from helpdesk import Helpdesk

from notifier.core.status import CacheChange, ChangeKind
from notifier.store.cache import NotificationCache
from notifier.sync.engine import STREAM_SLICE

REPLAY = 400


async def replay_changes(
    url: str, token: str, cache: NotificationCache, head: int, *, busy_s: float = 0.0
) -> list[CacheChange]:
    """Sync until live with ``head`` cached; the changes the engine published. With
    ``busy_s``, the first change holds the event loop that long, as a GUI busy painting does:
    meanwhile the server's frames pile up in the socket, to be read as a replay's are."""
    changes: list[CacheChange] = []

    def on_change(change: CacheChange) -> None:
        if not changes:
            time.sleep(busy_s)
        changes.append(change)

    await sync_until_live(url, token, cache, head, on_change)
    return changes


@pytest.mark.asyncio
async def test_a_replay_is_written_and_published_in_slices(
    helpdesk: Helpdesk, tmp_path: Path
) -> None:
    alice = helpdesk.add_agent("alice")
    helpdesk.add_agent("bob")
    ticket = int(helpdesk.actions(alice).create_ticket("Printer on fire")["id"])
    head = helpdesk.seed_assignments("alice", "bob", ticket, 1)[-1]
    cache = NotificationCache.open(tmp_path / "cache.sqlite3")
    try:
        await replay_changes(helpdesk.url, alice, cache, head)  # the first sign-in (REST)
        seqs = helpdesk.seed_assignments("alice", "bob", ticket, REPLAY)  # while it was away
        changes = await replay_changes(helpdesk.url, alice, cache, seqs[-1], busy_s=1.0)
    finally:
        cache.close()
    upserts = [c for c in changes if c.kind is ChangeKind.UPSERTED]
    published = [n.seq for change in upserts for n in change.notifications]
    assert sorted(published) == seqs  # every one, once
    assert all(change.replay for change in upserts)
    # About one change per slice of the replay (what arrived while the loop was busy is read
    # in slices; the old code published one change per event, 400 here).
    assert len(upserts) <= 4 * math.ceil(REPLAY / STREAM_SLICE), len(upserts)
