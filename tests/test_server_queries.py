"""Reading a ticket costs the database thread a constant number of SQL statements, however
long the thread: counted with ``sqlite3.Connection.set_trace_callback`` on a real SQLite file,
through the same action functions the server runs on its database thread."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from notifier.server import actions, repository
from notifier.server.actions import COMMENTS_PAGE_MAX, CommentsPage, Links
from notifier.server.db import connect
from notifier.server.repository import User

LINKS = Links("http://helpdesk.test")
WHOLE = CommentsPage(limit=COMMENTS_PAGE_MAX)


@pytest.fixture
def connection(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    db = connect(tmp_path / "helpdesk.db")
    try:
        yield db
    finally:
        db.close()


def ticket_with_comments(db: sqlite3.Connection, count: int) -> tuple[User, User, User, str]:
    """(agent, colleague, customer, ticket id) with ``count`` comments and replies, some with
    reactions and mentions."""
    agent, _ = repository.add_user(db, kind="agent", username="ann", name="Ann")
    colleague, _ = repository.add_user(db, kind="agent", username="bob", name="Bob")
    customer, _ = repository.add_user(db, kind="customer", username="c@x.test", name="Cy")
    ticket = actions.create_ticket(db, customer, {"subject": "Long", "body": "b"}, LINKS).body
    actions.assign(db, colleague, ticket["id"], {"agent": "ann"}, LINKS)
    for n in range(count):
        if n % 2:
            actions.reply(db, customer, ticket["id"], {"body": f"reply {n}"}, LINKS)
        else:
            note = actions.comment(db, colleague, ticket["id"], {"body": f"@ann {n}"}, LINKS)
            actions.react(db, agent, note.body["id"], {"emoji": "👍"}, LINKS)
    return agent, colleague, customer, ticket["id"]


def statements(db: sqlite3.Connection, function: Callable[..., Any], *args: object) -> int:
    """How many SQL statements ``function(db, *args)`` executes."""
    seen: list[str] = []
    db.set_trace_callback(seen.append)
    try:
        function(db, *args)
    finally:
        db.set_trace_callback(None)
    return len(seen)


@pytest.mark.parametrize("reader", ["agent", "customer"])
def test_reading_a_ticket_takes_the_same_statements_for_10_or_200_comments(
    tmp_path: Path, reader: str
) -> None:
    counts = []
    for size in (10, 200):
        db = connect(tmp_path / f"{reader}{size}.db")
        try:
            agent, _, customer, ticket_id = ticket_with_comments(db, size)
            who = agent if reader == "agent" else customer
            page = actions.ticket_page(db, who, ticket_id, LINKS, WHOLE)
            assert len(page["comments"]) == (size if reader == "agent" else size // 2)
            counts.append(statements(db, actions.ticket_page, who, ticket_id, LINKS, WHOLE))
        finally:
            db.close()
    assert counts[0] == counts[1] <= 8, counts


def test_viewing_a_ticket_takes_the_same_statements_for_10_or_200_comments(
    tmp_path: Path,
) -> None:
    counts = []
    for size in (10, 200):
        db = connect(tmp_path / f"view{size}.db")
        try:
            agent, _, _, ticket_id = ticket_with_comments(db, size)
            counts.append(statements(db, actions.view, agent, ticket_id, LINKS, WHOLE))
        finally:
            db.close()
    # Marking the agent's notifications read appends events in chunks of 10,000 ids, so
    # the count stays flat here too.
    assert counts[0] == counts[1], counts


def test_the_page_has_the_same_content_as_comment_by_comment(
    connection: sqlite3.Connection,
) -> None:
    agent, colleague, _, ticket_id = ticket_with_comments(connection, 6)
    page = actions.ticket_page(connection, agent, ticket_id, LINKS)
    for comment in page["comments"]:
        single = actions.comment_json(connection, int(comment["id"]), LINKS)
        assert comment == single
    assert page["comments"][0]["reactions"] == {"👍": 1}
    assert page["comments"][0]["author"] == {
        "kind": "agent",
        "id": str(colleague.id),
        "username": "bob",
        "name": "Bob",
    }


def test_long_threads_are_paged_by_comment_id(connection: sqlite3.Connection) -> None:
    agent, _, customer, ticket_id = ticket_with_comments(connection, 250)
    first = actions.ticket_page(connection, agent, ticket_id, LINKS)
    assert len(first["comments"]) == 100 and first["has_more_comments"] is True
    seen: list[str] = []
    after = 0
    while True:
        page = actions.ticket_page(connection, agent, ticket_id, LINKS, CommentsPage(after, 60))
        seen += [c["id"] for c in page["comments"]]
        if not page["has_more_comments"]:
            break
        after = int(page["comments"][-1]["id"])
    assert len(seen) == len(set(seen)) == 250
    assert seen == sorted(seen, key=int)
    # A customer's pages hold only replies, paged the same way.
    replies = actions.ticket_page(connection, customer, ticket_id, LINKS, CommentsPage(0, 500))
    assert len(replies["comments"]) == 125 and replies["has_more_comments"] is False
