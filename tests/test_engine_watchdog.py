"""The sleep watchdog rides on the WebSocket keepalive: no timer of the engine's own while the
stream is open (issue 5: no polling while idle, only the keepalive), its own timer only while
connecting or backing off, and nothing at all while offline. Against the reference server."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from engine_support import FAST, FakeClock, converge, running_engine
from helpdesk import Helpdesk

from notifier.core.status import ConnectionState


class CountingClock(FakeClock):
    """Counts the watchdog's looks at the clocks (``SyncSession.tick`` is the engine's only
    reader of the monotonic clock)."""

    def __init__(self) -> None:
        super().__init__()
        self.ticks = 0

    def monotonic(self) -> float:
        self.ticks += 1
        return super().monotonic()


@pytest.fixture
def alice(helpdesk: Helpdesk) -> str:
    return helpdesk.add_agent("alice", "Alice Adams")


@pytest.mark.asyncio
async def test_the_keepalive_alone_notices_a_wake_from_sleep(
    helpdesk: Helpdesk, alice: str, tmp_path: Path
) -> None:
    clock = CountingClock()
    # The engine's own timer would tick once an hour: only the keepalive (every 0.5 s) can
    # notice the jump within the test.
    async with running_engine(
        helpdesk.url, alice, tmp_path / "c.sqlite3", clock=clock, watchdog_interval=3600
    ) as run:
        await converge(run, helpdesk.url, alice)
        connects = run.backend.calls["open_stream"]
        seen = len(run.statuses)
        clock.jump(timedelta(hours=2))  # wall time leaps, the monotonic clock does not
        await run.wait_until(
            lambda: (
                run.backend.calls["open_stream"] == connects + 1
                and run.state is ConnectionState.LIVE
            )
        )
        after = [s.state for s in run.statuses[seen:]]
        assert after[0] is ConnectionState.CONNECTING
        assert ConnectionState.BACKING_OFF not in after


@pytest.mark.asyncio
async def test_no_timer_of_its_own_while_the_stream_is_open(
    helpdesk: Helpdesk, alice: str, tmp_path: Path
) -> None:
    clock = CountingClock()
    # No keepalive ping falls within the test; the engine's own timer would tick 25 times
    # in the half second below if it ran.
    quiet = replace(FAST, ping_interval=60.0, ping_timeout=60.0)
    async with running_engine(
        helpdesk.url,
        alice,
        tmp_path / "c.sqlite3",
        clock=clock,
        config=quiet,
        watchdog_interval=0.02,
    ) as run:
        await converge(run, helpdesk.url, alice)
        live_ticks = clock.ticks
        await asyncio.sleep(0.5)
        assert clock.ticks == live_ticks
        # The connection drops: backing off, the engine's own timer looks at the clocks again.
        helpdesk.stop()
        await run.wait_until(lambda: run.state is ConnectionState.BACKING_OFF)
        await run.wait_until(lambda: clock.ticks >= live_ticks + 3)
        helpdesk.start()
        await converge(run, helpdesk.url, alice)


@pytest.mark.asyncio
async def test_no_timer_at_all_while_offline(
    helpdesk: Helpdesk, alice: str, tmp_path: Path
) -> None:
    clock = CountingClock()
    async with running_engine(
        helpdesk.url,
        alice,
        tmp_path / "c.sqlite3",
        clock=clock,
        watchdog_interval=0.02,
        online=False,
    ) as run:
        await run.wait_until(lambda: run.state is ConnectionState.OFFLINE)
        await asyncio.sleep(0.3)
        assert clock.ticks == 0
        run.engine.network_changed(True)
        await converge(run, helpdesk.url, alice)
        assert clock.ticks >= 1  # connecting: the watchdog takes its first look
