"""Retention (issue 11): old read notifications are deleted and every client hears of it; the
event log is pruned behind a floor, a resume from below it gets ``reset``; clients (the real
sync engine and cache) converge to the server across a prune and across a reset.

Time is the edge here: a test ages notifications and events by rewriting their timestamps in
the server's SQLite file (WAL lets it write beside the running server), then runs the job
through the admin API."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from engine_support import Harness, cache_view, converge, running_engine, server_view
from helpdesk import (
    Helpdesk,
    HelpdeskActions,
    connect_stream,
    receive_json,
    receive_until,
    unique_name,
)
from websockets.exceptions import ConnectionClosed

from notifier.core import wire
from notifier.core.status import ChangeKind, ConnectionState
from notifier.server import db as server_db
from notifier.store.cache import NotificationCache


def age(helpdesk: Helpdesk, username: str, days: float, ids: list[str] | None = None) -> None:
    """Make the agent's notifications (``ids``, or all) and all their events ``days`` old."""
    when = datetime.now(UTC) - timedelta(days=days)
    stamp = wire.format_timestamp(when)
    with contextlib.closing(sqlite3.connect(helpdesk.db, timeout=10)) as connection:
        (agent_id,) = connection.execute(
            "SELECT id FROM users WHERE username = ?", (username,)
        ).fetchone()
        chosen = " AND id IN (SELECT value FROM json_each(?))" if ids is not None else ""
        chosen_ids = (json.dumps([int(i) for i in ids]),) if ids is not None else ()
        with connection:
            connection.execute(
                "UPDATE notifications SET snapshot = json_set(snapshot, '$.created_at', ?),"
                f" issued_at = ? WHERE agent_id = ?{chosen}",
                (stamp, when.timestamp(), agent_id, *chosen_ids),
            )
            if ids is None:
                connection.execute(
                    "UPDATE events SET created_at = ? WHERE agent_id = ?", (stamp, agent_id)
                )


def run_retention(admin: HelpdeskActions) -> dict[str, Any]:
    response = admin.request("POST", "/api/v1/admin/retention")
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def mentions(boss: HelpdeskActions, username: str, count: int) -> None:
    """``count`` new mention notifications for ``username``, on a new ticket."""
    ticket = boss.create_ticket("Retention", "")
    for n in range(count):
        boss.comment(ticket["id"], f"@{username} number {n}")


def ids_of(agent: HelpdeskActions) -> list[str]:
    return [n["id"] for n in agent.notifications(limit=500)["notifications"]]


async def read_in_the_tray(
    run: Harness, helpdesk: Helpdesk, agent: HelpdeskActions, ids: list[str]
) -> None:
    """Mark ``ids`` read through the engine and wait until the server has them."""
    for notification_id in ids:
        await run.engine.mark_read(notification_id)
    await run.wait_until(lambda: run.cache.pending_count() == 0)
    await converge(run, helpdesk.url, agent.token)


People = tuple[str, HelpdeskActions, HelpdeskActions]


@pytest.fixture
def people(helpdesk: Helpdesk) -> People:
    """(ann's username, ann, her colleague who mentions her)."""
    ann, agent = helpdesk.new_agent("ann")
    return ann, agent, helpdesk.new_agent("boss")[1]


@pytest.fixture
def admin(helpdesk: Helpdesk) -> HelpdeskActions:
    return helpdesk.actions(helpdesk.add_agent(unique_name("admin"), admin=True))


@pytest.mark.asyncio
async def test_retention_deletes_only_old_read_notifications_and_streams_it(
    helpdesk: Helpdesk, admin: HelpdeskActions, people: People
) -> None:
    ann, agent, boss = people
    bob, other = helpdesk.new_agent("bob")
    mentions(boss, ann, 4)
    mentions(boss, bob, 1)
    old_read, old_unread, new_read, new_unread = ids_of(agent)
    for notification_id in (old_read, new_read):
        agent.request("POST", f"/api/v1/notifications/{notification_id}/read")
    other.request("POST", f"/api/v1/notifications/{ids_of(other)[0]}/read")
    age(helpdesk, ann, 91, [old_read, old_unread])
    age(helpdesk, bob, 89)  # read, but younger than the default 90 days (events: pruned)
    head = agent.notifications()["last_seq"]
    async with connect_stream(helpdesk.url, agent.token) as ws:
        await receive_json(ws)
        await ws.send(json.dumps({"type": "resume", "after_seq": head}))
        await receive_until(ws, "unread_count")  # synced, then the count
        assert run_retention(admin) == {
            "deleted": 1,
            "pruned_events": 1,
            "agents": 1,
            "deleted_mails": 0,
            "deleted_outbox": 0,
        }
        deleted, count = await receive_json(ws), await receive_json(ws)
    assert deleted == {"type": "deleted", "seq": head + 1, "ids": [old_read]}
    assert count == {"type": "unread_count", "seq": head + 1, "count": 2}
    assert ids_of(agent) == [old_unread, new_read, new_unread]
    assert len(ids_of(other)) == 1
    # A second run finds nothing; 0 days turns deletion off, a shorter period applies at once.
    assert run_retention(admin)["deleted"] == 0
    helpdesk.settings_cli("set", "retention_days", "0")
    age(helpdesk, ann, 400, [new_read])
    assert run_retention(admin)["deleted"] == 0
    helpdesk.settings_cli("set", "retention_days", "30")
    assert run_retention(admin)["deleted"] == 2  # ann's new_read and bob's, both now old
    assert ids_of(agent) == [old_unread, new_unread] and ids_of(other) == []
    assert "Traceback" not in helpdesk.log_text()


@pytest.mark.asyncio
async def test_the_log_is_pruned_behind_a_floor_and_a_resume_below_it_gets_reset(
    helpdesk: Helpdesk, admin: HelpdeskActions, people: People
) -> None:
    ann, agent, boss = people
    mentions(boss, ann, 5)  # seqs 1..5
    age(helpdesk, ann, 31)  # all five events older than event_log_days (30)
    mentions(boss, ann, 1)  # seq 6, fresh
    head = 6
    assert run_retention(admin) == {
        "deleted": 0,
        "pruned_events": 5,
        "agents": 0,
        "deleted_mails": 0,
        "deleted_outbox": 0,
    }
    for cursor in (0, 4):
        async with connect_stream(helpdesk.url, agent.token) as ws:
            hello = await receive_json(ws)
            assert hello["last_seq"] == head
            await ws.send(json.dumps({"type": "resume", "after_seq": cursor}))
            reset = await receive_json(ws)
            assert reset["type"] == "reset" and reset["seq"] == head
            assert "pruned" in reset["reason"]
            with pytest.raises(ConnectionClosed) as closed:
                await receive_json(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000
    # From the floor on, the log replays as before, and it keeps growing from its head.
    async with connect_stream(helpdesk.url, agent.token) as ws:
        await receive_json(ws)
        await ws.send(json.dumps({"type": "resume", "after_seq": 5}))
        frames = await receive_until(ws, "synced")
        assert [f["seq"] for f in frames if f["type"] == "notification"] == [6]
    mentions(boss, ann, 1)
    assert agent.notifications()["last_seq"] == head + 1
    # The REST list still holds every notification: nothing a client needs was lost.
    assert len(ids_of(agent)) == 7
    # The head is never pruned, however old, so seqs never restart.
    age(helpdesk, ann, 60)
    assert run_retention(admin)["pruned_events"] == 1
    mentions(boss, ann, 1)
    assert agent.notifications()["last_seq"] == head + 2


@pytest.mark.asyncio
async def test_a_live_client_converges_across_a_prune(
    helpdesk: Helpdesk, admin: HelpdeskActions, people: People, tmp_path: Path
) -> None:
    ann, agent, boss = people
    mentions(boss, ann, 12)
    async with running_engine(helpdesk.url, agent.token, tmp_path / "c.sqlite3") as run:
        await converge(run, helpdesk.url, agent.token)
        read = [n.id for n in run.cache.all_notifications()][:8]
        await read_in_the_tray(run, helpdesk, agent, read)
        age(helpdesk, ann, 100)
        run.changes.clear()
        report = run_retention(admin)
        assert report["deleted"] == 8 and report["pruned_events"] > 0
        await converge(run, helpdesk.url, agent.token)
        assert {n.id for n in run.cache.all_notifications()}.isdisjoint(read)
        assert run.cache.count() == 4 and run.cache.unread_count() == 4
        deletions = [c for c in run.changes if c.kind is ChangeKind.DELETED]
        assert sorted(i for c in deletions for i in c.ids) == sorted(read)
        assert not any(c.kind is ChangeKind.RESET for c in run.changes)  # live: no reload
        assert run.state is ConnectionState.LIVE


@pytest.mark.asyncio
async def test_a_client_back_from_below_the_floor_gets_reset_and_converges(
    helpdesk: Helpdesk, admin: HelpdeskActions, people: People, tmp_path: Path
) -> None:
    ann, agent, boss = people
    mentions(boss, ann, 6)
    path = tmp_path / "c.sqlite3"
    async with running_engine(helpdesk.url, agent.token, path) as run:
        await converge(run, helpdesk.url, agent.token)
        await read_in_the_tray(
            run, helpdesk, agent, [n.id for n in run.cache.all_notifications()][:3]
        )
        offline_cursor = run.cache.cursor()
    # While the tray is off: more news, a month passes, retention deletes and prunes.
    mentions(boss, ann, 4)
    age(helpdesk, ann, 100)
    mentions(boss, ann, 2)  # fresh, after the aging
    report = run_retention(admin)
    assert report["deleted"] == 3 and report["pruned_events"] > 0
    rows, unread, head = server_view(helpdesk.url, agent.token)
    assert len(rows) == 9 and unread == 9
    stale = NotificationCache.open(path)
    assert len(cache_view(stale)) == 6 and stale.cursor() == offline_cursor
    stale.close()
    async with running_engine(helpdesk.url, agent.token, path) as run:
        await converge(run, helpdesk.url, agent.token)
        assert any(c.kind is ChangeKind.RESET for c in run.changes)
        assert run.backend.calls.get("list_notifications", 0) >= 1  # reloaded over REST
        assert cache_view(run.cache) == rows and run.cache.cursor() >= head
        # And it is live again afterwards.
        mentions(boss, ann, 1)
        await converge(run, helpdesk.url, agent.token)
        assert run.cache.count() == 10


def test_the_migration_dates_existing_notifications_and_a_trigger_dates_new_ones(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    # A database of the previous schema (version 1) with one notification in it.
    with (
        contextlib.closing(sqlite3.connect(path, isolation_level=None)) as connection,
        server_db.transaction(connection),
    ):
        for statement in server_db._statements(server_db.MIGRATIONS[0]):
            connection.execute(statement)
        connection.execute("CREATE TABLE schema_version(version INTEGER NOT NULL)")
        connection.execute("INSERT INTO schema_version VALUES (1)")
        connection.execute(
            "INSERT INTO users(id, kind, username, name, created_at)"
            " VALUES (1, 'agent', 'ann', 'Ann', '2026-01-01T00:00:00Z')"
        )
        connection.execute(
            "INSERT INTO tickets(id, subject, body, status, created_by, created_at,"
            " updated_at) VALUES (1, 'T', '', 'open', 1, 'x', 'x')"
        )
        connection.execute(
            "INSERT INTO notifications(agent_id, seq, snapshot, ticket_id, read)"
            " VALUES (1, 1, ?, 1, 1)",
            (json.dumps({"created_at": "2026-01-02T03:04:05.5Z"}),),
        )
    connection = server_db.connect(path)
    try:
        issued = connection.execute("SELECT issued_at FROM notifications").fetchone()[0]
        assert issued == pytest.approx(
            datetime(2026, 1, 2, 3, 4, 5, 500_000, tzinfo=UTC).timestamp(), abs=0.01
        )
        # Every (re)issue writes a new seq; the trigger dates it.
        connection.execute("UPDATE notifications SET seq = 2")
        reissued = connection.execute("SELECT issued_at FROM notifications").fetchone()[0]
        assert reissued == pytest.approx(datetime.now(UTC).timestamp(), abs=60)
    finally:
        connection.close()
