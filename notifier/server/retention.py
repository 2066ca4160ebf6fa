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

Work is cut into short transactions (≤ :data:`DELETE_BATCH` notifications, ≤
:data:`PRUNE_BATCH` events, one agent each), each one call on the database thread, so the
streams' reads interleave with the job instead of waiting for all of it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from notifier.core import wire
from notifier.server import settings
from notifier.server.db import Database, transaction
from notifier.server.hub import Hub
from notifier.server.repository import head_seq, remove_notifications

log = logging.getLogger(__name__)

DELETE_BATCH: Final = 500
PRUNE_BATCH: Final = 5_000
DEFAULT_INTERVAL_S: Final = 3600.0


@dataclass(slots=True)
class RetentionReport:
    """What one run did."""

    deleted: int = 0  # read notifications deleted
    pruned_events: int = 0
    agents: set[int] = field(default_factory=set)  # whose notifications were deleted

    def to_json(self) -> dict[str, Any]:
        return {
            "deleted": self.deleted,
            "pruned_events": self.pruned_events,
            "agents": len(self.agents),
        }


def _cutoff(now: datetime, days: int) -> str:
    return wire.format_timestamp(now - timedelta(days=days))


def agent_ids(connection: sqlite3.Connection) -> list[int]:
    return [int(r[0]) for r in connection.execute("SELECT id FROM users WHERE kind = 'agent'")]


def delete_expired(connection: sqlite3.Connection, agent_id: int, now: datetime) -> int:
    """Delete up to :data:`DELETE_BATCH` of the agent's expired read notifications, with
    their ``deleted`` events, in one transaction; returns how many."""
    days = settings.current(connection).retention_days
    if not days:
        return 0
    with transaction(connection):
        # julianday() reads the RFC 3339 stamps with and without fractional seconds alike
        # (a plain string comparison would not).
        ids = [
            int(r[0])
            for r in connection.execute(
                "SELECT id FROM notifications WHERE agent_id = ? AND read = 1"
                " AND julianday(json_extract(snapshot, '$.created_at')) < julianday(?)"
                " ORDER BY seq LIMIT ?",
                (agent_id, _cutoff(now, days), DELETE_BATCH),
            )
        ]
        return remove_notifications(connection, agent_id, ids)


def prune_log(connection: sqlite3.Connection, agent_id: int, now: datetime) -> tuple[int, bool]:
    """Prune up to :data:`PRUNE_BATCH` of the agent's oldest events that are older than
    ``event_log_days``, never the head; returns (how many, whether more may be due)."""
    days = settings.current(connection).event_log_days
    if not days:
        return 0, False
    with transaction(connection):
        oldest = connection.execute(
            "SELECT seq, julianday(created_at) < julianday(?) FROM events WHERE agent_id = ?"
            " ORDER BY seq LIMIT ?",
            (_cutoff(now, days), agent_id, PRUNE_BATCH),
        ).fetchall()
        expired = [int(seq) for seq, old in oldest if old]
        floor = min(max(expired, default=0), head_seq(connection, agent_id) - 1)
        if floor <= 0:
            return 0, False
        pruned = connection.execute(
            "DELETE FROM events WHERE agent_id = ? AND seq <= ?", (agent_id, floor)
        ).rowcount
        return pruned, len(oldest) == PRUNE_BATCH and all(old for _, old in oldest)


async def run_retention(
    database: Database, hub: Hub, now: datetime | None = None
) -> RetentionReport:
    """One run over every agent; wakes the streams of agents whose notifications went."""
    now = now or datetime.now(UTC)
    report = RetentionReport()
    for agent_id in await database.run(agent_ids):
        while True:
            deleted = await database.run(delete_expired, agent_id, now)
            if deleted:
                report.deleted += deleted
                report.agents.add(agent_id)
                hub.wake([agent_id])
            if deleted < DELETE_BATCH:
                break
        more = True
        while more:
            pruned, more = await database.run(prune_log, agent_id, now)
            report.pruned_events += pruned
    return report


async def run_periodically(database: Database, hub: Hub, interval_s: float) -> None:
    """Run the job now and then every ``interval_s`` seconds, until cancelled. A failed run
    is logged and the next one still happens."""
    while True:
        try:
            report = await run_retention(database, hub)
        except Exception:
            log.exception("the retention job failed; retrying in %.0f s", interval_s)
        else:
            if report.deleted or report.pruned_events:
                log.info(
                    "retention: deleted %d read notifications of %d agents, pruned %d events",
                    report.deleted,
                    len(report.agents),
                    report.pruned_events,
                )
        await asyncio.sleep(interval_s)
