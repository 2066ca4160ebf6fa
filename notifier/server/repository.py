"""Data access for the reference helpdesk: people, tokens, preferences, notifications, events.

Every function takes the open :class:`sqlite3.Connection` first and is meant to run on the
database thread (:class:`notifier.server.db.Database`). Functions that write open their own
transaction only when they are a whole action (``set_read``, ``delete`` …); the helpers that
*compose* a write (:func:`notify`, :func:`append_event`) must be called inside one, so that a
notification and the event that announces it always commit together.

The event log (table ``events``) is the single source of the stream: per recipient agent, seq
starts at 1 and grows by one with each event; a notification's ``seq`` is that of the event
that last (re)wrote it. Payloads are stored without URLs (a ``snapshot`` of the notification's
content) and rendered to :mod:`notifier.core.wire` values when sent, so links always carry the
server's current public URL.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notifier.core import wire
from notifier.server import outbox
from notifier.server.db import clock_now, transaction

USERNAME_PATTERN: Final = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9_])?$")
EMAIL_PATTERN: Final = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}$")
# scrypt cost: 16 MiB (128 * N * r) and real CPU time per check; passwords are low-entropy,
# tokens not.
_SCRYPT_N: Final = 2**14


class ActionError(Exception):
    """A request the helpdesk refuses; the app turns it into an ``ApiError`` with ``status``."""

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after  # seconds, sent as Retry-After (429, 503)


def not_found(what: str) -> ActionError:
    return ActionError(404, "not_found", f"{what} not found")


def forbidden(message: str) -> ActionError:
    return ActionError(403, "forbidden", message)


def invalid(message: str) -> ActionError:
    return ActionError(422, "validation_failed", message)


MAX_SEQ: Final = 2**62  # far beyond any real log; keeps cursors inside SQLite's INTEGER


def parse_id(text: str) -> int | None:
    """A path id ("42") as an int, or None for anything else (ASCII digits only)."""
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    return None


def clock_stamp(connection: sqlite3.Connection) -> str:
    """Now by the connection's clock, as stored: what the helpdesk's actions record, so that
    a ticket, its comments and the notifications about them share one clock."""
    return wire.format_timestamp(clock_now(connection))


def clip(text: str, limit: int = wire.MAX_MESSAGE_CHARS) -> str:
    """Plain text of at most ``limit`` characters, ending in "…" when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --------------------------------------------------------------------------- people


@dataclass(frozen=True, slots=True)
class User:
    id: int
    kind: str  # "agent" | "customer"
    username: str  # customers: their e-mail address
    name: str
    team: str | None
    is_admin: bool
    deactivated: bool = False  # `notifier-server deactivate`: someone who left

    @property
    def is_agent(self) -> bool:
        return self.kind == "agent"

    def actor(self) -> wire.Actor:
        return wire.Actor(kind=wire.ActorKind(self.kind), id=str(self.id), name=self.name)

    def info(self) -> wire.AgentInfo:
        return wire.AgentInfo(id=str(self.id), username=self.username, name=self.name)


_USER_COLUMNS: Final = "id, kind, username, name, team, is_admin, deactivated_at IS NOT NULL"
_USER_FIELDS: Final = 7  # columns of _USER_COLUMNS: what a query selects after them starts here
# SQLite before 3.32 allowed 999 bound variables in one statement; stay well under it.
_SQL_VARIABLES: Final = 500


def _user(row: Sequence[Any]) -> User:
    return User(int(row[0]), row[1], row[2], row[3], row[4], bool(row[5]), bool(row[6]))


def hash_token(token: str) -> str:
    # Tokens are 256-bit random values: a fast hash is enough (nothing to brute-force).
    return hashlib.sha256(token.encode()).hexdigest()


def _hash_password(password: str, salt: bytes) -> str:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=8, p=1, maxmem=64 * 1024 * 1024, dklen=32
    ).hex()


def stored_password(password: str) -> tuple[str, str]:
    """(password_hash, password_salt) as the users table stores a new password: the one
    place a password is salted and hashed for storing (:func:`verify_password` checks it)."""
    salt = secrets.token_bytes(16)
    return _hash_password(password, salt), salt.hex()


def add_user(
    connection: sqlite3.Connection,
    *,
    kind: str,
    username: str,
    name: str,
    password: str | None = None,
    team: str | None = None,
    is_admin: bool = False,
    email: str | None = None,
    preferences: wire.Preferences | None = None,
) -> tuple[User, str]:
    """Create an agent or customer and a first API token; returns both.

    ``email`` is where an agent's notification mail goes (customers' username is theirs);
    ``preferences`` are an agent's first preferences (the admin's defaults; None: the
    built-in ones)."""
    if kind == "agent" and not USERNAME_PATTERN.match(username):
        raise invalid(
            "a username is 1 to 64 letters, digits, '_', '.' or '-', "
            "starting and ending with a letter, digit or '_'"
        )
    if kind == "customer" and not EMAIL_PATTERN.match(username):
        raise invalid(f"not an e-mail address: {username!r}")
    if email is not None and not EMAIL_PATTERN.match(email):
        raise invalid(f"not an e-mail address: {email!r}")
    name = name.strip() or username
    if len(name) > wire.MAX_NAME_CHARS:
        raise invalid(f"a name has at most {wire.MAX_NAME_CHARS} characters")
    password_hash, salt_hex = stored_password(password) if password else (None, None)
    with transaction(connection):
        if connection.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
            raise ActionError(409, "conflict", f"{username!r} already exists")
        if team:
            connection.execute("INSERT OR IGNORE INTO teams(name) VALUES (?)", (team,))
        cursor = connection.execute(
            "INSERT INTO users(kind, username, name, password_hash, password_salt, team,"
            " is_admin, created_at, email, preferences) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                kind,
                username,
                name,
                password_hash,
                salt_hex,
                team or None,
                int(is_admin),
                clock_stamp(connection),
                email,
                wire.encode_json(preferences.to_json()) if preferences is not None else None,
            ),
        )
        user_id = int(cursor.lastrowid or 0)
        token = _insert_token(connection, user_id, "api")
    return User(user_id, kind, username, name, team or None, is_admin), token


def _insert_token(connection: sqlite3.Connection, user_id: int, purpose: str) -> str:
    token = secrets.token_urlsafe(32)
    connection.execute(
        "INSERT INTO tokens(token_hash, user_id, purpose, created_at) VALUES (?, ?, ?, ?)",
        (hash_token(token), user_id, purpose, clock_stamp(connection)),
    )
    return token


def create_token(connection: sqlite3.Connection, user_id: int, purpose: str = "api") -> str:
    with transaction(connection):
        return _insert_token(connection, user_id, purpose)


def create_token_for_password(
    connection: sqlite3.Connection, user_id: int, purpose: str, password_hash: str
) -> str | None:
    """A sign-in's new token, or None when the password it checked (``password_hash``) is no
    longer the person's: a reset (or ``notifier-server password``) committed while the check
    ran off this thread, and the old password must not open a session after it."""
    with transaction(connection):
        if not connection.execute(
            "SELECT 1 FROM users WHERE id = ? AND password_hash = ?", (user_id, password_hash)
        ).fetchone():
            return None
        return _insert_token(connection, user_id, purpose)


def revoke_token(connection: sqlite3.Connection, token: str) -> None:
    with transaction(connection):
        connection.execute("DELETE FROM tokens WHERE token_hash = ?", (hash_token(token),))


def revoked_tokens(
    connection: sqlite3.Connection, token_hashes: Sequence[str], seen_version: int | None
) -> tuple[int, list[str]]:
    """(the database's data version, which of ``token_hashes`` no longer exist).

    Only another connection's commit changes SQLite's ``data_version`` (another process:
    ``notifier-server tokens revoke`` or ``deactivate``); while it equals ``seen_version`` no
    token was deleted from outside and nothing is read.
    """
    version = int(connection.execute("PRAGMA data_version").fetchone()[0])
    if version == seen_version or not token_hashes:
        return version, []
    existing: set[str] = set()
    for start in range(0, len(token_hashes), _SQL_VARIABLES):
        chunk = token_hashes[start : start + _SQL_VARIABLES]
        existing.update(
            row[0]
            for row in connection.execute(
                "SELECT token_hash FROM tokens WHERE token_hash IN"  # noqa: S608
                f" ({', '.join('?' * len(chunk))})",
                chunk,
            )
        )
    return version, [token_hash for token_hash in token_hashes if token_hash not in existing]


def token_created_at(connection: sqlite3.Connection, token: str) -> datetime | None:
    """When the token was made (a web session's age counts from then), or None."""
    row = connection.execute(
        "SELECT created_at FROM tokens WHERE token_hash = ?", (hash_token(token),)
    ).fetchone()
    return None if row is None else wire.parse_timestamp(row[0])


def user_for_token(
    connection: sqlite3.Connection, token: str, purpose: str = "api", max_age_s: float = 0
) -> User | None:
    """The token's user, or None for an unknown token, one of another purpose, one older
    than ``max_age_s`` seconds (0: no age limit; an expired token is deleted), or a
    deactivated person's (their tokens are deleted on deactivation; this also covers one
    made meanwhile, by a sign-in that had checked the password just before)."""
    row = connection.execute(
        f"SELECT {_USER_COLUMNS}, tokens.created_at FROM users"  # noqa: S608
        " JOIN tokens ON tokens.user_id = users.id"
        " WHERE tokens.token_hash = ? AND tokens.purpose = ? AND users.deactivated_at IS NULL",
        (hash_token(token), purpose),
    ).fetchone()
    if row is None:
        return None
    if max_age_s and wire.parse_timestamp(row[_USER_FIELDS]) < clock_now(connection) - timedelta(
        seconds=max_age_s
    ):
        revoke_token(connection, token)
        return None
    return _user(row)


def user_by_username(connection: sqlite3.Connection, username: str) -> User | None:
    row = connection.execute(
        f"SELECT {_USER_COLUMNS} FROM users WHERE username = ?",  # noqa: S608
        (username,),
    ).fetchone()
    return _user(row) if row else None


def user_by_id(connection: sqlite3.Connection, user_id: int) -> User | None:
    row = connection.execute(
        f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?",  # noqa: S608
        (user_id,),
    ).fetchone()
    return _user(row) if row else None


def agents_by_usernames(connection: sqlite3.Connection, usernames: Iterable[str]) -> list[User]:
    found: dict[int, User] = {}
    for username in usernames:
        user = user_by_username(connection, username)
        if user is not None and user.is_agent:
            found[user.id] = user
    return list(found.values())


@dataclass(frozen=True, slots=True)
class PasswordRecord:
    """What checking a password needs; read on the database thread, checked off it."""

    user: User | None
    password_hash: str | None
    salt_hex: str | None


def password_record(
    connection: sqlite3.Connection, username: str, customers: bool = False
) -> PasswordRecord:
    """An agent's (with ``customers``, also a customer's: the web sign-in) password record.
    A deactivated person's is the record of an unknown username: the sign-in answers as for
    a wrong password, with the same work, and never tells that the account exists."""
    row = connection.execute(
        f"SELECT {_USER_COLUMNS}, password_hash, password_salt FROM users"  # noqa: S608
        " WHERE username = ? AND (kind = 'agent' OR ?) AND deactivated_at IS NULL",
        (username, customers),
    ).fetchone()
    if row is None:
        return PasswordRecord(None, None, None)
    return PasswordRecord(_user(row), row[_USER_FIELDS], row[_USER_FIELDS + 1])


def verify_password(record: PasswordRecord, password: str) -> User | None:
    """The agent if ``password`` is theirs, else None (the same answer for either mistake).

    CPU-bound (scrypt, tens of ms): run it in a worker thread, not on the database thread,
    so a sign-in never stalls the streams.
    """
    if record.user is None or record.password_hash is None or record.salt_hex is None:
        # Spend the same work as a real check so timing does not reveal which usernames exist.
        _hash_password(password, b"0" * 16)
        return None
    expected = _hash_password(password, bytes.fromhex(record.salt_hex))
    return record.user if hmac.compare_digest(expected, record.password_hash) else None


def set_password(connection: sqlite3.Connection, user_id: int, password: str) -> None:
    """A new password for an existing person (``notifier-server password``). Their tokens
    stay valid: ending them is ``tokens revoke``'s job."""
    if not password:
        raise invalid("a password must not be empty")
    password_hash, salt_hex = stored_password(password)  # scrypt: before the write lock
    with transaction(connection):
        changed = write_password(connection, user_id, password_hash, salt_hex)
    if not changed:
        raise not_found("person")


def write_password(
    connection: sqlite3.Connection, user_id: int, password_hash: str, salt_hex: str
) -> bool:
    """Store a password made by :func:`stored_password` (in the caller's transaction);
    False when there is no such person."""
    return (
        connection.execute(
            "UPDATE users SET password_hash = ?, password_salt = ? WHERE id = ?",
            (password_hash, salt_hex, user_id),
        ).rowcount
        > 0
    )


DEACTIVATED_MAIL_REASON: Final = "the agent was deactivated"


@dataclass(frozen=True, slots=True)
class Deactivation:
    """What :func:`deactivate` did."""

    since: str  # when the person was deactivated: now, or earlier if they already were
    already: bool  # they already were: nothing changed
    revoked: int  # API tokens and web sign-ins deleted now
    open_tickets: int = 0  # open tickets still assigned to them: someone should take them over


def deactivate(connection: sqlite3.Connection, user_id: int) -> Deactivation:
    """Someone who left: they can no longer sign in (every token and password reset link
    deleted; the password and tokens are refused while the flag is set), team assignment
    skips them and they get no new notifications nor mail (their pending mail is dropped,
    their queued mail given up). Nothing they wrote or were assigned is deleted."""
    with transaction(connection):
        row = connection.execute(
            "SELECT deactivated_at FROM users WHERE id = ?", (user_id,)
        ).fetchone()
        if row is None:
            raise not_found("person")
        if row[0] is not None:
            return Deactivation(since=str(row[0]), already=True, revoked=0)
        since = clock_stamp(connection)
        connection.execute("UPDATE users SET deactivated_at = ? WHERE id = ?", (since, user_id))
        revoked = connection.execute("DELETE FROM tokens WHERE user_id = ?", (user_id,)).rowcount
        connection.execute("DELETE FROM password_resets WHERE user_id = ?", (user_id,))
        outbox.abandon(connection, user_id, DEACTIVATED_MAIL_REASON)
        (open_tickets,) = connection.execute(
            "SELECT count(*) FROM tickets WHERE assignee_id = ? AND status = 'open'", (user_id,)
        ).fetchone()
    return Deactivation(since=since, already=False, revoked=revoked, open_tickets=open_tickets)


def reactivate(connection: sqlite3.Connection, user_id: int) -> bool:
    """Clear the flag :func:`deactivate` set (their password works again); False when they
    were not deactivated."""
    with transaction(connection):
        return bool(
            connection.execute(
                "UPDATE users SET deactivated_at = NULL"
                " WHERE id = ? AND deactivated_at IS NOT NULL",
                (user_id,),
            ).rowcount
        )


@dataclass(frozen=True, slots=True)
class Person:
    """One line of ``notifier-server people``."""

    user: User
    deactivated_at: str | None
    api_tokens: int
    web_sign_ins: int  # stored sessions; an expired one is deleted when next presented


def people(connection: sqlite3.Connection) -> list[Person]:
    """Everyone: agents, then customers, each by username."""
    rows = connection.execute(
        f"SELECT {_USER_COLUMNS}, deactivated_at,"  # noqa: S608
        " (SELECT count(*) FROM tokens WHERE tokens.user_id = users.id AND purpose = 'api'),"
        " (SELECT count(*) FROM tokens WHERE tokens.user_id = users.id AND purpose = 'session')"
        " FROM users ORDER BY kind, username"
    ).fetchall()
    return [
        Person(
            _user(row),
            row[_USER_FIELDS],
            int(row[_USER_FIELDS + 1]),
            int(row[_USER_FIELDS + 2]),
        )
        for row in rows
    ]


# --------------------------------------------------------------------------- preferences


def get_preferences(connection: sqlite3.Connection, agent_id: int) -> wire.Preferences:
    row = connection.execute("SELECT preferences FROM users WHERE id = ?", (agent_id,)).fetchone()
    return _preferences(row[0] if row is not None else None)


def _preferences(stored: str | None) -> wire.Preferences:
    return wire.Preferences() if stored is None else wire.Preferences.parse(json.loads(stored))


def validate_preferences(data: object) -> wire.Preferences:
    """Parse a whole preferences document; :class:`ActionError` 422 when invalid."""
    try:
        preferences = wire.Preferences.parse(data)
    except wire.WireError as exc:
        raise invalid(str(exc)) from None
    try:
        ZoneInfo(preferences.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid(f"timezone is not a known IANA time zone: {preferences.timezone!r}") from None
    return preferences


def omitted_email_fields(data: object) -> tuple[str, ...]:
    """The e-mail fields added after protocol version 1 that a ``PUT`` body leaves out."""
    email = data.get("email") if isinstance(data, dict) else None
    if not isinstance(email, dict):
        return ()
    return tuple(key for key in wire.EMAIL_OPTIONAL_FIELDS if key not in email)


def put_preferences(
    connection: sqlite3.Connection,
    agent_id: int,
    preferences: wire.Preferences,
    keep: Sequence[str] = (),
) -> wire.Preferences:
    """Store the whole document, except the e-mail fields in ``keep`` (a client too old to
    know them left them out): those keep their stored value instead of falling to defaults."""
    with transaction(connection):
        if keep:
            stored = get_preferences(connection, agent_id).email
            kept = {key: getattr(stored, key) for key in keep}
            preferences = dataclasses.replace(
                preferences, email=dataclasses.replace(preferences.email, **kept)
            )
        connection.execute(
            "UPDATE users SET preferences = ? WHERE id = ?",
            (wire.encode_json(preferences.to_json()), agent_id),
        )
    return get_preferences(connection, agent_id)


# --------------------------------------------------------------------------- the event log


def head_seq(connection: sqlite3.Connection, agent_id: int) -> int:
    row = connection.execute(
        "SELECT MAX(seq) FROM events WHERE agent_id = ?", (agent_id,)
    ).fetchone()
    return int(row[0] or 0)


def _add_unread(connection: sqlite3.Connection, agent_id: int, delta: int) -> None:
    """The agent's read flags changed by ``delta`` unread (schema 7: rows that come and go
    are counted by triggers, read-flag changes here)."""
    if delta:
        connection.execute(
            "INSERT INTO notification_unread(agent_id, unread) VALUES (?, ?)"
            " ON CONFLICT (agent_id) DO UPDATE SET unread = unread + excluded.unread",
            (agent_id, delta),
        )


def unread_count(connection: sqlite3.Connection, agent_id: int) -> int:
    # Kept by triggers (schema 7): counting the agent's unread rows cost every history page
    # ~5 ms with 50,000 unread.
    row = connection.execute(
        "SELECT unread FROM notification_unread WHERE agent_id = ?", (agent_id,)
    ).fetchone()
    return 0 if row is None else int(row[0])


def append_event(
    connection: sqlite3.Connection, agent_id: int, kind: str, payload: dict[str, Any]
) -> int:
    """Append one event to the agent's log; call inside a transaction. Returns its seq."""
    seq = head_seq(connection, agent_id) + 1
    connection.execute(
        "INSERT INTO events(agent_id, seq, kind, payload, created_at) VALUES (?, ?, ?, ?, ?)",
        (agent_id, seq, kind, wire.encode_json(payload), clock_stamp(connection)),
    )
    return seq


@dataclass(frozen=True, slots=True)
class NewNotification:
    """The content of a notification before it has an id and a seq."""

    type: wire.NotificationType
    reason: wire.Reason
    sender: wire.Actor | None
    ticket_id: int
    subject: str
    comment_id: int | None
    message: str
    fold_key: str | None = None  # notifications with the same key are re-issued, not added


Limiter = Callable[[sqlite3.Connection, int, NewNotification], NewNotification]


def notify(
    connection: sqlite3.Connection,
    agent_id: int,
    content: NewNotification,
    limiter: Limiter | None = None,
) -> int | None:
    """Create (or re-issue, for a ``fold_key`` already present) a notification for an agent.

    Applies the agent's preferences: nothing in-app when ``in_app`` is off or the type is
    switched off; an ``email_outbox`` row when e-mail is on for the type. Then ``limiter``
    (:func:`notifier.server.ratelimit.limit`) may turn the content into a fold into an
    existing notification. Call inside a transaction. Returns the new event's seq, or None
    when nothing was created.

    This is where every recipient becomes a notification: a deactivated agent (someone who
    left) is skipped here, once for every rule, and so gets nothing in-app and no mail.
    """
    row = connection.execute(
        "SELECT preferences, deactivated_at FROM users WHERE id = ?", (agent_id,)
    ).fetchone()
    if row is not None and row[1] is not None:
        return None
    preferences = _preferences(row[0] if row is not None else None)
    created_at = wire.format_timestamp(clock_now(connection))
    wants_email = preferences.email.enabled and content.type in preferences.email.types
    if not preferences.in_app or content.type not in preferences.types:
        if wants_email:
            _queue_email(connection, agent_id, None, preferences, content, created_at)
        return None
    if limiter is not None:
        content = limiter(connection, agent_id, content)
    existing = None
    if content.fold_key is not None:
        existing = connection.execute(
            "SELECT id, read FROM notifications WHERE agent_id = ? AND fold_key = ?",
            (agent_id, content.fold_key),
        ).fetchone()
    if existing is not None:
        notification_id = int(existing[0])
        _add_unread(connection, agent_id, 1 if existing[1] else 0)  # re-issued unread
    else:
        cursor = connection.execute(
            "INSERT INTO notifications(agent_id, seq, snapshot, ticket_id, read, fold_key)"
            " VALUES (?, 0, '{}', ?, 0, ?)",
            (agent_id, content.ticket_id, content.fold_key),
        )
        notification_id = int(cursor.lastrowid or 0)
    snapshot = _snapshot(notification_id, content, created_at)
    seq = append_event(connection, agent_id, "notification", snapshot)
    connection.execute(
        "UPDATE notifications SET seq = ?, snapshot = ?, read = 0 WHERE id = ?",
        (seq, wire.encode_json(snapshot), notification_id),
    )
    if wants_email:
        _queue_email(connection, agent_id, notification_id, preferences, content, created_at)
    return seq


def _snapshot(
    notification_id: int | None, content: NewNotification, created_at: str
) -> dict[str, Any]:
    return {
        "id": str(notification_id) if notification_id is not None else None,
        "type": content.type.value,
        "reason": content.reason.value,
        "from": content.sender.to_json() if content.sender else None,
        "ticket": {"id": str(content.ticket_id), "subject": content.subject},
        "comment_id": str(content.comment_id) if content.comment_id is not None else None,
        "message": clip(content.message),
        "created_at": created_at,
    }


def _queue_email(
    connection: sqlite3.Connection,
    agent_id: int,
    notification_id: int | None,
    preferences: wire.Preferences,
    content: NewNotification,
    created_at: str,
) -> None:
    # Committed with the notification; the mailer (notifier.server.mailer) decides later
    # whether and when it becomes mail (grace period, digests, quiet hours).
    outbox.enqueue(
        connection,
        agent_id,
        notification_id,
        preferences.email.frequency,
        _snapshot(notification_id, content, created_at),
        created_at,
    )


def render_notification(
    snapshot: dict[str, Any], *, seq: int, read: bool, agent_id: int, base_url: str
) -> wire.Notification:
    ticket = snapshot["ticket"]
    ticket_url = f"{base_url}/tickets/{ticket['id']}"
    comment_id = snapshot["comment_id"]
    sender = snapshot["from"]
    return wire.Notification(
        id=snapshot["id"],
        seq=seq,
        type=wire.NotificationType(snapshot["type"]),
        sender=wire.Actor.parse(sender) if sender is not None else None,
        to=str(agent_id),
        ticket=wire.TicketRef(id=ticket["id"], subject=ticket["subject"], url=ticket_url),
        comment=wire.CommentRef(id=comment_id, url=f"{ticket_url}#comment-{comment_id}")
        if comment_id is not None
        else None,
        message=snapshot["message"],
        read=read,
        created_at=wire.parse_timestamp(snapshot["created_at"]),
        reason=wire.Reason(snapshot["reason"]) if snapshot.get("reason") else None,
    )


StreamEvent = wire.NotificationEvent | wire.ReadStateEvent | wire.DeletedEvent


def render_event(agent_id: int, seq: int, kind: str, payload: str, base_url: str) -> StreamEvent:
    data = json.loads(payload)
    if kind == "notification":
        return wire.NotificationEvent(
            seq=seq,
            notification=render_notification(
                data, seq=seq, read=False, agent_id=agent_id, base_url=base_url
            ),
        )
    if kind == "read_state":
        return wire.ReadStateEvent(seq=seq, ids=tuple(data["ids"]), read=bool(data["read"]))
    return wire.DeletedEvent(seq=seq, ids=tuple(data["ids"]))


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Events after a cursor, read in one transaction with the log head and unread count."""

    events: list[tuple[int, str, str]]  # (seq, kind, payload)
    head: int
    unread: int
    floor: int = 0  # events up to this seq were pruned: a cursor below it cannot be replayed

    @property
    def reaches_head(self) -> bool:
        last = self.events[-1][0] if self.events else None
        return last is None or last == self.head


def read_events(
    connection: sqlite3.Connection, agent_id: int, after_seq: int, limit: int = 500
) -> EventBatch:
    with transaction(connection):
        head = head_seq(connection, agent_id)
        rows = (
            connection.execute(
                "SELECT seq, kind, payload FROM events WHERE agent_id = ? AND seq > ?"
                " ORDER BY seq LIMIT ?",
                (agent_id, after_seq, limit),
            ).fetchall()
            if after_seq < head
            else []
        )
        return EventBatch(
            events=[(int(r[0]), r[1], r[2]) for r in rows],
            head=head,
            unread=unread_count(connection, agent_id),
            floor=log_floor(connection, agent_id),
        )


def log_floor(connection: sqlite3.Connection, agent_id: int) -> int:
    """The seq up to which the agent's log was pruned (0: nothing was).

    Seqs have no gaps and pruning (:mod:`notifier.server.retention`) always keeps the head
    event, so the floor is one below the oldest event still stored.
    """
    row = connection.execute(
        "SELECT MIN(seq) FROM events WHERE agent_id = ?", (agent_id,)
    ).fetchone()
    return int(row[0]) - 1 if row[0] is not None else 0


# --------------------------------------------------------------------------- the agent's list


def _page_rows(
    connection: sqlite3.Connection, agent_id: int, after_seq: int, limit: int
) -> tuple[list[tuple[int, int, str, str | None]], int, int]:
    """(seq, read, snapshot, wire) of up to ``limit + 1`` rows after ``after_seq`` (one more
    says whether there are more), the log head and the unread count, read together."""
    with transaction(connection):
        rows = connection.execute(
            "SELECT seq, read, snapshot, wire FROM notifications WHERE agent_id = ? AND seq > ?"
            " ORDER BY seq LIMIT ?",
            (agent_id, after_seq, limit + 1),
        ).fetchall()
        return rows, head_seq(connection, agent_id), unread_count(connection, agent_id)


def list_notifications(
    connection: sqlite3.Connection, agent_id: int, after_seq: int, limit: int, base_url: str
) -> wire.NotificationPage:
    rows, last_seq, unread = _page_rows(connection, agent_id, after_seq, limit)
    notifications = tuple(
        render_notification(
            json.loads(row[2]),
            seq=int(row[0]),
            read=bool(row[1]),
            agent_id=agent_id,
            base_url=base_url,
        )
        for row in rows[:limit]
    )
    return wire.NotificationPage(
        notifications=notifications,
        unread_count=unread,
        last_seq=last_seq,
        has_more=len(rows) > limit,
    )


def notification_page_json(
    connection: sqlite3.Connection, agent_id: int, after_seq: int, limit: int, base_url: str
) -> bytes:
    """:func:`list_notifications` as the JSON body of ``GET /notifications``, spliced from
    each row's stored wire text (``notifications.wire``, schema 7) instead of decoding,
    rebuilding and re-encoding every snapshot: a fifth of the CPU time a row (the first
    sign-in reads every row; benchmarks/README.md). The same JSON once parsed
    (tests/test_server_history_page.py)."""
    rows, last_seq, unread = _page_rows(connection, agent_id, after_seq, limit)
    base = wire.encode_json(base_url)[1:-1]
    # Each row grows by its read flag and the public URL before its one or two links.
    row_growth = len(_UNREAD) + 2 * len(base.encode())
    items: list[str] = []
    size = 0
    more = len(rows) > limit
    for seq, read, snapshot, text in rows[:limit]:
        if text is None:  # not rendered by the trigger (never expected): the long way
            rendered = render_notification(
                json.loads(snapshot), seq=seq, read=bool(read), agent_id=agent_id, base_url=""
            )
            item = wire.encode_json(rendered.to_json())
        else:
            item = text[:-1] + (_READ if read else _UNREAD)
        size += (len(item) if item.isascii() else len(item.encode())) + row_growth + 1
        if items and size > PAGE_BODY_BUDGET:
            # 500 rows of long messages pass the 1 MiB a client takes (docs/protocol.md):
            # a shorter page, and the client asks for the rest.
            more = True
            break
        items.append(item)
    # The links were stored relative to the server: prefix them with its public URL. A JSON
    # string cannot hold an unescaped quote, so '"url":"/tickets/' occurs only where our own
    # url keys start their value, never inside a subject or a message.
    return (
        '{"notifications":['
        + ",".join(items).replace(_RELATIVE_URL, f'"url":"{base}/tickets/')
        + f'],"unread_count":{unread},"last_seq":{last_seq},'
        + ('"has_more":true}' if more else '"has_more":false}')
    ).encode()


# Half the body limit: room for the page's own keys and any client that counts differently.
PAGE_BODY_BUDGET: Final = wire.MAX_FRAME_BYTES // 2
_READ: Final = ',"read":true}'
_UNREAD: Final = ',"read":false}'
_RELATIVE_URL: Final = '"url":"/tickets/'


def _result(connection: sqlite3.Connection, agent_id: int, changed: int) -> wire.ActionResult:
    return wire.ActionResult(
        seq=head_seq(connection, agent_id),
        changed=changed,
        unread_count=unread_count(connection, agent_id),
    )


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), wire.MAX_IDS_PER_EVENT):
        yield ids[start : start + wire.MAX_IDS_PER_EVENT]


def _mark(connection: sqlite3.Connection, agent_id: int, ids: list[int], read: bool) -> int:
    """Set ``read`` on ``ids`` (all currently in the other state) and log it; in a transaction."""
    if not ids:
        return 0
    # One statement for any number of ids (viewing a ticket must not cost one per notification).
    flipped = connection.execute(
        "UPDATE notifications SET read = ? WHERE id IN (SELECT value FROM json_each(?))"
        " AND read != ?",
        (int(read), json.dumps(ids), int(read)),
    ).rowcount
    _add_unread(connection, agent_id, -flipped if read else flipped)
    for chunk in _chunks([str(i) for i in ids]):
        append_event(connection, agent_id, "read_state", {"ids": chunk, "read": read})
    return len(ids)


def remove_notifications(connection: sqlite3.Connection, agent_id: int, ids: list[int]) -> int:
    """Delete the agent's notifications ``ids`` and log it; call inside a transaction."""
    return _remove(connection, agent_id, ids)


def _remove(connection: sqlite3.Connection, agent_id: int, ids: list[int]) -> int:
    if not ids:
        return 0
    connection.executemany("DELETE FROM notifications WHERE id = ?", [(i,) for i in ids])
    for chunk in _chunks([str(i) for i in ids]):
        append_event(connection, agent_id, "deleted", {"ids": chunk})
    return len(ids)


def _own_notification(
    connection: sqlite3.Connection, agent_id: int, notification_id: str
) -> tuple[int, bool]:
    # Another agent's id answers exactly like a missing one: never reveal that it exists.
    row = None
    key = parse_id(notification_id)
    if key is not None:
        row = connection.execute(
            "SELECT id, read FROM notifications WHERE id = ? AND agent_id = ?",
            (key, agent_id),
        ).fetchone()
    if row is None:
        raise not_found("notification")
    return int(row[0]), bool(row[1])


def set_read(
    connection: sqlite3.Connection, agent_id: int, notification_id: str, read: bool
) -> wire.ActionResult:
    with transaction(connection):
        row_id, current = _own_notification(connection, agent_id, notification_id)
        changed = _mark(connection, agent_id, [row_id] if current != read else [], read)
        return _result(connection, agent_id, changed)


def mark_all_read(
    connection: sqlite3.Connection, agent_id: int, up_to_seq: int
) -> wire.ActionResult:
    with transaction(connection):
        ids = [
            int(r[0])
            for r in connection.execute(
                "SELECT id FROM notifications WHERE agent_id = ? AND read = 0 AND seq <= ?"
                " ORDER BY seq",
                (agent_id, up_to_seq),
            )
        ]
        return _result(connection, agent_id, _mark(connection, agent_id, ids, True))


def mark_ticket_read(connection: sqlite3.Connection, agent_id: int, ticket_id: int) -> int:
    """Mark the agent's unread notifications about a ticket read; call inside a transaction."""
    ids = [
        int(r[0])
        for r in connection.execute(
            "SELECT id FROM notifications WHERE agent_id = ? AND ticket_id = ? AND read = 0"
            " ORDER BY seq",
            (agent_id, ticket_id),
        )
    ]
    return _mark(connection, agent_id, ids, True)


def delete(
    connection: sqlite3.Connection, agent_id: int, notification_id: str
) -> wire.ActionResult:
    with transaction(connection):
        row_id, _ = _own_notification(connection, agent_id, notification_id)
        return _result(connection, agent_id, _remove(connection, agent_id, [row_id]))


def clear(
    connection: sqlite3.Connection, agent_id: int, scope: wire.ClearScope
) -> wire.ActionResult:
    only_read = " AND read = 1" if scope is wire.ClearScope.READ else ""
    with transaction(connection):
        ids = [
            int(r[0])
            for r in connection.execute(
                f"SELECT id FROM notifications WHERE agent_id = ?{only_read} ORDER BY seq",  # noqa: S608
                (agent_id,),
            )
        ]
        return _result(connection, agent_id, _remove(connection, agent_id, ids))


def recent_notifications(
    connection: sqlite3.Connection,
    agent_id: int,
    base_url: str,
    *,
    limit: int,
    unread_only: bool = False,
    kind: wire.NotificationType | None = None,
) -> list[wire.Notification]:
    """The agent's newest notifications first (the web notification center), filtered."""
    where = "agent_id = ?" + (" AND read = 0" if unread_only else "")
    args: list[object] = [agent_id]
    if kind is not None:
        where += " AND json_extract(snapshot, '$.type') = ?"
        args.append(kind.value)
    rows = connection.execute(
        f"SELECT seq, read, snapshot FROM notifications WHERE {where}"  # noqa: S608
        " ORDER BY seq DESC LIMIT ?",
        (*args, limit),
    ).fetchall()
    return [
        render_notification(
            json.loads(row[2]),
            seq=int(row[0]),
            read=bool(row[1]),
            agent_id=agent_id,
            base_url=base_url,
        )
        for row in rows
    ]


def newest_notification_seq(connection: sqlite3.Connection, agent_id: int) -> int:
    """The seq of the agent's newest notification (0: none): the bell's "new since" mark."""
    row = connection.execute(
        "SELECT MAX(seq) FROM notifications WHERE agent_id = ?", (agent_id,)
    ).fetchone()
    return int(row[0] or 0)


def agents(connection: sqlite3.Connection) -> list[User]:
    """Every active agent, by name (the assign menu and the @mention picker: a deactivated
    agent can be neither assigned nor notified)."""
    return [
        _user(row)
        for row in connection.execute(
            f"SELECT {_USER_COLUMNS} FROM users"  # noqa: S608
            " WHERE kind = 'agent' AND deactivated_at IS NULL ORDER BY name"
        )
    ]


def team_names(connection: sqlite3.Connection) -> list[str]:
    return [str(row[0]) for row in connection.execute("SELECT name FROM teams ORDER BY name")]
