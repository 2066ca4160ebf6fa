"""The reference helpdesk as a test fixture: a real server process on a free loopback port.

Loaded for every test through ``pytest_plugins = ["helpdesk"]`` in tests/conftest.py::

    def test_something(helpdesk: Helpdesk) -> None:
        token = helpdesk.add_agent("ann")
        customer = helpdesk.actions(helpdesk.add_customer("c@example.com"))
        ticket = customer.create_ticket("Printer on fire", "help")
        ...

* :class:`Helpdesk` runs ``python -m notifier.server.cli serve --port P --db DB`` as a
  subprocess with the test's environment (HOME etc. in tmp, from the autouse ``isolated_home``
  fixture), waits for its ``listening on`` line, and kills it at teardown even when the test
  fails. The first start binds port 0 and remembers the port; :meth:`Helpdesk.restart` reuses
  the port and the database, so a client can reconnect to the same URL.
* :class:`HelpdeskActions` is a small synchronous httpx client for the helpdesk actions; each
  method raises :class:`httpx.HTTPStatusError` on a non-2xx answer (``request`` does not).
* :meth:`Helpdesk.seed_assignments` writes many notifications straight into the database
  through the server's own ``repository.notify`` (thousands a second, where HTTP manages a
  few hundred): for histories of 10,000 or 100,000; open streams are not woken by it.
* ``helpdesk`` (function scope) gives each test its own server; ``shared_helpdesk`` (module
  scope) shares one per test module, for suites whose tests use distinct agents.
* :func:`stream_url` and :func:`connect_stream` open the WebSocket stream with a token.

Adding an agent runs the CLI in a subprocess (~0.2 s; more with ``password``: scrypt).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

START_DEADLINE_S = 20.0
STOP_GRACE_S = 5.0
_names = itertools.count(1)


def unique_name(prefix: str = "agent") -> str:
    """A username no other call in this test process returns (for shared servers)."""
    return f"{prefix}{os.getpid()}x{next(_names)}"


def _die_with_the_tests() -> None:
    """In the child, before exec: get SIGTERM if pytest dies (even SIGKILLed), so a server
    never outlives a crashed run. Teardown still stops it by PID. Linux only."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class HelpdeskActions:
    """Helpdesk actions as one user (agent or customer), over HTTP."""

    def __init__(self, url: str, token: str) -> None:
        self.token = token
        self.client = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(15.0),
            trust_env=False,
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A raw call (``path`` like ``/api/v1/me``); never raises on the status."""
        return self.client.request(method, path, **kwargs)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.client.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    def create_ticket(
        self,
        subject: str,
        body: str = "",
        customer: str | None = None,
        team: str | None = None,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"subject": subject, "body": body}
        if customer is not None:
            data["customer"] = customer
        if team is not None:
            data["team"] = team
        result: dict[str, Any] = self._call("POST", "/api/v1/tickets", data)
        return result

    def assign(self, ticket_id: str, agent: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/api/v1/tickets/{ticket_id}/assign", {"agent": agent}
        )
        return result

    def comment(self, ticket_id: str, body: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/api/v1/tickets/{ticket_id}/comments", {"body": body}
        )
        return result

    def edit_comment(self, comment_id: str, body: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "PATCH", f"/api/v1/comments/{comment_id}", {"body": body}
        )
        return result

    def reply(self, ticket_id: str, body: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/api/v1/tickets/{ticket_id}/replies", {"body": body}
        )
        return result

    def resolve(self, ticket_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/api/v1/tickets/{ticket_id}/resolve")
        return result

    def reopen(self, ticket_id: str, body: str = "") -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/api/v1/tickets/{ticket_id}/reopen", {"body": body}
        )
        return result

    def react(self, comment_id: str, emoji: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/api/v1/comments/{comment_id}/reactions", {"emoji": emoji}
        )
        return result

    def view(self, ticket_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/api/v1/tickets/{ticket_id}/view")
        return result

    # Notification endpoints, for tests that check the server's side of things.

    def notifications(self, after_seq: int = 0, limit: int = 100) -> dict[str, Any]:
        response = self.client.get(
            "/api/v1/notifications", params={"after_seq": after_seq, "limit": limit}
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def close(self) -> None:
        self.client.close()


class Helpdesk:
    """One reference helpdesk server process with its own database."""

    def __init__(
        self,
        root: Path,
        *,
        env: Mapping[str, str] | None = None,
        extra_args: tuple[str, ...] = (),
        host: str = "127.0.0.1",
        command_prefix: Sequence[str] = (),
    ) -> None:
        """``command_prefix`` runs the server under another program (``nsenter`` into a
        network namespace, say); ``host`` is the address it listens on."""
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.host = host
        self.command_prefix = tuple(command_prefix)
        self.db: Path = root / "helpdesk.db"
        self.port = 0
        self.url = ""
        self.extra_args = extra_args
        self._env = dict(env) if env is not None else None
        self._process: subprocess.Popen[bytes] | None = None
        self._clients: list[HelpdeskActions] = []
        self._log = root / "server.log"

    def _environment(self) -> dict[str, str]:
        environment = dict(os.environ if self._env is None else self._env)
        environment.pop("PYTHONBREAKPOINT", None)
        # Deprecations in the server process go to its log (see log_text), where tests can
        # look for them; they must not crash a server other helpers' tests rely on.
        environment["PYTHONWARNINGS"] = "default::DeprecationWarning"
        return environment

    def _cli(self, *args: str) -> list[str]:
        return [*self.command_prefix, sys.executable, "-m", "notifier.server.cli", *args]

    @property
    def pid(self) -> int:
        """The server process's id (benchmarks read its CPU time); it must be running."""
        assert self._process is not None, "the helpdesk is not running"
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        if self.running:
            raise RuntimeError("the helpdesk is already running")
        log = self._log.open("ab")
        try:
            self._process = subprocess.Popen(
                self._cli(
                    "serve",
                    "--host",
                    self.host,
                    "--port",
                    str(self.port),
                    "--db",
                    str(self.db),
                    *self.extra_args,
                ),
                preexec_fn=_die_with_the_tests,
                stdout=subprocess.PIPE,
                stderr=log,
                env=self._environment(),
            )
        finally:
            log.close()
        line = self._read_line(self._process, START_DEADLINE_S)
        prefix = "listening on "
        if not line.startswith(prefix):
            self.stop()
            raise RuntimeError(f"the helpdesk did not start: {line!r}; log:\n{self.log_text()}")
        self.url = line[len(prefix) :].strip()
        self.port = int(self.url.rsplit(":", 1)[1])

    def _read_line(self, process: subprocess.Popen[bytes], deadline_s: float) -> str:
        assert process.stdout is not None
        deadline = time.monotonic() + deadline_s
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while b"\n" not in buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return buffer.decode(errors="replace") + " (timed out)"
                if selector.select(timeout=min(remaining, 0.5)):
                    chunk = os.read(process.stdout.fileno(), 4096)
                    if not chunk:
                        return buffer.decode(errors="replace") + " (the server exited)"
                    buffer += chunk
                elif process.poll() is not None:
                    return buffer.decode(errors="replace") + " (the server exited)"
        return buffer.split(b"\n", 1)[0].decode()

    def log_text(self) -> str:
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    def assert_clean_log(self) -> None:
        """Fails the test if the server logged an error or a traceback so far."""
        log = self.log_text()
        for word in ("Traceback", "ERROR", "Exception in ASGI", "unhandled"):
            assert word not in log, log

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_GRACE_S)
        if process.stdout is not None:
            process.stdout.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    def run_cli(self, *args: str) -> str:
        """``notifier-server ARGS --db DB``, as the admin runs it beside the server: stdout."""
        return self._run_cli(*args)

    def _run_cli(self, *args: str) -> str:
        result = subprocess.run(
            self._cli(*args, "--db", str(self.db)),
            capture_output=True,
            text=True,
            timeout=30,
            env=self._environment(),
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"notifier-server {args[0]} failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def add_agent(
        self,
        username: str,
        name: str | None = None,
        password: str | None = None,
        team: str | None = None,
        email: str | None = None,
        *,
        admin: bool = False,
    ) -> str:
        """Create an agent (an admin with ``admin``); returns their API token."""
        args = ["add-agent", username, "--name", name or username]
        if password is not None:
            args += ["--password", password]
        if team is not None:
            args += ["--team", team]
        if email is not None:
            args += ["--email", email]
        if admin:
            args.append("--admin")
        return self._run_cli(*args)

    def settings_cli(self, *args: str) -> dict[str, Any]:
        """``notifier-server settings ARGS --db DB``: the settings document it prints."""
        result: dict[str, Any] = json.loads(self._run_cli("settings", *args))
        return result

    def seed_assignments(
        self, agent: str, sender: str, ticket_id: int, count: int, prefix: str = "Ticket"
    ) -> list[int]:
        """``count`` assignment notifications for ``agent`` from ``sender`` about
        ``ticket_id``, written into the database as the server's own actions write them (one
        transaction per thousand); returns their seqs. Open streams are not woken: seed
        before a client connects, or while the server is stopped."""
        from notifier.core.wire import Reason
        from notifier.server import actions, db, repository

        connection = db.connect(self.db)
        seqs: list[int] = []
        try:
            recipient = repository.user_by_username(connection, agent)
            author = repository.user_by_username(connection, sender)
            assert recipient is not None and author is not None, "add both people first"
            for start in range(0, count, 1000):
                with db.transaction(connection):
                    for index in range(start, min(start + 1000, count)):
                        content = actions.about(
                            Reason.ASSIGNED,
                            author,
                            ticket_id,
                            f"{prefix} {index}: the printer on floor {index % 7} jams",
                            None,
                            f"Seeded notification {index}: please have a look today.",
                        )
                        seq = repository.notify(connection, recipient.id, content)
                        assert seq is not None, "the agent's preferences refused it"
                        seqs.append(seq)
        finally:
            connection.close()
        return seqs

    def add_customer(self, email: str, name: str | None = None, password: str | None = None) -> str:
        """Create a customer; returns their API token."""
        extra = ["--password", password] if password is not None else []
        return self._run_cli("add-customer", email, "--name", name or email, *extra)

    def actions(self, token: str) -> HelpdeskActions:
        client = HelpdeskActions(self.url, token)
        self._clients.append(client)
        return client

    @property
    def stream_url(self) -> str:
        return stream_url(self.url)

    def new_agent(
        self,
        prefix: str = "agent",
        name: str | None = None,
        password: str | None = None,
        team: str | None = None,
    ) -> tuple[str, HelpdeskActions]:
        """A fresh agent with a unique username: (username, their actions client)."""
        username = unique_name(prefix)
        return username, self.actions(self.add_agent(username, name, password, team))

    def new_customer(
        self, prefix: str = "customer", name: str | None = None, password: str | None = None
    ) -> tuple[str, HelpdeskActions]:
        """A fresh customer with a unique e-mail: (email, their actions client)."""
        email = f"{unique_name(prefix)}@example.com"
        return email, self.actions(self.add_customer(email, name, password))


def web_sign_in(
    browser: httpx.Client, username: str, password: str, next_path: str = "/"
) -> httpx.Response:
    """Sign in on the web form as a browser does: fetch the form (which sets its anti-forgery
    cookie and field), then post it. Returns the answer to the post."""
    form = browser.get("/login")
    found = re.search(r'name=csrf value="([^"]+)"', form.text)
    assert found is not None, form.text
    return browser.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "next": next_path,
            "csrf": found.group(1),
        },
    )


async def start_demo(
    *args: str, env: Mapping[str, str] | None = None
) -> asyncio.subprocess.Process:
    """``notifier-server demo ARGS`` as a subprocess, stdout and stderr piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "notifier.server.cli",
        "demo",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def stop_demo(process: asyncio.subprocess.Process) -> tuple[str, str]:
    """Terminate the demo (if still running) and return its whole stdout and stderr."""
    if process.returncode is None:
        process.terminate()
    async with asyncio.timeout(10):
        out, err = await process.communicate()
    return out.decode(), err.decode()


def stream_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + (
        "/api/v1/stream"
    )


def connect_stream(base_url: str, token: str | None, **kwargs: Any) -> connect:
    """``async with connect_stream(url, token) as ws:`` (no resume sent yet)."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return connect(stream_url(base_url), additional_headers=headers, proxy=None, **kwargs)


async def receive_json(websocket: ClientConnection, within_s: float = 10.0) -> dict[str, Any]:
    """The next frame, decoded; fails the test after ``within_s`` seconds."""
    async with asyncio.timeout(within_s):
        raw = await websocket.recv()
    data: dict[str, Any] = json.loads(raw)
    return data


async def open_stream(base_url: str, token: str, *, resume: bool = True) -> ClientConnection:
    """A stream past its ``hello`` and, with ``resume``, past the replay of everything
    (``resume`` after 0, then up to the first ``unread_count``). The caller closes it."""
    websocket = await connect_stream(base_url, token)
    await receive_json(websocket)
    if resume:
        await websocket.send(json.dumps({"type": "resume", "after_seq": 0}))
        await receive_until(websocket, "unread_count")
    return websocket


async def close_of(websocket: ClientConnection, within_s: float = 10.0) -> tuple[int | None, str]:
    """Reads until the server closes the stream: (close code, reason)."""
    async with asyncio.timeout(within_s):
        with contextlib.suppress(ConnectionClosed):
            while True:
                await websocket.recv()
    return websocket.close_code, websocket.close_reason or ""


async def receive_until(
    websocket: ClientConnection, event_type: str, within_s: float = 10.0
) -> list[dict[str, Any]]:
    """Frames up to and including the first of ``event_type``."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(within_s):
        while not frames or frames[-1]["type"] != event_type:
            frames.append(json.loads(await websocket.recv()))
    return frames


__all__ = [
    "ClientConnection",
    "Helpdesk",
    "HelpdeskActions",
    "MakeHelpdesk",
    "close_of",
    "connect_stream",
    "helpdesk",
    "make_helpdesk",
    "open_stream",
    "receive_json",
    "receive_until",
    "shared_helpdesk",
    "start_demo",
    "stop_demo",
    "stream_url",
    "unique_name",
    "web_sign_in",
]


@pytest.fixture
def helpdesk(tmp_path: Path, isolated_home: Path) -> Iterator[Helpdesk]:
    """A started helpdesk for this test only (stopped at teardown, even on failure)."""
    server = Helpdesk(tmp_path / "helpdesk")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def shared_helpdesk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Helpdesk]:
    """One helpdesk for the whole test module; give each test its own agents
    (:func:`unique_name`). Runs with HOME and XDG folders in its own tmp folder."""
    root = tmp_path_factory.mktemp("shared-helpdesk")
    home = root / "home"
    home.mkdir()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("XDG_", "NOTIFIER_")) and "PROXY" not in key.upper()
    }
    environment.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    server = Helpdesk(root, env=environment)
    try:
        server.start()
        yield server
    finally:
        server.stop()


MakeHelpdesk = Callable[..., Helpdesk]


@pytest.fixture
def make_helpdesk(tmp_path: Path, isolated_home: Path) -> Iterator[MakeHelpdesk]:
    """``make_helpdesk(*flags)`` starts a helpdesk for this test with extra ``serve`` flags
    (lowered limits, a log level …); all are stopped at teardown."""
    started: list[Helpdesk] = []

    def make(*flags: str) -> Helpdesk:
        server = Helpdesk(tmp_path / f"helpdesk-{len(started)}", extra_args=flags)
        started.append(server)
        server.start()
        return server

    try:
        yield make
    finally:
        for server in started:
            server.stop()


@contextlib.contextmanager
def running(server: Helpdesk) -> Iterator[Helpdesk]:
    """Start ``server`` for a ``with`` block (for tests that build their own Helpdesk)."""
    try:
        server.start()
        yield server
    finally:
        server.stop()
