"""``GET /notifications`` spliced from each row's stored wire text (schema 7) says exactly what
rendering every snapshot said (``repository.list_notifications``, the reference here), once
parsed, over varied rows; the unread count kept by triggers equals counting the rows. Real
SQLite files, the server's own repository functions."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from notifier.core import wire
from notifier.server import actions, db, repository
from notifier.server.actions import Links
from notifier.server.repository import NewNotification, User

BASES = ("http://helpdesk.test", "https://help.example.org:8443/desk")

# Text that JSON, HTML or the splice could get wrong: quotes, backslashes, markup, control
# and line-separator characters, emoji, right-to-left text, and our own url key inside a
# value (the splice must leave it alone).
AWKWARD = (
    'He said "hi" \\ and left </script><b>&amp;',
    "línea\u2028dos\u2029tres\ttab\x01\x1f",
    "😀👍🏽 emoji, ناعم, 中文",
    '"url":"/tickets/1" is not a link',
    "",
)


@pytest.fixture
def connection(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    database = db.connect(tmp_path / "helpdesk.db")
    try:
        yield database
    finally:
        database.close()


def people(connection: sqlite3.Connection) -> tuple[User, User, User]:
    agent, _ = repository.add_user(connection, kind="agent", username="ann", name="Ann Ó'Neil")
    other, _ = repository.add_user(connection, kind="agent", username="bob", name='Bob "B" <b>')
    customer, _ = repository.add_user(
        connection, kind="customer", username="cy@x.test", name="Cy 😀"
    )
    return agent, other, customer


def notify_mention(
    connection: sqlite3.Connection,
    agent: User,
    sender: User | None,
    ticket_id: int,
    *,
    subject: str,
    comment_id: int | None,
    message: str,
) -> None:
    """A mention written straight through the repository (text the actions would not make)."""
    repository.notify(
        connection,
        agent.id,
        NewNotification(
            type=wire.NotificationType.MENTION,
            reason=wire.Reason.MENTIONED,
            sender=None if sender is None else sender.actor(),
            ticket_id=ticket_id,
            subject=subject,
            comment_id=comment_id,
            message=message,
        ),
    )


def varied_history(connection: sqlite3.Connection) -> User:
    """Ann's notifications of every kind the server makes, with awkward text: assignments,
    mentions in comments, customer replies, reactions (folded), sender-less ones, some read,
    some deleted, one written with no reason (as rows from before reasons were)."""
    agent, other, customer = people(connection)
    links = Links("http://ignored.test")
    for text in AWKWARD:
        ticket = actions.create_ticket(
            connection, customer, {"subject": text or "x", "body": text or "b"}, links
        ).body
        actions.assign(connection, other, ticket["id"], {"agent": "ann"}, links)
        note = actions.comment(connection, other, ticket["id"], {"body": f"@ann {text}"}, links)
        actions.reply(connection, customer, ticket["id"], {"body": text or "r"}, links)
        actions.react(connection, other, note.body["id"], {"emoji": "👍"}, links)
    ticket_id = int(ticket["id"])
    with db.transaction(connection):
        for index, text in enumerate(AWKWARD):
            notify_mention(
                connection,
                agent,
                None if index % 2 else other,
                ticket_id,
                subject=text,
                comment_id=None if index % 2 == 0 else 10**6 + index,
                message=text,
            )
    # An old row: no reason in its snapshot (re-rendered by the trigger as its content is).
    connection.execute(
        "UPDATE notifications SET snapshot = json_remove(snapshot, '$.reason')"
        " WHERE id = (SELECT min(id) FROM notifications WHERE agent_id = ?)",
        (agent.id,),
    )
    ids = [r[0] for r in connection.execute("SELECT id FROM notifications WHERE agent_id = ?",
                                            (agent.id,))]  # fmt: skip
    for nid in ids[::3]:
        repository.set_read(connection, agent.id, str(nid), True)
    repository.delete(connection, agent.id, str(ids[1]))
    return agent


def spliced(connection: sqlite3.Connection, agent: User, after: int, limit: int, base: str) -> Any:
    return json.loads(repository.notification_page_json(connection, agent.id, after, limit, base))


def rendered(connection: sqlite3.Connection, agent: User, after: int, limit: int, base: str) -> Any:
    page = repository.list_notifications(connection, agent.id, after, limit, base)
    return page.to_json()


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("limit", [1, 7, 500])
def test_the_spliced_page_means_what_the_rendered_one_did(
    connection: sqlite3.Connection, base: str, limit: int
) -> None:
    agent = varied_history(connection)
    after, pages = 0, 0
    while True:
        new, old = (
            spliced(connection, agent, after, limit, base),
            rendered(connection, agent, after, limit, base),
        )
        assert new == old
        pages += 1
        if not new["has_more"]:
            break
        after = new["notifications"][-1]["seq"]
    total = connection.execute(
        "SELECT count(*) FROM notifications WHERE agent_id = ?", (agent.id,)
    ).fetchone()[0]
    assert total > 15 and pages == -(-total // limit)
    # What the comparison covered: every field's variants, read and unread, awkward text.
    everything = spliced(connection, agent, 0, 500, base)["notifications"]
    assert {n["type"] for n in everything} == {"assignment", "mention", "reaction"}
    assert {n["read"] for n in everything} == {True, False}
    assert any(n["from"] is None for n in everything) and any(n["from"] for n in everything)
    assert any(n["comment"] is None for n in everything)
    assert all(n["comment"]["url"].startswith(f"{base}/tickets/") for n in everything
               if n["comment"])  # fmt: skip
    assert any("reason" not in n for n in everything) and any("reason" in n for n in everything)
    assert any(n["message"] == AWKWARD[3] for n in everything)
    assert any("\u2028" in n["ticket"]["subject"] for n in everything)
    for n in everything:  # the client's own parser takes every row
        wire.Notification.parse_strictly(n)


def test_a_row_without_stored_wire_text_is_rendered_the_long_way(
    connection: sqlite3.Connection,
) -> None:
    agent = varied_history(connection)
    connection.execute("UPDATE notifications SET wire = NULL WHERE id % 2 = 0")
    assert spliced(connection, agent, 0, 500, BASES[1]) == rendered(
        connection, agent, 0, 500, BASES[1]
    )


def test_the_route_answers_with_the_spliced_page(connection: sqlite3.Connection) -> None:
    # The body is JSON the client's parser reads (it is bytes, not a JSONResponse now).
    agent = varied_history(connection)
    body = repository.notification_page_json(connection, agent.id, 0, 500, BASES[0])
    page = wire.NotificationPage.parse(body)
    assert not page.skipped and len(page.notifications) == len(json.loads(body)["notifications"])


def counted(connection: sqlite3.Connection) -> dict[int, int]:
    rows = connection.execute(
        "SELECT agent_id, count(*) FROM notifications WHERE read = 0 GROUP BY agent_id"
    )
    return dict(rows.fetchall())


def kept(connection: sqlite3.Connection) -> dict[int, int]:
    rows = connection.execute("SELECT agent_id, unread FROM notification_unread WHERE unread")
    return dict(rows.fetchall())


def test_the_kept_unread_count_follows_every_change(connection: sqlite3.Connection) -> None:
    agent = varied_history(connection)  # new, read, deleted, re-issued (folded reactions)
    other = repository.user_by_username(connection, "bob")
    assert other is not None
    assert kept(connection) == counted(connection) and counted(connection)[agent.id] > 5
    ids = [str(r[0]) for r in connection.execute(
        "SELECT id FROM notifications WHERE agent_id = ? ORDER BY seq", (agent.id,))]  # fmt: skip
    repository.set_read(connection, agent.id, ids[2], True)
    repository.set_read(connection, agent.id, ids[2], True)  # no change
    repository.set_read(connection, agent.id, ids[0], False)
    assert kept(connection) == counted(connection)
    head = repository.newest_notification_seq(connection, agent.id)
    repository.mark_all_read(connection, agent.id, head // 2)
    assert kept(connection) == counted(connection)
    # A folded notification re-issued after it was read is unread again.
    folded = NewNotification(
        type=wire.NotificationType.REACTION,
        reason=wire.Reason.COMMENT_REACTION,
        sender=other.actor(),
        ticket_id=int(connection.execute("SELECT max(id) FROM tickets").fetchone()[0]),
        subject="s",
        comment_id=None,
        message="1 reaction",
        fold_key="test-fold",
    )
    for _ in range(2):
        with db.transaction(connection):
            repository.notify(connection, agent.id, folded)
        assert kept(connection) == counted(connection)
        fold_id = connection.execute(
            "SELECT id FROM notifications WHERE fold_key = 'test-fold'"
        ).fetchone()[0]
        repository.set_read(connection, agent.id, str(fold_id), True)
        assert kept(connection) == counted(connection)
    repository.clear(connection, agent.id, wire.ClearScope.READ)
    unread_id = connection.execute(
        "SELECT max(id) FROM notifications WHERE agent_id = ? AND read = 0", (agent.id,)
    ).fetchone()[0]
    repository.delete(connection, agent.id, str(unread_id))
    assert kept(connection) == counted(connection)
    assert repository.unread_count(connection, agent.id) == counted(connection)[agent.id]
    repository.clear(connection, agent.id, wire.ClearScope.ALL)
    assert repository.unread_count(connection, agent.id) == 0
    assert repository.unread_count(connection, other.id) == counted(connection).get(other.id, 0)


def test_migration_7_renders_and_counts_the_rows_already_there(tmp_path: Path) -> None:
    path = tmp_path / "helpdesk.db"
    connection = db.connect(path)
    agent = varied_history(connection)
    reference = {base: rendered(connection, agent, 0, 500, base) for base in BASES}
    unread = counted(connection)
    # Back to schema 6 as it was: no wire text, no kept count (the rows stay), and none of
    # the later versions' columns and tables (8: users.deactivated_at; 9: password_resets,
    # email_messages.purpose).
    for trigger in ("wire", "unread_insert", "unread_delete"):
        connection.execute(f"DROP TRIGGER notifications_{trigger}")
    connection.execute("DROP TABLE notification_unread")
    connection.execute("ALTER TABLE notifications DROP COLUMN wire")
    connection.execute("ALTER TABLE users DROP COLUMN deactivated_at")
    connection.execute("DROP TABLE password_resets")
    connection.execute("ALTER TABLE email_messages DROP COLUMN purpose")
    connection.execute("UPDATE schema_version SET version = 6")
    connection.close()
    migrated = db.connect(path)
    try:
        assert db.schema_version(migrated) == len(db.MIGRATIONS)
        assert kept(migrated) == unread
        for base in BASES:
            assert spliced(migrated, agent, 0, 500, base) == reference[base]
        missing = migrated.execute("SELECT count(*) FROM notifications WHERE wire IS NULL")
        assert missing.fetchone()[0] == 0
    finally:
        migrated.close()


@pytest.mark.parametrize("limit", [wire.LEGACY_PAGE_LIMIT, wire.MAX_PAGE_LIMIT])
def test_a_page_of_long_messages_stays_under_the_body_limit_and_pages_on(
    connection: sqlite3.Connection, limit: int
) -> None:
    """500 rows with 2,100-character messages (the wire allows 4,000) made a 1.2 MB page,
    which every client refuses as over 1 MiB: the first sign-in could never get past it.
    The server ends such a page early (has_more) and the next one carries on, whatever the
    ``limit`` asked for."""
    agent, other, customer = people(connection)
    links = Links("http://ignored.test")
    ticket = actions.create_ticket(connection, customer, {"subject": "s", "body": "b"}, links)
    long_text = "é" * 700 + "x" * 1400  # 2,100 characters, 2,800 bytes
    with db.transaction(connection):
        for index in range(500):
            notify_mention(
                connection,
                agent,
                other,
                int(ticket.body["id"]),
                subject="s",
                comment_id=None,
                message=f"{index} {long_text}",
            )
    seen: list[str] = []
    after, pages = 0, 0
    while True:
        body = repository.notification_page_json(connection, agent.id, after, limit, BASES[1])
        assert len(body) <= wire.MAX_FRAME_BYTES
        page = wire.NotificationPage.parse(wire.decode_json(body))  # as a client reads it
        assert page.notifications, "every page moves on"
        seen += [n.message.split(" ")[0] for n in page.notifications]
        pages += 1
        if not page.has_more:
            break
        after = page.notifications[-1].seq
    assert seen == [str(i) for i in range(500)] and pages >= 3


def test_the_largest_page_the_server_can_send_fits_the_clients_body_limit() -> None:
    """The two constants agree: a page's rows stop before PAGE_BODY_BUDGET whatever ``limit``
    asks (up to wire.MAX_PAGE_LIMIT), or the page is a single row. So a body is at most the
    budget or the largest row, and the page's own keys, and every client takes 1 MiB
    (wire.MAX_FRAME_BYTES). The largest row: every field at its limit, every character one
    JSON escapes to six bytes."""
    worst = "\x01"
    url = "http://h.test/" + worst * (wire.MAX_URL_CHARS - 14)
    person = wire.Actor(
        wire.ActorKind.AGENT, worst * wire.MAX_ID_CHARS, worst * wire.MAX_NAME_CHARS
    )
    row = wire.Notification(
        id=worst * wire.MAX_ID_CHARS,
        seq=wire.MAX_SEQ,
        type=wire.NotificationType.MENTION,
        sender=person,
        to=worst * wire.MAX_NAME_CHARS,
        ticket=wire.TicketRef(worst * wire.MAX_ID_CHARS, worst * wire.MAX_SUBJECT_CHARS, url),
        comment=wire.CommentRef(worst * wire.MAX_ID_CHARS, url),
        message=worst * wire.MAX_MESSAGE_CHARS,
        read=False,
        created_at=datetime(2026, 11, 30, tzinfo=UTC),
        reason=max(wire.Reason, key=len),
    )
    largest_row = len(wire.encode_json(row.to_json()).encode())
    envelope = len(
        f'{{"notifications":[],"unread_count":{wire.MAX_SEQ},"last_seq":{wire.MAX_SEQ},'
        '"has_more":false}'
    )
    largest_body = max(repository.PAGE_BODY_BUDGET, largest_row) + envelope
    assert largest_body < wire.MAX_FRAME_BYTES
