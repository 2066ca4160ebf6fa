"""SQLite storage for the reference helpdesk: connection, schema and migrations, the DB thread.

Design:

* One SQLite file in WAL mode. The schema is created and migrated on open: ``schema_version``
  holds one integer and :data:`MIGRATIONS` is an ordered list of SQL scripts; each pending
  script runs in its own transaction together with the version bump, so a crash mid-migration
  leaves the previous version intact. A database from a newer server is refused.
* All access from the running server goes through :class:`Database`, which owns exactly one
  connection used by exactly one worker thread (a single-thread executor). Every repository
  call is a short synchronous function run there, so calls are serialized: each one is atomic
  with respect to the others, reads see a consistent state without extra locking, and the
  asyncio loop never blocks on disk I/O (a commit may wait for the OS; the loop does not).
  The event volumes of a helpdesk are far below what one SQLite writer handles.
* The server's connection never checkpoints the write-ahead log itself: SQLite's automatic
  checkpoint runs inside whichever COMMIT crosses 1,000 pages of log (every ~100 notifications)
  and copies and syncs those pages there, holding that write, and everything queued behind
  it on the database thread, for tens of ms. A :class:`Checkpointer` thread with its own
  connection checkpoints instead, soon after writes: PASSIVE, which never blocks the writer
  and lets the next write start the log over once it has all been copied; under writes so
  steady that a passive checkpoint never catches up, RESTART once the log passes
  :data:`WAL_LIMIT_PAGES` (a write may wait for that one), so the log stays bounded.
* :func:`transaction` wraps ``BEGIN IMMEDIATE`` / ``COMMIT`` / ``ROLLBACK``: every write that
  changes a notification and appends its event commits together or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Final, TypeVar

_T = TypeVar("_T")

log = logging.getLogger(__name__)

CHECKPOINT_INTERVAL_S: Final = 1.0
"""The least time between two checkpoints of the server's write-ahead log: at the write rates
of a helpdesk, one a second keeps the log to a few hundred pages and costs one sync a second
at most, off the database thread."""

Clock = Callable[[], datetime]
"""Wall-clock time, aware. The server's is :func:`system_clock`; tests inject their own."""


def system_clock() -> datetime:
    return datetime.now(UTC)


# A notification's wire JSON (docs/protocol.md, section 2) from the ``{row}`` columns, as of
# migration 7: without ``read``, and with links relative to the server (``/tickets/…``);
# ``reason`` only when the snapshot has one (merge-patching a null adds nothing). Part of a
# released migration: never edit it; a new rendering needs a new migration and trigger.
_WIRE_TEXT_V7: Final = """json_patch(json_object(
        'id', {row}.snapshot ->> '$.id',
        'seq', {row}.seq,
        'type', {row}.snapshot ->> '$.type',
        'from', {row}.snapshot -> '$.from',
        'to', CAST({row}.agent_id AS TEXT),
        'ticket', json_object(
            'id', {row}.snapshot ->> '$.ticket.id',
            'subject', {row}.snapshot ->> '$.ticket.subject',
            'url', '/tickets/' || ({row}.snapshot ->> '$.ticket.id')),
        'comment', CASE WHEN {row}.snapshot ->> '$.comment_id' IS NULL THEN NULL
            ELSE json_object(
                'id', {row}.snapshot ->> '$.comment_id',
                'url', '/tickets/' || ({row}.snapshot ->> '$.ticket.id') || '#comment-'
                    || ({row}.snapshot ->> '$.comment_id')) END,
        'message', {row}.snapshot ->> '$.message',
        'created_at', {row}.snapshot ->> '$.created_at'),
    json_object('reason', nullif({row}.snapshot ->> '$.reason', '')))"""

# Ordered; index + 1 is the schema version a script produces. Never edit a released script:
# append a new one.
MIGRATIONS: Final[tuple[str, ...]] = (
    """
    CREATE TABLE users(
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('agent', 'customer')),
        username TEXT NOT NULL UNIQUE COLLATE NOCASE,
        name TEXT NOT NULL,
        password_hash TEXT,
        password_salt TEXT,
        team TEXT COLLATE NOCASE,
        is_admin INTEGER NOT NULL DEFAULT 0,
        preferences TEXT,
        created_at TEXT NOT NULL
    );
    CREATE INDEX users_team ON users(team, id) WHERE team IS NOT NULL;
    CREATE TABLE tokens(
        token_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        purpose TEXT NOT NULL CHECK (purpose IN ('api', 'session')),
        created_at TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE teams(
        name TEXT PRIMARY KEY COLLATE NOCASE,
        last_agent_id INTEGER
    );
    CREATE TABLE tickets(
        id INTEGER PRIMARY KEY,
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('open', 'resolved', 'closed')),
        customer_id INTEGER REFERENCES users(id),
        assignee_id INTEGER REFERENCES users(id),
        team TEXT,
        created_by INTEGER NOT NULL REFERENCES users(id),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE comments(
        id INTEGER PRIMARY KEY,
        ticket_id INTEGER NOT NULL REFERENCES tickets(id),
        author_id INTEGER NOT NULL REFERENCES users(id),
        kind TEXT NOT NULL CHECK (kind IN ('comment', 'reply')),
        body TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX comments_ticket ON comments(ticket_id, id);
    CREATE TABLE comment_mentions(
        comment_id INTEGER NOT NULL REFERENCES comments(id),
        agent_id INTEGER NOT NULL REFERENCES users(id),
        PRIMARY KEY (comment_id, agent_id)
    ) WITHOUT ROWID;
    CREATE TABLE reactions(
        comment_id INTEGER NOT NULL REFERENCES comments(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        emoji TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (comment_id, user_id, emoji)
    ) WITHOUT ROWID;
    CREATE TABLE notifications(
        id INTEGER PRIMARY KEY,
        agent_id INTEGER NOT NULL REFERENCES users(id),
        seq INTEGER NOT NULL,
        snapshot TEXT NOT NULL,
        ticket_id INTEGER NOT NULL REFERENCES tickets(id),
        read INTEGER NOT NULL DEFAULT 0,
        fold_key TEXT
    );
    CREATE UNIQUE INDEX notifications_agent_seq ON notifications(agent_id, seq);
    CREATE INDEX notifications_agent_ticket ON notifications(agent_id, ticket_id);
    CREATE INDEX notifications_agent_unread ON notifications(agent_id, read);
    CREATE UNIQUE INDEX notifications_fold ON notifications(agent_id, fold_key)
        WHERE fold_key IS NOT NULL;
    CREATE TABLE events(
        agent_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('notification', 'read_state', 'deleted')),
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (agent_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE email_outbox(
        id INTEGER PRIMARY KEY,
        agent_id INTEGER NOT NULL REFERENCES users(id),
        notification_id INTEGER,
        delivery TEXT NOT NULL CHECK (delivery IN ('instant', 'daily_digest')),
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL,
        sent_at TEXT
    );
    """,
    # 2: mail delivery (notifier/server/mailer.py). email_outbox is rebuilt: one row per
    # notification that may become mail, pending until the mailer mails it (in an instant mail
    # or a digest, email_messages) or drops it, with why. Rows from before this version were
    # never meant to be sent: they are kept, dropped. agent_presence counts each agent's open
    # streams ("only when I am not connected"); mail_instance names this database in the
    # Message-IDs that thread a ticket's mails.
    """
    ALTER TABLE users ADD COLUMN email TEXT;
    CREATE TABLE email_messages(
        id INTEGER PRIMARY KEY,
        agent_id INTEGER NOT NULL REFERENCES users(id),
        kind TEXT NOT NULL CHECK (kind IN ('instant', 'digest')),
        recipient TEXT NOT NULL,
        message_id TEXT NOT NULL UNIQUE,
        subject TEXT NOT NULL,
        content BLOB NOT NULL,
        created_at TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        sent_at TEXT
    );
    CREATE INDEX email_messages_queued ON email_messages(next_attempt_at) WHERE state = 'queued';
    CREATE TABLE email_outbox_new(
        id INTEGER PRIMARY KEY,
        agent_id INTEGER NOT NULL REFERENCES users(id),
        notification_id INTEGER,
        delivery TEXT NOT NULL CHECK (delivery IN ('instant', 'hourly_digest', 'daily_digest')),
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL,
        snapshot TEXT NOT NULL DEFAULT '{}',
        connected INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'mailed', 'dropped')),
        reason TEXT,
        message_id INTEGER REFERENCES email_messages(id)
    );
    INSERT INTO email_outbox_new(id, agent_id, notification_id, delivery, subject, body,
        created_at, state, reason)
        SELECT id, agent_id, notification_id, delivery, subject, body, created_at, 'dropped',
            'queued before this server sent mail' FROM email_outbox;
    DROP TABLE email_outbox;
    ALTER TABLE email_outbox_new RENAME TO email_outbox;
    CREATE INDEX email_outbox_pending ON email_outbox(agent_id, id) WHERE state = 'pending';
    CREATE INDEX email_outbox_message ON email_outbox(message_id) WHERE message_id IS NOT NULL;
    CREATE TABLE agent_presence(
        agent_id INTEGER PRIMARY KEY,
        streams INTEGER NOT NULL
    );
    CREATE TABLE email_unsubscribe(
        agent_id INTEGER PRIMARY KEY REFERENCES users(id),
        token TEXT NOT NULL UNIQUE
    );
    CREATE TABLE mail_instance(
        id INTEGER PRIMARY KEY CHECK (id = 1),
        name TEXT NOT NULL
    );
    INSERT INTO mail_instance(id, name) VALUES (1, lower(hex(randomblob(6))))
    """,
    # 3: system settings (one versioned JSON document) and their audit trail; the rate limiter's
    # recent notifications per recipient; how many notifications were folded into one; when a
    # notification was (re)issued, as Unix seconds kept by a trigger (every (re)issue writes a
    # new seq), indexed over the read ones for the retention job.
    """
    CREATE TABLE system_settings(
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL,
        document TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        updated_by TEXT NOT NULL
    );
    CREATE TABLE settings_audit(
        id INTEGER PRIMARY KEY,
        version INTEGER NOT NULL,
        changed_at TEXT NOT NULL,
        actor TEXT NOT NULL,
        via TEXT NOT NULL CHECK (via IN ('api', 'cli')),
        key TEXT NOT NULL,
        old_value TEXT NOT NULL,
        new_value TEXT NOT NULL
    );
    CREATE TABLE notification_rate(
        agent_id INTEGER NOT NULL,
        ticket_id INTEGER NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX notification_rate_agent ON notification_rate(agent_id, at);
    CREATE INDEX notification_rate_ticket ON notification_rate(agent_id, ticket_id, at);
    ALTER TABLE notifications ADD COLUMN folded INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE notifications ADD COLUMN folded_reason TEXT;
    ALTER TABLE notifications ADD COLUMN issued_at REAL;
    UPDATE notifications SET issued_at =
        (julianday(json_extract(snapshot, '$.created_at')) - 2440587.5) * 86400.0;
    CREATE INDEX notifications_read_issued ON notifications(agent_id, issued_at) WHERE read = 1;
    CREATE TRIGGER notifications_issued AFTER UPDATE OF seq ON notifications
    BEGIN
        UPDATE notifications SET issued_at = (julianday('now') - 2440587.5) * 86400.0
            WHERE id = NEW.id;
    END
    """,
    # 4: retention of the mail tables (notifier/server/retention.py): the finished mails
    # (sent or given up) by when they were made, and the dropped outbox rows in order.
    """
    CREATE INDEX email_messages_finished ON email_messages(created_at)
        WHERE state IN ('sent', 'failed');
    CREATE INDEX email_outbox_dropped ON email_outbox(id) WHERE state = 'dropped'
    """,
    # 5: the bell's "new since you last looked" mark (notifier/server/pages.py): the newest
    # notification seq each agent has looked at in the notification center, kept here rather
    # than in a browser cookie so that all of an agent's browsers agree.
    """
    CREATE TABLE notification_seen(
        agent_id INTEGER PRIMARY KEY REFERENCES users(id),
        seq INTEGER NOT NULL
    )
    """,
    # 6: the admin page (/admin) is a third way to change the settings, audited as such:
    # settings_audit is rebuilt with 'web' allowed in its via check (SQLite cannot alter one).
    """
    CREATE TABLE settings_audit_new(
        id INTEGER PRIMARY KEY,
        version INTEGER NOT NULL,
        changed_at TEXT NOT NULL,
        actor TEXT NOT NULL,
        via TEXT NOT NULL CHECK (via IN ('api', 'cli', 'web')),
        key TEXT NOT NULL,
        old_value TEXT NOT NULL,
        new_value TEXT NOT NULL
    );
    INSERT INTO settings_audit_new(id, version, changed_at, actor, via, key, old_value, new_value)
        SELECT id, version, changed_at, actor, via, key, old_value, new_value FROM settings_audit;
    DROP TABLE settings_audit;
    ALTER TABLE settings_audit_new RENAME TO settings_audit
    """,
    # 7: the history page (GET /notifications) without decoding and re-encoding each row
    # (benchmarks/README.md, "First sign-in"). ``wire`` is the row's wire JSON as SQLite's
    # JSON functions render it from the snapshot, kept by a trigger whenever the content is
    # (re)written, with the ``read`` flag left out and links relative to the server (the
    # public URL can change): repository.notification_page_json splices both in. And the
    # agent's unread count, which every page (and every action's answer) carries, is kept in
    # notification_unread instead of counted over the agent's unread rows: by triggers as
    # rows come and go, and by repository._add_unread where the read flag changes (a trigger
    # there would run once per row of a bulk "mark read", tests/test_server_queries.py).
    f"""
    ALTER TABLE notifications ADD COLUMN wire TEXT;
    UPDATE notifications SET wire = {_WIRE_TEXT_V7.format(row="notifications")};
    CREATE TRIGGER notifications_wire AFTER UPDATE OF seq, snapshot ON notifications
    BEGIN
        UPDATE notifications SET wire = {_WIRE_TEXT_V7.format(row="NEW")} WHERE id = NEW.id;
    END;
    CREATE TABLE notification_unread(
        agent_id INTEGER PRIMARY KEY,
        unread INTEGER NOT NULL
    );
    INSERT INTO notification_unread(agent_id, unread)
        SELECT agent_id, count(*) FROM notifications WHERE read = 0 GROUP BY agent_id;
    CREATE TRIGGER notifications_unread_insert AFTER INSERT ON notifications
    WHEN NEW.read = 0
    BEGIN
        INSERT INTO notification_unread(agent_id, unread) VALUES (NEW.agent_id, 1)
            ON CONFLICT (agent_id) DO UPDATE SET unread = unread + 1;
    END;
    CREATE TRIGGER notifications_unread_delete AFTER DELETE ON notifications
    WHEN OLD.read = 0
    BEGIN
        UPDATE notification_unread SET unread = unread - 1 WHERE agent_id = OLD.agent_id;
    END
    """,  # noqa: S608 (only the fixed expression above is formatted in)
    # 8: people who left (``notifier-server deactivate``): when set, the person cannot sign in,
    # is skipped by team assignment and gets no notifications; their rows stay, so old tickets
    # and comments still name them. NULL (everyone before this version): active.
    """
    ALTER TABLE users ADD COLUMN deactivated_at TEXT
    """,
    # 9: "Forgot your password?" (notifier/server/password_reset.py): at most one reset link
    # per person (a newer request replaces it), kept as the SHA-256 of its random token like
    # an API token, valid until expires_at (fixed-width UTC, outbox.stamp) and deleted when
    # used. The mail carrying the link goes through email_messages like notification mail,
    # marked by ``purpose``: its content is blanked once the mail is sent or given up, so the
    # link does not outlive its mail in the database. (``kind`` says instant or digest and
    # its CHECK cannot be altered in place.)
    """
    CREATE TABLE password_resets(
        user_id INTEGER PRIMARY KEY REFERENCES users(id),
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    ALTER TABLE email_messages ADD COLUMN purpose TEXT NOT NULL DEFAULT 'notification'
        CHECK (purpose IN ('notification', 'password_reset'))
    """,
)


class DatabaseError(Exception):
    """The database file cannot be opened, created or migrated; ``str()`` says why."""


# The ``->`` and ``->>`` JSON operators of migration 7 came with SQLite 3.38 (2022-02).
MIN_SQLITE: Final = (3, 38, 0)


class _ClockedConnection(sqlite3.Connection):
    # The connection travels into every repository function, so it also carries the server's
    # clock: times that decide when mail goes out are read with clock_now(connection).
    clock: Clock = staticmethod(system_clock)


@contextlib.contextmanager
def clock_replaced(connection: sqlite3.Connection, clock: Clock) -> Iterator[None]:
    """Within the block, ``connection`` (one :func:`connect` opened) tells time by ``clock``:
    the demo's seeded history happens in the morning, not at the second it is written."""
    if not isinstance(connection, _ClockedConnection):
        raise TypeError("the connection was not opened by db.connect")
    previous = connection.clock
    connection.clock = clock
    try:
        yield
    finally:
        connection.clock = previous


def clock_now(connection: sqlite3.Connection) -> datetime:
    """Now, by the clock the connection was opened with (:func:`connect`)."""
    clock: Clock = getattr(connection, "clock", system_clock)
    return clock()


def connect(path: Path, clock: Clock | None = None) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the database at ``path``.

    Raises :class:`DatabaseError` with a one-line reason for an unwritable or foreign file,
    or a Python whose SQLite is older than :data:`MIN_SQLITE`.
    """
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        raise DatabaseError(
            f"the helpdesk server needs SQLite {'.'.join(map(str, MIN_SQLITE))} or newer;"
            f" this Python has {sqlite3.sqlite_version}"
        )
    try:
        connection = sqlite3.connect(path, isolation_level=None, factory=_ClockedConnection)
        if clock is not None:
            connection.clock = clock
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot open database {path}: {exc}") from None
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA busy_timeout=5000")
        migrate(connection)
    except sqlite3.Error as exc:
        connection.close()
        raise DatabaseError(f"cannot use database {path}: {exc}") from None
    except DatabaseError:
        connection.close()
        raise
    return connection


def schema_version(connection: sqlite3.Connection) -> int:
    connection.execute("CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)")
    row = connection.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(connection: sqlite3.Connection) -> int:
    """Apply every pending migration in order; return the resulting version."""
    current = schema_version(connection)
    if current > len(MIGRATIONS):
        raise DatabaseError(
            f"the database has schema version {current}, newer than this server "
            f"({len(MIGRATIONS)}); use a newer notifier-server"
        )
    for version in range(current + 1, len(MIGRATIONS) + 1):
        with transaction(connection):
            for statement in _statements(MIGRATIONS[version - 1]):
                connection.execute(statement)
            connection.execute("DELETE FROM schema_version")
            connection.execute("INSERT INTO schema_version(version) VALUES (?)", (version,))
    return len(MIGRATIONS)


def _statements(script: str) -> Iterator[str]:
    # executescript() would COMMIT the surrounding transaction; split instead, at the
    # semicolons that end a complete statement (a trigger's body has its own).
    statement = ""
    for piece in script.split(";"):
        statement += piece + ";"
        if sqlite3.complete_statement(statement):
            if statement.strip().strip(";").strip():
                yield statement
            statement = ""


@contextlib.contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any exception."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


WAL_LIMIT_PAGES: Final = 2_000
"""A log this long after a passive checkpoint is restarted, waiting for the writer (8 MB)."""


class Checkpointer:
    """Checkpoints a WAL database from its own thread and connection, at most once every
    ``interval_s`` and only after :meth:`written` was called (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        interval_s: float = CHECKPOINT_INTERVAL_S,
        limit_pages: int = WAL_LIMIT_PAGES,
    ) -> None:
        self.path = path
        self.interval_s = interval_s
        self.limit_pages = limit_pages
        self.checkpoints = 0  # how many ran (tests)
        self._written = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="helpdesk-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def written(self) -> None:
        """Something was committed: checkpoint within ``interval_s`` (cheap, thread-safe)."""
        self._written.set()

    def stop(self) -> None:
        """Checkpoint what is left and end the thread."""
        self._stopping.set()
        self._written.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA busy_timeout=5000")
        try:
            while not self._stopping.is_set():
                self._written.wait()
                self._written.clear()
                self._checkpoint(connection)
                self._stopping.wait(self.interval_s)
            self._checkpoint(connection)
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            _busy, log_pages, _copied = connection.execute(
                "PRAGMA wal_checkpoint(PASSIVE)"
            ).fetchone()
            if log_pages >= self.limit_pages:
                connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
        except sqlite3.Error as exc:  # a busy or vanished file: the next write tries again
            log.warning("checkpoint of %s failed: %s", self.path, exc)
            return
        self.checkpoints += 1


class Database:
    """The server's one connection, driven by one worker thread (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        clock: Clock | None = None,
        checkpoint_interval_s: float = CHECKPOINT_INTERVAL_S,
    ) -> None:
        self.path = path
        self.clock = clock or system_clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="helpdesk-db")
        self._connection: sqlite3.Connection | None = None
        self.checkpointer = Checkpointer(path, checkpoint_interval_s)

    def open(self) -> None:
        """Connect and migrate on the worker thread; raises :class:`DatabaseError`."""
        self._connection = self._executor.submit(
            partial(_connect_checked, self.path, self.clock)
        ).result()
        self.checkpointer.start()

    async def run(self, function: Callable[..., _T], *args: object) -> _T:
        """Run ``function(connection, *args)`` on the database thread."""
        return await self.submit(function, *args)

    def submit(self, function: Callable[..., _T], *args: object) -> asyncio.Future[_T]:
        """:meth:`run` without waiting for it: the call is queued on the database thread at
        once, before any later :meth:`run` (one thread, in order), and the future is its
        result. For work an answer must not wait for (its time would tell what it found)."""
        connection = self._connection
        if connection is None:
            raise RuntimeError("Database.open() was not called")
        return asyncio.get_running_loop().run_in_executor(
            self._executor, partial(self._call, function, connection, *args)
        )

    def _call(
        self, function: Callable[..., _T], connection: sqlite3.Connection, *args: object
    ) -> _T:
        changes = connection.total_changes
        try:
            return function(connection, *args)
        finally:
            if connection.total_changes != changes:
                self.checkpointer.written()

    def close(self) -> None:
        connection = self._connection
        self._connection = None
        if connection is not None:
            self.checkpointer.stop()
            self._executor.submit(connection.close).result()
        self._executor.shutdown(wait=True)


def _connect_checked(path: Path, clock: Clock) -> sqlite3.Connection:
    if path.parent and not path.parent.exists():
        raise DatabaseError(f"cannot open database {path}: folder {path.parent} does not exist")
    connection = connect(path, clock)
    connection.execute("PRAGMA wal_autocheckpoint=0")  # the Checkpointer's job
    return connection
