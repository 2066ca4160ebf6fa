"""Retention: delete old read notifications and prune the event log behind a floor.

The job (:func:`run_retention`) runs every ``--retention-interval`` seconds in the server
(:func:`run_periodically`, first right after start) and whenever an admin asks for it
(``POST /api/v1/admin/retention``). With the admin's settings (:mod:`notifier.server.settings`):

* ``retention_days``: each agent's **read** notifications created (or last re-issued) more than
  that many days ago are deleted like any other deletion: a ``deleted`` event with its own seq
  is appended and the agent's open streams are woken, so every client removes them too.
  Unread notifications are never deleted.
* ``event_log_days``: events older than that are pruned from the log, except the newest one
  (the head, which keeps the seq counter). The floor is the highest pruned seq; the stream
  answers a resume from below it with ``reset`` (docs/protocol.md section 4), the client
  reloads from the REST list, which holds every notification, so nothing it needs is lost.
* ``retention_days`` also ages the **mail tables** (:mod:`notifier.server.outbox`): a mail
  that was sent or given up (``failed``) more than that many days after it was made is deleted
  with the outbox rows it carried, and so are ``dropped`` outbox rows that old. A mail still
  queued, the rows it carries, and pending rows are never deleted, whatever their age: they
  are mail not yet sent. Nothing else reads these rows back: the threading headers of a
  ticket's mails are made from the ticket's id and ``mail_instance`` (:mod:`notifier.server.mail`),
  and the mailer plans only pending rows, so a digest cannot repeat what a deleted row carried.

Work is cut into calls on the database thread of bounded work (:func:`retention_step`: about
:data:`STEP_ROWS` rows or :data:`STEP_AGENTS` agents; per agent ≤ :data:`DELETE_BATCH`
notifications, found through an index on when they were issued, and ≤ :data:`PRUNE_BATCH`
events per transaction), with a pause nine times as long as the call after each, so the
helpdesk's own reads and writes interleave with the job, never wait for much of it, and the
job takes at most a tenth of the server's time (issue 11: it may not move delivery latency
by more than 10%).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from notifier.core import wire
from notifier.server import settings
from notifier.server.db import Database, transaction
from notifier.server.outbox import stamp
from notifier.server.repository import EventBatch, head_seq, read_events, remove_notifications

log = logging.getLogger(__name__)

# Rows are deleted or pruned a few at a time (their cost: benchmarks/README.md, "Figures behind
# the code"): these keep one call on the database thread to a millisecond or two, so a delivery
# waits little behind it, and the pauses keep the job to a tenth of the thread
# (benchmarks/README.md, "Server load").
DELETE_BATCH: Final = 20  # notifications deleted per agent and transaction
PRUNE_BATCH: Final = 200  # events pruned per agent and transaction
MAIL_BATCH: Final = 10  # finished mails (with their outbox rows), and dropped rows, per call
STEP_ROWS: Final = 20  # rows deleted or pruned per call on the database thread, about
STEP_AGENTS: Final = 20  # agents looked at per call at most
PAUSE_FACTOR: Final = 9.0  # pause this many times as long as each call took
DEFAULT_INTERVAL_S: Final = 3600.0


@dataclass(slots=True)
class RetentionReport:
    """What one run did."""

    deleted: int = 0  # read notifications deleted
    pruned_events: int = 0
    agents: set[int] = field(default_factory=set)  # whose notifications were deleted
    deleted_mails: int = 0  # sent or given-up mails
    deleted_outbox: int = 0  # outbox rows (carried by those mails, or dropped)

    def to_json(self) -> dict[str, Any]:
        return {
            "deleted": self.deleted,
            "pruned_events": self.pruned_events,
            "agents": len(self.agents),
            "deleted_mails": self.deleted_mails,
            "deleted_outbox": self.deleted_outbox,
        }


def agent_ids(connection: sqlite3.Connection) -> list[int]:
    return [int(r[0]) for r in connection.execute("SELECT id FROM users WHERE kind = 'agent'")]


@dataclass(frozen=True, slots=True)
class Step:
    """What one call on the database thread did."""

    deleted: dict[int, int]  # agent id -> read notifications deleted
    pruned: int
    next_index: int  # where the next step starts in the agent list (len(...) when done)
    appended: dict[int, EventBatch]  # each agent's deleted events, read after the commits


def retention_step(
    connection: sqlite3.Connection, agents: list[int], index: int, now: datetime
) -> Step:
    """Work through ``agents`` from ``index`` until about :data:`STEP_ROWS` rows were deleted
    or pruned, or :data:`STEP_AGENTS` agents were looked at: bounded work per call, and one
    call for many agents when, as on most runs, there is little to do. An agent with nothing
    due costs two index look-ups."""
    config = settings.current(connection)
    deleted: dict[int, int] = {}
    first_seq: dict[int, int] = {}
    pruned = 0
    for _ in range(STEP_AGENTS):
        if index >= len(agents) or pruned + sum(deleted.values()) >= STEP_ROWS:
            break
        agent_id = agents[index]
        head = head_seq(connection, agent_id)
        count = delete_expired(connection, agent_id, now, config.retention_days)
        if count:
            deleted[agent_id] = deleted.get(agent_id, 0) + count
            first_seq.setdefault(agent_id, head + 1)
        pruned_now, more_pruning = prune_log(connection, agent_id, now, config.event_log_days)
        pruned += pruned_now
        if count < DELETE_BATCH and not more_pruning:
            index += 1
    appended = {
        agent_id: read_events(connection, agent_id, first - 1)
        for agent_id, first in first_seq.items()
    }
    return Step(deleted, pruned, index, appended)


def delete_expired(connection: sqlite3.Connection, agent_id: int, now: datetime, days: int) -> int:
    """Delete up to :data:`DELETE_BATCH` of the agent's read notifications (re)issued more
    than ``days`` ago (0: none), with one ``deleted`` event; returns how many."""
    if not days:
        return 0
    # The partial index (agent_id, issued_at) of the read notifications: a look-up, no scan.
    ids = [
        int(r[0])
        for r in connection.execute(
            "SELECT id FROM notifications WHERE agent_id = ? AND read = 1 AND issued_at < ?"
            " ORDER BY issued_at LIMIT ?",
            (agent_id, (now - timedelta(days=days)).timestamp(), DELETE_BATCH),
        )
    ]
    if not ids:
        return 0
    with transaction(connection):
        return remove_notifications(connection, agent_id, ids)


def prune_log(
    connection: sqlite3.Connection, agent_id: int, now: datetime, days: int
) -> tuple[int, bool]:
    """Prune up to :data:`PRUNE_BATCH` of the agent's oldest events older than ``days``
    (0: none), never the head; returns (how many, whether more may be due)."""
    if not days:
        return 0, False
    cutoff = wire.format_timestamp(now - timedelta(days=days))
    # julianday() reads RFC 3339 stamps with and without fractional seconds alike.
    query = (
        "SELECT seq, julianday(created_at) < julianday(?) FROM events WHERE agent_id = ?"
        " ORDER BY seq LIMIT ?"
    )
    # Events are appended in time order: when the oldest is recent, so is the rest.
    first = connection.execute(query, (cutoff, agent_id, 1)).fetchone()
    if first is None or not first[1]:
        return 0, False
    with transaction(connection):
        oldest = connection.execute(query, (cutoff, agent_id, PRUNE_BATCH)).fetchall()
        floor = min(max(int(seq) for seq, old in oldest if old), head_seq(connection, agent_id) - 1)
        if floor <= 0:
            return 0, False
        pruned = connection.execute(
            "DELETE FROM events WHERE agent_id = ? AND seq <= ?", (agent_id, floor)
        ).rowcount
    return pruned, len(oldest) == PRUNE_BATCH and all(old for _, old in oldest)


@dataclass(frozen=True, slots=True)
class MailPrune:
    """What one call of :func:`prune_mail` deleted."""

    mails: int
    outbox_rows: int
    more: bool  # whether more may be due


def prune_mail(connection: sqlite3.Connection, now: datetime) -> MailPrune:
    """Delete up to :data:`MAIL_BATCH` finished mails made more than ``retention_days`` ago
    with the outbox rows they carried, and up to :data:`MAIL_BATCH` dropped outbox rows as
    old, in one transaction. Queued mails and pending rows are never touched."""
    days = settings.current(connection).retention_days
    if not days:
        return MailPrune(0, 0, more=False)
    cutoff = now - timedelta(days=days)
    # email_messages.created_at is fixed-width (outbox.stamp), so text order is time order;
    # the partial index email_messages_finished makes this a range look-up.
    mails = [
        int(r[0])
        for r in connection.execute(
            "SELECT id FROM email_messages WHERE state IN ('sent', 'failed') AND created_at < ?"
            " ORDER BY created_at LIMIT ?",
            (stamp(cutoff), MAIL_BATCH),
        )
    ]
    # Outbox rows are appended in time order: the oldest dropped ones come first (their
    # created_at has a varying width, so julianday() compares it).
    dropped = []
    for row_id, old in connection.execute(
        "SELECT id, julianday(created_at) < julianday(?) FROM email_outbox"
        " WHERE state = 'dropped' ORDER BY id LIMIT ?",
        (wire.format_timestamp(cutoff), MAIL_BATCH),
    ):
        if not old:
            break
        dropped.append(int(row_id))
    if not mails and not dropped:
        return MailPrune(0, 0, more=False)
    mail_ids, dropped_ids = wire.encode_json(mails), wire.encode_json(dropped)
    with transaction(connection):
        # The rows a mail carried go with it (they reference it); the state checks repeat
        # the selection's inside the transaction.
        carried = connection.execute(
            "DELETE FROM email_outbox WHERE state = 'mailed' AND message_id IN"
            " (SELECT m.id FROM email_messages AS m, json_each(?) AS j"
            " WHERE m.id = j.value AND m.state IN ('sent', 'failed'))",
            (mail_ids,),
        ).rowcount
        deleted_mails = connection.execute(
            "DELETE FROM email_messages WHERE state IN ('sent', 'failed')"
            " AND id IN (SELECT value FROM json_each(?))",
            (mail_ids,),
        ).rowcount
        deleted_dropped = connection.execute(
            "DELETE FROM email_outbox WHERE state = 'dropped'"
            " AND id IN (SELECT value FROM json_each(?))",
            (dropped_ids,),
        ).rowcount
    more = len(mails) == MAIL_BATCH or len(dropped) == MAIL_BATCH
    return MailPrune(deleted_mails, carried + deleted_dropped, more)


Announce = Callable[[dict[int, EventBatch]], None]


async def run_retention(
    database: Database, announce: Announce, now: datetime | None = None
) -> RetentionReport:
    """One run over every agent; ``announce`` (:meth:`HelpdeskApp.announce`) hands the
    deletions to the streams of the agents whose notifications went.

    After each call on the database thread the job pauses :data:`PAUSE_FACTOR` times as long
    as the call took, so it holds the thread at most about a tenth of the time. ``now``
    defaults to the database's clock (the tests' clock, when they inject one)."""
    now = now or database.clock()
    report = RetentionReport()
    agents = await database.run(agent_ids)
    index = 0
    while index < len(agents):
        started = time.monotonic()
        step = await database.run(retention_step, agents, index, now)
        index = step.next_index
        report.pruned_events += step.pruned
        report.deleted += sum(step.deleted.values())
        report.agents.update(step.deleted)
        announce(step.appended)
        await _pause_after(started)
    more = True
    while more:
        started = time.monotonic()
        mail = await database.run(prune_mail, now)
        report.deleted_mails += mail.mails
        report.deleted_outbox += mail.outbox_rows
        more = mail.more
        await _pause_after(started)
    return report


async def _pause_after(started: float) -> None:
    """Leave the database thread to others :data:`PAUSE_FACTOR` times as long as a call that
    began at ``started`` (``time.monotonic()``) held it."""
    await asyncio.sleep(PAUSE_FACTOR * (time.monotonic() - started))


async def run_periodically(database: Database, announce: Announce, interval_s: float) -> None:
    """Run the job now and then every ``interval_s`` seconds, until cancelled. A failed run
    is logged and the next one still happens."""
    while True:
        try:
            report = await run_retention(database, announce)
        except Exception:
            log.exception("the retention job failed; retrying in %.0f s", interval_s)
        else:
            if report.deleted or report.pruned_events or report.deleted_outbox:
                log.info(
                    "retention: deleted %d read notifications of %d agents, pruned %d events,"
                    " deleted %d mails and %d outbox rows",
                    report.deleted,
                    len(report.agents),
                    report.pruned_events,
                    report.deleted_mails,
                    report.deleted_outbox,
                )
        await asyncio.sleep(interval_s)
