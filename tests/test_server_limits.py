"""The reference helpdesk's limits (notifier/server/limits.py), each against a real server
subprocess started with lowered values through its command-line flags."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from helpdesk import Helpdesk

from notifier.core import wire

PASSWORD = "correct horse"
MakeHelpdesk = Callable[..., Helpdesk]


@pytest.fixture
def make_helpdesk(tmp_path: Path) -> Iterator[MakeHelpdesk]:
    """``make_helpdesk(*flags)`` starts a helpdesk with those extra flags (stopped at the end)."""
    started: list[Helpdesk] = []

    def make(*flags: str) -> Helpdesk:
        server = Helpdesk(tmp_path / f"helpdesk{len(started)}", extra_args=flags)
        started.append(server)
        server.start()
        return server

    try:
        yield make
    finally:
        for server in started:
            server.stop()


def assert_clean_log(hd: Helpdesk) -> None:
    log = hd.log_text()
    for word in ("Traceback", "ERROR", "unhandled"):
        assert word not in log, log


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
    assert_clean_log(helpdesk)


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
        form = client.post("/login", data={"username": "dora", "password": PASSWORD})
        assert form.status_code == 429 and "try again" in form.text
        time.sleep(retry_after(refused) + 0.2)
        good = client.post("/api/v1/auth/token", json={"username": "dora", "password": PASSWORD})
        assert good.status_code == 200
    assert_clean_log(hd)


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
    assert_clean_log(hd)


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
