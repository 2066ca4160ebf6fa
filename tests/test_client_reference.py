"""The reference backend adapter against the real reference server on loopback, plus
malformed answers (httpx.MockTransport) and malformed frames (a tiny WebSocket server)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from helpdesk import Helpdesk
from websockets.asyncio.server import ServerConnection, serve

from notifier.client.auth import check_connection, request_token
from notifier.client.reference import ReferenceBackend
from notifier.client.rest import RestClient
from notifier.client.stream import open_event_stream
from notifier.client.transport import TransportConfig, stream_url
from notifier.core.errors import (
    AuthFailed,
    BackendError,
    ConnectionLost,
    NotFound,
    ProtocolViolation,
)
from notifier.core.wire import (
    ClearScope,
    DeletedEvent,
    Hello,
    NotificationEvent,
    NotificationType,
    ReadStateEvent,
    SkippedEvent,
    SyncedEvent,
    UnknownEvent,
)

CONFIG = TransportConfig(ping_interval=5, ping_timeout=5, connect_timeout=5, read_timeout=10)


def assign_to(helpdesk: Helpdesk, boss_token: str, agent: str, subject: str) -> dict[str, Any]:
    boss = helpdesk.actions(boss_token)
    ticket = boss.create_ticket(subject, "the first message")
    boss.assign(ticket["id"], agent)
    return ticket


async def next_event(iterator: Any) -> Any:
    async with asyncio.timeout(10):
        return await anext(iterator)


@pytest.mark.asyncio
async def test_rest_and_stream_against_the_reference_server(helpdesk: Helpdesk) -> None:
    alice_token = helpdesk.add_agent("alice", "Alice Adams")
    boss_token = helpdesk.add_agent("bob", "Bob Brown")
    assign_to(helpdesk, boss_token, "alice", "Printer on fire")
    backend = ReferenceBackend(helpdesk.url, alice_token, CONFIG)
    try:
        async with asyncio.timeout(20):
            me = await backend.me()
            assert (me.username, me.name) == ("alice", "Alice Adams")
            page = await backend.list_notifications(0, 500)
            assert len(page.notifications) == 1 and page.unread_count == 1
            first = page.notifications[0]
            assert first.type is NotificationType.ASSIGNMENT
            assert first.ticket.subject == "Printer on fire"

            stream = await backend.open_stream(0)
            events = aiter(stream)
            hello = await next_event(events)
            assert isinstance(hello, Hello) and hello.agent.username == "alice"
            replayed = await next_event(events)
            assert isinstance(replayed, NotificationEvent)
            assert replayed.notification.id == first.id
            assert isinstance(await next_event(events), SyncedEvent)

            result = await backend.mark_read(first.id)
            assert result.unread_count == 0
            live = await next_event(events)
            while not isinstance(live, ReadStateEvent):
                live = await next_event(events)
            assert live.ids == (first.id,) and live.read
            await stream.close()

            with pytest.raises(NotFound):
                await backend.mark_read("no-such-notification")
            assert (await backend.mark_all_read(page.last_seq + 10)).changed == 0
            assert (await backend.clear(ClearScope.READ)).changed == 1
            preferences = await backend.get_preferences()
            assert await backend.put_preferences(preferences) == preferences
    finally:
        await backend.aclose()


@pytest.mark.asyncio
async def test_a_wrong_token_is_auth_failed_on_rest_and_stream(helpdesk: Helpdesk) -> None:
    backend = ReferenceBackend(helpdesk.url, "not-a-real-token", CONFIG)
    try:
        async with asyncio.timeout(20):
            with pytest.raises(AuthFailed):
                await backend.me()
            with pytest.raises(AuthFailed):
                await backend.open_stream(0)
            with pytest.raises(AuthFailed):
                await check_connection(helpdesk.url, "not-a-real-token", CONFIG)
    finally:
        await backend.aclose()


@pytest.mark.asyncio
async def test_sign_in_with_username_and_password(helpdesk: Helpdesk) -> None:
    helpdesk.add_agent("carol", "Carol Chen", password="correct horse")
    async with asyncio.timeout(20):
        token = await request_token(helpdesk.url, "carol", "correct horse", CONFIG)
        agent = await check_connection(helpdesk.url, token, CONFIG)
        assert agent.username == "carol"
        with pytest.raises(AuthFailed, match="wrong username or password"):
            await request_token(helpdesk.url, "carol", "wrong", CONFIG)


@pytest.mark.asyncio
async def test_an_unreachable_server_is_connection_lost() -> None:
    backend = ReferenceBackend("http://127.0.0.1:9", "t", CONFIG)
    try:
        async with asyncio.timeout(20):
            with pytest.raises(ConnectionLost, match="unreachable"):
                await backend.me()
            with pytest.raises(ConnectionLost, match="unreachable"):
                await backend.open_stream(0)
    finally:
        await backend.aclose()


def mock(status: int, body: bytes, seen: list[httpx.Request] | None = None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, content=body)

    return httpx.MockTransport(handler)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (200, b"<html>proxy login</html>", ProtocolViolation, "not valid JSON"),
        (200, b'{"notifications": "nope"}', ProtocolViolation, "notifications"),
        (
            401,
            b'{"error":{"code":"unauthorized","message":"token revoked"}}',
            AuthFailed,
            "revoked",
        ),
        (404, b"", NotFound, "Not Found"),
        (500, b'{"error":{"code":"internal","message":"boom"}}', BackendError, "boom"),
        (502, b"Bad Gateway", BackendError, "Bad Gateway"),
    ],
)
async def test_bad_answers_map_to_the_error_tree(
    status: int, body: bytes, error: type[Exception], text: str
) -> None:
    seen: list[httpx.Request] = []
    client = RestClient(
        "https://helpdesk.test", "secret-token", CONFIG, transport=mock(status, body, seen)
    )
    try:
        with pytest.raises(error, match=text):
            await client.list_notifications(0, 10_000)
    finally:
        await client.aclose()
    request = seen[0]
    assert request.headers["Authorization"] == "Bearer secret-token"
    assert "secret-token" not in str(request.url)
    assert request.url.params["limit"] == "2000"  # clamped to the protocol's maximum


@pytest.mark.asyncio
async def test_the_token_travels_in_the_header_and_bad_frames_are_skipped() -> None:
    seen: dict[str, str] = {}

    async def handler(connection: ServerConnection) -> None:
        assert connection.request is not None
        seen["path"] = connection.request.path
        seen["authorization"] = connection.request.headers.get("Authorization", "")
        seen["resume"] = str(await connection.recv())
        await connection.send(
            json.dumps(
                {
                    "type": "hello",
                    "protocol": 1,
                    "agent": {"id": "1", "username": "a", "name": "A"},
                    "last_seq": 0,
                }
            )
        )
        await connection.send("{not json")
        await connection.send(
            json.dumps({"type": "notification", "seq": 1, "notification": {"id": 5}})
        )
        await connection.send(json.dumps({"type": "future_thing", "seq": 2}))
        # An events frame (it asked for them): each item stands alone, a bad one is skipped.
        await connection.send(
            json.dumps(
                {
                    "type": "events",
                    "events": [
                        {"type": "deleted", "seq": 3, "ids": [""]},
                        {"type": "read_state", "seq": 4, "ids": ["5"], "read": True},
                        "not an event",
                        {"type": "events", "events": []},
                        {"type": "deleted", "seq": 5, "ids": ["5"]},
                    ],
                }
            )
        )
        await connection.send(json.dumps({"type": "synced", "seq": 0}))
        await connection.close(1001)

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        assert stream_url(url) == f"ws://127.0.0.1:{port}/api/v1/stream"
        stream = await open_event_stream(url, "secret-token", CONFIG, after_seq=7)
        received = []
        with pytest.raises(ConnectionLost, match="restarting"):
            async with asyncio.timeout(10):
                async for event in stream:
                    received.append(event)
    assert seen["path"] == "/api/v1/stream"
    assert seen["authorization"] == "Bearer secret-token"
    assert json.loads(seen["resume"]) == {"type": "resume", "after_seq": 7, "batch": True}
    assert [type(e) for e in received] == [
        Hello,
        SkippedEvent,
        UnknownEvent,
        SkippedEvent,
        ReadStateEvent,
        DeletedEvent,
        SyncedEvent,
    ]
    # the bad events' seqs were readable: the cursor can move past them
    assert (received[1].seq, received[3].seq) == (1, 3)
    assert (received[4].seq, received[5].seq) == (4, 5)
    assert stream.skipped_frames == 5


def test_a_bad_ca_bundle_is_reported_clearly(tmp_path: Any) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate")
    with pytest.raises(ValueError, match="CA bundle"):
        TransportConfig(ca_bundle=bundle).ssl_context()
