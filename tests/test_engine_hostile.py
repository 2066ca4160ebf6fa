"""The sync engine against misbehaving helpdesks (tests/hostile_helpdesk.py) on loopback.

Whatever a server does, the client must never spin (every loop ends in a growing backoff and
the status says why), never stall in "connecting", and never let one event it cannot read or
store block the ones after it. Spin bounds are counts over a few seconds of wall time with
room to spare: a loop without backoff makes hundreds of attempts a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from engine_support import Harness, make_notification, running_engine
from hostile_helpdesk import (
    HostileHelpdesk,
    StreamScript,
    empty_history,
    event,
    hello,
    hostile_helpdesk,
    notification_frame,
    page_json,
)
from websockets.asyncio.server import ServerConnection

from notifier.core.backoff import Backoff
from notifier.core.status import ConnectionState
from notifier.core.wire import AgentInfo
from notifier.store.cache import NotificationCache

TOKEN = "hostile-test-token-5f2c"
WINDOW = 3.0  # seconds of wall time a spin test watches
# Ceilings 0.5, 1, 2, 4 s (the draw is always the ceiling): a loop that backs off fits at
# most 4 attempts into WINDOW; one whose backoff is reset or skipped makes 6 or hundreds.
MAX_ATTEMPTS = 5


def growing_backoff() -> Backoff:
    return Backoff(first=0.5, cap=4.0, rand=lambda: 1.0)


def cache_at(path: Path, cursor: int) -> Path:
    cache = NotificationCache.open(path)
    cache.advance_cursor(cursor)
    cache.close()
    return path


@asynccontextmanager
async def engine_against(
    script: StreamScript,
    cache_path: Path,
    *,
    history: Callable[[int], dict[str, Any]] = empty_history,
    **engine_kwargs: Any,
) -> AsyncIterator[tuple[HostileHelpdesk, Harness]]:
    """A hostile helpdesk running ``script`` for each stream, and an engine syncing from it."""
    async with (
        hostile_helpdesk(script, history=history) as desk,
        running_engine(desk.url, TOKEN, cache_path, **engine_kwargs) as run,
    ):
        yield desk, run


def assert_backed_off(desk: HostileHelpdesk) -> None:
    """At most MAX_ATTEMPTS handshakes in WINDOW, and the waits between them grew."""
    times = desk.handshakes
    assert len(times) <= MAX_ATTEMPTS, f"{len(times)} handshakes in {WINDOW} s"
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # A wait of the second ceiling (1 s) happened: the backoff grew past its first step.
    assert any(gap >= 0.95 for gap in gaps), gaps


def last_error(run: Harness) -> str:
    errors = [s.last_error for s in run.statuses if s.state is ConnectionState.BACKING_OFF]
    assert errors, [s.state for s in run.statuses]
    return errors[-1] or ""


async def stay_open(connection: ServerConnection) -> None:
    async with asyncio.timeout(30):
        await connection.wait_closed()


# --------------------------------------------------------------------------- never spin


async def always_reset(connection: ServerConnection, desk: HostileHelpdesk) -> None:
    await connection.send(hello(last_seq=5))
    await connection.send(event("reset", 5, reason="log pruned"))
    await connection.close(4000)


@pytest.mark.asyncio
async def test_a_server_that_always_answers_reset_gets_a_growing_backoff(tmp_path: Path) -> None:
    path = cache_at(tmp_path / "c.sqlite3", 3)
    async with engine_against(always_reset, path, backoff=growing_backoff) as (desk, run):
        await asyncio.sleep(WINDOW)
        assert_backed_off(desk)
        assert len(desk.handshakes) >= 3  # it keeps trying, slowly
        assert "full resync" in last_error(run)
        assert desk.rest_requests <= 2 * MAX_ATTEMPTS  # /me and one page per reload


async def hello_as_bob(connection: ServerConnection, desk: HostileHelpdesk) -> None:
    await connection.send(hello(AgentInfo("a-2", "bob", "Bob Brown"), last_seq=5))
    await connection.send(event("synced", 5))
    await stay_open(connection)


@pytest.mark.asyncio
async def test_a_hello_for_another_agent_than_me_backs_off_and_keeps_the_cache(
    tmp_path: Path,
) -> None:
    history = [make_notification("n-1", 1)]
    async with engine_against(
        hello_as_bob,
        tmp_path / "c.sqlite3",
        history=lambda after: page_json(history, last_seq=5),
        backoff=growing_backoff,
    ) as (desk, run):
        await asyncio.sleep(WINDOW)
        assert_backed_off(desk)
        assert "another agent" in last_error(run)
        assert not any(s.state is ConnectionState.LIVE for s in run.statuses)
        assert desk.requests["/api/v1/me"] == 1  # the history was loaded once, and kept
        assert [n.id for n in run.cache.all_notifications()] == ["n-1"]


@pytest.mark.asyncio
async def test_a_history_that_repeats_the_same_page_backs_off(tmp_path: Path) -> None:
    page = page_json([make_notification("n-1", 1)], last_seq=5, has_more=True)
    async with engine_against(
        hello_as_bob,
        tmp_path / "c.sqlite3",
        history=lambda after: page,
        backoff=growing_backoff,
    ) as (desk, run):
        await asyncio.sleep(WINDOW)
        # /me and two pages per attempt, at most MAX_ATTEMPTS attempts
        assert desk.rest_requests <= 3 * MAX_ATTEMPTS, desk.requests
        assert "did not advance" in last_error(run)
        assert desk.handshakes == []


def endless(after: int) -> dict[str, Any]:
    """Always one more notification, and always has_more."""
    return page_json([make_notification(f"n-{after + 1}", after + 1)], last_seq=1, has_more=True)


@pytest.mark.asyncio
async def test_a_history_that_never_ends_is_bounded_per_attempt(tmp_path: Path) -> None:
    async with engine_against(
        hello_as_bob,
        tmp_path / "c.sqlite3",
        history=endless,
        backoff=growing_backoff,
        max_history_pages=10,
    ) as (desk, run):
        await asyncio.sleep(WINDOW)
        assert desk.rest_requests <= 11 * MAX_ATTEMPTS, desk.requests
        assert "10 pages" in last_error(run)


def closes_after_the_replay(code: int) -> StreamScript:
    async def script(connection: ServerConnection, desk: HostileHelpdesk) -> None:
        await connection.send(hello(last_seq=3))
        await connection.send(event("synced", 3))
        await connection.send(event("unread_count", 3, count=0))
        await connection.close(code, "go away")

    return script


@pytest.mark.asyncio
@pytest.mark.parametrize("code", [1008, 1009])
async def test_a_close_right_after_the_replay_does_not_reset_the_backoff(
    tmp_path: Path, code: int
) -> None:
    path = cache_at(tmp_path / "c.sqlite3", 3)
    script = closes_after_the_replay(code)
    async with engine_against(script, path, backoff=growing_backoff) as (desk, run):
        await asyncio.sleep(WINDOW)
        assert_backed_off(desk)
        assert f"code {code}" in last_error(run)


# --------------------------------------------------------------------------- protocol version


async def speaks_version_2(connection: ServerConnection, desk: HostileHelpdesk) -> None:
    await connection.send(hello(last_seq=3, protocol=2))
    await connection.send(event("synced", 3))
    await stay_open(connection)


@pytest.mark.asyncio
async def test_a_protocol_version_the_client_does_not_speak_is_refused(tmp_path: Path) -> None:
    path = cache_at(tmp_path / "c.sqlite3", 3)
    async with engine_against(speaks_version_2, path, backoff=growing_backoff) as (desk, run):
        await asyncio.sleep(WINDOW)
        assert not any(s.state is ConnectionState.LIVE for s in run.statuses)
        error = last_error(run)
        assert "protocol version 2" in error and "update" in error
        assert_backed_off(desk)


# --------------------------------------------------------------------------- deadlines


async def hello_then_silence(connection: ServerConnection, desk: HostileHelpdesk) -> None:
    await connection.send(hello(last_seq=9))
    await stay_open(connection)  # websockets still answers the client's pings


@pytest.mark.asyncio
async def test_a_replay_that_never_ends_times_out_into_backoff(tmp_path: Path) -> None:
    path = cache_at(tmp_path / "c.sqlite3", 3)
    async with engine_against(
        hello_then_silence, path, backoff=growing_backoff, replay_deadline=1.0
    ) as (desk, run):
        await run.wait_until(lambda: run.state is ConnectionState.BACKING_OFF, within=10)
        assert "missed notifications within 1 s" in last_error(run)
        assert len(desk.handshakes) == 1


# --------------------------------------------------------------------------- poison events


def poisoned(notification_id: str, seq: int) -> str:
    """A notification frame whose message holds a lone surrogate: valid JSON, not storable."""
    frame = json.loads(notification_frame(make_notification(notification_id, seq)))
    frame["notification"]["message"] = "broken \ud800 text"
    return json.dumps(frame)  # ensure_ascii: the surrogate travels as the escape \ud800


def nested(depth: int, seq: int) -> str:
    """Valid JSON nested ``depth`` deep, well under the 1 MiB frame limit."""
    return event("notification", seq)[:-1] + ', "notification": ' + "[" * depth + "]" * depth + "}"


def replay_with(*frames: str, synced: int) -> StreamScript:
    """Replay ``frames``; end the first connection after the replay, keep the second open."""

    async def script(connection: ServerConnection, desk: HostileHelpdesk) -> None:
        await connection.send(hello(last_seq=synced))
        for frame in frames:
            await connection.send(frame)
        await connection.send(event("synced", synced))
        if len(desk.handshakes) == 1:
            await connection.close(1001)  # the second connection shows where it resumes
        await stay_open(connection)

    return script


LATER = notification_frame(make_notification("n-5", 5))  # the good event after the bad one


async def assert_only_the_later_event_is_stored(
    script: StreamScript, path: Path, caplog: pytest.LogCaptureFixture, *, resumed_after: int
) -> None:
    """Run the engine on ``script`` (a replay, closed once, then resumed): only n-5 is
    stored, the second connection resumes after ``resumed_after``, and the log has a warning
    but no traceback and no token."""
    caplog.set_level(logging.INFO)
    async with engine_against(script, path) as (desk, run):
        await run.wait_until(lambda: len(desk.handshakes) == 2 and run.engine.status.is_live)
        assert [n.id for n in run.cache.all_notifications()] == ["n-5"]
        assert desk.resumed_after == [3, resumed_after]
    assert any(r.levelno == logging.WARNING and "skipped" in r.getMessage() for r in caplog.records)
    assert not [r.getMessage() for r in caplog.records if r.exc_info], "a traceback was logged"
    assert TOKEN not in caplog.text


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("frames", "head"),
    [
        # a lone surrogate is valid JSON but not text; the one at the end of the log must not
        # be replayed on every reconnect: the cursor moves past its seq (6)
        ((poisoned("n-4", 4), LATER, poisoned("n-6", 6)), 6),
        # valid JSON nested 50,000 deep: json.loads gives up with a RecursionError
        ((nested(50_000, 4), LATER), 5),
    ],
    ids=["lone-surrogate", "nested-50000-deep"],
)
async def test_an_unreadable_event_is_skipped_not_a_dropped_connection(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, frames: tuple[str, ...], head: int
) -> None:
    path = cache_at(tmp_path / "c.sqlite3", 3)
    script = replay_with(*frames, synced=head)
    await assert_only_the_later_event_is_stored(script, path, caplog, resumed_after=head)


@pytest.mark.asyncio
async def test_an_event_the_cache_refuses_is_skipped_and_later_ones_are_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = cache_at(tmp_path / "c.sqlite3", 3)
    # A real storage refusal of one row, as SQLite gives for a constraint the row breaks.
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON notifications WHEN NEW.id = 'n-4'"
            " BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END"
        )
        db.commit()
    script = replay_with(notification_frame(make_notification("n-4", 4)), LATER, synced=5)
    await assert_only_the_later_event_is_stored(script, path, caplog, resumed_after=5)


@pytest.mark.asyncio
async def test_an_unreadable_notification_in_the_history_does_not_block_the_sign_in(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Page 1 ends on a notification with a lone surrogate; page 2 holds the rest. Before, the
    # whole page was refused on every attempt and the first sign-in never loaded anything.
    good = [make_notification("n-1", 1), make_notification("n-3", 3)]

    def history(after_seq: int) -> dict[str, Any]:
        if after_seq == 0:
            page = page_json(good[:1], last_seq=3, has_more=True)
            poisoned_row = make_notification("n-2", 2).to_json()
            poisoned_row["message"] = "broken \ud800 text"
            page["notifications"].append(poisoned_row)
            return page
        assert after_seq == 2, after_seq  # paging moved past the skipped row
        return page_json(good[1:], last_seq=3)

    async def live(connection: ServerConnection, desk: HostileHelpdesk) -> None:
        await connection.send(hello(last_seq=3))
        await connection.send(event("synced", 3))
        await stay_open(connection)

    caplog.set_level(logging.INFO)
    async with engine_against(live, tmp_path / "c.sqlite3", history=history) as (desk, run):
        await run.wait_until(lambda: run.engine.status.is_live)
        assert sorted(n.id for n in run.cache.all_notifications()) == ["n-1", "n-3"]
        assert desk.resumed_after == [3]
    assert any("seq 2" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert not [r.getMessage() for r in caplog.records if r.exc_info], "a traceback was logged"


# --------------------------------------------------------------------------- Retry-After


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("path", "busy", "cursor"),
    [
        ("/api/v1/notifications", (429, "30"), 0),  # paging the history at sign-in
        ("/api/v1/stream", (503, "30"), 3),  # the stream's handshake
    ],
    ids=["history-429", "stream-503"],
)
async def test_a_server_that_asks_to_wait_is_not_asked_again_sooner(
    tmp_path: Path, path: str, busy: tuple[int, str], cursor: int
) -> None:
    # The engine retried a 429 or 503 after its own backoff's draw (well under a second at
    # first), however long the server's Retry-After: docs/protocol.md says never sooner.
    async with hostile_helpdesk(stay_open_after_hello) as desk:
        desk.busy, desk.busy_paths = busy, frozenset({path})
        async with running_engine(desk.url, TOKEN, cache_at(tmp_path / "c.sqlite3", cursor)) as run:
            await asyncio.sleep(WINDOW)
            assert desk.requests[path] == 1, desk.requests
            [waiting, *_] = [s for s in run.statuses if s.state is ConnectionState.BACKING_OFF]
            assert waiting.next_retry_at is not None
            left = (waiting.next_retry_at - datetime.now(UTC)).total_seconds()
            assert 30 - WINDOW - 1 <= left <= 30, left
            assert "asks to wait 30 s" in (waiting.last_error or ""), waiting.last_error


async def stay_open_after_hello(connection: ServerConnection, desk: HostileHelpdesk) -> None:
    await connection.send(hello(last_seq=3))
    await connection.send(event("synced", 3))
    await stay_open(connection)
