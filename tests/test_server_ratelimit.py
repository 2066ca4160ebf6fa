"""Rate limits against notification spam (issue 11): a burst on one ticket folds into one
notification with a count, re-issued under its id; a per-minute cap folds the rest; the tray's
engine, cache and toast policy show the folded notification once, updated."""

from __future__ import annotations

import asyncio
import functools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from engine_support import converge, running_engine
from helpdesk import (
    Helpdesk,
    HelpdeskActions,
    MakeHelpdesk,
    connect_stream,
    receive_json,
    receive_until,
)

from notifier.core import wire
from notifier.core.quiet_hours import QuietSchedule, QuietState
from notifier.core.settings import Settings
from notifier.core.status import ChangeKind
from notifier.core.toast_policy import Toast, ToastPolicy
from notifier.server import actions, ratelimit, repository, settings
from notifier.server.actions import Links
from notifier.server.db import connect, transaction


def set_limits(helpdesk: Helpdesk, **limits: int) -> None:
    for key, value in limits.items():
        helpdesk.settings_cli("set", key, str(value))


def ticket_notifications(agent: HelpdeskActions, ticket_id: str) -> list[dict[str, Any]]:
    page = agent.notifications(limit=500)
    return [n for n in page["notifications"] if n["ticket"]["id"] == ticket_id]


@pytest.mark.asyncio
async def test_a_burst_of_50_replies_folds_into_one_notification_with_the_count(
    make_helpdesk: MakeHelpdesk,
) -> None:
    # 50 replies a minute is over a customer's write limit (30): raised, so the burst lands.
    helpdesk = make_helpdesk("--customer-writes", "100")
    set_limits(helpdesk, rate_limit_per_ticket=1)
    ann, agent = helpdesk.new_agent("ann")
    _, customer = helpdesk.new_customer()
    ticket = customer.create_ticket("Printer on fire", "help")
    agent.assign(ticket["id"], ann)  # self-assignment: no notification
    head = agent.notifications()["last_seq"]
    async with connect_stream(helpdesk.url, agent.token) as ws:
        await receive_json(ws)  # hello
        await ws.send(json.dumps({"type": "resume", "after_seq": head}))
        await receive_until(ws, "synced")
        replies = [
            await asyncio.to_thread(customer.reply, ticket["id"], f"reply {n}")
            for n in range(1, 51)
        ]
        events: list[dict[str, Any]] = []
        while len(events) < 50:
            frame = await receive_json(ws)
            if frame["type"] == "notification":
                events.append(frame)
    (folded,) = ticket_notifications(agent, ticket["id"])
    assert folded["message"] == f"49 more replies on #{ticket['id']}: reply 50"
    assert folded["comment"]["id"] == replies[-1]["id"]  # the link leads to the latest
    assert folded["reason"] == "customer_replied" and not folded["read"]
    assert agent.notifications()["unread_count"] == 1
    # Every reply reached the stream as the SAME notification, re-issued with a new seq.
    assert {e["notification"]["id"] for e in events} == {folded["id"]}
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 50 and seqs[-1] == folded["seq"]
    assert events[0]["notification"]["message"] == "reply 1"
    assert events[1]["notification"]["message"] == f"1 more reply on #{ticket['id']}: reply 2"


def test_the_per_minute_cap_folds_the_rest_into_one_overflow_notification(
    helpdesk: Helpdesk,
) -> None:
    set_limits(helpdesk, rate_limit_per_minute=5)
    ann, agent = helpdesk.new_agent("ann")
    _, boss = helpdesk.new_agent("boss")
    tickets = [boss.create_ticket(f"Ticket {n}", f"body {n}") for n in range(1, 9)]
    for ticket in tickets:
        boss.assign(ticket["id"], ann)
    rows = agent.notifications()["notifications"]
    assert [n["ticket"]["id"] for n in rows[:5]] == [t["id"] for t in tickets[:5]]
    overflow = rows[5]
    assert len(rows) == 6
    last = tickets[-1]["id"]
    assert overflow["message"] == f"3 more notifications; the latest on #{last}: body 8"
    assert overflow["ticket"]["id"] == last
    # Still over the cap: a mention on a ticket ann has a notification about folds into it.
    first = tickets[0]["id"]
    boss.comment(first, f"@{ann} look")
    (about_first,) = ticket_notifications(agent, first)
    assert about_first["message"] == f"1 more mention on #{first}: @{ann} look"
    assert len(agent.notifications()["notifications"]) == 6
    # Viewing the overflow's latest ticket reads it, like any notification about that ticket.
    assert agent.view(last)["marked_read"] == 1
    assert next(n for n in agent.notifications()["notifications"] if n["id"] == overflow["id"])[
        "read"
    ]


def test_folding_follows_the_window_read_state_and_reasons(tmp_path: Path) -> None:
    """The limiter on a real SQLite file with its clock in the test's hands."""
    connection = connect(tmp_path / "h.db")
    try:
        ann, _ = repository.add_user(connection, kind="agent", username="ann", name="Ann")
        bob, _ = repository.add_user(connection, kind="agent", username="bob", name="Bob")
        links = Links("http://helpdesk.test")
        ticket = int(actions.create_ticket(connection, bob, {"subject": "T"}, links).body["id"])
        settings.update(
            connection,
            {"rate_limit_per_ticket": 2, "rate_limit_window_seconds": 600},
            expected_version=0,
            actor="test",
            via="cli",
        )
        start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()

        def notify(reason: wire.Reason, message: str, at: float, **extra: Any) -> None:
            content = actions.about(reason, bob, ticket, "T", None, message, **extra)
            limiter = functools.partial(ratelimit.limit, now=at)
            with transaction(connection):
                repository.notify(connection, ann.id, content, limiter)

        def messages() -> list[str]:
            page = repository.list_notifications(connection, ann.id, 0, 100, links.base_url)
            return [n.message for n in page.notifications]

        notify(wire.Reason.MENTIONED, "one", start)
        notify(wire.Reason.MENTIONED, "two", start + 1)
        notify(wire.Reason.MENTIONED, "three", start + 2)
        notify(wire.Reason.MENTIONED, "four", start + 3)
        assert messages() == ["one", f"2 more mentions on #{ticket}: four"]
        notify(wire.Reason.CUSTOMER_REPLIED, "five", start + 4)
        assert messages() == ["one", f"3 more updates on #{ticket}: five"]  # mixed reasons
        # Read, then folded into again: the count says what is new since.
        target = repository.list_notifications(connection, ann.id, 0, 100, links.base_url)
        repository.set_read(connection, ann.id, target.notifications[-1].id, True)
        notify(wire.Reason.CUSTOMER_REPLIED, "six", start + 5)
        assert messages() == ["one", f"1 more reply on #{ticket}: six"]
        # Reactions fold by design (one per comment): never limited, never counted.
        for n in range(3):
            notify(wire.Reason.COMMENT_REACTION, f"r{n}", start + 6, fold_key="comment:1")
        assert messages()[-1] == "r2" and len(messages()) == 3
        # A quiet window later, the ticket gets notifications of its own again.
        notify(wire.Reason.MENTIONED, "later", start + 5 + 601)
        assert messages()[-1] == "later" and len(messages()) == 4
        # Old records are dropped as new ones come.
        oldest = connection.execute("SELECT MIN(at) FROM notification_rate").fetchone()[0]
        assert oldest > start + 5
        # Limits off: nothing is recorded or folded.
        settings.update(
            connection,
            {"rate_limit_per_ticket": 0},
            expected_version=None,
            actor="test",
            via="cli",
        )
        for n in range(3):
            notify(wire.Reason.MENTIONED, f"free {n}", start + 700)
        assert len(messages()) == 7
    finally:
        connection.close()


@pytest.mark.asyncio
async def test_the_tray_shows_a_folded_burst_as_one_toast_updated(
    helpdesk: Helpdesk, tmp_path: Path
) -> None:
    set_limits(helpdesk, rate_limit_per_ticket=1)
    ann, agent = helpdesk.new_agent("ann")
    _, customer = helpdesk.new_customer()
    ticket = customer.create_ticket("Printer on fire", "help")
    agent.assign(ticket["id"], ann)
    toasts = ToastPolicy(Settings(), QuietState(QuietSchedule([], UTC)))
    now = datetime.now(UTC)
    shown: list[Toast] = []
    async with running_engine(helpdesk.url, agent.token, tmp_path / "c.sqlite3") as run:
        await converge(run, helpdesk.url, agent.token)
        for n in range(1, 21):
            run.changes.clear()
            await asyncio.to_thread(customer.reply, ticket["id"], f"reply {n}")
            await converge(run, helpdesk.url, agent.token)
            # What the controller does: offer every change, fire when the window closes
            # (the replies come slower than the burst window here: the worst case).
            for change in run.changes:
                toasts.offer(change, now)
            upserts = [c for c in run.changes if c.kind is ChangeKind.UPSERTED]
            assert len(upserts) == 1 and len(upserts[0].notifications) == 1
            now += timedelta(seconds=5)
            shown.extend(toasts.due(now))
        (row,) = run.cache.all_notifications()
        assert row.message == f"19 more replies on #{ticket['id']}: reply 20"
        assert run.cache.unread_count() == 1
    # One toast key throughout, ringing once: the sink replaces the toast under its key.
    assert {t.key for t in shown} == {row.id} and len(shown) == 20
    assert [t.sound for t in shown] == [True] + [False] * 19
    assert shown[-1].body.endswith("reply 20")
