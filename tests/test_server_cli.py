"""``notifier-server``: admin commands, startup errors, schema migration, and the demo."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from helpdesk import (
    Helpdesk,
    connect_stream,
    receive_json,
    receive_until,
    start_demo,
    stop_demo,
    web_sign_in,
)

from notifier.core import wire
from notifier.server import db as server_db

TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)


def cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "notifier.server.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_add_agent_and_customer_print_the_token_alone(tmp_path: Path) -> None:
    database = str(tmp_path / "h.db")
    agent = cli("add-agent", "ann", "--name", "Ann", "--team", "support", "--db", database)
    assert agent.returncode == 0, agent.stderr
    assert TOKEN.match(agent.stdout.strip()) and agent.stdout.count("\n") == 1
    customer = cli("add-customer", "c@example.com", "--name", "Cy", "--db", database)
    assert customer.returncode == 0, customer.stderr
    assert TOKEN.match(customer.stdout.strip())
    assert customer.stdout.strip() != agent.stdout.strip()
    with sqlite3.connect(database) as connection:
        stored = [row[0] for row in connection.execute("SELECT token_hash FROM tokens")]
    # Only hashes are stored, never the tokens themselves.
    assert len(stored) == 2 and agent.stdout.strip() not in stored


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add-agent", "ann"), "already exists"),
        (("add-agent", "bad name!"), "username"),
        (("add-customer", "not-an-email"), "e-mail"),
    ],
)
def test_admin_command_errors_are_one_clear_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    database = str(tmp_path / "h.db")
    assert cli("add-agent", "ann", "--db", database).returncode == 0
    result = cli(*args, "--db", database)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_help_is_fast_and_does_not_import_the_web_stack() -> None:
    code = (
        "import sys\nfrom notifier.server.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'starlette' not in sys.modules and 'uvicorn' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout and "add-agent" in result.stdout and "demo" in result.stdout


def test_a_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = cli("serve", "--port", port, "--db", str(tmp_path / "h.db"))
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unusable_database_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for database in (tmp_path / "missing" / "h.db", blocker / "h.db"):
        result = cli("serve", "--port", "0", "--db", str(database))
        assert result.returncode == 1
        assert "cannot open database" in result.stderr
        assert "Traceback" not in result.stderr
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 100)
    result = cli("add-agent", "x", "--db", str(garbage))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "database" in result.stderr


def test_schema_is_created_versioned_and_a_newer_one_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    connection = server_db.connect(path)
    try:
        assert server_db.schema_version(connection) == len(server_db.MIGRATIONS)
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        # Migrating again is a no-op.
        assert server_db.migrate(connection) == len(server_db.MIGRATIONS)
        connection.execute("UPDATE schema_version SET version = 99")
    finally:
        connection.close()
    with pytest.raises(server_db.DatabaseError, match="newer"):
        server_db.connect(path)
    result = cli("serve", "--port", "0", "--db", str(path))
    assert result.returncode == 1 and "newer" in result.stderr


def test_an_sqlite_too_old_for_the_schema_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 7 uses SQLite's ``->>``: an older library is named, not a syntax error."""
    monkeypatch.setattr(server_db.sqlite3, "sqlite_version_info", (3, 37, 2))
    monkeypatch.setattr(server_db.sqlite3, "sqlite_version", "3.37.2")
    with pytest.raises(server_db.DatabaseError, match=r"needs SQLite 3\.38\.0 or newer.*3\.37\.2"):
        server_db.connect(tmp_path / "h.db")
    assert not (tmp_path / "h.db").exists()


def test_serve_stops_cleanly_on_sigterm(helpdesk: Helpdesk) -> None:
    process = helpdesk._process
    assert process is not None
    process.terminate()
    assert process.wait(timeout=10) == 0
    assert "Traceback" not in helpdesk.log_text()


@pytest.mark.asyncio
async def test_demo_writes_credentials_and_simulates_activity_for_alice(tmp_path: Path) -> None:
    credentials_file = tmp_path / "state" / "credentials.json"
    process = await start_demo(
        "--db",
        str(tmp_path / "demo.db"),
        "--port",
        "0",
        "--rate",
        "600",
        "--seed",
        "7",
        "--credentials-file",
        str(credentials_file),
    )
    try:
        deadline = time.monotonic() + 20
        while not credentials_file.exists():
            assert process.returncode is None, "the demo exited early"
            assert time.monotonic() < deadline, "no credentials file within 20 s"
            await asyncio.sleep(0.05)
        credentials = json.loads(credentials_file.read_text())
        assert set(credentials) == {"server", "username", "password", "token"}
        assert credentials["username"] == "alice" and credentials["password"] == "alice"
        assert re.match(r"^http://127\.0\.0\.1:\d+$", credentials["server"])
        assert not list(credentials_file.parent.glob(".*.tmp"))  # written atomically

        async with (
            asyncio.timeout(30),
            connect_stream(credentials["server"], credentials["token"]) as ws,
        ):
            hello = wire.parse_server_event(await receive_json(ws))
            assert isinstance(hello, wire.Hello) and hello.agent.username == "alice"
            await ws.send(json.dumps({"type": "resume", "after_seq": 0}))
            replay = [wire.parse_server_event(f) for f in await receive_until(ws, "synced")]
            seeded = [e for e in replay if isinstance(e, wire.NotificationEvent)]
            assert {e.notification.type for e in seeded} == set(wire.NotificationType)
            # The simulator keeps producing notifications for alice.
            live: list[wire.NotificationEvent] = []
            while len(live) < 3:
                event = wire.parse_server_event(await receive_json(ws))
                if isinstance(event, wire.NotificationEvent):
                    assert event.notification.to == hello.agent.id
                    assert event.notification.ticket.url.startswith(credentials["server"])
                    live.append(event)
    finally:
        out, err = await stop_demo(process)
    assert process.returncode == 0, err
    lines = out.splitlines()
    assert lines[0] == f"listening on {credentials['server']}"
    assert "alice / alice" in lines[1]
    assert "Traceback" not in err


def _read_frame(sock: socket.socket) -> tuple[int, bytes]:
    """One unmasked server frame: (opcode, payload)."""

    def exactly(count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = sock.recv(count - len(data))
            assert chunk, "the server closed the TCP connection"
            data += chunk
        return data

    first, second = exactly(2)
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(exactly(2), "big")
    elif length == 127:
        length = int.from_bytes(exactly(8), "big")
    return first & 0x0F, exactly(length)


def test_keepalive_pings_and_drops_a_client_that_never_answers(tmp_path: Path) -> None:
    server = Helpdesk(tmp_path / "keepalive", extra_args=("--ping-interval", "0.3"))
    server.start()
    try:
        token = server.add_agent("sleepy")
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                (
                    "GET /api/v1/stream HTTP/1.1\r\n"
                    f"Host: 127.0.0.1:{server.port}\r\n"
                    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Version: 13\r\n"
                    f"Authorization: Bearer {token}\r\n\r\n"
                ).encode()
            )
            response = b""
            while b"\r\n\r\n" not in response:
                response += sock.recv(1)
            assert response.startswith(b"HTTP/1.1 101")
            opcodes = []
            while not opcodes or opcodes[-1] != 0x8:  # until the server's close frame
                opcode, payload = _read_frame(sock)
                opcodes.append(opcode)
            assert opcodes[0] == 0x1  # hello (text)
            assert 0x9 in opcodes  # a ping, never answered...
            assert int.from_bytes(payload[:2], "big") == 1011  # ...so: keepalive timeout
    finally:
        server.stop()


def test_public_url_sets_the_links(tmp_path: Path) -> None:
    server = Helpdesk(
        tmp_path / "public", extra_args=("--public-url", "https://desk.example:8443/")
    )
    server.start()
    try:
        name, agent = server.new_agent("pub")
        _, colleague = server.new_agent("pubc")
        ticket = colleague.create_ticket("Links", "x")
        assert ticket["url"] == f"https://desk.example:8443/tickets/{ticket['id']}"
        comment = colleague.comment(ticket["id"], f"@{name} here")
        [note] = agent.notifications()["notifications"]
        assert note["ticket"]["url"] == ticket["url"]
        assert note["comment"]["url"] == f"{ticket['url']}#comment-{comment['id']}"
    finally:
        server.stop()
    for bad in ("ftp://desk.example", "desk.example", "https://"):
        result = cli("serve", "--port", "0", "--public-url", bad, "--db", str(tmp_path / "h.db"))
        assert result.returncode == 1 and "--public-url" in result.stderr


@pytest.mark.asyncio
async def test_demo_without_db_uses_a_temporary_database_removed_at_exit(tmp_path: Path) -> None:
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    process = await start_demo(
        "--port", "0", "--rate", "0", env={**os.environ, "TMPDIR": str(temp_root)}
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(20):
            line = (await process.stdout.readline()).decode()
        assert line.startswith("listening on http://127.0.0.1:")
        [folder] = temp_root.glob("notifier-demo-*")
        assert (folder / "helpdesk.db").exists()
    finally:
        await stop_demo(process)
    assert process.returncode == 0
    assert list(temp_root.iterdir()) == []


def test_serving_without_the_server_extra_says_what_to_install(tmp_path: Path) -> None:
    # Simulate an install without the `server` extra: uvicorn and starlette cannot be imported.
    code = (
        "import sys, builtins; real = builtins.__import__\n"
        "def guarded(name, *a, **k):\n"
        "    if name.split('.')[0] in ('uvicorn', 'starlette'):\n"
        "        raise ModuleNotFoundError(f'No module named {name!r}', name=name.split('.')[0])\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = guarded\n"
        "from notifier.server.cli import main\n"
        "raise SystemExit(main(['serve', '--db', sys.argv[1], '--port', '0']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "h.db")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "pip install 'notifier[server]'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.asyncio
async def test_the_demo_prints_how_to_drive_it_from_a_browser(tmp_path: Path) -> None:
    process = await start_demo("--db", str(tmp_path / "demo.db"), "--port", "0", "--rate", "0")
    assert process.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(30):
            while not lines or not lines[-1].lstrip().startswith("customers"):
                lines.append((await process.stdout.readline()).decode())
                assert lines[-1], "the demo ended early"
        output = "".join(lines)
        url = re.search(r"in a browser: (http://127\.0\.0\.1:\d+)/", output)
        assert url is not None, output
        assert "alice / alice" in output and "bea / bea" in output
        assert f"alice is the admin: {url.group(1)}/admin" in output
        customer = re.search(r"customers \(password (\S+)\): (\S+?)[,\s]", output)
        assert customer is not None, output
        await asyncio.to_thread(
            _sign_in_as_printed, url.group(1), customer.group(2), customer.group(1)
        )
    finally:
        await stop_demo(process)


def _sign_in_as_printed(url: str, customer: str, customer_password: str) -> None:
    """The printed accounts work on the sign-in page (an agent and a customer), the demo's
    mail page is there and alice, the printed admin, can open the admin settings."""
    for username, password, page in (
        ("alice", "alice", "/notifications"),
        (customer, customer_password, "/"),
    ):
        with httpx.Client(base_url=url, trust_env=False) as browser:
            signed_in = web_sign_in(browser, username, password, page)
            assert signed_in.status_code == 303, signed_in.text
            assert browser.get(page).status_code == 200
            if username == "alice":
                assert "The demo's mail" in browser.get("/mail").text
                admin = browser.get("/admin")
                assert admin.status_code == 200 and 'name="retention_days"' in admin.text, (
                    admin.status_code
                )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # 70000 used to wrap around to port 4464 and serve there without a word.
        (("serve", "--port", "70000"), "argument --port: a port is 0 to 65535, not 70000"),
        (("serve", "--port", "-5"), "argument --port: a port is 0 to 65535, not -5"),
        (("demo", "--port", "65536"), "argument --port: a port is 0 to 65535, not 65536"),
        # A negative or NaN interval used to turn keepalive or retention off silently.
        (("serve", "--ping-interval", "-1"), "argument --ping-interval: must be 0 or more"),
        (("serve", "--ping-interval", "nan"), "argument --ping-interval: must be 0 or more"),
        (("serve", "--retention-interval", "-5"), "argument --retention-interval: must be 0"),
    ],
)
def test_out_of_range_numbers_are_refused_before_anything_starts(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = cli(*args, "--db", str(tmp_path / "h.db"), timeout=10)
    assert result.returncode == 2, result.stdout
    assert message in result.stderr
    assert "listening on" not in result.stdout and "Traceback" not in result.stderr
    assert not (tmp_path / "h.db").exists()


def test_backup_copies_a_running_servers_database_with_its_latest_writes(
    helpdesk: Helpdesk, tmp_path: Path
) -> None:
    helpdesk.add_agent("ann", password="ann-password")
    # The server holds its write-ahead log open: what it committed last may be only there.
    assert Path(f"{helpdesk.db}-wal").exists()
    copy = tmp_path / "backups" / "helpdesk-copy.db"
    copy.parent.mkdir()
    result = cli("backup", str(copy), "--db", str(helpdesk.db))
    assert result.returncode == 0, result.stderr
    version = len(server_db.MIGRATIONS)
    assert result.stdout == f"backed up {helpdesk.db} (schema version {version}) to {copy}\n"
    assert copy.stat().st_mode & 0o077 == 0  # tokens' hashes and passwords' are inside
    assert sorted(p.name for p in copy.parent.iterdir()) == ["helpdesk-copy.db"]
    with sqlite3.connect(f"{copy.as_uri()}?mode=ro", uri=True) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        users = [row[0] for row in connection.execute("SELECT username FROM users")]
    assert "ann" in users
    # The running server is untouched and keeps serving.
    assert helpdesk._process is not None and helpdesk._process.poll() is None
    again = cli("backup", str(copy), "--db", str(helpdesk.db))
    assert again.returncode == 1 and "already exists" in again.stderr


@pytest.mark.parametrize(
    "args",
    [("settings", "show"), ("settings", "set", "retention_days", "7"), ("mail-status",)],
)
def test_admin_commands_refuse_a_mistyped_database_instead_of_creating_one(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    # `settings set` on a typo used to create an empty helpdesk, change it and print success.
    typo = tmp_path / "helpdsk.db"
    result = cli(*args, "--db", str(typo))
    assert result.returncode == 1 and result.stdout == ""
    assert f"no database at {typo}" in result.stderr and "Traceback" not in result.stderr
    assert not typo.exists()


def test_backup_errors_are_one_line(tmp_path: Path) -> None:
    database = tmp_path / "h.db"
    assert cli("add-agent", "ann", "--db", str(database)).returncode == 0
    # With no server running, the backup leaves nothing next to the database: a -shm file
    # left by root (the Debian service's backup) would lock the service's own user out.
    made = cli("backup", str(tmp_path / "first.db"), "--db", str(database))
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == ["first.db", "h.db"]
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 100)
    cases = [
        (database, tmp_path / "missing" / "copy.db", "folder"),
        (tmp_path / "nope.db", tmp_path / "copy.db", "no database at"),
        (garbage, tmp_path / "copy.db", "cannot back up"),
    ]
    for source, destination, message in cases:
        result = cli("backup", str(destination), "--db", str(source))
        assert result.returncode == 1 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and not destination.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_tokens_revoke_locks_a_person_out_of_a_running_server(
    helpdesk: Helpdesk, tmp_path: Path
) -> None:
    # Before, only the token's holder could revoke it: an admin had no way to lock out a
    # lost laptop or someone who left.
    first = helpdesk.add_agent("ann", password="ann-password")
    helpdesk.add_agent("bob")
    me = f"{helpdesk.url}/api/v1/me"
    signed_in = httpx.post(
        f"{helpdesk.url}/api/v1/auth/token",
        json={"username": "ann", "password": "ann-password"},
        timeout=10,
    )
    assert signed_in.status_code == 200, signed_in.text
    second = signed_in.json()["token"]
    for token in (first, second):
        assert httpx.get(me, headers={"Authorization": f"Bearer {token}"}, timeout=10).is_success
    result = cli("tokens", "revoke", "ann", "--db", str(helpdesk.db))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("revoked 2 tokens of ann; ")
    for token in (first, second):
        refused = httpx.get(me, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert refused.status_code == 401
    fresh = cli("tokens", "new", "ann", "--db", str(helpdesk.db))
    assert fresh.returncode == 0 and TOKEN.match(fresh.stdout.strip())
    answer = httpx.get(me, headers={"Authorization": f"Bearer {fresh.stdout.strip()}"}, timeout=10)
    assert answer.json()["username"] == "ann"
    unknown = cli("tokens", "revoke", "nobody", "--db", str(helpdesk.db))
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert "no agent or customer named 'nobody'" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_a_mistyped_option_is_reported_with_its_commands_usage(tmp_path: Path) -> None:
    # argparse printed the top-level "usage: notifier-server [-h] COMMAND ...", which does
    # not show the admin which options `serve` has.
    result = cli("serve", "--prot", "8080", "--db", str(tmp_path / "h.db"), timeout=10)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: notifier-server serve [-h] [--db DB]")
    assert result.stderr.endswith(
        "notifier-server serve: error: unrecognized arguments: --prot 8080\n"
    )
    assert not (tmp_path / "h.db").exists()


def test_a_new_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    # It holds scrypt password hashes; add-agent from a shell made it 0644 (umask 022).
    database = tmp_path / "h.db"
    result = subprocess.run(
        [sys.executable, "-m", "notifier.server.cli", "add-agent", "ann", "--db", str(database)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        preexec_fn=lambda: os.umask(0o022),  # this test starts no threads
    )
    assert result.returncode == 0, result.stderr
    assert database.stat().st_mode & 0o777 == 0o600
