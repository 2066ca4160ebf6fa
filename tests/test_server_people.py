"""``notifier-server password | deactivate | reactivate | people``: the IT admin's people.

The commands run as subprocesses (``python -m notifier.server.cli``, as an admin's shell
would); their effects are checked against a real server on loopback where it matters (sign-in,
assignment, mentions), else on the real SQLite file.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from helpdesk import Helpdesk, web_sign_in
from test_server_cli import TOKEN, cli

from notifier.core import wire
from notifier.server import actions, outbox, repository
from notifier.server import db as server_db

PASSWORD_CHANGED = (
    "password of {0} changed; their API tokens and web sign-ins still work"
    " — `tokens revoke {0}` ends them\n"
)


def piped(*args: str, stdin: str | bytes) -> subprocess.CompletedProcess[str]:
    """``notifier-server ARGS`` with ``stdin`` piped in (not a terminal)."""
    data = stdin.encode() if isinstance(stdin, str) else stdin
    result = subprocess.run(
        [sys.executable, "-m", "notifier.server.cli", *args],
        input=data,
        capture_output=True,
        timeout=30,
        check=False,
    )
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
    )


def on_a_terminal(args: list[str], answers: list[tuple[str, str]]) -> tuple[int, str]:
    """Run ``notifier-server ARGS`` with a pseudo-terminal as stdin, stdout and stderr: wait
    for each prompt and type its answer. Returns the exit status and all it wrote."""
    main, terminal = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "notifier.server.cli", *args],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,  # no controlling terminal: getpass uses this one, stdin
        close_fds=True,
    )
    os.close(terminal)
    output = b""
    deadline = time.monotonic() + 30

    def read_until(wanted: bytes | None) -> None:
        nonlocal output
        while wanted is None or wanted not in output:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"waited for {wanted!r}; got {output!r}"
            if not select.select([main], [], [], min(remaining, 0.5))[0]:
                continue
            try:
                chunk = os.read(main, 4096)
            except OSError:  # EIO: the process closed the terminal
                chunk = b""
            if not chunk:
                assert wanted is None, f"exited before {wanted!r}; got {output!r}"
                return
            output += chunk

    try:
        for prompt, answer in answers:
            read_until(prompt.encode())
            os.write(main, answer.encode() + b"\n")
        read_until(None)
        status = process.wait(timeout=30)
    finally:
        os.close(main)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    return status, output.decode(errors="replace")


def stored_password(database: Path, username: str) -> tuple[str | None, str | None]:
    with contextlib.closing(sqlite3.connect(database)) as connection:
        row = connection.execute(
            "SELECT password_hash, password_salt FROM users WHERE username = ?", (username,)
        ).fetchone()
    return row[0], row[1]


def password_is(database: Path, username: str, password: str) -> bool:
    """Whether ``password`` is theirs, checked as the sign-in checks it."""
    connection = server_db.connect(database)
    try:
        record = repository.password_record(connection, username, customers=True)
    finally:
        connection.close()
    return repository.verify_password(record, password) is not None


def api_sign_in(url: str, username: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{url}/api/v1/auth/token",
        json={"username": username, "password": password},
        timeout=15,
        trust_env=False,
    )


def me(url: str, token: str) -> httpx.Response:
    return httpx.get(
        f"{url}/api/v1/me",
        headers={"Authorization": f"Bearer {token}"},
        timeout=15,
        trust_env=False,
    )


# --------------------------------------------------------------------------- password


def test_a_password_piped_in_replaces_the_old_one_and_tokens_keep_working(
    helpdesk: Helpdesk,
) -> None:
    token = helpdesk.add_agent("ann", password="old-password")
    helpdesk.add_customer("cy@example.com", password="old-password")
    # One line, without its line ending; the spaces in it are part of the password.
    result = piped("password", "ann", "--db", str(helpdesk.db), stdin=" new pass word \n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == PASSWORD_CHANGED.format("ann") and result.stderr == ""
    assert api_sign_in(helpdesk.url, "ann", "old-password").status_code == 401
    signed_in = api_sign_in(helpdesk.url, "ann", " new pass word ")
    assert signed_in.status_code == 200, signed_in.text
    assert me(helpdesk.url, token).status_code == 200  # as the line says
    # A customer (signs in on the web pages only), by their e-mail address.
    result = piped("password", "cy@example.com", "--db", str(helpdesk.db), stdin="cy-new\r\n")
    assert result.returncode == 0 and result.stdout == PASSWORD_CHANGED.format("cy@example.com")
    with httpx.Client(base_url=helpdesk.url, timeout=15, trust_env=False) as browser:
        assert web_sign_in(browser, "cy@example.com", "old-password").status_code == 401
        assert web_sign_in(browser, "cy@example.com", "cy-new").status_code == 303
    helpdesk.assert_clean_log()


def test_password_mistakes_are_one_line_and_change_nothing(tmp_path: Path) -> None:
    database = tmp_path / "h.db"
    assert cli("add-agent", "ann", "--password", "kept", "--db", str(database)).returncode == 0
    before = stored_password(database, "ann")
    cases: list[tuple[tuple[str, ...], bytes, str]] = [
        (("nobody",), b"whatever\n", "no agent or customer named 'nobody'"),
        (("ann",), b"", "no password on stdin"),
        (("ann",), b"\n", "an empty password is not allowed"),
        (("ann",), b"\xff\xfe\n", "not UTF-8 text"),
        (("ann",), b"x" * 1025 + b"\n", "at most 1024 characters"),
        (("ann",), b"x" * 20_000, "at most 1024 characters"),
    ]
    for args, stdin, message in cases:
        result = piped("password", *args, "--db", str(database), stdin=stdin)
        assert result.returncode == 1, (args, stdin[:20], result.stdout)
        assert result.stderr.startswith("notifier-server: error: ") and message in result.stderr
        assert result.stderr.count("\n") == 1 and result.stdout == "", result.stderr
    # The password is never an argument (ps and the shell history would show it).
    for args in (("ann", "secret"), ("ann", "--password", "secret")):
        refused = piped("password", *args, "--db", str(database), stdin="x\n")
        assert refused.returncode == 2 and "unrecognized arguments" in refused.stderr
    assert stored_password(database, "ann") == before
    assert password_is(database, "ann", "kept")
    missing = piped("password", "ann", "--db", str(tmp_path / "nope.db"), stdin="x\n")
    assert missing.returncode == 1 and "no database at" in missing.stderr
    # ONE line is read: what follows it is not part of the password.
    result = piped("password", "ann", "--db", str(database), stdin="first\nsecond\n")
    assert result.returncode == 0, result.stderr
    assert password_is(database, "ann", "first")
    assert not password_is(database, "ann", "first\nsecond")


def test_on_a_terminal_the_password_is_asked_twice_and_not_echoed(tmp_path: Path) -> None:
    database = tmp_path / "h.db"
    assert cli("add-agent", "ann", "--password", "kept", "--db", str(database)).returncode == 0
    before = stored_password(database, "ann")
    args = ["password", "ann", "--db", str(database)]
    status, output = on_a_terminal(
        args, [("New password for ann: ", "typed-once"), ("Again: ", "typed-twice")]
    )
    assert status == 1, output
    assert "notifier-server: error: the two passwords differ; nothing changed" in output
    assert stored_password(database, "ann") == before
    status, output = on_a_terminal(args, [("New password for ann: ", ""), ("Again: ", "")])
    assert status == 1 and "an empty password is not allowed" in output, output
    assert stored_password(database, "ann") == before
    status, output = on_a_terminal(
        args, [("New password for ann: ", "s3cret pw"), ("Again: ", "s3cret pw")]
    )
    assert status == 0, output
    assert output.endswith(PASSWORD_CHANGED.format("ann").replace("\n", "\r\n"))
    assert "s3cret" not in output  # nothing typed was echoed
    assert password_is(database, "ann", "s3cret pw") and not password_is(database, "ann", "kept")


# --------------------------------------------------------------------------- leavers


def test_a_deactivated_person_cannot_sign_in_until_reactivated(helpdesk: Helpdesk) -> None:
    token = helpdesk.add_agent("ann", password="ann-password")
    db = str(helpdesk.db)
    with httpx.Client(base_url=helpdesk.url, timeout=15, trust_env=False) as browser:
        assert web_sign_in(browser, "ann", "ann-password").status_code == 303
        assert browser.get("/", follow_redirects=False).status_code == 200
        assert api_sign_in(helpdesk.url, "ann", "ann-password").status_code == 200

        result = cli("deactivate", "ann", "--db", db)
        assert result.returncode == 0, result.stderr
        assert result.stdout == (
            "deactivated ann: they cannot sign in (3 tokens revoked) and get no assignments,"
            " notifications or mail; their tickets and comments stay\n"
        )
        # Every token and web sign-in ended.
        assert me(helpdesk.url, token).status_code == 401
        assert browser.get("/", follow_redirects=False).status_code == 303  # to the sign-in
        assert "Your session has ended." in browser.get("/login").text
        # The right password is refused exactly as a wrong one for a username that does not
        # exist: nothing tells that the account is there.
        refused = api_sign_in(helpdesk.url, "ann", "ann-password")
        stranger = api_sign_in(helpdesk.url, "nobody", "ann-password")
        assert refused.status_code == stranger.status_code == 401
        assert refused.json() == stranger.json()
        for username in ("ann", "nobody"):
            web_refused = web_sign_in(browser, username, "ann-password")
            assert web_refused.status_code == 401
            assert "Wrong username or password." in web_refused.text
            assert "helpdesk_session" not in web_refused.headers.get("set-cookie", "")

    # A token made anyway (a sign-in whose password check ran just before the deactivation
    # commits it afterwards) signs no one in.
    connection = server_db.connect(helpdesk.db)
    try:
        ann = repository.user_by_username(connection, "ann")
        assert ann is not None and ann.deactivated
        late = repository.create_token(connection, ann.id)
    finally:
        connection.close()
    assert me(helpdesk.url, late).status_code == 401
    # An API token for them would be refused: the admin is told so instead.
    fresh = cli("tokens", "new", "ann", "--db", db)
    assert fresh.returncode == 1 and fresh.stdout == ""
    assert "ann is deactivated; `reactivate ann` first" in fresh.stderr
    again = cli("deactivate", "ann", "--db", db)
    assert again.returncode == 0 and again.stdout.startswith("ann is already deactivated (since ")
    assert again.stdout.endswith("); nothing changed\n")

    result = cli("reactivate", "ann", "--db", db)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "reactivated ann: they can sign in again with their password\n"
    assert not TOKEN.search(result.stdout)  # no token is printed
    assert me(helpdesk.url, token).status_code == 401  # the old tokens stay revoked
    signed_in = api_sign_in(helpdesk.url, "ann", "ann-password")
    assert signed_in.status_code == 200, signed_in.text
    assert me(helpdesk.url, signed_in.json()["token"]).json()["username"] == "ann"
    twice = cli("reactivate", "ann", "--db", db)
    assert twice.returncode == 0 and twice.stdout == "ann is not deactivated; nothing changed\n"
    unknown = cli("deactivate", "nobody", "--db", db)
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert unknown.stderr == "notifier-server: error: no agent or customer named 'nobody'\n"
    helpdesk.assert_clean_log()


def notification_rows(database: Path, username: str) -> list[int]:
    """[notifications, events, mail outbox rows] of an agent, from the database file."""
    with contextlib.closing(sqlite3.connect(database)) as connection:
        (agent_id,) = connection.execute(
            "SELECT id FROM users WHERE username = ?", (username,)
        ).fetchone()
        return [
            int(connection.execute(query, (agent_id,)).fetchone()[0])
            for query in (
                "SELECT count(*) FROM notifications WHERE agent_id = ?",
                "SELECT count(*) FROM events WHERE agent_id = ?",
                "SELECT count(*) FROM email_outbox WHERE agent_id = ?",
            )
        ]


def test_a_deactivated_agent_gets_no_tickets_and_no_notifications(helpdesk: Helpdesk) -> None:
    db = str(helpdesk.db)
    boss = helpdesk.actions(helpdesk.add_agent("boss", "Boss", password="boss-password"))
    helpdesk.add_agent("ann", "Ann", team="support")
    bob = helpdesk.actions(
        helpdesk.add_agent("bob", "Bob Baker", team="support", email="bob@desk.example")
    )
    cy = helpdesk.actions(helpdesk.add_agent("cy", "Cy", team="support"))
    mail_on = wire.Preferences(email=wire.EmailPreferences(enabled=True)).to_json()
    assert bob.request("PUT", "/api/v1/me/preferences", json=mail_on).status_code == 200
    ticket = boss.create_ticket("VPN down", "since this morning")
    bob_comment = bob.comment(ticket["id"], "I'll look after lunch")
    boss.comment(ticket["id"], "@bob thanks")
    boss.resolve(boss.assign(boss.create_ticket("Old one")["id"], "bob")["id"])
    boss.assign(boss.create_ticket("Open one")["id"], "bob")
    before = notification_rows(helpdesk.db, "bob")
    assert before[0] == 3 and before[2] == 3  # mentioned, assigned twice: in-app and mail rows

    result = cli("deactivate", "bob", "--db", db)
    assert result.returncode == 0, result.stderr
    # The admin learns which of his work is left without anyone (the resolved one is not).
    assert result.stdout.endswith(
        "; their tickets and comments stay; 1 open ticket is still assigned to them:"
        " reassign them\n"
    )
    # Round-robin skips bob, in turn after ann.
    assignees = [
        boss.create_ticket(f"Printer {n}", "jammed", team="support")["assignee"]["username"]
        for n in range(3)
    ]
    assert assignees == ["ann", "cy", "ann"]
    refused = boss.request("POST", f"/api/v1/tickets/{ticket['id']}/assign", json={"agent": "bob"})
    assert refused.status_code == 422
    assert refused.json()["error"]["message"] == "bob is deactivated and cannot be assigned tickets"
    boss.comment(ticket["id"], "@bob @cy any news?")
    assert notification_rows(helpdesk.db, "bob") == before  # nothing in-app, no mail row
    assert [n["type"] for n in cy.notifications()["notifications"]] == ["assignment", "mention"]
    # What bob wrote still names him.
    page = boss.view(ticket["id"])
    (shown,) = [c for c in page["comments"] if c["id"] == bob_comment["id"]]
    assert shown["author"]["name"] == "Bob Baker" and shown["body"] == "I'll look after lunch"
    # The ticket page offers him neither in the assign menu nor in the @mention picker.
    with httpx.Client(base_url=helpdesk.url, timeout=15, trust_env=False) as browser:
        assert web_sign_in(browser, "boss", "boss-password").status_code == 303
        html = browser.get(f"/tickets/{ticket['id']}").text
    assert 'value="agent:cy"' in html and 'data-username="cy"' in html
    assert 'value="agent:bob"' not in html and 'data-username="bob"' not in html
    assert "Bob Baker" in html  # as the author of his comment

    assert cli("reactivate", "bob", "--db", db).returncode == 0
    back = boss.create_ticket("Printer 4", "jammed", team="support")
    assert back["assignee"]["username"] == "bob"
    assert notification_rows(helpdesk.db, "bob")[0] == 4
    helpdesk.assert_clean_log()


def test_deactivation_drops_the_agents_waiting_mail(tmp_path: Path) -> None:
    database = tmp_path / "h.db"
    connection = server_db.connect(database)
    try:
        bob, _ = repository.add_user(
            connection,
            kind="agent",
            username="bob",
            name="Bob",
            email="bob@desk.example",
            preferences=wire.Preferences(email=wire.EmailPreferences(enabled=True)),
        )
        boss, _ = repository.add_user(connection, kind="agent", username="boss", name="Boss")
        with server_db.transaction(connection):
            connection.execute(
                "INSERT INTO tickets(id, subject, body, status, created_by, created_at,"
                " updated_at) VALUES (1, 'VPN', '', 'open', ?, 'x', 'x')",
                (boss.id,),
            )
            for _ in range(2):
                content = actions.about(wire.Reason.ASSIGNED, boss, 1, "VPN", None, "look")
                assert repository.notify(connection, bob.id, content) is not None
            (first,) = connection.execute(
                "SELECT min(id) FROM email_outbox WHERE agent_id = ?", (bob.id,)
            ).fetchone()
            message = outbox.NewMessage(bob.id, "instant", "bob@desk.example", "m1@x", "s", b"")
            outbox.store_message(connection, message, [first], server_db.system_clock())
    finally:
        connection.close()
    assert cli("deactivate", "bob", "--db", str(database)).returncode == 0
    with contextlib.closing(sqlite3.connect(database)) as connection:
        rows = connection.execute("SELECT state, reason FROM email_outbox ORDER BY id").fetchall()
        mails = connection.execute("SELECT state, last_error FROM email_messages").fetchall()
    assert rows == [("mailed", None), ("dropped", "the agent was deactivated")]
    assert mails == [("failed", "not sent: the agent was deactivated")]
    status = cli("mail-status", "--db", str(database))
    assert "dropped because: 1 the agent was deactivated" in status.stdout, status.stdout


# --------------------------------------------------------------------------- the list


def test_people_lists_everyone_in_aligned_columns(tmp_path: Path) -> None:
    database = tmp_path / "h.db"
    server_db.connect(database).close()
    empty = cli("people", "--db", str(database))
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout == "no people yet; add one with notifier-server add-agent USERNAME\n"
    assert json.loads(cli("people", "--json", "--db", str(database)).stdout) == []

    db = str(database)
    assert cli("add-agent", "zoe", "--name", "Zoë Zimmer", "--team", "support", "--admin",
               "--db", db).returncode == 0  # fmt: skip
    assert cli("add-agent", "al", "--name", "Al\x1b[31m", "--db", db).returncode == 0
    assert cli("add-customer", "cy@example.com", "--name", "Cy", "--db", db).returncode == 0
    assert cli("tokens", "new", "zoe", "--db", db).returncode == 0
    connection = server_db.connect(database)
    try:
        zoe = repository.user_by_username(connection, "zoe")
        assert zoe is not None
        for _ in range(3):  # three browsers signed in
            repository.create_token(connection, zoe.id, "session")
    finally:
        connection.close()
    assert cli("deactivate", "cy@example.com", "--db", db).returncode == 0
    with contextlib.closing(sqlite3.connect(database)) as connection:
        (since,) = connection.execute(
            "SELECT deactivated_at FROM users WHERE username = 'cy@example.com'"
        ).fetchone()

    result = cli("people", "--db", db)
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.splitlines()
        == [
            "KIND      USERNAME        NAME        TEAM     ADMIN  STATUS                  API TOKENS  WEB SIGN-INS",  # noqa: E501
            "agent     al              Al?[31m     -        no     active                           1             0",  # noqa: E501
            "agent     zoe             Zoë Zimmer  support  yes    active                           2             3",  # noqa: E501
            f"customer  cy@example.com  Cy          -        -      deactivated {since[:10]}           0             0",  # noqa: E501
        ]
    )
    listed: list[dict[str, Any]] = json.loads(cli("people", "--json", "--db", db).stdout)
    assert listed[1] == {
        "kind": "agent",
        "username": "zoe",
        "name": "Zoë Zimmer",
        "team": "support",
        "admin": True,
        "active": True,
        "deactivated_at": None,
        "api_tokens": 2,
        "web_sign_ins": 3,
    }
    assert listed[2]["active"] is False and listed[2]["deactivated_at"] == since
    assert [person["username"] for person in listed] == ["al", "zoe", "cy@example.com"]


# --------------------------------------------------------------------------- the schema


def test_a_database_from_before_deactivation_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    # A database of schema version 7 (the version before users.deactivated_at), one agent.
    with (
        contextlib.closing(sqlite3.connect(path, isolation_level=None)) as connection,
        server_db.transaction(connection),
    ):
        for script in server_db.MIGRATIONS[:7]:
            for statement in server_db._statements(script):
                connection.execute(statement)
        connection.execute("CREATE TABLE schema_version(version INTEGER NOT NULL)")
        connection.execute("INSERT INTO schema_version VALUES (7)")
        connection.execute(
            "INSERT INTO users(id, kind, username, name, team, created_at)"
            " VALUES (1, 'agent', 'ann', 'Ann', 'support', '2026-01-01T00:00:00Z')"
        )
    listed = cli("people", "--json", "--db", str(path))
    assert listed.returncode == 0, listed.stderr
    (ann,) = json.loads(listed.stdout)
    assert ann["username"] == "ann" and ann["active"] is True  # everyone was active
    with contextlib.closing(sqlite3.connect(path)) as connection:
        assert connection.execute("SELECT version FROM schema_version").fetchone() == (
            len(server_db.MIGRATIONS),
        )
        assert connection.execute("SELECT deactivated_at FROM users").fetchall() == [(None,)]
    assert cli("deactivate", "ann", "--db", str(path)).returncode == 0
    assert json.loads(cli("people", "--json", "--db", str(path)).stdout)[0]["active"] is False


def test_no_ticket_is_opened_for_a_deactivated_customer(helpdesk: Helpdesk) -> None:
    # An agent opening a ticket for a customer who left: they could never read or answer it.
    agent = helpdesk.actions(helpdesk.add_agent("ann"))
    helpdesk.run_cli("add-customer", "gone@example.com")
    assert agent.create_ticket("Before", "", customer="gone@example.com")["id"]
    helpdesk.run_cli("deactivate", "gone@example.com")
    refused = agent.request(
        "POST", "/api/v1/tickets", json={"subject": "After", "customer": "gone@example.com"}
    )
    assert refused.status_code == 422
    assert wire.ApiError.parse(refused.content).message == (
        "gone@example.com is deactivated and cannot be sent tickets"
    )
    helpdesk.run_cli("reactivate", "gone@example.com")
    assert agent.create_ticket("Back", "", customer="gone@example.com")["id"]
