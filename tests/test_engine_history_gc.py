"""While a history loads, the garbage collector's young threshold is raised (each page's
objects live until it is written: at the default 700 a first sign-in of 50,000 ran ~380
young collections, benchmarks/README.md), and whatever happens to the load, the threshold
found before it is put back: a process-wide setting must not leak out of one sign-in.

The load fails midway for real: the reference server is stopped when the engine asks for
the second page, so the request finds no server (the engine backs off), then it is started
again and the load completes.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_support import running_engine_on
from helpdesk import Helpdesk

from notifier.client.reference import ReferenceBackend
from notifier.core.status import ConnectionState
from notifier.core.wire import NotificationPage
from notifier.sync.engine import HISTORY_GC_THRESHOLD

HISTORY = 1_200  # three pages of 500
BEFORE = (531, 7, 9)  # not CPython's default, so that a reset to the default shows


class ServerStoppedAtThePage:
    """The reference backend; when the engine asks for a page after the first, the threshold
    in force is recorded and (once) the server is stopped before the request goes out."""

    def __init__(self, inner: ReferenceBackend, helpdesk: Helpdesk) -> None:
        self.inner = inner
        self.helpdesk = helpdesk
        self.stopped = False
        self.thresholds_while_loading: list[tuple[int, int, int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def list_notifications(self, after_seq: int, limit: int) -> NotificationPage:
        if after_seq > 0:
            self.thresholds_while_loading.append(gc.get_threshold())
            if not self.stopped:
                self.stopped = True
                self.helpdesk.stop()
        return await self.inner.list_notifications(after_seq, limit)


@pytest.fixture
def threshold_kept() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(*BEFORE)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


@pytest.mark.asyncio
@pytest.mark.usefixtures("threshold_kept")
async def test_the_threshold_is_raised_while_loading_and_put_back_after_a_failed_load(
    helpdesk: Helpdesk, tmp_path: Path
) -> None:
    alice = helpdesk.add_agent("alice")
    bob = helpdesk.add_agent("bob")
    ticket = int(helpdesk.actions(bob).create_ticket("Printer on fire")["id"])
    helpdesk.seed_assignments("alice", "bob", ticket, HISTORY)
    backend = ServerStoppedAtThePage(ReferenceBackend(helpdesk.url, alice), helpdesk)
    async with running_engine_on(backend, tmp_path / "c.sqlite3") as run:
        # The first page was written, the second found no server: the load failed midway.
        await run.wait_until(lambda: run.state is ConnectionState.BACKING_OFF)
        assert 0 < run.cache.count() < HISTORY
        assert backend.thresholds_while_loading == [(HISTORY_GC_THRESHOLD, 7, 9)]
        assert gc.get_threshold() == BEFORE

        helpdesk.start()  # same port, same database: the next attempt loads it all
        await run.wait_until(lambda: run.state is ConnectionState.LIVE)
        assert run.cache.count() == HISTORY
        assert set(backend.thresholds_while_loading[1:]) == {(HISTORY_GC_THRESHOLD, 7, 9)}
        assert gc.get_threshold() == BEFORE
