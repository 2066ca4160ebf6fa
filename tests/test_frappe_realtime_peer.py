"""The minimal Socket.IO client against a misbehaving peer: a small real WebSocket server
(plain ``websockets``) that speaks just enough Engine.IO to be connected to, then sends
frames that break the protocol."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import pytest
from engine_support import FAST
from websockets.asyncio.server import ServerConnection, serve

from notifier.client.frappe_realtime import NamespaceRefused, SocketIOClient, SocketIOUnreachable
from notifier.core.errors import ConnectionLost

pytestmark = pytest.mark.asyncio
OPEN = '0{"sid":"s","upgrades":[],"pingInterval":300,"pingTimeout":300,"maxPayload":1000}'


@asynccontextmanager
async def peer(frames: Sequence[str | bytes], *, then_silent: bool = False) -> AsyncIterator[str]:
    async def handler(connection: ServerConnection) -> None:
        await connection.send(OPEN)
        await connection.recv()  # the namespace CONNECT
        await connection.send('40/hd.localhost,{"sid":"x"}')
        for frame in frames:
            await connection.send(frame)
        if then_silent:  # no pings until the client gives up by itself and goes
            await connection.wait_closed()
        await connection.close()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"http://127.0.0.1:{port}"


async def connect(url: str) -> SocketIOClient:
    return await SocketIOClient.connect(
        url, "/hd.localhost", origin=url, headers={"Cookie": "sid=x"}, config=FAST
    )


async def test_bad_frames_are_skipped_and_good_ones_still_arrive() -> None:
    frames: list[str | bytes] = [
        "zz",  # not Engine.IO
        "4" + "2/hd.localhost,{broken",  # not JSON
        b"\x00\x01binary attachment",
        '42/other,["list_update",{"name":"elsewhere"}]',  # another namespace
        '42/hd.localhost,{"not":"an event list"}',
        '42/hd.localhost,["list_update",{"doctype":"HD Notification","name":"n1"}]',
    ]
    async with peer(frames) as url:
        client = await connect(url)
        received = []
        with pytest.raises(ConnectionLost):
            async with asyncio.timeout(5):
                async for event in client.events():
                    received.append(event)
        assert received == [("list_update", [{"doctype": "HD Notification", "name": "n1"}])]
        assert client.skipped_frames == 2


async def test_a_silent_server_is_given_up_after_ping_interval_and_timeout() -> None:
    async with peer([], then_silent=True) as url:
        client = await connect(url)
        with pytest.raises(ConnectionLost, match="stalled"):
            async with asyncio.timeout(5):  # 0.3 s + 0.3 s of silence is enough
                async for _event in client.events():
                    pass
        await client.close()


async def test_a_server_that_is_not_socketio_is_refused_with_a_reason() -> None:
    async def handler(connection: ServerConnection) -> None:
        await connection.send("hello, I am not Engine.IO")
        await connection.wait_closed()  # the client must be the one to go

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        with pytest.raises(ConnectionLost, match="bad packet"):
            await connect(f"http://127.0.0.1:{port}")


async def test_a_join_that_is_never_answered_is_told_apart() -> None:
    async def handler(connection: ServerConnection) -> None:
        await connection.send(OPEN)
        async for _frame in connection:  # the namespace CONNECT: no ack, no connect_error
            pass

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        with pytest.raises(NamespaceRefused, match="did not answer joining") as refused:
            await connect(f"http://127.0.0.1:{port}")
    assert refused.value.reason is None


async def test_a_server_that_never_opens_a_session_is_unreachable() -> None:
    async def handler(connection: ServerConnection) -> None:
        async for _frame in connection:  # a WebSocket server, but no Engine.IO open packet
            pass

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        with pytest.raises(SocketIOUnreachable, match=r"did not open a socket\.io session"):
            await connect(f"http://127.0.0.1:{port}")
