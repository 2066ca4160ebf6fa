"""The sync engine when the network and the laptop misbehave: server restarts, connections cut
while events are produced, stalled connections, sleep, offline actions across an engine
restart, and a stream with duplicated, reordered frames. After each, the cache must equal the
server's view exactly."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from engine_support import FakeClock, converge, running_engine
from helpdesk import Helpdesk
from tcp_proxy import ChaosProxy

from notifier.core.status import ChangeKind, ConnectionState


def produce(helpdesk: Helpdesk, boss: str, count: int, label: str) -> list[str]:
    actions = helpdesk.actions(boss)
    ids = []
    for index in range(count):
        ticket = actions.create_ticket(f"{label} {index}", "please help")
        actions.assign(ticket["id"], "alice")
        ids.append(str(ticket["id"]))
    return ids


@pytest.fixture
def agents(helpdesk: Helpdesk) -> tuple[str, str]:
    return helpdesk.add_agent("alice", "Alice Adams"), helpdesk.add_agent("bob", "Bob Brown")


@pytest.mark.asyncio
async def test_server_restart_mid_stream(
    helpdesk: Helpdesk, agents: tuple[str, str], tmp_path: Path
) -> None:
    alice, bob = agents
    produce(helpdesk, bob, 3, "before")
    async with running_engine(helpdesk.url, alice, tmp_path / "c.sqlite3") as run:
        await converge(run, helpdesk.url, alice)
        connects = run.backend.calls["open_stream"]
        helpdesk.stop()
        await run.wait_until(lambda: run.state is ConnectionState.BACKING_OFF)
        assert run.engine.status.last_error
        assert run.engine.status.next_retry_at is not None
        helpdesk.start()  # same port, same database
        produce(helpdesk, bob, 3, "after")
        await converge(run, helpdesk.url, alice)
        assert run.backend.calls["open_stream"] > connects
        assert run.cache.count() == 6


@pytest.mark.asyncio
async def test_connection_cut_while_events_are_produced(
    helpdesk: Helpdesk, agents: tuple[str, str], tmp_path: Path
) -> None:
    alice, bob = agents
    async with (
        ChaosProxy("127.0.0.1", helpdesk.port) as proxy,
        running_engine(proxy.url, alice, tmp_path / "c.sqlite3") as run,
    ):
        produce(helpdesk, bob, 2, "warm-up")
        await converge(run, helpdesk.url, alice)
        for round_ in range(3):
            tickets = produce(helpdesk, bob, 2, f"round {round_}")
            await proxy.drop_all()
            helpdesk.actions(alice).view(tickets[0])  # a read-state change while cut off
            produce(helpdesk, bob, 2, f"round {round_} late")
            await proxy.drop_all()
        await converge(run, helpdesk.url, alice)
        assert run.cache.count() == 14
        assert run.backend.calls["open_stream"] >= 2
        # nothing was published twice: one UPSERTED per notification id
        upserted = [
            n.id for c in run.changes if c.kind is ChangeKind.UPSERTED for n in c.notifications
        ]
        assert len(upserted) == len(set(upserted)) == 14


@pytest.mark.asyncio
async def test_a_stalled_connection_is_detected_by_the_ping_timeout(
    helpdesk: Helpdesk, agents: tuple[str, str], tmp_path: Path
) -> None:
    alice, bob = agents
    async with (
        ChaosProxy("127.0.0.1", helpdesk.port) as proxy,
        running_engine(proxy.url, alice, tmp_path / "c.sqlite3") as run,
    ):
        produce(helpdesk, bob, 1, "before")
        await converge(run, helpdesk.url, alice)
        proxy.stall()  # bytes are held, sockets stay open: only the missing pong tells
        await run.wait_until(lambda: run.state is ConnectionState.BACKING_OFF)
        assert "stalled" in (run.engine.status.last_error or "")
        produce(helpdesk, bob, 2, "during the stall")
        proxy.resume()
        await converge(run, helpdesk.url, alice)
        assert run.cache.count() == 3


@pytest.mark.asyncio
async def test_waking_from_sleep_reconnects_at_once(
    helpdesk: Helpdesk, agents: tuple[str, str], tmp_path: Path
) -> None:
    alice, bob = agents
    clock = FakeClock()
    async with running_engine(helpdesk.url, alice, tmp_path / "c.sqlite3", clock=clock) as run:
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
        assert after[0] is ConnectionState.CONNECTING  # straight to a reconnect ...
        assert ConnectionState.BACKING_OFF not in after  # ... without waiting out a backoff
        produce(helpdesk, bob, 1, "after waking")
        await converge(run, helpdesk.url, alice)


@pytest.mark.asyncio
async def test_offline_actions_are_replayed_after_reconnect_and_survive_a_restart(
    helpdesk: Helpdesk, agents: tuple[str, str], tmp_path: Path
) -> None:
    alice, bob = agents
    produce(helpdesk, bob, 4, "ticket")
    path = tmp_path / "c.sqlite3"
    async with running_engine(helpdesk.url, alice, path) as run:
        await converge(run, helpdesk.url, alice)
        run.engine.network_changed(False)
        await run.wait_until(lambda: run.state is ConnectionState.OFFLINE)
        first, second, third, _fourth = [n.id for n in run.cache.page()]
        await run.engine.mark_read(first)
        await run.engine.delete(second)
        await run.engine.mark_read(third)
        await run.engine.mark_unread(third)
        assert run.cache.pending_count() == 4
        assert run.cache.unread_count() == 2 and run.cache.count() == 3
    # the app quits while offline; the queue is in the cache file
    async with running_engine(helpdesk.url, alice, path) as run:
        await run.wait_until(lambda: run.cache.pending_count() == 0)
        await converge(run, helpdesk.url, alice)
        assert run.cache.count() == 3 and run.cache.unread_count() == 2
        assert run.cache.get(second) is None


@pytest.mark.asyncio
async def test_duplicated_and_reordered_frames_change_nothing(
    helpdesk: Helpdesk, agents: tuple[str, str], tmp_path: Path
) -> None:
    alice, bob = agents
    tickets = produce(helpdesk, bob, 3, "before")
    helpdesk.actions(alice).view(tickets[0])
    path = tmp_path / "c.sqlite3"
    async with running_engine(helpdesk.url, alice, path) as run:
        await converge(run, helpdesk.url, alice)
    # reconnect through a stream that doubles every event and swaps neighbours
    async with running_engine(helpdesk.url, alice, path, garble=True) as run:
        await converge(run, helpdesk.url, alice)
        more = produce(helpdesk, bob, 4, "live")
        for ticket in more[:2]:
            helpdesk.actions(alice).view(ticket)
        await converge(run, helpdesk.url, alice)
        upserted = [
            n.id for c in run.changes if c.kind is ChangeKind.UPSERTED for n in c.notifications
        ]
        assert len(upserted) == len(set(upserted)) == 4


@pytest.mark.asyncio
async def test_a_token_revoked_while_live_ends_in_auth_failed_on_reconnect(
    helpdesk: Helpdesk, agents: tuple[str, str], tmp_path: Path
) -> None:
    alice, bob = agents
    produce(helpdesk, bob, 1, "before")
    async with (
        ChaosProxy("127.0.0.1", helpdesk.port) as proxy,
        running_engine(proxy.url, alice, tmp_path / "c.sqlite3") as run,
    ):
        await converge(run, helpdesk.url, alice)
        # an administrator revokes the token (the reference server has no API for it yet)
        db = sqlite3.connect(helpdesk.db)
        with db:
            db.execute(
                "DELETE FROM tokens WHERE token_hash = ?",
                (hashlib.sha256(alice.encode()).hexdigest(),),
            )
        db.close()
        await proxy.drop_all()
        await run.wait_until(lambda: run.state is ConnectionState.AUTH_FAILED)
        connects = run.backend.calls["open_stream"]
        run.engine.retry_now()  # the agent insists: one more try, still refused, no loop
        await run.wait_until(
            lambda: (
                run.backend.calls["open_stream"] == connects + 1
                and run.state is ConnectionState.AUTH_FAILED
            )
        )
        assert run.cache.count() == 1  # what was synced stays readable
