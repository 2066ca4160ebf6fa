"""The reference helpdesk's limits (notifier/server/limits.py), each against a real server
subprocess started with lowered values through its command-line flags."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from helpdesk import (
    Helpdesk,
    MakeHelpdesk,
    close_of,
    open_stream,
    receive_until,
    running,
    web_sign_in,
)

from notifier.core import wire

PASSWORD = "correct horse"


@dataclass(frozen=True)
class RawResponse:
    status_code: int
    headers: dict[str, str]
    content: bytes


async def raw_post(url: str, path: str, body: bytes) -> RawResponse:
    """One POST on its own connection, with plain asyncio streams: a burst of hundreds costs
    the test process next to nothing (httpx's pool takes seconds for that many)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        answer = await reader.read()
    finally:
        writer.close()
    head, _, content = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(int(status_line.split()[1]), headers, content)


async def sign_in_burst(url: str, usernames: list[str]) -> list[RawResponse]:
    """One wrong-password sign-in per name, all at once."""
    return await asyncio.gather(
        *(
            raw_post(
                url, "/api/v1/auth/token", json.dumps({"username": u, "password": "x"}).encode()
            )
            for u in usernames
        )
    )


def latencies_while(url: str, token: str, busy: threading.Event) -> list[float]:
    """GET /me as another agent, again and again, while ``busy`` is set (from a thread)."""
    times: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, trust_env=False, headers=headers, timeout=30) as client:
        while busy.is_set() or len(times) < 5:
            started = time.perf_counter()
            response = client.get("/api/v1/me")
            times.append(time.perf_counter() - started)
            assert response.status_code == 200
    return times


def retry_after(response: RawResponse | httpx.Response) -> int:
    value = int(response.headers["retry-after"])
    assert value >= 1
    return value


def test_a_burst_of_wrong_passwords_gets_429s_and_other_agents_stay_fast(
    helpdesk: Helpdesk,
) -> None:
    helpdesk.add_agent("victim", password=PASSWORD)
    helpdesk.add_agent("other", password=PASSWORD)
    bystander = helpdesk.add_agent("bystander")

    busy = threading.Event()
    busy.set()
    with ThreadPoolExecutor(1) as pool:
        bystander_times = pool.submit(latencies_while, helpdesk.url, bystander, busy)
        try:
            responses = asyncio.run(
                asyncio.wait_for(sign_in_burst(helpdesk.url, ["victim"] * 200), 50)
            )
        finally:
            busy.clear()
        times = bystander_times.result(timeout=30)
    statuses = [r.status_code for r in responses]
    # Only the first ten guesses (the per-account default) were even checked.
    assert statuses.count(401) <= 10
    assert statuses.count(429) >= 150, statuses
    assert set(statuses) <= {401, 429, 503}
    for response in responses:
        if response.status_code == 429:
            assert 1 <= retry_after(response) <= 300
            assert wire.ApiError.parse(response.content).code == "rate_limited"
    # Generous: a bystander's request never waited behind the hashing.
    assert max(times) < 1.0, times
    with httpx.Client(base_url=helpdesk.url, trust_env=False) as client:
        # The account stays locked, even for the right password ...
        locked = client.post(
            "/api/v1/auth/token", json={"username": "VICTIM", "password": PASSWORD}
        )
        assert locked.status_code == 429
        # ... while other accounts from the same address still sign in.
        other = client.post("/api/v1/auth/token", json={"username": "other", "password": PASSWORD})
        assert other.status_code == 200
    helpdesk.assert_clean_log()


def test_failed_sign_ins_are_limited_per_address_and_forgotten_after_the_window(
    make_helpdesk: MakeHelpdesk,
) -> None:
    hd = make_helpdesk("--sign-in-failures-per-address", "3", "--sign-in-window", "2")
    hd.add_agent("dora", password=PASSWORD)
    with httpx.Client(base_url=hd.url, trust_env=False) as client:
        for name in ("a1", "a2", "a3"):
            wrong = client.post("/api/v1/auth/token", json={"username": name, "password": "x"})
            assert wrong.status_code == 401
        refused = client.post("/api/v1/auth/token", json={"username": "dora", "password": PASSWORD})
        assert refused.status_code == 429 and retry_after(refused) <= 2
        # The web form is limited by the same counters, and says so in a page.
        form = web_sign_in(client, "dora", PASSWORD)
        assert form.status_code == 429 and "try again" in form.text
        time.sleep(retry_after(refused) + 0.2)
        good = client.post("/api/v1/auth/token", json={"username": "dora", "password": PASSWORD})
        assert good.status_code == 200
    hd.assert_clean_log()


def test_sign_ins_beyond_the_password_pool_get_503(make_helpdesk: MakeHelpdesk) -> None:
    hd = make_helpdesk("--password-workers", "1", "--password-queue", "0")

    usernames = [f"u{n}" for n in range(40)]
    responses = asyncio.run(asyncio.wait_for(sign_in_burst(hd.url, usernames), 50))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {401, 503}
    assert statuses.count(503) >= 1 and statuses.count(401) >= 1, statuses
    for response in responses:
        if response.status_code == 503:
            assert retry_after(response) == 1
            assert wire.ApiError.parse(response.content).code == "busy"
    hd.assert_clean_log()


def test_oversized_credentials_are_refused_without_hashing(helpdesk: Helpdesk) -> None:
    with httpx.Client(base_url=helpdesk.url, trust_env=False) as client:
        for body in (
            {"username": "u" * 300, "password": "x"},
            {"username": "u", "password": "p" * 2000},
        ):
            response = client.post("/api/v1/auth/token", json=body)
            assert response.status_code == 400
            assert wire.ApiError.parse(response.content).code == "invalid_field"


def test_every_limit_flag_is_documented_with_its_default() -> None:
    from dataclasses import fields

    from notifier.server.limits import Limits

    docs = (Path(__file__).resolve().parent.parent / "docs" / "server.md").read_text()
    for item in fields(Limits):
        assert f"| `{item.metadata['flag']} " in docs, item.name
        row = docs.split(f"| `{item.metadata['flag']} ", 1)[1].split("\n", 1)[0]
        assert f"| {item.default:g} |" in row, (item.name, row)


def test_one_stream_too_many_on_a_token_closes_the_oldest_with_4001(
    make_helpdesk: MakeHelpdesk,
) -> None:
    hd = make_helpdesk("--max-streams-per-token", "2")
    username, agent = hd.new_agent("many", password=PASSWORD)
    _, colleague = hd.new_agent("manyc")
    ticket = colleague.create_ticket("Streams", "")
    with httpx.Client(base_url=hd.url, trust_env=False) as client:
        other_token = client.post(
            "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
        ).json()["token"]

    async def scenario() -> None:
        async with asyncio.timeout(40):
            waiting = await open_stream(hd.url, agent.token, resume=False)  # before its resume
            live = await open_stream(hd.url, agent.token)
            third = await open_stream(hd.url, agent.token)
            code, reason = await close_of(waiting)
            assert code == 4001 and "more than 2 streams" in reason
            fourth = await open_stream(hd.url, agent.token)
            assert (await close_of(live))[0] == 4001
            # Another token of the same agent has its own allowance.
            elsewhere = await open_stream(hd.url, other_token)
            colleague.comment(ticket["id"], f"@{username} still here?")
            for ws in (third, fourth, elsewhere):
                frames = await receive_until(ws, "unread_count")
                assert frames[0]["type"] == "notification"
                await ws.close()

    asyncio.run(scenario())
    hd.assert_clean_log()


def host_and_port(hd: Helpdesk) -> tuple[str, int]:
    host, port = hd.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def closed_by_server(sock: socket.socket, within_s: float, trickle: bytes = b"") -> float:
    """Seconds until the server closed ``sock`` (sending ``trickle`` every 0.2 s meanwhile);
    fails the test if it stays open ``within_s``."""
    started = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - started < within_s:
        try:
            if trickle:
                sock.sendall(trickle)
            if sock.recv(1024) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - started
    pytest.fail(f"the server kept the connection open for {within_s} s")


def test_connections_without_complete_headers_are_closed_after_the_header_timeout(
    make_helpdesk: MakeHelpdesk,
) -> None:
    hd = make_helpdesk("--header-timeout", "1")
    address = host_and_port(hd)
    with socket.create_connection(address) as idle:
        assert closed_by_server(idle, within_s=8) >= 0.8
    with socket.create_connection(address) as slow:
        slow.sendall(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\n")
        assert closed_by_server(slow, within_s=8, trickle=b"X-Slow: y\r\n") >= 0.8
    # A real client is not affected, nor is a stream that outlives the deadline.
    username, agent = hd.new_agent("quick")
    _, colleague = hd.new_agent("quickc")
    ticket = colleague.create_ticket("Deadline", "")

    async def stream_outlives_the_deadline() -> None:
        async with asyncio.timeout(20):
            ws = await open_stream(hd.url, agent.token)
            await asyncio.sleep(1.5)
            colleague.comment(ticket["id"], f"@{username} after the deadline")
            frames = await receive_until(ws, "unread_count")
            assert frames[0]["notification"]["message"] == f"@{username} after the deadline"
            await ws.close()

    asyncio.run(stream_outlives_the_deadline())
    assert agent.request("GET", "/api/v1/me").status_code == 200
    hd.assert_clean_log()


def test_a_body_that_never_ends_gets_408(make_helpdesk: MakeHelpdesk) -> None:
    hd = make_helpdesk("--body-timeout", "1")
    with socket.create_connection(host_and_port(hd), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"username": '
        )
        answer = b""
        while b'"request_timeout"' not in answer and (chunk := sock.recv(4096)):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b'"request_timeout"' in answer
    hd.assert_clean_log()


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="reads /proc/PID/limits")
def test_the_soft_file_limit_is_raised_to_the_hard_one(tmp_path: Path) -> None:
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard <= 64:
        pytest.skip(f"the hard limit ({hard}) leaves nothing to raise")
    lowered = ("sh", "-c", 'ulimit -Sn 64 && exec "$0" "$@"')
    with running(Helpdesk(tmp_path / "nofile", command_prefix=lowered)) as hd:
        line = next(
            line
            for line in Path(f"/proc/{hd.pid}/limits").read_text().splitlines()
            if line.startswith("Max open files")
        )
    soft, hard_seen = line.split()[3:5]
    assert soft == hard_seen != "64", line


def test_a_customers_tickets_and_replies_are_rate_limited(make_helpdesk: MakeHelpdesk) -> None:
    hd = make_helpdesk("--customer-writes", "3", "--customer-window", "60")
    _, agent = hd.new_agent("calm")
    _, flooder = hd.new_customer("flood")
    _, neighbour = hd.new_customer("calm")
    ticket = flooder.create_ticket("Flood", "1")  # write 1
    # A write that fails does not count.
    assert (
        flooder.request("POST", "/api/v1/tickets/999999/replies", json={"body": "x"}).status_code
        == 404
    )
    flooder.reply(ticket["id"], "2")
    flooder.reply(ticket["id"], "3")
    for method, path, body in (
        ("POST", f"/api/v1/tickets/{ticket['id']}/replies", {"body": "4"}),
        ("POST", "/api/v1/tickets", {"subject": "again"}),
        ("POST", f"/api/v1/tickets/{ticket['id']}/reopen", {"body": "5"}),
    ):
        refused = flooder.request(method, path, json=body)
        assert refused.status_code == 429, path
        assert 1 <= retry_after(refused) <= 60
        assert wire.ApiError.parse(refused.content).code == "rate_limited"
    # Only the flooder is slowed down: other customers and agents are not.
    neighbour.reply(neighbour.create_ticket("Mine", "")["id"], "fine")
    for n in range(5):
        agent.comment(ticket["id"], f"note {n}")
    page = agent.request("GET", f"/api/v1/tickets/{ticket['id']}").json()
    assert [c["body"] for c in page["comments"] if c["kind"] == "reply"] == ["2", "3"]
    hd.assert_clean_log()
