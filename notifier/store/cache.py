"""The local notification cache: one SQLite file, versioned schema, idempotent applies.

Why SQLite: the tray must show the full list offline, page it newest first with filters, and
answer "how many unread" on the GUI thread in well under a millisecond; indexed SQLite does
all of that and survives crashes. WAL mode with ``synchronous=NORMAL`` keeps each commit to a
few tens of microseconds (no fsync per commit; a power cut can lose the last commits, which
the next resume fetches again from the server, so nothing is lost for good).

Idempotency (the core promise: never lose, never duplicate)
-----------------------------------------------------------
Every server event carries a seq, strictly increasing per agent. The cache does not rely on
events arriving in order; each row remembers the seqs that wrote it, and each apply compares:

* ``notifications.seq`` is the seq of the event that last wrote the row's content; a
  notification event with a seq not above it is a duplicate or older, and changes nothing.
* ``notifications.read_seq`` is the seq of the last read-state change applied to the row; a
  read-state event (or the read flag inside a notification event) with a seq not above it is
  older than what the row already shows, and changes nothing.
* ``tombstones`` remember deletions (id, seq): a notification event not newer than the
  deletion does not bring the row back (a re-issue with a higher seq does).
* ``early_read_states`` hold a read-state change that arrived before its notification (only
  possible when frames are reordered); it is merged when the notification arrives.

So a replay, a duplicated frame or a shuffled batch always ends in the same rows as the clean
in-order log (tests/test_cache_idempotency.py checks that property with hypothesis).

``state.cursor`` is the resume point: the engine resumes the stream after it. It only moves
forward (``advance_cursor``) except on :meth:`NotificationCache.reset`.

Local (optimistic) actions change the rows at once and append to ``pending_actions``; the
engine sends them in order when live and removes each after the server acknowledged it.

The badge counts (unread, new since the popup was last opened) are kept in ``state``, so
reading them is O(1): every write call adds up what its rows changed (``_counted``) and
updates them once, in the same transaction (schema v4; triggers did it per row before).
``state.owner`` ("<server URL> <agent id>") says whose notifications these are:
:meth:`NotificationCache.claim` drops another account's rows and queue before a different
agent's data goes in.

A first sign-in into an empty cache writes its history without the secondary indexes and
builds them at the end (:meth:`NotificationCache.begin_history_load`): one sort each instead
of four B-tree inserts a row. Queries stay right meanwhile, and :meth:`NotificationCache.open`
creates any that are missing, so a sync that died midway leaves a cache the next start mends.

Schema versions are ``PRAGMA user_version``; :data:`MIGRATIONS` is an ordered list, entry ``n``
takes the schema from version ``n`` to ``n + 1``. Never edit a released migration; add one.

Threading: one connection, used from one thread (the GUI thread, where qasync runs the
asyncio loop, or the headless loop). Reads are indexed lookups; writes are one short
transaction each. WAL checkpoints (which fsync) are not automatic on that connection:
:meth:`NotificationCache.checkpoint` runs them from a worker thread on a connection of its
own. Numbers: benchmarks/cache_writes.py and benchmarks/engine_loop_lag.py.

The write-ahead log stays bounded (:data:`WAL_LIMIT`). SQLite starts the log over from its
beginning only when a checkpoint has copied *all* of it and nothing was written since; a
checkpoint on a worker thread while the owner keeps writing (a first sign-in, a long replay)
never gets there, and the log grew without end (benchmarks/README.md, "First sign-in"). So
the writer asks :attr:`NotificationCache.wal_over_limit` between slices
and, when it is, waits for a checkpoint with no write beside it (the engine awaits it on the
worker thread; the event loop keeps running); the next write then starts the log over, and
``journal_size_limit`` cuts the file back to :data:`WAL_LIMIT`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from notifier.core.errors import CacheCorrupt
from notifier.core.wire import (
    Actor,
    ActorKind,
    ClearScope,
    CommentRef,
    DeletedEvent,
    Notification,
    NotificationEvent,
    NotificationPage,
    NotificationType,
    ReadStateEvent,
    Reason,
    TicketRef,
    format_timestamp,
)

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- schema

Migration = Callable[[sqlite3.Connection], None]


def _schema_v1(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE notifications (
            id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            read_seq INTEGER NOT NULL,
            type TEXT NOT NULL,
            read INTEGER NOT NULL,
            sender_kind TEXT,
            sender_id TEXT,
            sender_name TEXT,
            recipient TEXT NOT NULL,
            ticket_id TEXT NOT NULL,
            ticket_subject TEXT NOT NULL,
            ticket_url TEXT NOT NULL,
            comment_id TEXT,
            comment_url TEXT,
            message TEXT NOT NULL,
            created_at TEXT NOT NULL,
            reason TEXT
        ) WITHOUT ROWID;
        CREATE INDEX notifications_by_seq ON notifications (seq);
        CREATE INDEX notifications_by_type_seq ON notifications (type, seq);
        CREATE INDEX notifications_unread_by_seq ON notifications (seq) WHERE read = 0;
        CREATE INDEX notifications_unread_by_type_seq ON notifications (type, seq)
            WHERE read = 0;
        CREATE TABLE tombstones (id TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE early_read_states (
            id TEXT PRIMARY KEY, seq INTEGER NOT NULL, read INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE state (
            singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
            cursor INTEGER NOT NULL,
            seen_seq INTEGER NOT NULL
        );
        INSERT INTO state (singleton, cursor, seen_seq) VALUES (1, 0, 0);
        CREATE TABLE pending_actions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            notification_id TEXT,
            up_to_seq INTEGER,
            scope TEXT,
            created_at TEXT NOT NULL
        );
        """
    )


def _schema_v2(db: sqlite3.Connection) -> None:
    # The badge asks "how many unread / how many new" on every change; counting an index is
    # O(unread) (benchmarks/README.md, "Figures behind the code"), so keep both counts in the
    # state row,
    # maintained by triggers inside the same transaction as the change itself.
    # ``(x) - (y)`` on booleans gives -1, 0 or +1. Writes must use UPDATE / upsert, never
    # INSERT OR REPLACE (its implicit delete does not fire delete triggers).
    db.executescript(
        """
        ALTER TABLE state ADD COLUMN unread INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE state ADD COLUMN new_since_seen INTEGER NOT NULL DEFAULT 0;
        UPDATE state SET
            unread = (SELECT count(*) FROM notifications WHERE read = 0),
            new_since_seen = (SELECT count(*) FROM notifications
                              WHERE read = 0 AND seq > state.seen_seq);
        CREATE TRIGGER notifications_counts_insert AFTER INSERT ON notifications BEGIN
            UPDATE state SET
                unread = unread + (NEW.read = 0),
                new_since_seen = new_since_seen + (NEW.read = 0 AND NEW.seq > seen_seq);
        END;
        CREATE TRIGGER notifications_counts_delete AFTER DELETE ON notifications BEGIN
            UPDATE state SET
                unread = unread - (OLD.read = 0),
                new_since_seen = new_since_seen - (OLD.read = 0 AND OLD.seq > seen_seq);
        END;
        CREATE TRIGGER notifications_counts_update AFTER UPDATE OF read, seq ON notifications
        BEGIN
            UPDATE state SET
                unread = unread + (NEW.read = 0) - (OLD.read = 0),
                new_since_seen = new_since_seen + (NEW.read = 0 AND NEW.seq > seen_seq)
                                                - (OLD.read = 0 AND OLD.seq > seen_seq);
        END;
        """
    )


def _schema_v3(db: sqlite3.Connection) -> None:
    # Whose notifications these are ("<server URL> <agent id>"): another agent signing in on
    # the same machine must never see the previous one's notifications or send their queue.
    db.execute("ALTER TABLE state ADD COLUMN owner TEXT")


def _schema_v4(db: sqlite3.Connection) -> None:
    # The counts of schema v2 are kept by the cache's own writes instead of triggers: each
    # trigger ran an UPDATE of the state row for every row written, a third of what writing a
    # row cost (a first sign-in writes 50,000). Each write call now adds up what its rows
    # changed and updates the state row once (NotificationCache._counted, _write).
    for trigger in ("insert", "delete", "update"):
        db.execute(f"DROP TRIGGER notifications_counts_{trigger}")
    db.execute(
        "UPDATE state SET unread = (SELECT count(*) FROM notifications WHERE read = 0),"
        " new_since_seen = (SELECT count(*) FROM notifications"
        " WHERE read = 0 AND seq > state.seen_seq)"
    )


MIGRATIONS: Final[Sequence[Migration]] = (_schema_v1, _schema_v2, _schema_v3, _schema_v4)
# The secondary indexes of schema v1 (the popup's filters, newest first), by name. A first
# sign-in into an empty cache drops them and builds them once at the end (one sort instead
# of four B-tree inserts a row); every open makes sure they exist, so a sync that died in
# between leaves a cache that the next start mends (NotificationCache.begin_history_load).
SECONDARY_INDEXES: Final[dict[str, str]] = {
    "notifications_by_seq": "notifications (seq)",
    "notifications_by_type_seq": "notifications (type, seq)",
    "notifications_unread_by_seq": "notifications (seq) WHERE read = 0",
    "notifications_unread_by_type_seq": "notifications (type, seq) WHERE read = 0",
}
# Kept through a history load: a list open during the sync (the window where there is no
# tray, or the popup) reads its newest rows after every page. Without it each read is a scan
# and a sort of every row written so far, and a first sign-in's cost grows with the history
# (benchmarks/README.md, "First sign-in"); with it, a walk of the index's end. Rows come in
# seq order, so keeping it up costs each insert little.
LIST_ORDER_INDEX: Final = "notifications_by_seq"
CHECKPOINT_AFTER: Final = 200  # write transactions before a worker-thread checkpoint is due
INLINE_CHECKPOINT_AFTER: Final = 5_000  # ... and before the GUI thread does one itself
# The write-ahead log's size beyond which the writer waits for a full checkpoint, and what
# journal_size_limit cuts the file back to when the log starts over: a few thousand rows of a
# first sign-in, one short checkpoint on a worker thread (benchmarks/README.md, "Figures
# behind the code").
WAL_LIMIT: Final = 4 * 1024 * 1024
SCHEMA_VERSION: Final = len(MIGRATIONS)

# --------------------------------------------------------------------------- public values


@dataclass(frozen=True, slots=True)
class ListFilter:
    unread_only: bool = False
    types: frozenset[NotificationType] | None = None  # None = all types


class ActionKind(StrEnum):
    MARK_READ = "mark_read"
    MARK_UNREAD = "mark_unread"
    MARK_ALL_READ = "mark_all_read"
    DELETE = "delete"
    CLEAR = "clear"


@dataclass(frozen=True, slots=True)
class PendingAction:
    """An agent's action applied locally and waiting to be sent to the server."""

    id: int
    kind: ActionKind
    notification_id: str | None = None
    up_to_seq: int | None = None
    scope: ClearScope | None = None


@dataclass(frozen=True, slots=True)
class Applied:
    """What an apply actually changed (empty when it was a duplicate or older than the row).

    ``upserted`` are the rows as now stored; ``read``/``unread`` the ids whose flag flipped;
    ``deleted`` the ids removed.
    """

    upserted: tuple[Notification, ...] = ()
    read: tuple[str, ...] = ()
    unread: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.upserted or self.read or self.unread or self.deleted)


@dataclass(slots=True)
class _AppliedBuilder:
    upserted: dict[str, Notification] = field(default_factory=dict)
    read: dict[str, None] = field(default_factory=dict)
    unread: dict[str, None] = field(default_factory=dict)
    deleted: dict[str, None] = field(default_factory=dict)

    def flag(self, notification_id: str, read: bool) -> None:
        # A flip and a flip back within one batch cancel out.
        same, other = (self.read, self.unread) if read else (self.unread, self.read)
        if notification_id in other:
            del other[notification_id]
        else:
            same[notification_id] = None

    def build(self) -> Applied:
        return Applied(
            upserted=tuple(self.upserted.values()),
            read=tuple(self.read),
            unread=tuple(self.unread),
            deleted=tuple(self.deleted),
        )


CacheEvent = NotificationEvent | ReadStateEvent | DeletedEvent
_PREFETCH_CHUNK: Final = 500  # ids per "IN (...)" query, well under SQLite's variable limit


@dataclass(frozen=True, slots=True)
class _Prefetched:
    """What one batch needs to know about notifications it writes exactly once and touches
    in no other way: each one's tombstone seq, stored (seq, read_seq, read) and early read
    state (seq, read). Three queries per batch instead of three per row: a replay or a
    history page applies in about half the time (benchmarks/replay_burst.py). An id the batch
    touches twice is not in ``ids`` and is looked up as it is applied."""

    ids: frozenset[str]
    tombs: dict[str, int]
    rows: dict[str, tuple[int, int, int]]
    early: dict[str, tuple[int, int]]
    # The rows of ``ids`` to write, written with one executemany at the end of the batch
    # (no other statement of the batch touches them): ~15% less than one execute each.
    upserts: list[tuple[object, ...]] = field(default_factory=list)


_COLUMNS: Final = (
    "id, seq, read_seq, type, read, sender_kind, sender_id, sender_name, recipient, ticket_id,"
    " ticket_subject, ticket_url, comment_id, comment_url, message, created_at, reason"
)
_ROW_PARAMS: Final = ", ".join("?" * len(_COLUMNS.split(",")))
_UPSERT_SET: Final = ", ".join(
    f"{name} = excluded.{name}" for name in (c.strip() for c in _COLUMNS.split(",")) if name != "id"
)
_UPSERT: Final = (
    f"INSERT INTO notifications ({_COLUMNS}) VALUES ({_ROW_PARAMS})"  # noqa: S608
    f" ON CONFLICT (id) DO UPDATE SET {_UPSERT_SET}"
)


def _row_values(n: Notification, read_seq: int, read: bool) -> tuple[object, ...]:
    # Runs for every row written: an enum's ``.value`` is a descriptor call, a dict is not.
    sender, comment, reason = n.sender, n.comment, n.reason
    return (
        n.id,
        n.seq,
        read_seq,
        _VALUES[n.type],
        int(read),
        _VALUES[sender.kind] if sender else None,
        sender.id if sender else None,
        sender.name if sender else None,
        n.to,
        n.ticket.id,
        n.ticket.subject,
        n.ticket.url,
        comment.id if comment else None,
        comment.url if comment else None,
        n.message,
        format_timestamp(n.created_at),
        _VALUES[reason] if reason else None,
    )


_VALUES: Final[dict[StrEnum, str]] = {
    member: member.value for enum in (NotificationType, ActorKind, Reason) for member in enum
}


def _reason(value: str | None) -> Reason | None:
    if value is None:
        return None
    try:
        return Reason(value)
    except ValueError:
        return None


_TYPES: Final = {t.value: t for t in NotificationType}
_KINDS: Final = {k.value: k for k in ActorKind}


def _from_row(row: tuple[Any, ...]) -> Notification:
    # Rows were validated by the wire parser before they were written; build directly. Plain
    # tuples and dict lookups instead of sqlite3.Row and Enum(...) calls: this runs for
    # every row of every page the popup shows (see benchmarks/cache_writes.py).
    (nid, seq, _read_seq, kind, read, s_kind, s_id, s_name, to, t_id, t_subject, t_url, c_id,
     c_url, message, created_at, reason) = row  # fmt: skip
    return Notification(
        id=nid,
        seq=seq,
        type=_TYPES[kind],
        sender=Actor(_KINDS[s_kind], s_id, s_name) if s_kind is not None else None,
        to=to,
        ticket=TicketRef(t_id, t_subject, t_url),
        comment=CommentRef(c_id, c_url) if c_id is not None else None,
        message=message,
        read=bool(read),
        created_at=datetime.fromisoformat(created_at).astimezone(UTC),
        reason=_reason(reason),
    )


def _utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


# --------------------------------------------------------------------------- the cache


class NotificationCache:
    """The agent's notifications on disk. Build with :meth:`open`; call :meth:`close` at the end."""

    def __init__(self, db: sqlite3.Connection, path: Path, recovered_from: Path | None) -> None:
        self._db = db
        # A cursor that yields plain tuples, for the hot notification reads.
        self._tuples = db.cursor()
        self._tuples.row_factory = None
        self.path = path
        self.recovered_from = recovered_from
        self._wal_path = path.with_name(path.name + "-wal")
        self._writes_since_checkpoint = 0
        # What the current write call changed in the badge counts (see _counted), and the
        # seen_seq they are counted against (read when the call starts).
        self._unread_delta = 0
        self._new_delta = 0
        self._seen_seq = 0

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: Path) -> NotificationCache:
        """Open (creating or migrating) the cache at ``path``.

        A file that is not a usable cache (not SQLite, fails the quick integrity check, a
        schema newer than this app knows, unreadable) is moved aside to
        ``<name>.corrupt-<UTC timestamp>`` and a fresh one created; ``recovered_from`` then
        names the moved file. An empty cache has cursor 0, which makes the engine page the
        full history from the server again.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return cls(_connect_and_migrate(path), path, None)
        except CacheCorrupt as error:
            aside = path.with_name(f"{path.name}.corrupt-{_utc_stamp()}")
            log.warning("cache %s is unusable (%s); moved to %s, rebuilding", path, error, aside)
            _move_aside(path, aside)
            return cls(_connect_and_migrate(path), path, aside)

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------ reads

    def cursor(self) -> int:
        """The highest seq applied: the stream resumes after it."""
        return int(self._db.execute("SELECT cursor FROM state").fetchone()[0])

    def unread_count(self) -> int:
        # Kept by triggers (schema v2): O(1) whatever the number of unread rows.
        return int(self._db.execute("SELECT unread FROM state").fetchone()[0])

    def new_since_seen_count(self) -> int:
        """Unread notifications written after the agent last opened the popup."""
        return int(self._db.execute("SELECT new_since_seen FROM state").fetchone()[0])

    def mark_seen(self) -> None:
        """The popup was opened: nothing is "new" any more."""
        with self._write():
            # seen_seq becomes the highest seq present, so no row is above it: zero new.
            self._db.execute(
                "UPDATE state SET new_since_seen = 0, seen_seq = max(seen_seq,"
                " (SELECT coalesce(max(seq), 0) FROM notifications))"
            )

    def max_seq(self) -> int:
        """The highest notification seq in the cache: what the agent has seen at most."""
        return int(
            self._db.execute("SELECT coalesce(max(seq), 0) FROM notifications").fetchone()[0]
        )

    def count(self, list_filter: ListFilter = ListFilter()) -> int:
        where, params = _where(list_filter)
        row = self._db.execute(f"SELECT count(*) FROM notifications{where}", params).fetchone()  # noqa: S608 (fixed fragments)
        return int(row[0])

    def page(
        self,
        list_filter: ListFilter = ListFilter(),
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[Notification]:
        """Newest first (seq descending); pass the last row's seq as ``before_seq`` for more."""
        if limit <= 0:
            return []
        where, params = _where(list_filter, before_seq)
        rows = self._tuples.execute(
            f"SELECT {_COLUMNS} FROM notifications{where} ORDER BY seq DESC LIMIT ?",  # noqa: S608
            (*params, limit),
        ).fetchall()
        return [_from_row(row) for row in rows]

    def get(self, notification_id: str) -> Notification | None:
        row = self._tuples.execute(
            f"SELECT {_COLUMNS} FROM notifications WHERE id = ?",  # noqa: S608
            (notification_id,),
        ).fetchone()
        return None if row is None else _from_row(row)

    def all_notifications(self) -> list[Notification]:
        """Every row, ascending by seq (for comparisons and exports, not the GUI)."""
        rows = self._tuples.execute(f"SELECT {_COLUMNS} FROM notifications ORDER BY seq").fetchall()  # noqa: S608
        return [_from_row(row) for row in rows]

    def pending_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM pending_actions").fetchone()[0])

    def pending_actions(self) -> list[PendingAction]:
        """Queued local actions, oldest first."""
        rows = self._db.execute(
            "SELECT id, kind, notification_id, up_to_seq, scope FROM pending_actions ORDER BY id"
        ).fetchall()
        return [
            PendingAction(
                id=row["id"],
                kind=ActionKind(row["kind"]),
                notification_id=row["notification_id"],
                up_to_seq=row["up_to_seq"],
                scope=ClearScope(row["scope"]) if row["scope"] is not None else None,
            )
            for row in rows
        ]

    # ------------------------------------------------------------------ server writes

    def apply_events(self, events: Iterable[CacheEvent]) -> Applied:
        """Apply stream events in one transaction and advance the cursor to the highest seq.

        Idempotent by id and seq (see the module docstring): duplicates, replays and
        reordering change nothing beyond what the in-order log gives.
        """
        changes = _AppliedBuilder()
        events = list(events)
        with self._write():
            known = self._prefetch(events)
            highest = 0
            for event in events:
                highest = max(highest, event.seq)
                if isinstance(event, NotificationEvent):
                    self._apply_notification(event.notification, event.seq, changes, known=known)
                elif isinstance(event, ReadStateEvent):
                    self._apply_read_state(event.ids, event.read, event.seq, changes)
                else:
                    self._apply_deleted(event.ids, event.seq, changes)
            self._db.executemany(_UPSERT, known.upserts)
            if highest:
                self._db.execute("UPDATE state SET cursor = max(cursor, ?)", (highest,))
        return changes.build()

    def apply_page(self, page: NotificationPage) -> Applied:
        """Apply one page of the REST list (the history page-through); the cursor is not moved.

        The page shows each notification's read flag as of ``page.last_seq``, so that is the
        read seq recorded: replayed read-state events up to it change nothing.
        """
        changes = _AppliedBuilder()
        rows = page.notifications
        last_seq = page.last_seq
        with self._write():
            ids = {n.id for n in rows}
            if len(ids) < len(rows):  # an id twice on one page: those are looked up live
                twice = Counter(n.id for n in rows)
                ids = {nid for nid, times in twice.items() if times == 1}
            known = self._prefetch_ids(list(ids))
            # Most rows of a history are new to the cache: nothing stored, deleted or read
            # early about them, so they are written as the page has them, the common case of
            # _apply_notification without its lookups (a first sign-in writes 50,000).
            plain = ids.difference(known.tombs, known.rows, known.early)
            seen_seq, upserts, upserted = self._seen_seq, known.upserts, changes.upserted
            unread = new = 0
            for n in rows:
                if n.id in plain:
                    upserts.append(_row_values(n, max(n.seq, last_seq), n.read))
                    upserted[n.id] = n
                    if not n.read:
                        unread += 1
                        new += n.seq > seen_seq
                else:
                    self._apply_notification(n, n.seq, changes, read_seq=last_seq, known=known)
            self._unread_delta += unread
            self._new_delta += new
            self._db.executemany(_UPSERT, upserts)
        return changes.build()

    def begin_history_load(self) -> bool:
        """A first sign-in (or a reset) is about to write the whole history into this cache:
        when it holds no notifications, drop the secondary indexes until
        :meth:`end_history_load` builds them again in one pass each (benchmarks/README.md,
        "First sign-in"), all but :data:`LIST_ORDER_INDEX`. Every query stays correct
        meanwhile (the badge counts are in the state row), and a crash before the end leaves
        the indexes to the next :meth:`open`. True when they were dropped."""
        if self._db.execute("SELECT 1 FROM notifications LIMIT 1").fetchone() is not None:
            return False
        with self._write():
            for name in SECONDARY_INDEXES.keys() - {LIST_ORDER_INDEX}:
                self._db.execute(f"DROP INDEX IF EXISTS {name}")
        return True

    def end_history_load(self) -> None:
        """Build the secondary indexes :meth:`begin_history_load` dropped (a no-op for those
        that exist)."""
        with self._write():
            _create_indexes(self._db)

    def advance_cursor(self, seq: int) -> None:
        """Move the resume cursor forward to ``seq`` (never backwards)."""
        with self._write():
            self._db.execute("UPDATE state SET cursor = max(cursor, ?)", (seq,))

    def reset(self, *, owner: str | None = None) -> None:
        """Forget everything the server told us (a reset event or a rebuild).

        Afterwards the cursor is 0 and the engine pages the full history again. The queue of
        local actions is kept for the same owner; with a new ``owner`` (another agent or
        server) it is dropped too, and the cache belongs to ``owner`` from then on.
        """
        with self._write():
            self._db.execute("DELETE FROM notifications")
            self._db.execute("DELETE FROM tombstones")
            self._db.execute("DELETE FROM early_read_states")
            self._db.execute(
                "UPDATE state SET cursor = 0, seen_seq = 0, unread = 0, new_since_seen = 0"
            )
            if owner is not None and owner != self.owner():
                self._db.execute("DELETE FROM pending_actions")
                self._db.execute("UPDATE state SET owner = ?", (owner,))

    def forget(self) -> None:
        """Sign-out: drop the notifications, the queue and the owner (an empty, new cache)."""
        with self._write():
            self.reset()
            self._db.execute("DELETE FROM pending_actions")
            self._db.execute("UPDATE state SET owner = NULL")

    def owner(self) -> str | None:
        """Whose notifications these are (set by the engine), None for a new cache."""
        value = self._db.execute("SELECT owner FROM state").fetchone()[0]
        return None if value is None else str(value)

    def claim(self, owner: str) -> bool:
        """Make ``owner`` the owner of this cache. True when it already was, or when the
        cache had no owner and held nothing yet; False when it belonged to someone else or
        held unowned data: then everything was dropped (see :meth:`reset`)."""
        current = self.owner()
        if current == owner:
            return True
        if current is None and self.count() == 0 and self.pending_count() == 0:
            with self._write():
                self._db.execute("UPDATE state SET owner = ?", (owner,))
            return True
        log.warning("the cache belonged to another account; dropping it")
        self.reset(owner=owner)
        return False

    def _prefetch(self, events: Sequence[CacheEvent]) -> _Prefetched:
        """Read, with three queries, what :meth:`_apply_notification` needs to know about
        each notification the batch writes once and touches in no other way."""
        seen: dict[str, int] = {}
        for event in events:
            if isinstance(event, NotificationEvent):
                nid = event.notification.id
                seen[nid] = seen.get(nid, 0) + 1
            else:
                for nid in event.ids:
                    seen[nid] = 2  # also read or deleted in this batch: look it up live
        return self._prefetch_ids([nid for nid, times in seen.items() if times == 1])

    def _prefetch_ids(self, ids: list[str]) -> _Prefetched:
        """:meth:`_prefetch` of these ids (each written once by the batch, touched in no
        other way). A table with no rows at all (tombstones and early read states usually,
        and always during a first sign-in) is not asked about each id."""
        query = self._tuples.execute
        tombstones, early_states = query(
            "SELECT EXISTS (SELECT 1 FROM tombstones), EXISTS (SELECT 1 FROM early_read_states)"
        ).fetchone()
        tombs: dict[str, int] = {}
        rows: dict[str, tuple[int, int, int]] = {}
        early: dict[str, tuple[int, int]] = {}
        for start in range(0, len(ids), _PREFETCH_CHUNK):
            chunk = ids[start : start + _PREFETCH_CHUNK]
            marks = ", ".join("?" * len(chunk))
            if tombstones:
                tombs.update(query(f"SELECT id, seq FROM tombstones WHERE id IN ({marks})", chunk))  # noqa: S608
            for nid, seq, read_seq, read in query(
                f"SELECT id, seq, read_seq, read FROM notifications WHERE id IN ({marks})",  # noqa: S608
                chunk,
            ):
                rows[nid] = (seq, read_seq, read)
            if early_states:
                for nid, seq, read in query(
                    f"SELECT id, seq, read FROM early_read_states WHERE id IN ({marks})",  # noqa: S608
                    chunk,
                ):
                    early[nid] = (seq, read)
        return _Prefetched(frozenset(ids), tombs, rows, early)

    def _apply_notification(
        self,
        n: Notification,
        seq: int,
        changes: _AppliedBuilder,
        *,
        read_seq: int | None = None,
        known: _Prefetched | None = None,
    ) -> None:
        read_seq = max(seq, read_seq or 0)
        prefetched = known is not None and n.id in known.ids
        if known is not None and prefetched:
            tomb = known.tombs.get(n.id)
            row = known.rows.get(n.id)
        else:
            found = self._tuples.execute(
                "SELECT seq FROM tombstones WHERE id = ?", (n.id,)
            ).fetchone()
            tomb = None if found is None else found[0]
            row = self._tuples.execute(
                "SELECT seq, read_seq, read FROM notifications WHERE id = ?", (n.id,)
            ).fetchone()
        if tomb is not None and tomb >= seq:
            return  # deleted after this version was written
        read = n.read
        if row is not None:
            row_seq, row_read_seq, row_read = row
            if row_read_seq >= read_seq:
                read, read_seq = bool(row_read), row_read_seq
            if row_seq >= seq:
                # Same or older content: only the read flag can be newer (a REST page).
                if bool(row_read) != read:
                    self._db.execute(
                        "UPDATE notifications SET read = ?, read_seq = ? WHERE id = ?",
                        (int(read), read_seq, n.id),
                    )
                    changes.flag(n.id, read)
                    self._counted((row_seq, bool(row_read)), (row_seq, read))
                elif read_seq > row_read_seq:
                    self._db.execute(
                        "UPDATE notifications SET read_seq = ? WHERE id = ?", (read_seq, n.id)
                    )
                return
        if known is not None and prefetched:
            early = known.early.get(n.id)
        else:
            early = self._tuples.execute(
                "SELECT seq, read FROM early_read_states WHERE id = ?", (n.id,)
            ).fetchone()
        # The early state is kept, not consumed: if this version is deleted and re-issued out
        # of order, the re-issue needs it too. A later deletion prunes it; reset() clears all.
        if early is not None and early[0] > read_seq:
            read, read_seq = bool(early[1]), early[0]
        if tomb is not None:
            self._db.execute("DELETE FROM tombstones WHERE id = ?", (n.id,))
        if known is not None and prefetched:
            known.upserts.append(_row_values(n, read_seq, read))
        else:
            self._db.execute(_UPSERT, _row_values(n, read_seq, read))
        self._counted(None if row is None else (row[0], bool(row[2])), (n.seq, read))
        changes.upserted[n.id] = n if n.read == read else dataclasses.replace(n, read=read)

    def _apply_read_state(
        self, ids: Iterable[str], read: bool, seq: int, changes: _AppliedBuilder
    ) -> None:
        for notification_id in ids:
            row = self._db.execute(
                "SELECT seq, read_seq, read FROM notifications WHERE id = ?", (notification_id,)
            ).fetchone()
            if row is None:
                tomb = self._db.execute(
                    "SELECT seq FROM tombstones WHERE id = ?", (notification_id,)
                ).fetchone()
                if tomb is None or tomb[0] < seq:
                    # Its notification has not arrived yet: keep the newest state for it.
                    self._db.execute(
                        "INSERT INTO early_read_states (id, seq, read) VALUES (?, ?, ?)"
                        " ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, read = excluded.read"
                        " WHERE excluded.seq > early_read_states.seq",
                        (notification_id, seq, int(read)),
                    )
                continue
            if row["read_seq"] >= seq:
                continue
            self._db.execute(
                "UPDATE notifications SET read = ?, read_seq = ? WHERE id = ?",
                (int(read), seq, notification_id),
            )
            if bool(row["read"]) != read:
                changes.flag(notification_id, read)
                self._counted((row["seq"], bool(row["read"])), (row["seq"], read))

    def _apply_deleted(self, ids: Iterable[str], seq: int, changes: _AppliedBuilder) -> None:
        for notification_id in ids:
            self._db.execute(
                "INSERT INTO tombstones (id, seq) VALUES (?, ?)"
                " ON CONFLICT (id) DO UPDATE SET seq = max(seq, excluded.seq)",
                (notification_id, seq),
            )
            self._db.execute(
                "DELETE FROM early_read_states WHERE id = ? AND seq < ?", (notification_id, seq)
            )
            gone = self._db.execute(
                "DELETE FROM notifications WHERE id = ? AND seq < ? RETURNING seq, read",
                (notification_id, seq),
            ).fetchone()
            if gone is not None:
                self._counted((gone[0], bool(gone[1])), None)
                changes.upserted.pop(notification_id, None)
                changes.read.pop(notification_id, None)
                changes.unread.pop(notification_id, None)
                changes.deleted[notification_id] = None

    # ------------------------------------------------------------------ local actions

    def local_mark(self, notification_id: str, read: bool) -> Applied:
        """Set the read flag at once and queue the action for the server."""
        with self._write():
            changed = self._db.execute(
                "UPDATE notifications SET read = ? WHERE id = ? AND read != ? RETURNING id, seq",
                (int(read), notification_id, int(read)),
            ).fetchall()
            for row in changed:
                self._counted((row[1], not read), (row[1], read))
            kind = ActionKind.MARK_READ if read else ActionKind.MARK_UNREAD
            self._queue(kind, notification_id=notification_id)
        ids = tuple(row[0] for row in changed)
        return Applied(read=ids) if read else Applied(unread=ids)

    def local_mark_all_read(self) -> tuple[Applied, int]:
        """Mark every unread notification up to the newest one shown read; queue the action.

        Returns the change and ``up_to_seq`` (the highest seq in the cache), which is what the
        server is asked to mark: a notification that arrives meanwhile stays unread.
        """
        with self._write():
            up_to_seq = self.max_seq()
            changed = self._db.execute(
                "UPDATE notifications SET read = 1 WHERE read = 0 AND seq <= ? RETURNING id, seq",
                (up_to_seq,),
            ).fetchall()
            for row in changed:
                self._counted((row[1], False), (row[1], True))
            self._queue(ActionKind.MARK_ALL_READ, up_to_seq=up_to_seq)
        return Applied(read=tuple(row[0] for row in changed)), up_to_seq

    def local_delete(self, notification_id: str) -> Applied:
        with self._write():
            gone = self._delete_locally("id = ?", (notification_id,))
            self._queue(ActionKind.DELETE, notification_id=notification_id)
        return Applied(deleted=gone)

    def local_clear(self, scope: ClearScope) -> Applied:
        with self._write():
            if scope is ClearScope.READ:
                gone = self._delete_locally("read = 1", ())
            else:
                gone = self._delete_locally("1 = 1", ())
            self._queue(ActionKind.CLEAR, scope=scope)
        return Applied(deleted=gone)

    def remove_pending(self, action_id: int) -> None:
        """The server acknowledged (or no longer needs) this action."""
        with self._write():
            self._db.execute("DELETE FROM pending_actions WHERE id = ?", (action_id,))

    def _delete_locally(self, condition: str, params: tuple[object, ...]) -> tuple[str, ...]:
        # The tombstone holds the row's content seq: a replay of that version (or older)
        # cannot bring it back; a re-issue by the server (higher seq) still can.
        rows = self._db.execute(
            f"DELETE FROM notifications WHERE {condition} RETURNING id, seq, read",  # noqa: S608
            params,
        ).fetchall()
        for row in rows:
            self._counted((row[1], bool(row[2])), None)
        self._db.executemany(
            "INSERT INTO tombstones (id, seq) VALUES (?, ?)"
            " ON CONFLICT (id) DO UPDATE SET seq = max(seq, excluded.seq)",
            [(row[0], row[1]) for row in rows],
        )
        return tuple(row[0] for row in rows)

    def _queue(
        self,
        kind: ActionKind,
        *,
        notification_id: str | None = None,
        up_to_seq: int | None = None,
        scope: ClearScope | None = None,
    ) -> None:
        self._db.execute(
            "INSERT INTO pending_actions (kind, notification_id, up_to_seq, scope, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                kind.value,
                notification_id,
                up_to_seq,
                scope.value if scope is not None else None,
                format_timestamp(datetime.now(UTC)),
            ),
        )

    def transaction(self) -> AbstractContextManager[None]:
        """Group writes into one commit: every write call inside the block joins it, and it
        commits when the block ends, or rolls back if the block raises (or the process dies
        first). ``notifier tail`` prints each change inside, so a kill between the print and
        the commit leaves the change to be applied, and printed, again."""
        return self._write()

    @contextmanager
    def _write(self) -> Iterator[None]:
        # One explicit transaction per write call; nested calls join the outer one. Each call
        # updates the counts it changed as it ends (listeners that read them inside an outer
        # transaction, in notifier tail, see them right).
        outer = not self._db.in_transaction
        if outer:
            self._db.execute("BEGIN IMMEDIATE")
        try:
            self._seen_seq = int(self._db.execute("SELECT seen_seq FROM state").fetchone()[0])
            yield
            if self._unread_delta or self._new_delta:
                self._db.execute(
                    "UPDATE state SET unread = unread + ?, new_since_seen = new_since_seen + ?",
                    (self._unread_delta, self._new_delta),
                )
        except BaseException:
            if outer:
                self._db.rollback()
            raise
        finally:
            self._unread_delta = self._new_delta = 0
        if not outer:
            return
        self._db.commit()
        self._writes_since_checkpoint += 1
        if self._writes_since_checkpoint >= INLINE_CHECKPOINT_AFTER:
            # Nobody is checkpointing from a worker (no engine running): keep the WAL
            # bounded anyway, accepting one short stall.
            self.checkpoint()

    def _counted(self, before: tuple[int, bool] | None, after: tuple[int, bool] | None) -> None:
        """One row changed from ``before`` to ``after`` ((seq, read), None: no row): add it to
        the unread and new-since-seen counts this write call will store."""
        if before is not None and not before[1]:
            self._unread_delta -= 1
            self._new_delta -= before[0] > self._seen_seq
        if after is not None and not after[1]:
            self._unread_delta += 1
            self._new_delta += after[0] > self._seen_seq

    @property
    def wants_checkpoint(self) -> bool:
        """Enough writes since the last checkpoint that a worker thread should run one."""
        return self._writes_since_checkpoint >= CHECKPOINT_AFTER

    @property
    def wal_over_limit(self) -> bool:
        """The write-ahead log has grown past :data:`WAL_LIMIT`: the writer should wait for a
        :meth:`checkpoint` with no write beside it before it writes on (see the module
        docstring). A stat of one file: cheap enough to ask between slices."""
        try:
            return self._wal_path.stat().st_size > WAL_LIMIT
        except FileNotFoundError:
            return False

    def release_memory(self) -> None:
        """Give back the page cache's memory (SQLite's default: up to 2 MB) after reads or
        writes over much of a big cache (a sync, counts over 100,000 rows): an idle app has
        no use for it, and the next query reads its pages from the OS's file cache."""
        self._db.execute("PRAGMA shrink_memory")

    def checkpoint(self) -> bool:
        """Copy the write-ahead log into the database file (a PASSIVE checkpoint); True when
        all of it was copied (the next write then starts the log over).

        Blocking (it fsyncs), so the engine calls it with ``asyncio.to_thread``: it uses a
        connection of its own and never touches the GUI thread's connection, and a passive
        checkpoint never blocks that connection's readers or writer.
        """
        self._writes_since_checkpoint = 0
        db = sqlite3.connect(self.path, timeout=5.0)
        try:
            busy, log_frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as error:
            log.info("cache checkpoint skipped: %s", error)
            return False
        finally:
            db.close()
        return not busy and log_frames == copied


# --------------------------------------------------------------------------- helpers


def _where(list_filter: ListFilter, before_seq: int | None = None) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if list_filter.unread_only:
        clauses.append("read = 0")
    if list_filter.types is not None:
        types = sorted(t.value for t in list_filter.types)
        if not types:
            clauses.append("0 = 1")
        else:
            clauses.append(f"type IN ({', '.join('?' * len(types))})")
            params.extend(types)
    if before_seq is not None:
        clauses.append("seq < ?")
        params.append(before_seq)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _create_indexes(db: sqlite3.Connection) -> None:
    for name, definition in SECONDARY_INDEXES.items():
        db.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")


def _connect_and_migrate(path: Path) -> sqlite3.Connection:
    try:
        db = sqlite3.connect(path, isolation_level=None, timeout=5.0)
    except sqlite3.Error as error:
        raise CacheCorrupt(f"cannot open: {error}") from error
    try:
        db.row_factory = sqlite3.Row
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise CacheCorrupt(f"schema version {version} is newer than this app knows")
        if version > 0:
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise CacheCorrupt(f"integrity check failed: {check}")
            # The check read every page: with a big cache that fills SQLite's page cache (its
            # default 2 MB) with pages the idle app never reads again.
            db.execute("PRAGMA shrink_memory")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
        # No automatic checkpoints on this (GUI-thread) connection: a checkpoint fsyncs, which
        # an ordinary commit would wait for (benchmarks/README.md, "Figures behind the
        # code"). checkpoint() runs them on a
        # worker thread instead; see NotificationCache.checkpoint.
        db.execute("PRAGMA wal_autocheckpoint = 0")
        # When the log starts over after a full checkpoint, cut its file back to this size
        # (without it the file keeps its largest size for good).
        db.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT}")
        for index in range(version, SCHEMA_VERSION):
            db.execute("BEGIN IMMEDIATE")
            try:
                MIGRATIONS[index](db)
                db.execute(f"PRAGMA user_version = {index + 1}")
            except BaseException:
                db.rollback()
                raise
            db.commit()
        # A history load that did not end (a crash, SIGTERM) left them out.
        _create_indexes(db)
        if version > 0:
            # A file with our version number but missing pieces is as good as corrupt.
            db.execute("SELECT cursor, seen_seq, unread, new_since_seen, owner FROM state")
            db.execute("SELECT count(*) FROM pending_actions").fetchone()
        os.chmod(path, 0o600)
        return db
    except CacheCorrupt:
        db.close()
        raise
    except (sqlite3.Error, OSError) as error:
        db.close()
        raise CacheCorrupt(str(error)) from error


def _move_aside(path: Path, aside: Path) -> None:
    if path.exists():
        os.replace(path, aside)
    # The WAL and shared-memory files belong to the broken database: move them along so
    # SQLite never replays them into the fresh file.
    for suffix in ("-wal", "-shm", "-journal"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            os.replace(companion, aside.with_name(aside.name + suffix))
