"""The reference helpdesk in-process with an injected clock, and a real SMTP server to mail to.

Mail depends on time (grace periods, digests, quiet hours, retry backoff), so these tests run
the real server (uvicorn, Starlette, the database thread, the mailer task) in the test's event
loop, with a :class:`FakeClock` as the database's clock, and talk to it over loopback HTTP and
WebSocket like every other client. The SMTP server is ``aiosmtpd`` on loopback
(:func:`notifier.server.mailcatcher.start_smtp_server`), receiving and parsing every mail into
an :class:`Inbox`. :meth:`LiveHelpdesk.flush` runs one whole mailer round, so a test advances
the clock, flushes, and then reads the inbox: no sleeps.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import sqlite3
import threading
import time
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from aiosmtpd.smtp import SMTP, Envelope, Session

from notifier.core import wire
from notifier.server import repository
from notifier.server.app import HelpdeskApp
from notifier.server.cli import base_url, bind_socket, uvicorn_config
from notifier.server.db import Database
from notifier.server.limits import Limits
from notifier.server.mailcatcher import bound_port, start_smtp_server
from notifier.server.mailer import MailConfig
from notifier.server.smtp import SmtpSettings

WITHIN_S = 15.0


class FakeClock:
    """The server's wall clock, moved by the test."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def set(self, when: datetime) -> None:
        self.now = when


class Inbox:
    """An aiosmtpd handler keeping every mail, parsed; ``answers`` script the next replies
    to DATA (e.g. "451 4.3.0 try later"), after which mails are accepted again."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.sessions: list[tuple[bool, Any]] = []  # (over TLS, auth data) per mail
        self.answers: list[str] = []
        self.refused = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.answers:
            self.refused += 1
            return self.answers.pop(0)
        parsed = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.mails.append(parsed)
        self.recipients.append(list(envelope.rcpt_tos))
        over_tls = server.transport is not None and bool(
            server.transport.get_extra_info("ssl_object")
        )
        self.sessions.append((over_tls, session.auth_data))
        return "250 OK"

    def take(self) -> list[EmailMessage]:
        """The mails received since the last take."""
        mails, self.mails = self.mails, []
        return mails


class SmtpServer:
    """A real SMTP server on a loopback port that can go down and come back on that port."""

    def __init__(self, inbox: Inbox, **smtp_options: Any) -> None:
        self.inbox = inbox
        self.port = 0
        self._options = smtp_options
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await start_smtp_server(self.inbox, port=self.port, **self._options)
        self.port = bound_port(self._server)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    @property
    def settings(self) -> SmtpSettings:
        return SmtpSettings(host="127.0.0.1", port=self.port, implicit_tls=False)


class ThreadedSmtpServer:
    """A real SMTP server on an event loop of its own thread, for tests whose helpdesk is a
    subprocess: ``with ThreadedSmtpServer(inbox) as server: ... server.port``."""

    def __init__(self, inbox: Inbox, **options: Any) -> None:
        self.inbox = inbox
        self.port = 0
        self._options = options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def __enter__(self) -> ThreadedSmtpServer:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(
            start_smtp_server(self.inbox, **self._options), self._loop
        )
        self._server = started.result(timeout=WITHIN_S)
        self.port = bound_port(self._server)
        return self

    def __exit__(self, *exc_info: object) -> None:
        async def close(server: asyncio.Server) -> None:
            server.close()
            await server.wait_closed()
            # Python 3.11's wait_closed does not wait for sessions still open (a helpdesk
            # subprocess whose mailer keeps its connection): end them on their own loop, or
            # their sockets are left to the garbage collector and a ResourceWarning fails the
            # test at teardown (1 run in 10 of the reset tests).
            sessions = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in sessions:
                task.cancel()  # aiosmtpd closes the session's writer when cancelled
            await asyncio.gather(*sessions, return_exceptions=True)
            await asyncio.sleep(0)  # the transports' connection_lost callbacks

        if self._server is not None:
            asyncio.run_coroutine_threadsafe(close(self._server), self._loop).result(WITHIN_S)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=WITHIN_S)
        self._loop.close()

    def wait_for_mails(self, count: int, within_s: float = WITHIN_S) -> list[EmailMessage]:
        deadline = time.monotonic() + within_s
        while len(self.inbox.mails) < count:
            assert time.monotonic() < deadline, f"{len(self.inbox.mails)} of {count} mails"
            time.sleep(0.05)
        return list(self.inbox.mails)


def text_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def html_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


class LiveHelpdesk:
    """The whole server in this event loop on a loopback port; restartable on the same port
    and database."""

    def __init__(
        self,
        root: Path,
        clock: FakeClock,
        mail: MailConfig,
        limits: Limits | None = None,
        mail_dir: Path | None = None,
    ) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.mail_dir = mail_dir  # the demo's mail catcher's folder: the /mail page
        self.db_path = root / "helpdesk.db"
        self.clock = clock
        self.mail = mail
        self.limits = limits
        self.port = 0
        self.url = ""
        self.app: HelpdeskApp | None = None
        self._database: Database | None = None
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task[None] | None = None
        self._mailer_running: Any = None
        self._http = httpx.AsyncClient(timeout=WITHIN_S, trust_env=False)

    async def start(self) -> None:
        database = Database(self.db_path, clock=self.clock)
        await asyncio.to_thread(database.open)
        sock = bind_socket("127.0.0.1", self.port)
        self.url = base_url(sock)
        self.port = int(sock.getsockname()[1])
        app = HelpdeskApp(database, self.url, self.mail, self.limits, mail_dir=self.mail_dir)
        self._mailer_running = app.mailer.running()
        await self._mailer_running.__aenter__()
        server = uvicorn.Server(uvicorn_config(app, 0, "warning"))
        self._serving = asyncio.create_task(_serve_then_close(server, sock))
        async with asyncio.timeout(WITHIN_S):
            while not server.started:  # noqa: ASYNC110 (uvicorn offers a flag, no event)
                await asyncio.sleep(0.01)
        self.app, self._database, self._server = app, database, server

    async def stop(self) -> None:
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            async with asyncio.timeout(WITHIN_S):
                await self._serving
        if self._mailer_running is not None:
            await self._mailer_running.__aexit__(None, None, None)
        if self._database is not None:
            await asyncio.to_thread(self._database.close)
        self.app = self._database = self._server = self._serving = self._mailer_running = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def close(self) -> None:
        await self.stop()
        await self._http.aclose()

    @property
    def database(self) -> Database:
        assert self._database is not None, "the helpdesk is not running"
        return self._database

    async def flush(self) -> None:
        """One whole mailer round at the clock's current time."""
        assert self.app is not None
        async with asyncio.timeout(WITHIN_S):
            await self.app.mailer.flush()

    async def add_agent(
        self,
        username: str,
        *,
        email: str | None = "",
        preferences: wire.Preferences | None = None,
    ) -> str:
        """An agent with the e-mail address ``email`` (None: none; by default
        ``USERNAME@example.com``); returns their token. ``preferences`` are stored through
        the REST API."""
        _, token = await self.database.run(
            functools.partial(
                repository.add_user,
                kind="agent",
                username=username,
                name=username.title(),
                email=f"{username}@example.com" if email == "" else email,
            )
        )
        if preferences is not None:
            await self.call(token, "PUT", "/api/v1/me/preferences", preferences.to_json())
        return token

    async def add_customer(self, email: str) -> str:
        _, token = await self.database.run(
            functools.partial(repository.add_user, kind="customer", username=email, name=email)
        )
        return token

    async def call(self, token: str | None, method: str, path: str, body: object = None) -> Any:
        """A REST call; raises on a non-2xx answer; returns the decoded JSON body."""
        response = await self.request(token, method, path, body)
        response.raise_for_status()
        return response.json()

    async def request(
        self, token: str | None, method: str, path: str, body: object = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self._http.request(method, self.url + path, json=body, headers=headers)

    def rows(self, query: str, *args: object) -> list[tuple[Any, ...]]:
        """A read-only query on the database file (its own connection)."""
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True) as connection:
            return [tuple(row) for row in connection.execute(query, args).fetchall()]


async def _serve_then_close(server: uvicorn.Server, sock: socket.socket) -> None:
    try:
        await server.serve(sockets=[sock])
    finally:
        sock.close()
