"""Tokens on the reference helpdesk: revocation (``DELETE /api/v1/auth/token``), the expiry of
web sessions, and no credential in the server's log at any level."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from helpdesk import (
    Helpdesk,
    MakeHelpdesk,
    close_of,
    open_stream,
    receive_json,
    receive_until,
    web_sign_in,
)
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from notifier.core import wire
from notifier.server import db as server_db
from notifier.server import repository

PASSWORD = "correct horse battery"


def sign_in(url: str, username: str) -> str:
    with httpx.Client(base_url=url, trust_env=False) as client:
        response = client.post(
            "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
        )
        response.raise_for_status()
        token: str = response.json()["token"]
        return token


def test_revoking_a_token_refuses_it_everywhere_and_closes_its_streams(
    shared_helpdesk: Helpdesk,
) -> None:
    hd = shared_helpdesk
    username, agent = hd.new_agent("revoke", password=PASSWORD)
    _, colleague = hd.new_agent("revokec")
    ticket = colleague.create_ticket("Revocation", "")
    signed_in = hd.actions(sign_in(hd.url, username))

    async def scenario() -> None:
        async with asyncio.timeout(40):
            live = await open_stream(hd.url, signed_in.token)
            waiting = await open_stream(hd.url, signed_in.token, resume=False)
            other = await open_stream(hd.url, agent.token)
            revoked = signed_in.request("DELETE", "/api/v1/auth/token")
            assert revoked.status_code == 200 and revoked.json() == {"revoked": True}
            for ws in (live, waiting):
                code, reason = await close_of(ws)
                assert code == 4002 and "revoked" in reason
            with pytest.raises(InvalidStatus) as refused:
                await open_stream(hd.url, signed_in.token)
            assert refused.value.response.status_code == 401
            # The agent's other token and its stream are untouched.
            colleague.comment(ticket["id"], f"@{username} still there")
            frames = await receive_until(other, "unread_count")
            assert frames[0]["notification"]["message"] == f"@{username} still there"
            await other.close()

    asyncio.run(scenario())
    for method, path in (
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/notifications"),
        ("DELETE", "/api/v1/auth/token"),
    ):
        response = signed_in.request(method, path)
        assert response.status_code == 401, path
        assert wire.ApiError.parse(response.content).code == "unauthorized"
    assert agent.request("GET", "/api/v1/me").status_code == 200
    # Customers can revoke theirs too.
    _, customer = hd.new_customer()
    assert customer.request("DELETE", "/api/v1/auth/token").status_code == 200
    assert customer.request("GET", "/api/v1/me").status_code == 401


def test_web_sessions_expire_after_the_session_max_age(make_helpdesk: MakeHelpdesk) -> None:
    hd = make_helpdesk("--session-max-age", "1")
    hd.add_agent("shorty", password=PASSWORD)
    with httpx.Client(base_url=hd.url, trust_env=False) as browser:
        signed_in = web_sign_in_ok(browser, "shorty")
        assert "max-age=1" in signed_in.headers["set-cookie"].lower()
        assert browser.get("/").status_code == 200
        time.sleep(1.3)
        expired = browser.get("/")
        assert expired.status_code == 303 and expired.headers["location"].startswith("/login")
    # API tokens have no age limit.
    assert (
        httpx.get(
            f"{hd.url}/api/v1/me",
            headers={"Authorization": f"Bearer {sign_in(hd.url, 'shorty')}"},
            trust_env=False,
        ).status_code
        == 200
    )


def web_sign_in_ok(browser: httpx.Client, username: str) -> httpx.Response:
    response = web_sign_in(browser, username, PASSWORD)
    assert response.status_code == 303, response.text
    return response


def test_no_credential_reaches_the_log_at_debug_level_with_the_access_log(
    make_helpdesk: MakeHelpdesk,
) -> None:
    hd = make_helpdesk("--log-level", "debug", "--access-log")
    api_token = hd.add_agent("talker", password=PASSWORD)
    signed_in = sign_in(hd.url, "talker")
    secrets = [api_token, signed_in, PASSWORD, "Zm9vOmJhcg==", "not-a-real-token-1234"]
    with httpx.Client(base_url=hd.url, trust_env=False) as client:
        for token in (api_token, signed_in):
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        client.get("/api/v1/me", headers={"Authorization": "Basic Zm9vOmJhcg=="})
        client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-real-token-1234"})
    with httpx.Client(base_url=hd.url, trust_env=False) as browser:
        cookie = web_sign_in_ok(browser, "talker").headers["set-cookie"]
        secrets.append(cookie.split(";")[0].split("=", 1)[1])
        assert browser.get("/").status_code == 200

    async def streams() -> None:
        async with asyncio.timeout(20):
            ws = await open_stream(hd.url, api_token)
            await ws.close()
            with pytest.raises(InvalidStatus):
                await open_stream(hd.url, "not-a-real-token-1234")

    asyncio.run(streams())
    deadline = time.monotonic() + 10
    while '"GET / HTTP/1.1" 200' not in hd.log_text():
        assert time.monotonic() < deadline, hd.log_text()
        time.sleep(0.05)
    log = hd.log_text()
    # The log was as talkative as it gets: request lines, handshake headers at debug.
    assert '"GET /api/v1/me HTTP/1.1" 200' in log
    assert "[redacted]" in log
    for secret in secrets:
        assert secret not in log, secret
    assert "Traceback" not in log


@pytest.mark.parametrize(
    ("command", "printed"),
    [(("tokens", "revoke"), "revoked 1 token of {}; "), (("deactivate",), "deactivated {}: ")],
)
def test_tokens_revoked_from_the_command_line_end_the_open_streams(
    shared_helpdesk: Helpdesk, command: tuple[str, ...], printed: str
) -> None:
    # The admin's `tokens revoke` and `deactivate` run in another process: before, a lost
    # laptop's open stream stayed open until it reconnected on its own.
    hd = shared_helpdesk
    username, lost_laptop = hd.new_agent("cutoff")
    colleague_name, colleague = hd.new_agent("cutoffc")
    _, author = hd.new_agent("cutoffa")
    ticket = lost_laptop.create_ticket("Revoked from the command line", "")

    async def scenario() -> None:
        async with asyncio.timeout(40):
            lost = await open_stream(hd.url, lost_laptop.token)
            untouched = await open_stream(hd.url, colleague.token)
            said = await asyncio.to_thread(hd.run_cli, *command, username)
            assert said.startswith(printed.format(username))
            code, reason = await close_of(lost, within_s=10)
            assert code == 4002 and "revoked" in reason
            # Another agent's stream stays open and live.
            await asyncio.to_thread(author.comment, ticket["id"], f"@{colleague_name} hi")
            frames = await receive_until(untouched, "unread_count")
            assert frames[0]["notification"]["message"] == f"@{colleague_name} hi"
            await untouched.close()

    asyncio.run(scenario())


def test_a_stream_opened_with_a_web_session_ends_when_the_session_does(
    make_helpdesk: MakeHelpdesk,
) -> None:
    # Before, the notification center's live stream outlived its sign-in: every later page
    # asked for the password again, but the open tab kept receiving notifications for good.
    hd = make_helpdesk("--session-max-age", "3")
    api_token = hd.add_agent("webby", password=PASSWORD)
    with httpx.Client(base_url=hd.url, trust_env=False) as browser:
        web_sign_in_ok(browser, "webby")
        cookie = browser.cookies["helpdesk_session"]

    async def scenario() -> None:
        async with asyncio.timeout(30):
            page = await connect(
                hd.stream_url,
                additional_headers={"cookie": f"helpdesk_session={cookie}", "origin": hd.url},
                proxy=None,
            )
            await receive_json(page)  # hello
            await page.send(json.dumps({"type": "resume", "after_seq": 0}))
            tray = await open_stream(hd.url, api_token)
            opened = time.monotonic()
            code, reason = await close_of(page, within_s=15)
            assert code == 4002 and reason == "the web session has ended; sign in again"
            assert 1.5 < time.monotonic() - opened < 3 + 2 + 2  # its age, plus the check's 2 s
            # The tray's API token has no age limit: its stream stays open and live.
            await tray.send(json.dumps({"type": "resume", "after_seq": 0}))
            assert tray.close_code is None
            await tray.close()

    asyncio.run(scenario())


def test_sessions_and_events_are_stamped_and_aged_by_the_servers_clock(tmp_path: Path) -> None:
    # Tokens, people and events were stamped with the system clock while everything else
    # followed the database's: a session made under a replaced clock (the demo's back-dated
    # morning, a test's fake one) was aged against another time.
    now = [datetime(2026, 3, 2, 12, 0, tzinfo=UTC)]
    connection = server_db.connect(tmp_path / "helpdesk.db", clock=lambda: now[0])
    try:
        user, _ = repository.add_user(
            connection, kind="agent", username="clocked", name="Clocked", password=PASSWORD
        )
        session = repository.create_token(connection, user.id, "session")
        created = connection.execute(
            "SELECT created_at FROM tokens WHERE purpose = 'session'"
        ).fetchone()[0]
        assert wire.parse_timestamp(created) == now[0]
        assert connection.execute("SELECT created_at FROM users").fetchone()[0] == created
        with server_db.transaction(connection):
            repository.append_event(connection, user.id, "deleted", {"ids": []})
        assert connection.execute("SELECT created_at FROM events").fetchone()[0] == created
        now[0] += timedelta(minutes=59)
        assert repository.user_for_token(connection, session, "session", 3600) is not None
        now[0] += timedelta(minutes=2)
        assert repository.user_for_token(connection, session, "session", 3600) is None
    finally:
        connection.close()
