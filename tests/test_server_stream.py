"""The event stream of the reference helpdesk, over a real WebSocket on loopback.

One server per module; each test uses its own agents, so the tests stay independent.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from helpdesk import (
    Helpdesk,
    HelpdeskActions,
    connect_stream,
    receive_json,
    receive_until,
)
from websockets.exceptions import ConnectionClosed, InvalidStatus

from notifier.core import wire


def setup_agent(hd: Helpdesk) -> tuple[str, HelpdeskActions, HelpdeskActions, dict[str, Any]]:
    """An agent, a colleague who mentions them, and a ticket to comment on."""
    username, agent = hd.new_agent("st")
    _, colleague = hd.new_agent("col", name="Bea Baker")
    ticket = colleague.create_ticket("Stream ticket", "body")
    return username, agent, colleague, ticket


def check_events(frames: list[dict[str, Any]]) -> list[Any]:
    """Every frame must parse with the wire models (the client's view)."""
    return [wire.parse_server_event(frame) for frame in frames]


@pytest.mark.asyncio
async def test_handshake_without_or_with_a_wrong_token_is_refused_with_401(
    shared_helpdesk: Helpdesk,
) -> None:
    for token in (None, "not-a-token"):
        with pytest.raises(InvalidStatus) as refused:
            async with asyncio.timeout(10), connect_stream(shared_helpdesk.url, token):
                pass
        response = refused.value.response
        assert response.status_code == 401
        assert wire.ApiError.parse(response.body).code == "unauthorized"


@pytest.mark.asyncio
async def test_customer_token_is_refused_with_403(shared_helpdesk: Helpdesk) -> None:
    _, customer = shared_helpdesk.new_customer()
    with pytest.raises(InvalidStatus) as refused:
        async with asyncio.timeout(10), connect_stream(shared_helpdesk.url, customer.token):
            pass
    assert refused.value.response.status_code == 403
    assert wire.ApiError.parse(refused.value.response.body).code == "forbidden"


@pytest.mark.asyncio
async def test_replay_then_live_events_with_unread_counts(shared_helpdesk: Helpdesk) -> None:
    username, agent, colleague, ticket = setup_agent(shared_helpdesk)
    colleague.comment(ticket["id"], f"@{username} first")
    colleague.comment(ticket["id"], f"@{username} second")
    async with asyncio.timeout(20), connect_stream(shared_helpdesk.url, agent.token) as ws:
        hello = wire.parse_server_event(await receive_json(ws))
        assert isinstance(hello, wire.Hello)
        assert hello.protocol == wire.PROTOCOL_VERSION
        assert hello.agent.username == username
        assert hello.last_seq == 2
        await ws.send(json.dumps(wire.ResumeRequest(after_seq=0).to_json()))
        replay = check_events(await receive_until(ws, "unread_count"))
        assert [type(e) for e in replay] == [
            wire.NotificationEvent,
            wire.NotificationEvent,
            wire.SyncedEvent,
            wire.UnreadCountEvent,
        ]
        assert [e.seq for e in replay] == [1, 2, 2, 2]
        assert replay[0].notification.message == f"@{username} first"
        assert replay[3].count == 2

        colleague.comment(ticket["id"], f"@{username} live one")
        live = check_events(await receive_until(ws, "unread_count"))
        assert [type(e) for e in live] == [wire.NotificationEvent, wire.UnreadCountEvent]
        assert live[0].seq == 3 and live[0].notification.seq == 3
        assert live[1].seq == 3 and live[1].count == 3

        result = agent.request("POST", f"/api/v1/notifications/{live[0].notification.id}/read")
        assert result.json() == {"seq": 4, "changed": 1, "unread_count": 2}
        marked = check_events(await receive_until(ws, "unread_count"))
        assert marked == [
            wire.ReadStateEvent(seq=4, ids=(live[0].notification.id,), read=True),
            wire.UnreadCountEvent(seq=4, count=2),
        ]


@pytest.mark.asyncio
async def test_resume_replays_exactly_the_missed_events_in_order(
    shared_helpdesk: Helpdesk,
) -> None:
    username, agent, colleague, ticket = setup_agent(shared_helpdesk)
    for n in range(3):
        colleague.comment(ticket["id"], f"@{username} before {n}")
    async with asyncio.timeout(20), connect_stream(shared_helpdesk.url, agent.token) as ws:
        await receive_json(ws)
        await ws.send(json.dumps({"type": "resume", "after_seq": 0}))
        seen = check_events(await receive_until(ws, "synced"))
    cursor = seen[-1].seq
    ids = [e.notification.id for e in seen if isinstance(e, wire.NotificationEvent)]
    assert cursor == 3

    # While the tray is away: a new notification, a read, a deletion.
    colleague.comment(ticket["id"], f"@{username} while away")
    agent.request("POST", f"/api/v1/notifications/{ids[0]}/read").raise_for_status()
    agent.request("DELETE", f"/api/v1/notifications/{ids[1]}").raise_for_status()

    async with asyncio.timeout(20), connect_stream(shared_helpdesk.url, agent.token) as ws:
        hello = await receive_json(ws)
        assert hello["last_seq"] == 6
        await ws.send(json.dumps({"type": "resume", "after_seq": cursor}))
        missed = check_events(await receive_until(ws, "unread_count"))
    assert [type(e) for e in missed] == [
        wire.NotificationEvent,
        wire.ReadStateEvent,
        wire.DeletedEvent,
        wire.SyncedEvent,
        wire.UnreadCountEvent,
    ]
    assert [e.seq for e in missed] == [4, 5, 6, 6, 6]
    assert missed[0].notification.message == f"@{username} while away"
    assert missed[1].ids == (ids[0],) and missed[1].read is True
    assert missed[2].ids == (ids[1],)
    assert missed[4].count == 2  # "before 2" and "while away"


@pytest.mark.asyncio
async def test_resume_at_the_head_replays_nothing(shared_helpdesk: Helpdesk) -> None:
    username, agent, colleague, ticket = setup_agent(shared_helpdesk)
    colleague.comment(ticket["id"], f"@{username} one")
    async with asyncio.timeout(20), connect_stream(shared_helpdesk.url, agent.token) as ws:
        await receive_json(ws)
        await ws.send(json.dumps({"type": "resume", "after_seq": 1}))
        frames = await receive_until(ws, "unread_count")
    assert frames == [
        {"type": "synced", "seq": 1},
        {"type": "unread_count", "seq": 1, "count": 1},
    ]


@pytest.mark.asyncio
async def test_replay_longer_than_one_batch_is_complete_and_ordered(
    shared_helpdesk: Helpdesk,
) -> None:
    username, agent, colleague, ticket = setup_agent(shared_helpdesk)
    colleague.comment(ticket["id"], f"@{username} toggled")
    notification_id = agent.notifications()["notifications"][0]["id"]
    for _ in range(260):  # 520 read/unread events: more than one 500-event batch
        agent.request("POST", f"/api/v1/notifications/{notification_id}/read")
        agent.request("POST", f"/api/v1/notifications/{notification_id}/unread")
    async with asyncio.timeout(30), connect_stream(shared_helpdesk.url, agent.token) as ws:
        assert (await receive_json(ws))["last_seq"] == 521
        await ws.send(json.dumps({"type": "resume", "after_seq": 0}))
        frames = await receive_until(ws, "unread_count")
    events = check_events(frames)
    assert [e.seq for e in events[:-2]] == list(range(1, 522))
    assert events[-2] == wire.SyncedEvent(seq=521)
    assert events[-1] == wire.UnreadCountEvent(seq=521, count=1)


@pytest.mark.asyncio
@pytest.mark.parametrize("ahead", [2, 40, 2**63, 10**30])
async def test_reset_when_the_client_is_ahead_of_the_log(
    shared_helpdesk: Helpdesk, ahead: int
) -> None:
    username, agent, colleague, ticket = setup_agent(shared_helpdesk)
    colleague.comment(ticket["id"], f"@{username} only one")
    async with asyncio.timeout(20), connect_stream(shared_helpdesk.url, agent.token) as ws:
        await receive_json(ws)
        await ws.send(json.dumps({"type": "resume", "after_seq": ahead}))
        reset = wire.parse_server_event(await receive_json(ws))
        assert isinstance(reset, wire.ResetEvent)
        assert reset.seq == 1
        with pytest.raises(ConnectionClosed):
            await receive_json(ws)
    assert ws.close_code == 4000


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "first",
    [
        '{"type": "hello"}',
        "not json",
        '{"type": "resume", "after_seq": -1}',
        '{"type": "resume", "after_seq": "3"}',
        "[1, 2]",
        '{"type": "resume", "after_seq": ' + "9" * 5000 + "}",
    ],
)
async def test_a_bad_first_message_gets_bad_message_and_1008(
    shared_helpdesk: Helpdesk, first: str
) -> None:
    _, agent = shared_helpdesk.new_agent("bad")
    async with asyncio.timeout(20), connect_stream(shared_helpdesk.url, agent.token) as ws:
        await receive_json(ws)
        await ws.send(first)
        error = wire.parse_server_event(await receive_json(ws))
        assert isinstance(error, wire.ErrorEvent)
        assert error.code == "bad_message"
        with pytest.raises(ConnectionClosed):
            await receive_json(ws)
    assert ws.close_code == 1008


@pytest.mark.asyncio
async def test_frames_after_resume_are_ignored_and_oversized_ones_close_1009(
    shared_helpdesk: Helpdesk,
) -> None:
    username, agent, colleague, ticket = setup_agent(shared_helpdesk)
    async with asyncio.timeout(20), connect_stream(shared_helpdesk.url, agent.token) as ws:
        await receive_json(ws)
        await ws.send(json.dumps({"type": "resume", "after_seq": 0}))
        await receive_until(ws, "unread_count")
        await ws.send(json.dumps({"type": "something_new", "x": 1}))
        colleague.comment(ticket["id"], f"@{username} still live")
        live = await receive_until(ws, "unread_count")
        assert live[0]["notification"]["message"] == f"@{username} still live"

        await ws.send("x" * (wire.MAX_FRAME_BYTES + 1))
        with pytest.raises(ConnectionClosed):
            await receive_json(ws)
    assert ws.close_code == 1009


@pytest.mark.asyncio
async def test_every_open_stream_of_the_agent_gets_live_events(
    shared_helpdesk: Helpdesk,
) -> None:
    username, agent, colleague, ticket = setup_agent(shared_helpdesk)
    _, other_agent = shared_helpdesk.new_agent("other")
    async with (
        asyncio.timeout(20),
        connect_stream(shared_helpdesk.url, agent.token) as first,
        connect_stream(shared_helpdesk.url, agent.token) as second,
        connect_stream(shared_helpdesk.url, other_agent.token) as bystander,
    ):
        for ws in (first, second, bystander):
            await receive_json(ws)
            await ws.send(json.dumps({"type": "resume", "after_seq": 0}))
            await receive_until(ws, "unread_count")
        colleague.comment(ticket["id"], f"@{username} for both")
        for ws in (first, second):
            frames = await receive_until(ws, "unread_count")
            assert [f["type"] for f in frames] == ["notification", "unread_count"]
        # The other agent's stream hears nothing of it: its next frame is its own event.
        colleague.comment(ticket["id"], f"@{username} again")
        other_username = other_agent.request("GET", "/api/v1/me").json()["username"]
        colleague.comment(ticket["id"], f"@{other_username} yours")
        frames = await receive_until(bystander, "unread_count")
        assert [f["notification"]["message"] for f in frames[:-1]] == [f"@{other_username} yours"]


@pytest.mark.asyncio
async def test_folded_reaction_is_reissued_on_the_stream_with_a_new_seq(
    shared_helpdesk: Helpdesk,
) -> None:
    _, author = shared_helpdesk.new_agent("author")
    _, bea = shared_helpdesk.new_agent("bea", name="Bea Baker")
    _, carl = shared_helpdesk.new_agent("carl", name="Carl Diaz")
    ticket = author.create_ticket("Fold", "x")
    note = author.comment(ticket["id"], "my note")
    async with asyncio.timeout(20), connect_stream(shared_helpdesk.url, author.token) as ws:
        await receive_json(ws)
        await ws.send(json.dumps({"type": "resume", "after_seq": 0}))
        await receive_until(ws, "unread_count")
        bea.react(note["id"], "👍")
        first = check_events(await receive_until(ws, "unread_count"))
        carl.react(note["id"], "❤️")
        second = check_events(await receive_until(ws, "unread_count"))
    assert first[0].notification.id == second[0].notification.id
    assert second[0].seq == first[0].seq + 1
    assert second[0].notification.message == "👍 ❤️, with Bea Baker, on “my note”"
    assert second[1].count == 1  # still one notification


def test_the_server_log_stayed_clean(shared_helpdesk: Helpdesk) -> None:
    # Runs last in this module (file order): after every stream scenario above, including
    # refused handshakes and bad frames, the server logged no error, traceback or warning.
    log = shared_helpdesk.log_text()
    for word in ("Traceback", "ERROR", "Warning"):
        assert word not in log, log


@pytest.mark.asyncio
async def test_a_client_that_reads_events_frames_gets_the_replay_batched(
    shared_helpdesk: Helpdesk,
) -> None:
    # docs/protocol.md 4.2: asked with "batch": true, the replay comes several events a
    # frame, the same events in the same order; without it (every older client), one a frame.
    username, agent, colleague, ticket = setup_agent(shared_helpdesk)
    for n in range(5):
        colleague.comment(ticket["id"], f"@{username} note {n}")
    agent.request("POST", "/api/v1/notifications/read-all", json={"up_to_seq": 2})

    async def replay(resume: dict[str, Any]) -> list[dict[str, Any]]:
        async with asyncio.timeout(20), connect_stream(shared_helpdesk.url, agent.token) as ws:
            await receive_json(ws)
            await ws.send(json.dumps(resume))
            return await receive_until(ws, "unread_count")

    plain = await replay({"type": "resume", "after_seq": 0})
    batched = await replay({"type": "resume", "after_seq": 0, "batch": True})
    assert [frame["type"] for frame in plain] == ["notification"] * 5 + [
        "read_state",
        "synced",
        "unread_count",
    ]
    assert [frame["type"] for frame in batched] == ["events", "synced", "unread_count"]
    assert batched[0]["events"] == plain[:6]
    events = wire.parse_server_event(batched[0])
    assert isinstance(events, wire.EventBatch)
    assert [wire.parse_batched_event(item) for item in events.items] == check_events(plain[:6])
    # Anything but true is no: a client that does not say it reads them gets none.
    unasked = await replay({"type": "resume", "after_seq": 0, "batch": 1})
    assert [frame["type"] for frame in unasked] == [frame["type"] for frame in plain]
