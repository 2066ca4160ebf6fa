"""The mail outbox in SQLite: what may become mail, the mails themselves, and who is connected.

Two tables, two stages (schema in :mod:`notifier.server.db`, migration 2):

* ``email_outbox``: one row per notification an agent wants by e-mail, written by
  :func:`enqueue` inside the transaction that creates the notification, so the two commit
  together. A row is ``pending`` until the mailer decides: ``mailed`` (``message_id`` names the
  mail that carried it: a row is carried by at most one mail, so no digest repeats what an
  earlier mail said) or ``dropped`` (``reason`` says why: read in time, connected, e-mail off…).
* ``email_messages``: one row per mail, rendered (the exact bytes to send) when the mailer
  decides, in the same transaction that marks its outbox rows ``mailed``. ``queued`` until the
  SMTP server accepts it (``sent``, ``sent_at``) or refuses it for good (``failed``,
  ``last_error``); ``attempts`` and ``next_attempt_at`` carry the retry schedule across restarts.

``agent_presence`` counts each agent's open streams. It is written on the database thread like
everything else, so :func:`enqueue` reads exactly whether a stream was open when the
notification committed. It is emptied when a server starts (no stream survives a restart).

Every function takes the connection first and runs on the database thread; none opens a
transaction except the presence functions, which are whole actions of their own.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from notifier.core import wire
from notifier.server.db import transaction

MAX_ERROR_CHARS: Final = 500


def stamp(when: datetime) -> str:
    """A UTC timestamp of fixed width (always with microseconds), so that SQLite's text
    comparison orders them as times: "12:00:00Z" would sort after "12:00:00.5Z"."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ItemStatus(StrEnum):
    """Where the notification behind an outbox row stands now."""

    UNREAD = "unread"
    READ = "read"
    DELETED = "deleted"
    EMAIL_ONLY = "email_only"  # never created in-app (in_app off or the type off in-app)


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A pending outbox row with what deciding about it needs."""

    id: int
    notification_id: int | None
    snapshot: dict[str, Any]  # the notification's content, as in the event log
    created_at: datetime
    connected: bool  # the agent had a stream open when it arrived
    status: ItemStatus

    @property
    def type(self) -> wire.NotificationType:
        return wire.NotificationType(self.snapshot["type"])

    @property
    def ticket_id(self) -> str:
        return str(self.snapshot["ticket"]["id"])


# --------------------------------------------------------------------------- stage 1: items


def enqueue(
    connection: sqlite3.Connection,
    agent_id: int,
    notification_id: int | None,
    delivery: wire.EmailFrequency,
    snapshot: dict[str, Any],
    created_at: str,
) -> None:
    """Record that this notification may be mailed; call inside the notification's
    transaction."""
    row = connection.execute(
        "SELECT streams FROM agent_presence WHERE agent_id = ?", (agent_id,)
    ).fetchone()
    connection.execute(
        "INSERT INTO email_outbox(agent_id, notification_id, delivery, subject, body,"
        " created_at, snapshot, connected) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            agent_id,
            notification_id,
            delivery.value,
            snapshot["ticket"]["subject"],
            snapshot["message"],
            created_at,
            wire.encode_json(snapshot),
            int(row is not None and row[0] > 0),
        ),
    )


def agents_with_pending(connection: sqlite3.Connection) -> list[int]:
    return [
        int(r[0])
        for r in connection.execute(
            "SELECT DISTINCT agent_id FROM email_outbox WHERE state = 'pending' ORDER BY agent_id"
        )
    ]


def pending_items(connection: sqlite3.Connection, agent_id: int) -> list[OutboxItem]:
    """The agent's pending rows, oldest first, with their notification's state now."""
    rows = connection.execute(
        "SELECT o.id, o.notification_id, o.snapshot, o.created_at, o.connected,"
        " n.id IS NOT NULL, n.read FROM email_outbox AS o"
        " LEFT JOIN notifications AS n ON n.id = o.notification_id"
        " WHERE o.agent_id = ? AND o.state = 'pending' ORDER BY o.id",
        (agent_id,),
    ).fetchall()
    items = []
    for row_id, notification_id, snapshot, created_at, connected, exists, read in rows:
        if notification_id is None:
            status = ItemStatus.EMAIL_ONLY
        elif not exists:
            status = ItemStatus.DELETED
        else:
            status = ItemStatus.READ if read else ItemStatus.UNREAD
        items.append(
            OutboxItem(
                id=int(row_id),
                notification_id=int(notification_id) if notification_id is not None else None,
                snapshot=json.loads(snapshot),
                created_at=wire.parse_timestamp(created_at),
                connected=bool(connected),
                status=status,
            )
        )
    return items


def drop(connection: sqlite3.Connection, drops: Iterable[tuple[int, str]]) -> None:
    """Mark rows dropped, each with its reason."""
    connection.executemany(
        "UPDATE email_outbox SET state = 'dropped', reason = ? WHERE id = ? AND state = 'pending'",
        [(reason, item_id) for item_id, reason in drops],
    )


def abandon(connection: sqlite3.Connection, agent_id: int, reason: str) -> None:
    """No more mail to this agent (they were deactivated): drop their pending rows and give
    up their queued mails, both with ``reason`` (``mail-status`` shows it). Call inside a
    transaction."""
    connection.execute(
        "UPDATE email_outbox SET state = 'dropped', reason = ?"
        " WHERE agent_id = ? AND state = 'pending'",
        (reason, agent_id),
    )
    connection.execute(
        f"UPDATE email_messages SET state = 'failed', last_error = ?, {_BLANK_RESET}"  # noqa: S608
        " WHERE agent_id = ? AND state = 'queued'",
        (f"not sent: {reason}"[:MAX_ERROR_CHARS], agent_id),
    )


# --------------------------------------------------------------------------- stage 2: mails


@dataclass(frozen=True, slots=True)
class NewMessage:
    agent_id: int
    kind: str  # "instant" | "digest"
    recipient: str
    message_id: str  # the Message-ID header, without angle brackets
    subject: str
    content: bytes
    purpose: str = "notification"  # or "password_reset" (password_reset.py)


# A password reset mail's content holds a live link: kept only until the mail is sent or
# given up (migration 9).
_BLANK_RESET: Final = "content = CASE WHEN purpose = 'password_reset' THEN X'' ELSE content END"


def store_message(
    connection: sqlite3.Connection, message: NewMessage, item_ids: Sequence[int], now: datetime
) -> int:
    """Queue a rendered mail and mark the rows it carries ``mailed``; call in a transaction."""
    cursor = connection.execute(
        "INSERT INTO email_messages(agent_id, kind, recipient, message_id, subject, content,"
        " created_at, next_attempt_at, purpose) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            message.agent_id,
            message.kind,
            message.recipient,
            message.message_id,
            message.subject,
            message.content,
            stamp(now),
            stamp(now),
            message.purpose,
        ),
    )
    row_id = int(cursor.lastrowid or 0)
    connection.executemany(
        "UPDATE email_outbox SET state = 'mailed', message_id = ? WHERE id = ?",
        [(row_id, item_id) for item_id in item_ids],
    )
    return row_id


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    id: int
    recipient: str
    content: bytes
    attempts: int
    created_at: datetime


def due_messages(connection: sqlite3.Connection, now: datetime, limit: int) -> list[QueuedMessage]:
    """Queued mails whose next attempt is due, oldest first."""
    return [
        QueuedMessage(int(r[0]), r[1], bytes(r[2]), int(r[3]), wire.parse_timestamp(r[4]))
        for r in connection.execute(
            "SELECT id, recipient, content, attempts, created_at FROM email_messages"
            " WHERE state = 'queued' AND next_attempt_at <= ? ORDER BY next_attempt_at, id"
            " LIMIT ?",
            (stamp(now), limit),
        )
    ]


def next_attempt_at(connection: sqlite3.Connection) -> datetime | None:
    row = connection.execute(
        "SELECT MIN(next_attempt_at) FROM email_messages WHERE state = 'queued'"
    ).fetchone()
    return wire.parse_timestamp(row[0]) if row[0] is not None else None


def mark_sent(connection: sqlite3.Connection, message_id: int, now: datetime) -> None:
    """The SMTP server took the mail: one commit, right after its answer (see the mailer)."""
    with transaction(connection):
        connection.execute(
            "UPDATE email_messages SET state = 'sent', sent_at = ?, attempts = attempts + 1,"  # noqa: S608
            f" last_error = NULL, {_BLANK_RESET} WHERE id = ?",
            (stamp(now), message_id),
        )


def mark_retry(
    connection: sqlite3.Connection, retries: Sequence[tuple[int, datetime]], error: str
) -> None:
    """Count a failed attempt on each (message id, next attempt) and keep them queued."""
    with transaction(connection):
        connection.executemany(
            "UPDATE email_messages SET attempts = attempts + 1, next_attempt_at = ?,"
            " last_error = ? WHERE id = ? AND state = 'queued'",
            [(stamp(when), error[:MAX_ERROR_CHARS], message_id) for message_id, when in retries],
        )


def mark_failed(connection: sqlite3.Connection, message_id: int, error: str) -> None:
    """Give up on a mail for good; ``error`` is what the admin reads in ``mail-status``."""
    with transaction(connection):
        connection.execute(
            "UPDATE email_messages SET state = 'failed', attempts = attempts + 1,"  # noqa: S608
            f" last_error = ?, {_BLANK_RESET} WHERE id = ?",
            (error[:MAX_ERROR_CHARS], message_id),
        )


# --------------------------------------------------------------------------- presence


def reset_presence(connection: sqlite3.Connection) -> None:
    with transaction(connection):
        connection.execute("DELETE FROM agent_presence")


def stream_opened(connection: sqlite3.Connection, agent_id: int) -> None:
    with transaction(connection):
        connection.execute(
            "INSERT INTO agent_presence(agent_id, streams) VALUES (?, 1)"
            " ON CONFLICT(agent_id) DO UPDATE SET streams = streams + 1",
            (agent_id,),
        )


def stream_closed(connection: sqlite3.Connection, agent_id: int) -> None:
    with transaction(connection):
        connection.execute(
            "UPDATE agent_presence SET streams = streams - 1 WHERE agent_id = ?", (agent_id,)
        )
        connection.execute(
            "DELETE FROM agent_presence WHERE agent_id = ? AND streams <= 0", (agent_id,)
        )


# --------------------------------------------------------------------------- identities


def email_address(connection: sqlite3.Connection, agent_id: int) -> str | None:
    row = connection.execute("SELECT email FROM users WHERE id = ?", (agent_id,)).fetchone()
    return str(row[0]) if row is not None and row[0] else None


def instance_name(connection: sqlite3.Connection) -> str:
    """A random name of this database, so Message-IDs never collide with another one's."""
    return str(connection.execute("SELECT name FROM mail_instance WHERE id = 1").fetchone()[0])


def unsubscribe_token(connection: sqlite3.Connection, agent_id: int) -> str:
    """The agent's unsubscribe token (created on first use); call inside a transaction.

    It can do one thing, turn the agent's e-mail off, so it is kept as is (it goes into every
    mail) rather than hashed like an API token."""
    row = connection.execute(
        "SELECT token FROM email_unsubscribe WHERE agent_id = ?", (agent_id,)
    ).fetchone()
    if row is not None:
        return str(row[0])
    token = secrets.token_urlsafe(24)
    connection.execute(
        "INSERT INTO email_unsubscribe(agent_id, token) VALUES (?, ?)", (agent_id, token)
    )
    return token


def agent_for_unsubscribe(connection: sqlite3.Connection, token: str) -> int | None:
    row = connection.execute(
        "SELECT agent_id FROM email_unsubscribe WHERE token = ?", (token,)
    ).fetchone()
    return int(row[0]) if row is not None else None


# --------------------------------------------------------------------------- the admin's view


@dataclass(frozen=True, slots=True)
class MessageStatus:
    id: int
    username: str
    recipient: str
    kind: str
    subject: str
    state: str
    attempts: int
    created_at: str
    sent_at: str | None
    last_error: str | None
    notifications: int
    purpose: str = "notification"


def message_status(
    connection: sqlite3.Connection, states: Sequence[str], limit: int
) -> list[MessageStatus]:
    """The newest mails in the given states, for ``notifier-server mail-status``."""
    rows = connection.execute(
        "SELECT m.id, u.username, m.recipient, m.kind, m.subject, m.state, m.attempts,"
        " m.created_at, m.sent_at, m.last_error,"
        " (SELECT COUNT(*) FROM email_outbox AS o WHERE o.message_id = m.id), m.purpose"
        " FROM email_messages AS m JOIN users AS u ON u.id = m.agent_id"
        " WHERE m.state IN (SELECT value FROM json_each(?)) ORDER BY m.id DESC LIMIT ?",
        (json.dumps(list(states)), limit),
    ).fetchall()
    return [MessageStatus(*row) for row in rows]


def outbox_counts(connection: sqlite3.Connection) -> dict[str, int]:
    """How many outbox rows are pending, mailed and dropped (for ``mail-status``)."""
    counts = dict.fromkeys(("pending", "mailed", "dropped"), 0)
    for state, count in connection.execute(
        "SELECT state, COUNT(*) FROM email_outbox GROUP BY state"
    ):
        counts[str(state)] = int(count)
    return counts


def drop_reasons(connection: sqlite3.Connection, limit: int) -> list[tuple[str, int]]:
    """Why outbox rows were dropped, most frequent first."""
    return [
        (str(r[0]), int(r[1]))
        for r in connection.execute(
            "SELECT reason, COUNT(*) AS n FROM email_outbox WHERE state = 'dropped'"
            " GROUP BY reason ORDER BY n DESC LIMIT ?",
            (limit,),
        )
    ]


def format_mail_status(connection: sqlite3.Connection, *, include_sent: bool, limit: int) -> str:
    """The text of ``notifier-server mail-status``."""
    counts = outbox_counts(connection)
    lines = [
        f"outbox: {counts['pending']} pending, {counts['mailed']} mailed,"
        f" {counts['dropped']} dropped"
    ]
    reasons = drop_reasons(connection, 10)
    if reasons:
        lines.append("dropped because: " + "; ".join(f"{n} {why}" for why, n in reasons))
    totals = dict(
        connection.execute("SELECT state, COUNT(*) FROM email_messages GROUP BY state").fetchall()
    )
    lines.append(
        f"mails: {totals.get('queued', 0)} queued, {totals.get('sent', 0)} sent,"
        f" {totals.get('failed', 0)} failed"
    )
    for state in ("failed", "queued", "sent") if include_sent else ("failed", "queued"):
        rows = message_status(connection, [state], limit)
        if not rows:
            continue
        lines.append(f"\n{state}:")
        for row in rows:
            when = row.sent_at if state == "sent" else row.created_at
            carries = (
                "a password reset link"
                if row.purpose == "password_reset"
                else f"{row.notifications} notifications"
            )
            lines.append(
                f"  #{row.id} {when} {row.kind} to {row.username} <{row.recipient}>"
                f" ({carries}, {row.attempts} attempts): {row.subject}"
            )
            if row.last_error and state != "sent":
                lines.append(f"      {row.last_error}")
    return "\n".join(lines)
