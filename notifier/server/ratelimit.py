"""Notification rate limits: a noisy ticket (or a noisy minute) folds, it does not flood.

:func:`limit` runs inside :func:`notifier.server.repository.notify`, in the same transaction,
after the agent's preferences allowed the notification and before it is written. It records
the notification in ``notification_rate`` (recipient, ticket, time) and checks the admin's
limits (:mod:`notifier.server.settings`):

* ``rate_limit_per_ticket`` per ``rate_limit_window_seconds``: beyond that many notifications
  for one agent about one ticket within the window, the next one *folds* into the agent's
  newest notification about that ticket: that notification is re-issued (same id, new seq,
  unread again) with the latest content and a count, "4 more replies on #123: <the latest
  reply>". The tray updates one row and one toast instead of adding fifty.
* ``rate_limit_per_minute``: beyond that many notifications for one agent in the last 60 s,
  the next one folds into the agent's newest notification about the same ticket if there is
  one, else into one overflow notification per agent (fold key ``rate_overflow``) that always
  shows the latest: "12 more notifications; the latest on #9: …".

Folded notifications count too, so a ticket that keeps spamming stays folded; after a quiet
window the next one is a notification of its own again. The count restarts when the target had
been read (it then says what is new since). Notifications that fold by design (reactions on a
comment, with a ``fold_key``) are neither limited nor counted: they are one row already.
Both limits are off (0) by default; see docs/server.md for recommended values.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from typing import Final

from notifier.core import wire
from notifier.server import settings
from notifier.server.repository import NewNotification

OVERFLOW_FOLD_KEY: Final = "rate_overflow"
MINUTE_S: Final = 60.0
MIXED: Final = "mixed"  # folded_reason once notifications of several reasons were folded

# (singular, plural) of what a folded count counts, by reason.
NOUNS: Final = {
    wire.Reason.CUSTOMER_REPLIED: ("reply", "replies"),
    wire.Reason.CUSTOMER_REOPENED: ("reopening", "reopenings"),
    wire.Reason.MENTIONED: ("mention", "mentions"),
    wire.Reason.ASSIGNED: ("assignment", "assignments"),
    wire.Reason.AUTO_ASSIGNED: ("assignment", "assignments"),
    wire.Reason.COMMENT_REACTION: ("reaction", "reactions"),
}
GENERIC_NOUN: Final = ("update", "updates")
OVERFLOW_NOUN: Final = ("notification", "notifications")


def limit(
    connection: sqlite3.Connection,
    agent_id: int,
    content: NewNotification,
    now: float | None = None,
) -> NewNotification:
    """``content`` itself when within the limits, else the content that folds it (a
    ``fold_key`` naming the target and a counted message). Call inside the transaction that
    writes the notification; ``now`` is a Unix time (tests pass their own)."""
    if content.fold_key is not None:
        return content
    config = settings.current(connection)
    per_ticket, per_minute = config.rate_limit_per_ticket, config.rate_limit_per_minute
    if not per_ticket and not per_minute:
        return content
    now = time.time() if now is None else now
    window = float(config.rate_limit_window_seconds)
    connection.execute(
        "DELETE FROM notification_rate WHERE agent_id = ? AND at <= ?",
        (agent_id, now - max(window, MINUTE_S)),
    )
    over_ticket = (
        bool(per_ticket)
        and _count(
            connection,
            "SELECT COUNT(*) FROM notification_rate"
            " WHERE agent_id = ? AND ticket_id = ? AND at > ?",
            (agent_id, content.ticket_id, now - window),
        )
        >= per_ticket
    )
    over_minute = (
        bool(per_minute)
        and _count(
            connection,
            "SELECT COUNT(*) FROM notification_rate WHERE agent_id = ? AND at > ?",
            (agent_id, now - MINUTE_S),
        )
        >= per_minute
    )
    connection.execute(
        "INSERT INTO notification_rate(agent_id, ticket_id, at) VALUES (?, ?, ?)",
        (agent_id, content.ticket_id, now),
    )
    if not (over_ticket or over_minute):
        return content
    target = connection.execute(
        "SELECT id, read, folded, folded_reason, fold_key FROM notifications"
        " WHERE agent_id = ? AND ticket_id = ? ORDER BY seq DESC LIMIT 1",
        (agent_id, content.ticket_id),
    ).fetchone()
    if target is None and over_minute:
        return _fold_into_overflow(connection, agent_id, content)
    if target is None:  # over the ticket's limit, but its notifications were all deleted
        return content
    notification_id, read, folded, folded_reason, fold_key = target
    count, reason = _counted(bool(read), int(folded), folded_reason, content.reason)
    fold_key = fold_key or f"rate:{notification_id}"
    connection.execute(
        "UPDATE notifications SET folded = ?, folded_reason = ?, fold_key = ? WHERE id = ?",
        (count, reason, fold_key, notification_id),
    )
    noun = NOUNS.get(wire.Reason(reason), GENERIC_NOUN) if reason != MIXED else GENERIC_NOUN
    return dataclasses.replace(
        content,
        message=f"{_counted_noun(count, noun)} on #{content.ticket_id}: {content.message}",
        fold_key=fold_key,
    )


def _fold_into_overflow(
    connection: sqlite3.Connection, agent_id: int, content: NewNotification
) -> NewNotification:
    row = connection.execute(
        "SELECT id, read, folded FROM notifications WHERE agent_id = ? AND fold_key = ?",
        (agent_id, OVERFLOW_FOLD_KEY),
    ).fetchone()
    if row is None:
        count = 1
        # A placeholder that notify() re-issues by its fold key at once, in this transaction
        # (notify inserts its own new rows the same way).
        connection.execute(
            "INSERT INTO notifications(agent_id, seq, snapshot, ticket_id, read, fold_key,"
            " folded) VALUES (?, 0, '{}', ?, 0, ?, 1)",
            (agent_id, content.ticket_id, OVERFLOW_FOLD_KEY),
        )
    else:
        count = 1 if row[1] else int(row[2]) + 1
        # The overflow row follows its latest ticket (viewing that ticket marks it read).
        connection.execute(
            "UPDATE notifications SET folded = ?, ticket_id = ? WHERE id = ?",
            (count, content.ticket_id, row[0]),
        )
    return dataclasses.replace(
        content,
        message=f"{_counted_noun(count, OVERFLOW_NOUN)}; the latest on #{content.ticket_id}: "
        f"{content.message}",
        fold_key=OVERFLOW_FOLD_KEY,
    )


def _counted(
    read: bool, folded: int, folded_reason: str | None, reason: wire.Reason
) -> tuple[int, str]:
    """The target's fold count and reason after one more is folded into it."""
    if read or folded == 0:
        return 1, reason.value
    return folded + 1, reason.value if folded_reason == reason.value else MIXED


def _counted_noun(count: int, noun: tuple[str, str]) -> str:
    return f"{count} more {noun[0] if count == 1 else noun[1]}"


def _count(connection: sqlite3.Connection, query: str, args: tuple[object, ...]) -> int:
    return int(connection.execute(query, args).fetchone()[0])
