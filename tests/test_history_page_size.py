"""History pages of up to ``wire.MAX_PAGE_LIMIT`` (docs/protocol.md, section 5), and the
fallback for servers from before them.

A first sign-in of 50,000 asked for 100 pages of 500; each request cost the app ~2.5 ms of
CPU (benchmarks/README.md, first_sign_in.py). The reference server now takes a ``limit`` up
to 2,000 (and still ends a page at its byte budget); a server from before answers a larger
one with 400, and the client then asks that server for pages of 500, once told.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_support import make_notification, running_engine
from helpdesk import Helpdesk
from hostile_helpdesk import HostileHelpdesk, event, hello, hostile_helpdesk, page_json
from websockets.asyncio.server import ServerConnection

from notifier.client.rest import RestClient
from notifier.client.transport import TransportConfig
from notifier.core.errors import BackendError
from notifier.core.status import ChangeKind
from notifier.core.wire import LEGACY_PAGE_LIMIT, MAX_PAGE_LIMIT, NotificationPage

TOKEN = "page-size-test-token-8d1e"
OLD_HISTORY = 1_234  # three pages of 500 from an old server


async def page_through(client: RestClient, limit: int) -> tuple[list[int], list[int]]:
    """Every seq of the history as the engine pages it, and each page's row count."""
    seqs: list[int] = []
    sizes: list[int] = []
    after = 0
    while True:
        page: NotificationPage = await client.list_notifications(after, limit)
        seqs += [n.seq for n in page.notifications]
        sizes.append(len(page.notifications))
        if not page.has_more:
            return seqs, sizes
        after = page.end_seq


@pytest.mark.asyncio
async def test_the_reference_server_sends_pages_larger_than_the_old_limit(
    helpdesk: Helpdesk,
) -> None:
    alice = helpdesk.add_agent("alice")
    bob = helpdesk.add_agent("bob")
    ticket = int(helpdesk.actions(bob).create_ticket("Printer on fire")["id"])
    seeded = helpdesk.seed_assignments("alice", "bob", ticket, 2_500)
    client = RestClient(helpdesk.url, alice, TransportConfig())
    try:
        seqs, sizes = await page_through(client, MAX_PAGE_LIMIT)
    finally:
        await client.aclose()
    assert seqs == seeded  # each once, in order
    # ~370 bytes a row: the server's byte budget (512 KiB) ends a page before 2,000 rows.
    assert sizes[0] > LEGACY_PAGE_LIMIT and len(sizes) < len(seeded) // LEGACY_PAGE_LIMIT


def old_server_history(after_seq: int) -> dict[str, Any]:
    """Pages of 500 (the old server's largest) of OLD_HISTORY notifications, seqs 1.."""
    first = after_seq + 1
    last = min(after_seq + LEGACY_PAGE_LIMIT, OLD_HISTORY)
    rows = [make_notification(f"n-{seq}", seq) for seq in range(first, last + 1)]
    return page_json(rows, last_seq=OLD_HISTORY, has_more=last < OLD_HISTORY)


async def live_at_the_head(connection: ServerConnection, desk: HostileHelpdesk) -> None:
    await connection.send(hello(last_seq=OLD_HISTORY))
    await connection.send(event("synced", OLD_HISTORY))
    await connection.wait_closed()


@pytest.mark.asyncio
async def test_an_older_server_that_refuses_big_pages_gets_pages_of_500(tmp_path: Path) -> None:
    async with (
        hostile_helpdesk(
            live_at_the_head, history=old_server_history, page_limit=LEGACY_PAGE_LIMIT
        ) as desk,
        running_engine(desk.url, TOKEN, tmp_path / "c.sqlite3") as run,
    ):
        await run.wait_until(lambda: run.engine.status.is_live)
        assert run.cache.count() == OLD_HISTORY
        upserted = [
            n.seq for c in run.changes if c.kind is ChangeKind.UPSERTED for n in c.notifications
        ]
        assert sorted(upserted) == list(range(1, OLD_HISTORY + 1))  # each exactly once
        # Refused once; then the client remembered: every later page asked for 500.
        assert desk.limits_asked == [MAX_PAGE_LIMIT, LEGACY_PAGE_LIMIT, 500, 500]
        assert run.backend.calls["list_notifications"] == 3


@pytest.mark.asyncio
async def test_a_400_for_a_page_of_the_old_size_is_an_error_and_not_asked_again() -> None:
    async with hostile_helpdesk(live_at_the_head, page_limit=0) as desk:  # refuses every page
        client = RestClient(desk.url, TOKEN, TransportConfig())
        try:
            with pytest.raises(BackendError, match="limit must be") as raised:
                await client.list_notifications(0, MAX_PAGE_LIMIT)
        finally:
            await client.aclose()
    assert raised.value.status == 400
    assert desk.limits_asked == [MAX_PAGE_LIMIT, LEGACY_PAGE_LIMIT]
