"""The Frappe adapter's synthetic cursor: a small SQLite file beside the cache.

Frappe has no per-recipient event log; the sync engine and the cache need one (a ``seq`` per
change, docs/protocol.md section 3). The ledger is that log, kept by the adapter: it remembers
every ``HD Notification`` row of the signed-in agent it has reported (its content ``seq``, its
read flag and the ``seq`` of the last read change, its ``modified`` time) and the deletions it
reported (tombstones). Each change found on the site gets the next number from ``head``:

* a new row, or a row whose content changed → a ``notification`` event;
* a row whose read flag changed → a ``read_state`` event (one per batch and flag);
* a row that vanished, moved to another recipient, or that the agent dismissed in the tray
  → a ``deleted`` event.

``head`` is committed to disk before the events that use its numbers are handed out, so a
number is never given twice, even after a crash. A resume after cursor ``S`` is replayed from
the ledger's state (each row's latest content and read state newer than ``S``, and the
tombstones newer than ``S``); applying that to a cache at ``S`` gives what the in-order log
would, which is all the cache needs (it is idempotent by id and seq).

The ledger knows cursors from ``floor`` to ``head``. A fresh ledger (first use, another site
or agent, an unreadable file) starts both at the current time in milliseconds, so its numbers
never collide with the ones an earlier ledger handed out: a cache that holds an older cursor
(below ``floor``, or above ``head``) cannot be resumed and gets a ``reset``. Tombstones are
pruned beyond :data:`MAX_TOMBSTONES`; ``floor`` moves up with them.

Rows the agent dismissed (delete / clear in the tray: Frappe does not let agents delete) are
kept with ``hidden = 1`` so that the site's copy never comes back; rows the adapter cannot
show (an unknown notification type) are kept hidden too, so that the row count still matches
the site's.

Stdlib only, no I/O but its own file; one connection used from the event loop's thread.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from notifier.core.wire import (
    DeletedEvent,
    Notification,
    NotificationEvent,
    ReadStateEvent,
    WireError,
    encode_json,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 1
MAX_TOMBSTONES: Final = 10_000

LedgerEvent = NotificationEvent | ReadStateEvent | DeletedEvent

_SCHEMA: Final = """
CREATE TABLE state (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    owner TEXT NOT NULL,
    floor INTEGER NOT NULL,
    head INTEGER NOT NULL,
    modified_cursor TEXT
);
CREATE TABLE rows (
    name TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    read INTEGER NOT NULL,
    read_seq INTEGER NOT NULL,
    modified TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    hidden INTEGER NOT NULL,
    notification TEXT
) WITHOUT ROWID;
CREATE INDEX rows_by_seq ON rows (seq);
CREATE TABLE tombstones (name TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX tombstones_by_seq ON tombstones (seq);
"""


@dataclass(frozen=True, slots=True)
class SiteRow:
    """One of the agent's rows as read from the site, ready for the ledger.

    ``fingerprint`` covers the content (not ``read``, not ``modified``): a different one means
    the row was re-issued. ``notification`` is None for a row the tray cannot show.
    """

    name: str
    read: bool
    modified: str
    fingerprint: str
    notification: Notification | None


@dataclass(frozen=True, slots=True)
class KnownRow:
    name: str
    seq: int
    read: bool
    hidden: bool
    fingerprint: str


class Ledger:
    """Open with :meth:`open`; every mutating method is one transaction and returns the
    events it appended (already numbered and committed)."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self.path = path

    @classmethod
    def open(cls, path: Path, owner: str) -> Ledger:
        """The ledger at ``path`` if it belongs to ``owner`` (site and agent), else a fresh one
        in its place: another owner's numbers must never be reused for this one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            try:
                db = _connect(path)
            except sqlite3.Error as error:
                log.warning(
                    "the Frappe ledger %s is unusable (%s); starting a new one", path, error
                )
            else:
                try:
                    row = db.execute("SELECT owner FROM state").fetchone()
                except sqlite3.Error as error:
                    log.warning("the Frappe ledger %s is unusable (%s); starting anew", path, error)
                    row = None
                if row is not None and row[0] == owner:
                    return cls(db, path)
                db.close()
                log.info("starting a new Frappe ledger (none yet for this site and agent)")
        _remove(path)
        db = _connect(path)
        start = int(time.time() * 1000)
        with db:
            db.executescript(_SCHEMA)
            db.execute(
                "INSERT INTO state (singleton, owner, floor, head) VALUES (1, ?, ?, ?)",
                (owner, start, start),
            )
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        os.chmod(path, 0o600)
        return cls(db, path)

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------ reads

    @property
    def head(self) -> int:
        return int(self._db.execute("SELECT head FROM state").fetchone()[0])

    @property
    def floor(self) -> int:
        return int(self._db.execute("SELECT floor FROM state").fetchone()[0])

    @property
    def modified_cursor(self) -> str | None:
        value = self._db.execute("SELECT modified_cursor FROM state").fetchone()[0]
        return None if value is None else str(value)

    def knows_cursor(self, after_seq: int) -> bool:
        """Can a cache at ``after_seq`` be brought up to date by :meth:`replay`?"""
        return after_seq == 0 or self.floor <= after_seq <= self.head

    def get(self, name: str) -> KnownRow | None:
        row = self._db.execute(
            "SELECT name, seq, read, hidden, fingerprint FROM rows WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else _known(row)

    def known(self, names: Iterable[str]) -> dict[str, KnownRow]:
        found: dict[str, KnownRow] = {}
        for chunk in _chunks(list(names), 500):
            marks = ", ".join("?" * len(chunk))
            for row in self._db.execute(
                "SELECT name, seq, read, hidden, fingerprint FROM rows"  # noqa: S608
                f" WHERE name IN ({marks})",
                chunk,
            ):
                found[row[0]] = _known(row)
        return found

    def all_names(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT name FROM rows")}

    def row_count(self) -> int:
        """Every row known, hidden ones included (compare with the site's count)."""
        return int(self._db.execute("SELECT count(*) FROM rows").fetchone()[0])

    def unread_names(self, *, up_to_seq: int | None = None, hidden: bool = False) -> set[str]:
        """Unread rows shown in the tray (``hidden=True``: the dismissed unread rows)."""
        query = "SELECT name FROM rows WHERE read = 0 AND hidden = ?"
        params: list[object] = [int(hidden)]
        if up_to_seq is not None:
            query += " AND seq <= ?"
            params.append(up_to_seq)
        return {row[0] for row in self._db.execute(query, params)}

    def visible_names(self, *, read: bool | None = None) -> list[str]:
        query = "SELECT name FROM rows WHERE hidden = 0"
        params: list[object] = []
        if read is not None:
            query += " AND read = ?"
            params.append(int(read))
        return [row[0] for row in self._db.execute(query + " ORDER BY seq", params)]

    def unread_count(self) -> int:
        return int(
            self._db.execute("SELECT count(*) FROM rows WHERE read = 0 AND hidden = 0").fetchone()[
                0
            ]
        )

    def page(self, after_seq: int, limit: int) -> tuple[list[Notification], bool]:
        """Shown rows with ``seq > after_seq``, ascending, at most ``limit``; and whether more
        follow."""
        rows = self._db.execute(
            "SELECT notification, seq, read FROM rows WHERE hidden = 0 AND seq > ?"
            " ORDER BY seq LIMIT ?",
            (after_seq, limit + 1),
        ).fetchall()
        notifications = [_notification(text, seq, bool(read)) for text, seq, read in rows[:limit]]
        return notifications, len(rows) > limit

    def replay(self, after_seq: int) -> list[LedgerEvent]:
        """The events that bring a cache at ``after_seq`` up to date, in seq order."""
        events: list[LedgerEvent] = []
        for text, seq, read in self._db.execute(
            "SELECT notification, seq, read FROM rows WHERE hidden = 0 AND seq > ?", (after_seq,)
        ):
            notification = _notification(text, seq, bool(read))
            events.append(NotificationEvent(seq, notification))
        read_changes: dict[tuple[int, bool], list[str]] = {}
        for name, read_seq, read in self._db.execute(
            "SELECT name, read_seq, read FROM rows WHERE hidden = 0 AND read_seq > seq"
            " AND read_seq > ?",
            (after_seq,),
        ):
            read_changes.setdefault((read_seq, bool(read)), []).append(name)
        events.extend(
            ReadStateEvent(seq, tuple(sorted(names)), read)
            for (seq, read), names in read_changes.items()
        )
        if after_seq > 0:
            deletions: dict[int, list[str]] = {}
            for name, seq in self._db.execute(
                "SELECT name, seq FROM tombstones WHERE seq > ?", (after_seq,)
            ):
                deletions.setdefault(seq, []).append(name)
            events.extend(
                DeletedEvent(seq, tuple(sorted(names))) for seq, names in deletions.items()
            )
        events.sort(key=lambda event: event.seq)
        return events

    # ------------------------------------------------------------------ writes

    def apply(self, rows: Sequence[SiteRow]) -> list[LedgerEvent]:
        """Record the agent's rows as the site shows them now; return what changed."""
        events: list[LedgerEvent] = []
        with self._write() as next_seq:
            read_changes: dict[bool, list[str]] = {}
            for row in rows:
                known = self.get(row.name)
                if known is not None and known.fingerprint == row.fingerprint:
                    if known.read != row.read and not known.hidden:
                        read_changes.setdefault(row.read, []).append(row.name)
                        continue  # numbered below, one event per flag
                    self._db.execute(
                        "UPDATE rows SET read = ?, modified = ? WHERE name = ?",
                        (int(row.read), row.modified, row.name),
                    )
                    continue
                hidden = row.notification is None or (known is not None and known.hidden)
                seq = known.seq if hidden and known is not None else next_seq()
                text = None if row.notification is None else encode_json(row.notification.to_json())
                self._db.execute(
                    "INSERT INTO rows (name, seq, read, read_seq, modified, fingerprint, hidden,"
                    " notification) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE"
                    " SET seq = excluded.seq, read = excluded.read, read_seq = excluded.read_seq,"
                    " modified = excluded.modified, fingerprint = excluded.fingerprint,"
                    " hidden = excluded.hidden, notification = excluded.notification",
                    (row.name, seq, int(row.read), seq, row.modified, row.fingerprint, int(hidden),
                     text),
                )  # fmt: skip
                if not hidden:
                    # Shown again (re-issued): its old deletion no longer applies. A hidden
                    # row keeps its tombstone, or a replay would bring it back.
                    self._db.execute("DELETE FROM tombstones WHERE name = ?", (row.name,))
                if not hidden and row.notification is not None:
                    events.append(
                        NotificationEvent(seq, _notification(text, seq, row.read))  # type: ignore[arg-type]
                    )
            by_name = {row.name: row for row in rows}
            for read, names in read_changes.items():
                seq = next_seq()
                for name in names:
                    self._db.execute(
                        "UPDATE rows SET read = ?, read_seq = ?, modified = ? WHERE name = ?",
                        (int(read), seq, by_name[name].modified, name),
                    )
                events.append(ReadStateEvent(seq, tuple(names), read))
        return events

    def remove(self, names: Iterable[str]) -> list[LedgerEvent]:
        """These rows are gone from the agent's list on the site (deleted, or re-addressed)."""
        events: list[LedgerEvent] = []
        with self._write() as next_seq:
            gone = self._db.execute(
                "DELETE FROM rows WHERE name IN (SELECT value FROM json_each(?))"
                " RETURNING name, hidden",
                (json.dumps(list(names)),),
            ).fetchall()
            shown = sorted(name for name, hidden in gone if not hidden)
            if shown:
                seq = next_seq()
                self._tombstone(shown, seq)
                events.append(DeletedEvent(seq, tuple(shown)))
            # A dismissed row already has its tombstone (from hide); nothing to report.
        return events

    def hide(self, names: Iterable[str]) -> list[LedgerEvent]:
        """The agent dismissed these rows in the tray: report them deleted, keep them hidden."""
        events: list[LedgerEvent] = []
        with self._write() as next_seq:
            hidden = self._db.execute(
                "UPDATE rows SET hidden = 1 WHERE hidden = 0 AND name IN"
                " (SELECT value FROM json_each(?)) RETURNING name",
                (json.dumps(list(names)),),
            ).fetchall()
            if hidden:
                seq = next_seq()
                ids = sorted(row[0] for row in hidden)
                self._tombstone(ids, seq)
                events.append(DeletedEvent(seq, tuple(ids)))
        return events

    def set_modified_cursor(self, value: str) -> None:
        with self._db:
            self._db.execute(
                "UPDATE state SET modified_cursor = ? WHERE modified_cursor IS NULL"
                " OR modified_cursor < ?",
                (value, value),
            )

    def _tombstone(self, names: Sequence[str], seq: int) -> None:
        self._db.executemany(
            "INSERT INTO tombstones (name, seq) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
            [(name, seq) for name in names],
        )
        excess = int(self._db.execute("SELECT count(*) FROM tombstones").fetchone()[0])
        excess -= MAX_TOMBSTONES
        if excess > 0:
            # A cache older than the pruned deletions can no longer be replayed: it gets a reset.
            pruned = self._db.execute(
                "DELETE FROM tombstones WHERE name IN (SELECT name FROM tombstones"
                " ORDER BY seq LIMIT ?) RETURNING seq",
                (excess,),
            ).fetchall()
            self._db.execute(
                "UPDATE state SET floor = max(floor, ?)", (max(row[0] for row in pruned),)
            )

    @contextmanager
    def _write(self) -> Iterator[_Counter]:
        counter = _Counter(self.head)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield counter
            if counter.value != counter.start:
                self._db.execute("UPDATE state SET head = ?", (counter.value,))
        except BaseException:
            self._db.rollback()
            raise
        self._db.commit()


class _Counter:
    def __init__(self, start: int) -> None:
        self.start = start
        self.value = start

    def __call__(self) -> int:
        self.value += 1
        return self.value


def _known(row: tuple[str, int, int, int, str]) -> KnownRow:
    name, seq, read, hidden, fingerprint = row
    return KnownRow(name, seq, bool(read), bool(hidden), fingerprint)


def _notification(text: str, seq: int, read: bool) -> Notification:
    data = json.loads(text)
    data["seq"] = seq
    data["read"] = read
    try:
        return Notification.parse(data)
    except WireError as error:  # our own file: only a bug or a hand edit gets here
        raise ValueError(f"the Frappe ledger holds a bad notification: {error}") from None


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, timeout=5.0)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        # FULL: head must be on disk before its numbers reach the cache (never reuse a seq).
        db.execute("PRAGMA synchronous = FULL")
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version not in (0, SCHEMA_VERSION):
            raise sqlite3.DatabaseError(f"schema version {version} is not {SCHEMA_VERSION}")
    except sqlite3.Error:
        db.close()
        raise
    return db


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.unlink()
