"""A REST answer trickling in a byte at a time never trips httpx's read timeout (each read
gets a byte in time); the total deadline per request must end it. Against a small raw asyncio
HTTP server on loopback that sends the headers, then one body byte every 0.2 s."""

from __future__ import annotations

import argparse
import asyncio
import io
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from engine_keyring import MemoryKeyring
from raw_server import RawServer

from notifier.client.auth import check_connection, request_token
from notifier.client.rest import RestClient
from notifier.client.transport import TransportConfig
from notifier.compose import LiveServices
from notifier.core.errors import ConnectionLost
from notifier.core.settings import Settings
from notifier.headless import run_command
from notifier.main import build_parser
from notifier.store.paths import app_paths
from notifier.store.secrets import TokenStore

# Reads wait at most 1 s and the server sends a byte every 0.2 s: only the deadline can end it.
SHORT = TransportConfig(connect_timeout=2, read_timeout=1.0, request_deadline=1.5)
TRICKLE_EVERY_S = 0.2
BODY_BYTES = 400  # 80 s of trickling: far beyond every timeout below
HANG_S = 10  # a request still running after this is hanging


class TricklingServer(RawServer):
    """Answers every request with a 200 whose body arrives one byte per TRICKLE_EVERY_S."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0
        self.trickled = 0

    async def respond(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.requests += 1
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % BODY_BYTES
        )
        for _ in range(BODY_BYTES):
            writer.write(b" ")
            await writer.drain()
            self.trickled += 1
            await asyncio.sleep(TRICKLE_EVERY_S)


async def ends_by_the_deadline(call: Awaitable[object]) -> ConnectionLost:
    async with asyncio.timeout(HANG_S):
        with pytest.raises(ConnectionLost) as raised:
            await call
    return raised.value


async def history_page(url: str) -> object:
    client = RestClient(url, "token", SHORT)
    try:
        return await client.list_notifications(0, 500)
    finally:
        await client.aclose()


REQUESTS: dict[str, Callable[[str], Awaitable[object]]] = {
    "sign-in": lambda url: request_token(url, "alice", "secret", SHORT),
    "check connection": lambda url: check_connection(url, "token", SHORT),
    "history page": history_page,
}


@pytest.mark.asyncio
@pytest.mark.parametrize("name", sorted(REQUESTS))
async def test_a_trickling_answer_ends_at_the_request_deadline(name: str) -> None:
    async with TricklingServer().serving() as server:
        error = await ends_by_the_deadline(REQUESTS[name](server.url))
        assert "did not answer within 1.5 s" in str(error)
        assert server.requests == 1
        assert server.trickled >= 2  # it really was trickling, not silent


@pytest.mark.asyncio
async def test_the_settings_dialog_sign_in_and_test_have_the_deadline(tmp_path: Path) -> None:
    paths = app_paths({"NOTIFIER_HOME": str(tmp_path / "app")})
    services = LiveServices(paths, {}, transport=SHORT)
    async with TricklingServer().serving() as server:
        settings = Settings(server_url=server.url)
        await ends_by_the_deadline(services.request_token(settings, server.url, "alice", "pw"))
        await ends_by_the_deadline(services.check_connection(settings, server.url, "token"))
        assert server.requests == 2


@pytest.mark.asyncio
async def test_notifier_login_has_the_deadline() -> None:
    async with TricklingServer().serving() as server:
        args: argparse.Namespace = build_parser().parse_args(
            ["--server", server.url, "login", "--username", "alice"]
        )
        err = io.StringIO()
        keyring = MemoryKeyring()

        def login() -> int:
            return run_command(
                "login",
                args,
                environ={},
                token_store=TokenStore(keyring),
                stdout=io.StringIO(),
                stderr=err,
                read_password=lambda prompt: "secret",
                transport=SHORT,
            )

        async with asyncio.timeout(HANG_S):
            code = await asyncio.to_thread(login)
    assert code == 1
    assert "did not answer within 1.5 s" in err.getvalue()
    assert keyring.entries == {}
