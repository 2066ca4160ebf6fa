"""The REST client and the stream against a misbehaving helpdesk on loopback: what a server
sends can cost the app no more memory than the contract's largest message, and the server's
own words (an error message, a close reason) reach the status, the log and `notifier tail`
only as one plain line.

The REST server here is raw asyncio, so it can send what no HTTP framework would: a body of
64 MiB streamed without being held, a compressed bomb, a Content-Encoding that lies.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import tracemalloc
import unicodedata
import zlib
from pathlib import Path

import pytest
from engine_support import make_notification
from hostile_helpdesk import (
    HostileHelpdesk,
    event,
    hello,
    hostile_helpdesk,
    notification_frame,
    page_json,
)
from raw_server import RawServer
from tail_process import TIMEOUT_S, kill, start_tail
from test_engine_hostile import (
    LATER,
    TOKEN,
    WINDOW,
    assert_backed_off,
    assert_only_the_later_event_is_stored,
    cache_at,
    engine_against,
    growing_backoff,
    last_error,
    replay_with,
    stay_open,
)
from websockets.asyncio.server import ServerConnection

from notifier.client import frappe_rest
from notifier.client.rest import RestClient
from notifier.client.transport import TransportConfig
from notifier.core.errors import AuthFailed, BackendError, ProtocolViolation
from notifier.core.status import ConnectionState
from notifier.core.wire import MAX_FRAME_BYTES, AgentInfo

CONFIG = TransportConfig(connect_timeout=2, read_timeout=5, request_deadline=20)
HUGE_BYTES = 64 * 1024 * 1024
CHUNK = b" " * 65_536
# What the server may get to write before the client stops reading: the 1 MiB limit plus
# the sockets' buffers on both sides (a few MiB on Linux), far below HUGE_BYTES.
WRITTEN_AT_MOST = 16 * 1024 * 1024
# Peak Python memory of one refused answer: the 1 MiB it kept plus a chunk or two.
PEAK_AT_MOST = 8 * 1024 * 1024

# A status line holding a server's words is a sentence, not a page (they are cut at 200).
SHOWN_AT_MOST = 300
# A server's words built to do harm where they are shown: a forged log line, an OSC that
# retitles the terminal, a screen clear, a bidi override, and far more than a sentence.
HOSTILE_WORDS = "slow down\nERROR forged log line\x1b]0;pwned\x07\x1b[2J\u202eelif" + "x" * 3000


class RawHttpServer(RawServer):
    """Answers every request with ``head`` (status line and headers, without the blank
    line) and then ``body_bytes`` bytes: ``body`` once, or ``CHUNK`` over and over when
    ``body`` is None. Counts the body bytes it got to write."""

    def __init__(self, head: bytes, body_bytes: int, body: bytes | None = None) -> None:
        super().__init__()
        self.head = head
        self.body_bytes = body_bytes
        self.body = body
        self.written = 0

    async def respond(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(self.head + b"\r\nContent-Length: %d\r\n\r\n" % self.body_bytes)
        if self.body is not None:
            writer.write(self.body)
            self.written = len(self.body)
        while self.written < self.body_bytes:
            writer.write(CHUNK)
            await writer.drain()
            self.written += len(CHUNK)
        await writer.drain()


async def me_answered(head: bytes, body: bytes) -> AgentInfo:
    """GET /me answered with ``head`` and ``body``: the agent the client read from it."""
    async with RawHttpServer(head, len(body), body).serving() as server:
        client = RestClient(server.url, TOKEN, CONFIG)
        try:
            async with asyncio.timeout(30):
                return await client.me()
        finally:
            await client.aclose()


async def me_from(server: RawHttpServer) -> BaseException:
    """Ask ``server`` for GET /me; the error the client raised (it must raise one)."""
    client = RestClient(server.url, TOKEN, CONFIG)
    try:
        async with asyncio.timeout(30):
            await client.me()
    except Exception as error:
        return error
    finally:
        await client.aclose()
    raise AssertionError("the client accepted the answer")


async def peak_memory_of_me(server: RawHttpServer) -> tuple[BaseException, int]:
    tracemalloc.start()
    try:
        error = await me_from(server)
        return error, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --------------------------------------------------------------------------- REST bodies


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("head", "raised"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Type: application/json", ProtocolViolation),
        # an error status's body is only its words: dropped, the status still counts
        (b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json", AuthFailed),
    ],
    ids=["200", "401"],
)
async def test_a_body_of_64_mib_is_not_read_past_the_limit(
    head: bytes, raised: type[BaseException]
) -> None:
    async with RawHttpServer(head, HUGE_BYTES).serving() as server:
        error, peak = await peak_memory_of_me(server)
    assert isinstance(error, raised), repr(error)
    if raised is ProtocolViolation:
        assert f"larger than {MAX_FRAME_BYTES} bytes" in str(error)
    assert server.written <= WRITTEN_AT_MOST, f"the client read {server.written} bytes"
    assert peak <= PEAK_AT_MOST, f"{peak} bytes at the peak"


@pytest.mark.asyncio
async def test_a_compressed_bomb_is_refused_at_the_limit_of_what_it_unpacks_to() -> None:
    bomb = gzip.compress(b" " * HUGE_BYTES)  # ~64 KiB on the wire
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip"
    async with RawHttpServer(head, len(bomb), bomb).serving() as server:
        error, peak = await peak_memory_of_me(server)
    assert isinstance(error, ProtocolViolation), repr(error)
    assert peak <= PEAK_AT_MOST, f"{peak} bytes at the peak"


@pytest.mark.asyncio
async def test_a_body_that_is_not_the_encoding_it_claims_is_a_protocol_violation() -> None:
    # httpx's DecodingError is none of the errors the client maps: it reached the engine as
    # an "unexpected error", with a traceback in the log.
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip"
    body = b'{"id": "a-1"}'  # not gzip
    async with RawHttpServer(head, len(body), body).serving() as server:
        error = await me_from(server)
    assert isinstance(error, ProtocolViolation), repr(error)
    assert "could not be decoded" in str(error)


@pytest.mark.asyncio
async def test_a_gzip_answer_within_the_limit_is_read_as_before() -> None:
    body = gzip.compress(json.dumps({"id": "a-1", "username": "alice", "name": "Al"}).encode())
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip"
    assert (await me_answered(head, body)).username == "alice"


# --------------------------------------------------------------------------- server words


def is_plain_line(text: str) -> bool:
    """One line without a control or format (bidi) character."""
    return all(unicodedata.category(ch) not in ("Cc", "Cf") for ch in text)


def assert_shown_plainly(shown: str) -> None:
    assert is_plain_line(shown), repr(shown)
    assert "pwned" not in shown  # the escape sequence went whole, not only its ESC
    assert len(shown) <= SHOWN_AT_MOST, len(shown)


@pytest.mark.asyncio
async def test_an_error_body_is_one_plain_line_in_the_error() -> None:
    body = json.dumps({"error": {"code": "slow_down", "message": HOSTILE_WORDS}}).encode()
    head = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json"
    async with RawHttpServer(head, len(body), body).serving() as server:
        error = await me_from(server)
    assert isinstance(error, BackendError) and error.status == 503, repr(error)
    assert "slow down ERROR forged log line" in str(error)
    assert_shown_plainly(str(error))


@pytest.mark.asyncio
async def test_a_redirect_is_not_followed_and_says_to_check_the_server_url() -> None:
    # The message was the status line's "Found"; following it would send the token there.
    elsewhere = RawHttpServer(b"HTTP/1.1 200 OK\r\nContent-Type: application/json", 2, b"{}")
    async with elsewhere.serving():
        head = b"HTTP/1.1 302 Found\r\nLocation: " + elsewhere.url.encode() + b"/login"
        async with RawHttpServer(head, 0).serving() as server:
            error = await me_from(server)
    assert isinstance(error, BackendError) and error.status == 302, repr(error)
    assert "redirect (HTTP 302)" in str(error) and "server URL" in str(error)
    assert elsewhere.written == 0  # never asked


async def error_then_odd_close(connection: ServerConnection, desk: HostileHelpdesk) -> None:
    await connection.send(hello(last_seq=3))
    if len(desk.handshakes) == 1:  # then the client pages the history and connects again
        await connection.send(event("reset", 3, reason=HOSTILE_WORDS))
        await stay_open(connection)
        return
    await connection.send(json.dumps({"type": "error", "code": "x", "message": HOSTILE_WORDS}))
    await connection.close(4001, "too\nmany\x1b]0;pwned\x07 streams\u202e")


@pytest.mark.asyncio
async def test_a_servers_error_message_close_reason_and_reset_reason_are_one_plain_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    path = cache_at(tmp_path / "c.sqlite3", 3)
    async with engine_against(error_then_odd_close, path, backoff=growing_backoff) as (desk, run):
        await run.wait_until(lambda: any("4001" in (s.last_error or "") for s in run.statuses))
    assert len(desk.handshakes) >= 2  # the reset, then the error and the close
    errors = [s.last_error for s in run.statuses if s.last_error]
    assert any("the server reported a problem: slow down" in e for e in errors), errors
    assert any("code 4001: too many streams" in e for e in errors), errors
    for shown in errors:
        assert_shown_plainly(shown)
    from_the_server = [r.getMessage() for r in caplog.records if "forged" in r.getMessage()]
    from_the_server += [r.getMessage() for r in caplog.records if "4001" in r.getMessage()]
    assert any("resetting the cache" in m for m in from_the_server), from_the_server
    for message in from_the_server:
        assert_shown_plainly(message)


async def closes_with_an_escape_sequence(
    connection: ServerConnection, desk: HostileHelpdesk
) -> None:
    await connection.send(hello(last_seq=5))
    await connection.send(event("synced", 5))
    await connection.close(4001, "\x1b]0;pwned\x07\x1b[2Jtoo many streams\u202e")


@pytest.mark.asyncio
async def test_tail_prints_a_close_reason_without_its_escape_sequences(tmp_path: Path) -> None:
    async with hostile_helpdesk(closes_with_an_escape_sequence) as desk:
        process = await start_tail(desk.url, TOKEN, tmp_path / "home", as_json=False)
        try:
            assert process.stderr is not None
            async with asyncio.timeout(TIMEOUT_S):
                while b"4001" not in (line := await process.stderr.readline()):
                    assert line, "tail exited early"
        finally:
            await kill(process)
    text = line.decode().rstrip("\n")
    assert "code 4001: too many streams" in text, text
    assert_shown_plainly(text)


def with_a_huge_type(seq: int) -> str:
    """A notification frame of ~500 KB whose notification type is no type at all."""
    notification = make_notification(f"n-{seq}", seq).to_json()
    notification["type"] = "x" * 500_000
    return json.dumps({"type": "notification", "seq": seq, "notification": notification})


@pytest.mark.asyncio
async def test_a_huge_bad_value_is_quoted_in_the_log_only_in_part(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The warning quoted the whole value: a 500 KB log line per frame, and the log keeps
    # 6 MB in all, so a dozen such frames wiped everything an admin could look at.
    path = cache_at(tmp_path / "c.sqlite3", 3)
    script = replay_with(with_a_huge_type(4), LATER, synced=5)
    await assert_only_the_later_event_is_stored(script, path, caplog, resumed_after=5)
    warnings = [r.getMessage() for r in caplog.records if "event seq 4" in r.getMessage()]
    assert warnings and all("notification.type is 'xxx" in w for w in warnings), warnings
    assert max(len(w) for w in warnings) < 500, [len(w) for w in warnings]


async def events_without_a_hello(connection: ServerConnection, desk: HostileHelpdesk) -> None:
    await connection.send(notification_frame(make_notification("n-4", 4)))
    await connection.send(event("synced", 4))
    await stay_open(connection)


@pytest.mark.asyncio
async def test_a_stream_without_a_hello_applies_nothing_and_backs_off(tmp_path: Path) -> None:
    # The client applied the events and went live without ever learning whose stream it
    # was, or in which protocol version.
    path = cache_at(tmp_path / "c.sqlite3", 3)
    async with engine_against(events_without_a_hello, path, backoff=growing_backoff) as (
        desk,
        run,
    ):
        await asyncio.sleep(WINDOW)
        assert_backed_off(desk)
        assert "no hello" in last_error(run)
        assert not any(s.state is ConnectionState.LIVE for s in run.statuses)
        assert run.cache.all_notifications() == []
        assert run.cache.cursor() == 3


def with_padding(notification_id: str, seq: int, padding: int) -> str:
    """A notification frame carrying ``padding`` characters of a field the client ignores."""
    frame = json.loads(notification_frame(make_notification(notification_id, seq)))
    frame["padding"] = "x" * padding
    return json.dumps(frame)


async def replays_a_frame_over_the_limit(
    connection: ServerConnection, desk: HostileHelpdesk
) -> None:
    """An honest replay after the resume cursor, except that the event of seq 4 is 1.1 MB."""
    after = desk.resumed_after[-1]
    await connection.send(hello(last_seq=5))
    log = {4: with_padding("n-4", 4, 1_100_000), 5: notification_frame(make_notification("n-5", 5))}
    for seq, frame in log.items():
        if seq > after:
            await connection.send(frame)
    await connection.send(event("synced", max(after, 5)))
    await stay_open(connection)


@pytest.mark.asyncio
async def test_a_frame_over_the_limit_does_not_block_the_events_after_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The client closes the connection (1009) on a frame over 1 MiB without reading its seq,
    # so it resumed before it on every attempt: n-5 and everything later never arrived.
    # Now it reloads the history, as for a reset, and resumes after the log's head.
    caplog.set_level(logging.INFO)
    path = cache_at(tmp_path / "c.sqlite3", 3)
    history = [make_notification("n-5", 5)]
    async with engine_against(
        replays_a_frame_over_the_limit,
        path,
        history=lambda after: page_json(history, last_seq=5),
        backoff=growing_backoff,
    ) as (desk, run):
        await run.wait_until(lambda: run.engine.status.is_live, within=10)
        assert desk.resumed_after == [3, 5]
        assert [n.id for n in run.cache.all_notifications()] == ["n-5"]
        notices = [s.notice or "" for s in run.statuses]
        assert any(f"larger than {MAX_FRAME_BYTES} bytes" in n for n in notices), notices
    assert not [r.getMessage() for r in caplog.records if r.exc_info], "a traceback was logged"


@pytest.mark.asyncio
async def test_a_frappe_page_over_the_protocols_limit_is_read_to_the_sites_own() -> None:
    # A Frappe site is not bound by docs/protocol.md: 500 rows, each with a mention's comment
    # HTML, pass 1 MiB. The cap made for the reference protocol would refuse such a page on
    # every try, and the tray would never sync; the adapter has its own, larger bound.
    row = {"name": "n", "notification_type": "Mention", "message": "<p>" + "x" * 5_000 + "</p>"}
    rows = [{**row, "name": f"n{index}"} for index in range(400)]
    body = json.dumps({"data": rows}).encode()
    assert MAX_FRAME_BYTES < len(body) < frappe_rest.MAX_BODY_BYTES
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json"
    async with RawHttpServer(head, len(body), body).serving() as server:
        site = frappe_rest.FrappeRest(
            frappe_rest.FrappeSite(server.url),
            frappe_rest.FrappeCredentials(api_key="k", api_secret="s"),
            CONFIG,
        )
        try:
            async with asyncio.timeout(30):
                got = await site.list_rows([["user_to", "=", "a@example.com"]])
        finally:
            await site.aclose()
    assert [item["name"] for item in got] == [f"n{index}" for index in range(400)]


@pytest.mark.asyncio
async def test_a_flood_of_bad_frames_is_counted_not_logged_one_by_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Each bad frame was one warning line: a server sending them in a loop rolled the app's
    # log (6 MB in all) over within seconds, and with it whatever an admin needed to read.
    path = cache_at(tmp_path / "c.sqlite3", 3)
    flood = ["{not json"] * 1_000
    script = replay_with(*flood, LATER, synced=5)
    await assert_only_the_later_event_is_stored(script, path, caplog, resumed_after=5)
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    one_by_one = [m for m in skipped if m.startswith("skipped a malformed frame")]
    # The first connection's flood, and the second's (a replay again): 20 lines each at most.
    assert 20 <= len(one_by_one) <= 40, len(one_by_one)
    assert "skipped 980 more frames from the server on this connection" in skipped, skipped[-3:]


@pytest.mark.asyncio
@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
async def test_a_deflate_answer_is_read_wrapped_or_raw(wbits: int) -> None:
    # "deflate" is zlib-wrapped by the standard, raw in some servers' hands; httpx read both
    # before the client decoded bodies itself, which refused the raw form.
    packer = zlib.compressobj(wbits=wbits)
    me = json.dumps({"id": "a-1", "username": "alice", "name": "Al"}).encode()
    body = packer.compress(me) + packer.flush()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: deflate"
    assert (await me_answered(head, body)).username == "alice"
