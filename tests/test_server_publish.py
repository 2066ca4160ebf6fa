"""Live events handed from the committing action to the streams (hub.py ``publish``), with the
log read as the fallback: every connection still gets every event once, in seq order, whatever
mix of published writes, plain wake-ups (marks read, retention) and gaps arrives."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from helpdesk import Helpdesk, connect_stream, receive_json

from notifier.server.app import _continues
from notifier.server.hub import MAX_PENDING, Hub, Published


def written(first: int, head: int) -> Published:
    return Published(
        first_seq=first,
        frames=tuple((seq, f"frame {seq}") for seq in range(first, head + 1)),
        head=head,
        unread=head,
    )


@pytest.mark.asyncio
async def test_the_hub_hands_over_published_writes_and_marks_plain_wakes_stale() -> None:
    hub = Hub()
    with hub.subscribe(7) as first, hub.subscribe(7) as second, hub.subscribe(8) as other:
        assert hub.subscribed(7) and not hub.subscribed(9)
        hub.publish(7, written(1, 2))
        hub.publish(7, written(3, 3))
        assert first.is_set() and second.is_set() and not other.is_set()
        assert first.take() == ([written(1, 2), written(3, 3)], False)
        assert first.take() == ([], False)  # taken once
        assert [p.head for p in second.take()[0]] == [2, 3]  # each stream has its own
        hub.wake([7, 8])
        assert first.take() == ([], True) and other.take() == ([], True)
        for seq in range(1, MAX_PENDING + 2):
            hub.publish(7, written(seq, seq))
        published, stale = first.take()
        assert len(published) == MAX_PENDING and stale  # too many: read the log instead
    assert not hub.subscribed(7)


@pytest.mark.parametrize(
    ("heads", "cursor", "continues"),
    [
        ([], 5, True),
        ([(6, 6)], 5, True),
        ([(6, 7), (8, 9)], 5, True),
        ([(3, 5), (6, 6)], 5, True),  # already sent, then the next one
        ([(4, 7)], 5, True),  # overlaps the cursor: the frames after it are sent
        ([(7, 7)], 5, False),  # seq 6 is missing: read the log
        ([(6, 6), (8, 8)], 5, False),
    ],
)
def test_published_writes_continue_the_cursor_only_without_a_gap(
    heads: list[tuple[int, int]], cursor: int, continues: bool
) -> None:
    assert _continues([written(first, head) for first, head in heads], cursor) is continues


class Collector:
    """One stream connection's frames, with a wake-up for each new one."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    async def run(self, url: str, token: str) -> None:
        async with connect_stream(url, token) as ws:
            await receive_json(ws)
            await ws.send(json.dumps({"type": "resume", "after_seq": 0}))
            async for raw in ws:
                self.frames.append(json.loads(raw))
                self.arrived.set()

    async def wait_for(self, done: Callable[[list[dict[str, Any]]], bool]) -> None:
        while not done(self.frames):
            self.arrived.clear()
            await self.arrived.wait()


@pytest.mark.asyncio
async def test_every_connection_gets_every_event_once_in_order_under_mixed_writes(
    shared_helpdesk: Helpdesk,
) -> None:
    hd = shared_helpdesk
    ann, agent = hd.new_agent("pub")
    _, boss = hd.new_agent("pubboss")
    ticket = boss.create_ticket("Published", "")
    streams = [Collector() for _ in range(3)]
    readers = [asyncio.create_task(s.run(hd.url, agent.token)) for s in streams]
    async with asyncio.timeout(10):
        for stream in streams:
            await stream.wait_for(lambda frames: any(f["type"] == "synced" for f in frames))
    async with (
        httpx.AsyncClient(
            base_url=hd.url, headers={"Authorization": f"Bearer {boss.token}"}, trust_env=False
        ) as as_boss,
        httpx.AsyncClient(
            base_url=hd.url, headers={"Authorization": f"Bearer {agent.token}"}, trust_env=False
        ) as as_ann,
    ):

        async def mention(n: int) -> None:
            response = await as_boss.post(
                f"/api/v1/tickets/{ticket['id']}/comments", json={"body": f"@{ann} {n}"}
            )
            response.raise_for_status()

        async def read_some() -> None:
            # Marks read wake the streams without publishing: they read the log.
            page = (await as_ann.get("/api/v1/notifications", params={"limit": 500})).json()
            for notification in page["notifications"][::3]:
                await as_ann.post(f"/api/v1/notifications/{notification['id']}/read")

        async with asyncio.timeout(40):
            for start in range(0, 40, 8):
                await asyncio.gather(*(mention(n) for n in range(start, start + 8)), read_some())
    head = agent.notifications()["last_seq"]
    unread = agent.notifications()["unread_count"]
    async with asyncio.timeout(15):
        for stream in streams:
            await stream.wait_for(
                lambda frames: frames[-1]["type"] == "unread_count" and frames[-1]["seq"] == head
            )
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    for frames in (stream.frames for stream in streams):
        seqs = [f["seq"] for f in frames if f["type"] in ("notification", "read_state")]
        assert seqs == list(range(1, head + 1))  # each event once, in order, no gap
        counts = [f for f in frames if f["type"] == "unread_count"]
        assert counts[-1] == {"type": "unread_count", "seq": head, "count": unread}
        assert all(later["seq"] >= earlier["seq"] for earlier, later in itertools.pairwise(counts))
