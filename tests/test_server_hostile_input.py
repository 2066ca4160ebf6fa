"""Hostile input to the reference helpdesk gets a 4xx (or a 1008 close), never a 500 and never
a traceback in the server's log: lone surrogates, JSON nested a thousand deep, wrong types in
every field of every JSON route, and a client that hangs up halfway through its body.

One server per module (each test uses its own people); every test ends by checking the log.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import httpx
import pytest
from helpdesk import Helpdesk, MakeHelpdesk, connect_stream, receive_json
from websockets.exceptions import ConnectionClosed

from notifier.core import wire

LONE_SURROGATE = "\\ud800"  # a JSON escape that decodes to a str no UTF-8 encoder accepts
DEEP_LIST = "[" * 1000 + "]" * 1000  # 2,000 bytes


def raw_json(fields: dict[str, str]) -> bytes:
    """A JSON object whose values are given as raw JSON text (so escapes stay escapes)."""
    return ("{" + ",".join(f'"{key}":{value}' for key, value in fields.items()) + "}").encode()


@pytest.fixture(scope="module")
def people(shared_helpdesk: Helpdesk) -> dict[str, Any]:
    """An agent with a password, a customer with a ticket, and a comment on it."""
    hd = shared_helpdesk
    username, agent = hd.new_agent("hostile", password="right password")
    _, customer = hd.new_customer()
    ticket = customer.create_ticket("Hostile", "body")
    agent.comment(ticket["id"], "a note")
    return {"username": username, "agent": agent, "customer": customer, "ticket": ticket["id"]}


def json_routes(people: dict[str, Any]) -> list[tuple[str, str, str, dict[str, str]]]:
    """(who, method, path, a valid body as raw JSON values) for every route that takes JSON."""
    t = people["ticket"]
    preferences = {key: json.dumps(value) for key, value in wire.Preferences().to_json().items()}
    return [
        ("none", "POST", "/api/v1/auth/token", {"username": '"x"', "password": '"y"'}),
        ("agent", "PUT", "/api/v1/me/preferences", preferences),
        ("agent", "POST", "/api/v1/notifications/read-all", {"up_to_seq": "1"}),
        ("agent", "POST", "/api/v1/notifications/clear", {"scope": '"read"'}),
        (
            "agent",
            "POST",
            "/api/v1/tickets",
            {"subject": '"s"', "body": '"b"', "customer": '"c@example.com"', "team": '"t"'},
        ),
        ("agent", "POST", f"/api/v1/tickets/{t}/assign", {"agent": f'"{people["username"]}"'}),
        ("agent", "POST", f"/api/v1/tickets/{t}/comments", {"body": '"b"'}),
        ("customer", "POST", f"/api/v1/tickets/{t}/replies", {"body": '"b"'}),
        ("customer", "POST", f"/api/v1/tickets/{t}/reopen", {"body": '"b"'}),
        ("agent", "PATCH", "/api/v1/comments/1", {"body": '"b"'}),
        ("agent", "POST", "/api/v1/comments/1/reactions", {"emoji": '"👍"'}),
    ]


def client_for(hd: Helpdesk, people: dict[str, Any], who: str) -> httpx.Client:
    headers = {"Content-Type": "application/json"}
    if who != "none":
        headers["Authorization"] = f"Bearer {people[who].token}"
    return httpx.Client(base_url=hd.url, headers=headers, trust_env=False, timeout=15)


def test_a_lone_surrogate_in_any_string_field_is_a_400(
    shared_helpdesk: Helpdesk, people: dict[str, Any]
) -> None:
    tried = 0
    for who, method, path, fields in json_routes(people):
        with client_for(shared_helpdesk, people, who) as client:
            for key in fields:
                for value in (f'"{LONE_SURROGATE}"', f'"ok {LONE_SURROGATE} ok"'):
                    body = raw_json({**fields, key: value})
                    response = client.request(method, path, content=body)
                    assert response.status_code == 400, (path, key, response.text)
                    assert wire.ApiError.parse(response.content).code == "malformed_json"
                    tried += 1
            # In a key too, and in a string nested in a list.
            for body in (
                raw_json({**fields, LONE_SURROGATE: '"x"'}),
                raw_json({**fields, "extra": f'["{LONE_SURROGATE}"]'}),
            ):
                assert client.request(method, path, content=body).status_code == 400, path
    assert tried >= 30
    shared_helpdesk.assert_clean_log()


def test_json_nested_a_thousand_deep_is_a_400_even_unauthenticated(
    shared_helpdesk: Helpdesk, people: dict[str, Any]
) -> None:
    with httpx.Client(base_url=shared_helpdesk.url, trust_env=False) as anonymous:
        for body in (DEEP_LIST, '{"username":' + DEEP_LIST + ',"password":"x"}', "[" * 50_000):
            response = anonymous.post("/api/v1/auth/token", content=body.encode())
            assert response.status_code == 400, response.text
            assert wire.ApiError.parse(response.content).code == "malformed_json"
    for who, method, path, fields in json_routes(people):
        with client_for(shared_helpdesk, people, who) as client:
            # Deep enough to hurt, shallow enough for json to parse: still refused.
            for value in (DEEP_LIST, "[" * 100 + "]" * 100):
                key = next(iter(fields))
                response = client.request(method, path, content=raw_json({**fields, key: value}))
                assert response.status_code == 400, (path, response.text)
    shared_helpdesk.assert_clean_log()


HOSTILE_VALUES = (
    "null",
    "true",
    "-1",
    "1.5",
    "9" * 400,
    "[]",
    '{"a":1}',
    '""',
    '"' + "x" * 5000 + '"',
)


def test_wrong_types_in_every_field_never_get_a_500(
    shared_helpdesk: Helpdesk, people: dict[str, Any]
) -> None:
    statuses: set[int] = set()
    for who, method, path, fields in json_routes(people):
        with client_for(shared_helpdesk, people, who) as client:
            for key in fields:
                for value in HOSTILE_VALUES:
                    response = client.request(
                        method, path, content=raw_json({**fields, key: value})
                    )
                    assert response.status_code < 500, (path, key, value[:20], response.text)
                    statuses.add(response.status_code)
    assert statuses & {400, 422}
    shared_helpdesk.assert_clean_log()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "first",
    [
        '{"type":"resume","after_seq":0,"x":' + DEEP_LIST + "}",
        "[" * 50_000,
        '{"type":"resume' + LONE_SURROGATE + '","after_seq":0}',
        '{"type":"resume","after_seq":0,"' + LONE_SURROGATE + '":1}',
    ],
)
async def test_a_hostile_resume_frame_gets_an_error_event_and_1008(
    shared_helpdesk: Helpdesk, first: str
) -> None:
    _, agent = shared_helpdesk.new_agent("hostilews")
    async with asyncio.timeout(20), connect_stream(shared_helpdesk.url, agent.token) as ws:
        await receive_json(ws)  # hello
        await ws.send(first)
        error = wire.parse_server_event(await receive_json(ws))
        assert isinstance(error, wire.ErrorEvent) and error.code == "bad_message"
        with pytest.raises(ConnectionClosed):
            await receive_json(ws)
    assert ws.close_code == 1008
    shared_helpdesk.assert_clean_log()


def test_a_client_hanging_up_mid_body_is_no_unhandled_error(make_helpdesk: MakeHelpdesk) -> None:
    hd = make_helpdesk("--log-level", "debug")
    token = hd.add_agent("hangup")
    host, port = hd.url.removeprefix("http://").rsplit(":", 1)
    for path, auth in (("/api/v1/auth/token", ""), ("/api/v1/tickets", token)):
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            headers = (
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Content-Length: 5000\r\n"
                + (f"Authorization: Bearer {auth}\r\n" if auth else "")
                + "\r\n"
            )
            sock.sendall(headers.encode() + b'{"subject": "half')
            time.sleep(0.2)  # the handler is now waiting for the rest of the body
    # Both hang-ups are logged once each at debug level, without a traceback.
    deadline = time.monotonic() + 10
    while hd.log_text().count("hung up") < 2 and "Traceback" not in hd.log_text():
        assert time.monotonic() < deadline, hd.log_text()
        time.sleep(0.05)
    hd.assert_clean_log()
    # And the server is still fine.
    assert (
        httpx.get(
            f"{hd.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, trust_env=False
        ).status_code
        == 200
    )


def test_hostile_input_to_the_password_reset_pages_never_gets_a_500(
    make_helpdesk: MakeHelpdesk,
) -> None:
    """Both reset forms and a live link's page, at debug with the access log on: odd paths,
    bytes that are not UTF-8, percent-encoded surrogates and NULs, odd cookies and methods,
    bodies over the limit. Every answer is a 4xx or the page; the log holds no traceback and
    never the link's token."""
    import hashlib
    import sqlite3
    from datetime import UTC, datetime

    from notifier.server.outbox import stamp

    hd = make_helpdesk("--log-level", "debug", "--access-log")
    hd.add_customer("rex@example.com", password="old password 1")
    token = "R" * 43
    with sqlite3.connect(hd.db) as db:
        db.execute(
            "INSERT INTO password_resets(user_id, token_hash, created_at, expires_at)"
            " SELECT id, ?, ?, ? FROM users WHERE username = 'rex@example.com'",
            (
                hashlib.sha256(token.encode()).hexdigest(),
                stamp(datetime(2020, 1, 1, tzinfo=UTC)),
                stamp(datetime(2999, 1, 1, tzinfo=UTC)),
            ),
        )
    db.close()
    link = f"/password-reset/{token}"
    form = {"content-type": "application/x-www-form-urlencoded"}
    statuses: list[tuple[str, str, int]] = []
    with httpx.Client(base_url=hd.url, trust_env=False, timeout=15) as client:
        page = client.get(link)
        assert page.status_code == 200, page.text
        csrf = client.cookies["helpdesk_csrf"]

        def send(method: str, path: str, body: bytes = b"", **kwargs: Any) -> None:
            answer = client.request(method, path, content=body, **kwargs)
            statuses.append((method, path[:60], answer.status_code))

        for path in (
            "/password-reset/" + "A" * 10_000,
            "/password-reset/%00",
            "/password-reset/%ED%A0%80" * 3,
            "/password-reset/..%2F..%2Fetc%2Fpasswd",
            "/password-reset/" + "%F0%9F%92%A9" * 43,
            f"{link}/",
            f"{link}%00",
            f"{link}?next=%ED%A0%80",
        ):
            for method in ("GET", "HEAD", "POST", "PUT", "DELETE"):
                send(method, path, f"password=x&again=y&csrf={csrf}".encode(), headers=form)
        bodies = [
            b"\xff\xfe\x00\x80",
            b"email=%00%00@x&csrf=" + csrf.encode(),
            b"email=" + "é".encode() * 300 + b"@x.com&csrf=" + csrf.encode(),
            b"email=a%40b.c&csrf=%ED%A0%80",
            b"email=%ED%A0%80%40example.com&csrf=" + csrf.encode(),
            b"password=%00%00%00&again=%00&csrf=" + csrf.encode(),
            b"password=%ED%A0%80&again=%ED%A0%80x&csrf=" + csrf.encode(),
            b"password=" + "😀".encode() * 1024 + b"&again=x&csrf=" + csrf.encode(),
            b"password=" + b"p" * 5000 + b"&again=" + b"p" * 5000 + b"&csrf=" + csrf.encode(),
            b"=&&==&%&%%%",
            b"",
            b"x" * (wire.MAX_FRAME_BYTES + 1),
        ]
        for path in ("/password-reset", link):
            for body in bodies:
                send("POST", path, body, headers=form)
                send("POST", path, body, headers={"content-type": "application/json"})
        assert ("POST", link, 422) in statuses  # the hostile saves reached the password check
        for path in ("/password-reset", link):  # last: these replace the browser's form cookie
            send("GET", path, headers={"cookie": "helpdesk_csrf=" + "~" * 5000})
            send("POST", path, b"csrf=x", headers={**form, "cookie": "helpdesk_csrf=%ED%A0%80"})
    odd = [s for s in statuses if not (400 <= s[2] < 500 or s[2] in (200, 307))]
    assert odd == [], odd
    with sqlite3.connect(hd.db) as db:  # every hostile save was refused: the link is unused
        assert db.execute("SELECT count(*) FROM password_resets").fetchone() == (1,)
    db.close()
    log = hd.log_text()
    assert token not in log
    hd.assert_clean_log()
