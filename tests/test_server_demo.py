"""The demo helpdesk reads like a believable day (issue 13): varied tickets whose first
message is about their subject, threads in order (question, agent's answer, follow-up), no
text said twice, several agents in several teams each told of every kind of thing, and the
printed `notifier tail` / `notifier doctor` commands work against it.

The day is played on a real SQLite database with the helpdesk's own actions (as the demo's
seeding and simulator do); the printed commands are run against the demo as a process."""

from __future__ import annotations

import asyncio
import os
import random
import re
import shlex
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpdesk import start_demo, stop_demo

from notifier.core import wire
from notifier.server import actions, repository, settings
from notifier.server.actions import Links
from notifier.server.db import connect
from notifier.server.demo import (
    AGENTS,
    NEW_TICKET_TEAM,
    DemoDay,
    StoryPlayer,
    load_world,
    seed,
)
from notifier.server.demo_stories import HISTORY, LIVE

LINKS = Links("http://127.0.0.1")

# A word of the subject → words the customer's first message must use to be about it.
TOPICS = {
    "refund": ("refund",),
    "webhook": ("webhook",),
    "sso": ("single sign-on", "okta"),
    "invoice": ("invoice",),
    "export": ("export",),
    "two-factor": ("two-factor", "sms"),
    "dashboard": ("dashboard",),
    "password": ("password",),
    "photo": ("photo",),
    "rate limit": ("429",),
    "gdpr": ("gdpr",),
    "seat": ("seat",),
}
# Words that belong to one kind of ticket: said on another one, a thread does not fit.
TOPIC_ONLY = ("refund", "webhook", "sso")


@pytest.fixture(name="day")
def day_fixture(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """The seeded history, then every live story played to its end."""
    connection = connect(tmp_path / "demo.db")
    try:
        seed(connection, LINKS)
        demo_day = DemoDay(StoryPlayer(load_world(connection), lambda: LINKS), random.Random(7))
        for _ in range(1000):
            if demo_day.played_once:
                break
            demo_day.next_event(connection)
        assert demo_day.played_once
        yield connection
    finally:
        connection.close()


def tickets(connection: sqlite3.Connection) -> list[tuple[int, str, str, str]]:
    return connection.execute("SELECT id, subject, body, status FROM tickets").fetchall()


def test_no_text_is_said_twice(day: sqlite3.Connection) -> None:
    comments = [body for (body,) in day.execute("SELECT body FROM comments")]
    questions = [body for _, _, body, _ in tickets(day)]
    subjects = [subject for _, subject, _, _ in tickets(day)]
    assert len(comments) > 50
    for texts in (comments + questions, subjects):
        repeated = {text for text in texts if texts.count(text) > 1}
        assert repeated == set()


def test_each_ticket_opens_with_a_question_about_its_subject(day: sqlite3.Connection) -> None:
    seen = tickets(day)
    assert len(seen) == len(HISTORY) + len(LIVE)
    for _, subject, body, _ in seen:
        topics = [topic for topic in TOPICS if topic in subject.lower()]
        assert topics, f"no topic in the keyword table for {subject!r}"
        for topic in topics:
            assert any(word in body.lower() for word in TOPICS[topic]), (subject, body)


def test_threads_fit_their_ticket_and_answer_before_the_follow_up(
    day: sqlite3.Connection,
) -> None:
    for ticket_id, subject, _, _ in tickets(day):
        thread = day.execute(
            "SELECT users.kind, comments.kind, comments.body FROM comments"
            " JOIN users ON users.id = comments.author_id WHERE ticket_id = ? ORDER BY comments.id",
            (ticket_id,),
        ).fetchall()
        for word in TOPIC_ONLY:
            strays = [b for _, _, b in thread if word in b.lower() and word not in subject.lower()]
            assert strays == [], f"{word!r} said on {subject!r}"
        replies = [author for author, kind, _ in thread if kind == "reply"]
        if "customer" in replies:  # the customer writes again only after an agent answered
            assert replies[0] == "agent", subject
        notes = [body for author, kind, body in thread if kind == "comment"]
        assert notes and all(author == "agent" for author, kind, _ in thread if kind == "comment")
        assert any("@" in note for note in notes), f"no @mention on {subject!r}"


def test_the_day_has_several_teams_and_tickets_in_every_state(day: sqlite3.Connection) -> None:
    assert len({team for _, _, team in AGENTS}) >= 3
    assert {status for _, _, _, status in tickets(day)} == {"open", "resolved"}
    reactions = day.execute("SELECT DISTINCT emoji FROM reactions").fetchall()
    assert len(reactions) >= 4


def notifications(connection: sqlite3.Connection, username: str) -> list[wire.Notification]:
    user = repository.user_by_username(connection, username)
    assert user is not None
    page = repository.list_notifications(connection, user.id, 0, 1000, LINKS.base_url)
    return list(page.notifications)


def test_the_history_tells_every_agent_of_every_kind_of_thing(tmp_path: Path) -> None:
    connection = connect(tmp_path / "demo.db")
    try:
        seed(connection, LINKS)
        for username, _, _ in AGENTS:
            kinds = {n.type for n in notifications(connection, username)}
            assert kinds == set(wire.NotificationType), username
        alice = notifications(connection, "alice")
        assert sum(not n.read for n in alice) >= 2  # mailed at once in the demo
    finally:
        connection.close()


def test_the_history_happened_this_morning_not_at_the_second_of_seeding(tmp_path: Path) -> None:
    # Every seeded row said "just now" in the popup and on the web pages.
    now = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
    connection = connect(tmp_path / "demo.db", clock=lambda: now)
    try:
        seed(connection, LINKS)
        times = [n.created_at for n in notifications(connection, "alice")]
        assert len(times) >= 5
        assert max(times) <= now - timedelta(minutes=3)
        assert min(times) >= now - timedelta(hours=6)
        assert max(times) - min(times) >= timedelta(hours=2)  # spread over the morning
        # Tickets and comments share the notifications' clock: a thread reads in order.
        rows = connection.execute(
            "SELECT t.created_at, c.created_at FROM comments c JOIN tickets t ON t.id = c.ticket_id"
        ).fetchall()
        assert rows and all(
            now - timedelta(hours=6)
            <= wire.parse_timestamp(opened)
            <= wire.parse_timestamp(said)
            < now
            for opened, said in rows
        )
        # The connection's own clock is back for what happens after the seed.
        assert repository.clock_stamp(connection) == wire.format_timestamp(now)
    finally:
        connection.close()


def test_the_live_day_gives_alice_every_reason(day: sqlite3.Connection) -> None:
    reasons = {n.reason for n in notifications(day, "alice")}
    # AUTO_ASSIGNED: the support team's round-robin picks alice or bea for the one story
    # that goes to the team; either way someone got it.
    assert reasons >= set(wire.Reason) - {wire.Reason.AUTO_ASSIGNED}
    everyone = {n.reason for username, _, _ in AGENTS for n in notifications(day, username)}
    assert everyone == set(wire.Reason)


def test_a_demo_customers_new_ticket_reaches_the_support_team(day: sqlite3.Connection) -> None:
    # The stories a colleague assigns were not given to support first (nobody was told of a
    # ticket taken from them at once): every automatic assignment is of a team story.
    team_stories = {story.subject for story in (*HISTORY, *LIVE) if story.assigned_by is None}
    automatic = {
        n.ticket.subject
        for username, _, _ in AGENTS
        for n in notifications(day, username)
        if n.reason is wire.Reason.AUTO_ASSIGNED
    }
    assert automatic == team_stories

    assert settings.current(day).new_ticket_team == NEW_TICKET_TEAM == "support"
    customer = repository.user_by_username(day, "maria@example.com")
    assert customer is not None
    before = {u: len(notifications(day, u)) for u in ("alice", "bea")}
    opened = [
        actions.create_ticket(day, customer, {"subject": f"Locked out {n}", "body": "Help"}, LINKS)
        for n in range(2)
    ]
    assignees = {str(outcome.body["assignee"]["username"]) for outcome in opened}
    assert assignees == {"alice", "bea"}  # in turn
    for username in assignees:
        newest = notifications(day, username)[-1]  # oldest first
        assert (newest.reason, newest.sender) == (wire.Reason.AUTO_ASSIGNED, None)
        assert newest.ticket.subject.startswith("Locked out")
        assert len(notifications(day, username)) == before[username] + 1


@pytest.mark.asyncio
async def test_the_printed_tail_and_doctor_commands_work(tmp_path: Path) -> None:
    process = await start_demo(
        "--db", str(tmp_path / "demo.db"), "--port", "0", "--rate", "0", "--seed", "1"
    )
    assert process.stdout is not None
    printed: list[str] = []
    try:
        async with asyncio.timeout(30):
            while not printed or not printed[-1].rstrip().endswith(" doctor"):
                printed.append((await process.stdout.readline()).decode())
                assert printed[-1], "the demo ended early"
        commands = {
            line.split()[-1]: shlex.split(line)
            for line in printed
            if re.search(r" (tail|doctor)$", line.rstrip())
        }
        assert set(commands) == {"tail", "doctor"}, printed
        env_words = [w for w in commands["doctor"] if re.match(r"^[A-Z_]+=", w)]
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        env.update(dict(word.split("=", 1) for word in env_words))
        assert env["NOTIFIER_HOME"] == str(tmp_path / "home")
        doctor = await asyncio.to_thread(
            subprocess.run,
            commands["doctor"][len(env_words) :],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        await stop_demo(process)
    assert "✓ sign-in: signed in as Alice Archer (alice)" in doctor.stdout, doctor.stdout
    assert "✓ live connection" in doctor.stdout
    assert "– keyring: not used" in doctor.stdout
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
