"""A tiny misbehaving helpdesk on loopback, for the engine's hardening tests.

One plain ``websockets`` server speaks just enough of docs/protocol.md: the stream at
``/api/v1/stream`` is run by a coroutine the test supplies, and the two REST reads the sync
engine makes (``GET /api/v1/me`` and ``GET /api/v1/notifications``) are answered from
functions the test supplies, through websockets' ``process_request`` hook (a plain HTTP
answer instead of an upgrade). It counts stream handshakes, remembers when each came and
which ``after_seq`` each resumed from, and counts REST requests, so a test can assert that a
hostile server cannot make the client spin. With ``page_limit`` it is a server from before
pages of ``wire.MAX_PAGE_LIMIT``: a history page asked with a larger ``limit`` gets the 400
the reference server gave then; every ``limit`` asked for is kept in ``limits_asked``.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from notifier.core.wire import PROTOCOL_VERSION, AgentInfo, Notification

ALICE = AgentInfo("a-1", "alice", "Alice Adams")

StreamScript = Callable[[ServerConnection, "HostileHelpdesk"], Awaitable[None]]


def hello(agent: AgentInfo = ALICE, last_seq: int = 0, protocol: int = PROTOCOL_VERSION) -> str:
    return json.dumps(
        {"type": "hello", "protocol": protocol, "agent": agent.to_json(), "last_seq": last_seq}
    )


def event(kind: str, seq: int, **fields: Any) -> str:
    return json.dumps({"type": kind, "seq": seq, **fields})


def notification_frame(notification: Notification) -> str:
    return event("notification", notification.seq, notification=notification.to_json())


def page_json(
    notifications: list[Notification], *, last_seq: int, has_more: bool = False
) -> dict[str, Any]:
    return {
        "notifications": [n.to_json() for n in notifications],
        "unread_count": sum(not n.read for n in notifications),
        "last_seq": last_seq,
        "has_more": has_more,
    }


def empty_history(after_seq: int) -> dict[str, Any]:
    return page_json([], last_seq=5)


@dataclass
class HostileHelpdesk:
    script: StreamScript
    me: AgentInfo = ALICE
    history: Callable[[int], dict[str, Any]] = empty_history
    page_limit: int | None = None
    url: str = ""
    limits_asked: list[int] = field(default_factory=list)
    handshakes: list[float] = field(default_factory=list)  # monotonic time of each
    resumed_after: list[int] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    # (status, Retry-After) every REST request and stream handshake is answered with, and
    # the paths it applies to ("/api/v1/stream" for the handshake); None: answer normally.
    busy: tuple[int, str] | None = None
    busy_paths: frozenset[str] = frozenset()

    @property
    def rest_requests(self) -> int:
        return sum(self.requests.values())

    def _answer(self, connection: ServerConnection, request: Request) -> Response | None:
        target = urlsplit(request.path)
        if self.busy is not None and target.path in self.busy_paths:
            self.requests[target.path] = self.requests.get(target.path, 0) + 1
            status, retry_after = self.busy
            error = {"error": {"code": "rate_limited", "message": "slow down"}}
            response = connection.respond(status, json.dumps(error))
            response.headers["Content-Type"] = "application/json"
            response.headers["Retry-After"] = retry_after
            return response
        if target.path == "/api/v1/stream":
            return None  # go on with the WebSocket handshake
        self.requests[target.path] = self.requests.get(target.path, 0) + 1
        if target.path == "/api/v1/me":
            body: Any = self.me.to_json()
        elif target.path == "/api/v1/notifications":
            query = parse_qs(target.query)
            after_seq = int(query.get("after_seq", ["0"])[0])
            limit = int(query.get("limit", ["100"])[0])
            self.limits_asked.append(limit)
            if self.page_limit is not None and not 1 <= limit <= self.page_limit:
                return self._refused(connection, f"limit must be an integer 1..{self.page_limit}")
            body = self.history(after_seq)
        else:
            return connection.respond(404, "not found\n")
        response = connection.respond(200, json.dumps(body))
        response.headers["Content-Type"] = "application/json"
        return response

    @staticmethod
    def _refused(connection: ServerConnection, message: str) -> Response:
        error = {"error": {"code": "invalid_field", "message": message}}
        response = connection.respond(400, json.dumps(error))
        response.headers["Content-Type"] = "application/json"
        return response

    async def _stream(self, connection: ServerConnection) -> None:
        self.handshakes.append(time.monotonic())
        resume = json.loads(await connection.recv())
        self.resumed_after.append(resume["after_seq"])
        await self.script(connection, self)


@asynccontextmanager
async def hostile_helpdesk(
    script: StreamScript,
    *,
    me: AgentInfo = ALICE,
    history: Callable[[int], dict[str, Any]] = empty_history,
    page_limit: int | None = None,
) -> AsyncIterator[HostileHelpdesk]:
    helpdesk = HostileHelpdesk(script, me, history, page_limit)
    async with serve(helpdesk._stream, "127.0.0.1", 0, process_request=helpdesk._answer) as server:
        port = server.sockets[0].getsockname()[1]
        helpdesk.url = f"http://127.0.0.1:{port}"
        yield helpdesk
