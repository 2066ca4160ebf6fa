"""The wire contract (docs/protocol.md) as typed, validated Python values.

Both the tray client and the reference server import this module and nothing else of each
other. It is stdlib only on purpose: the core layer must stay free of third-party code, and the
volumes involved (a few events a second at most) do not need a compiled validator. Every parser
checks types, required fields, enumerations and sizes, and raises :class:`WireError` with a
machine-readable code and a sentence a human can act on; nothing is silently coerced.

Shape of the module:

* value types: :class:`Actor`, :class:`TicketRef`, :class:`CommentRef`, :class:`Notification`,
  :class:`AgentInfo`, :class:`Preferences` (and its parts);
* server → client stream events (:data:`ServerEvent`), client → server :class:`ResumeRequest`,
  and :class:`SkippedEvent`, what a client's stream yields for a log event it cannot read;
* REST bodies: :class:`NotificationPage`, :class:`ActionResult`, :class:`ApiError`;
* ``parse_*`` functions from decoded JSON (or raw text) and ``*.to_json()`` back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, TypeGuard, TypeVar

PROTOCOL_VERSION: Final = 1

# Size limits. They are part of the contract: a peer that sends more is rejected, never
# truncated silently.
MAX_FRAME_BYTES: Final = 1_048_576  # one WebSocket frame / one REST body
MAX_MESSAGE_CHARS: Final = 4_000
MAX_SUBJECT_CHARS: Final = 500
MAX_NAME_CHARS: Final = 200
MAX_ID_CHARS: Final = 64
MAX_URL_CHARS: Final = 2_048
# The largest `limit` of a history page (docs/protocol.md, section 5). Servers older than it
# accept up to LEGACY_PAGE_LIMIT and answer a larger one with 400; a client falls back.
MAX_PAGE_LIMIT: Final = 2_000
LEGACY_PAGE_LIMIT: Final = 500
MAX_IDS_PER_EVENT: Final = 10_000
# An ``events`` frame (several log events in one frame, section 4.2 of docs/protocol.md).
MAX_EVENTS_PER_FRAME: Final = 1_000
# A seq a client stores (an event's, a notification's, a page's last_seq) fits SQLite's INTEGER.
MAX_SEQ: Final = 2**63 - 1


class WireError(ValueError):
    """A message that does not follow the contract.

    ``code`` is machine-readable (``malformed_json``, ``invalid_field``, ``missing_field``,
    ``unknown_type``, ``too_large``); ``str(err)`` is a sentence for logs and status lines.
    ``seq`` is the seq of the log event that broke the contract when the frame's own ``seq``
    was readable (so a client can move its cursor past an event it can never apply).
    """

    def __init__(self, code: str, message: str, *, seq: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.seq = seq


class NotificationType(StrEnum):
    ASSIGNMENT = "assignment"
    MENTION = "mention"
    REACTION = "reaction"


class ActorKind(StrEnum):
    AGENT = "agent"
    CUSTOMER = "customer"
    SYSTEM = "system"


class EmailFrequency(StrEnum):
    INSTANT = "instant"
    HOURLY_DIGEST = "hourly_digest"
    DAILY_DIGEST = "daily_digest"


class Reason(StrEnum):
    """Why a notification was created: lets a client word its one-line summary precisely.

    Optional on the wire; a client that gets none (or one it does not know) falls back to a
    summary by ``type``.
    """

    ASSIGNED = "assigned"  # another agent assigned the ticket to you
    AUTO_ASSIGNED = "auto_assigned"  # an assignment rule (round-robin) picked you
    MENTIONED = "mentioned"  # @username in a comment
    CUSTOMER_REPLIED = "customer_replied"  # the customer replied on your ticket
    CUSTOMER_REOPENED = "customer_reopened"  # the customer reopened your resolved ticket
    COMMENT_REACTION = "comment_reaction"  # people reacted to your comment (folded)


class ClearScope(StrEnum):
    READ = "read"
    ALL = "all"


# --------------------------------------------------------------------------- field checks

JsonObject = Mapping[str, Any]
_E = TypeVar("_E", bound=StrEnum)


def _where(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# How much of a value an error message quotes: the peer's error messages are logged, and a
# 1 MiB value quoted whole would be a 1 MiB log line (five of them wipe the app's log).
_SHOWN_CHARS: Final = 60


def _shown(value: object) -> str:
    """``repr(value)`` for an error message, cut to :data:`_SHOWN_CHARS`."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def _obj(value: object, path: str) -> JsonObject:
    if not isinstance(value, Mapping):
        raise WireError("invalid_field", f"{path or 'message'} must be a JSON object")
    return value


# The checks below run for every field of every event and history row (a replay of 10,000,
# a first sign-in of 50,000): each does the common case with as few calls as it can and
# builds its error message only when there is an error (benchmarks/README.md).


def _present(data: JsonObject, key: str, path: str) -> Any:
    try:
        return data[key]
    except KeyError:
        raise WireError("missing_field", f"{_where(path, key)} is missing") from None


def _str(
    data: JsonObject, key: str, path: str, *, max_chars: int, allow_empty: bool = False
) -> str:
    value = _present(data, key, path)
    if type(value) is str and (value or allow_empty) and len(value) <= max_chars:
        if not value.isascii():
            _check_unicode(value, _where(path, key))
        return value
    if not isinstance(value, str):
        raise WireError("invalid_field", f"{_where(path, key)} must be a string")
    if not value and not allow_empty:
        raise WireError("invalid_field", f"{_where(path, key)} must not be empty")
    if len(value) > max_chars:
        raise WireError(
            "too_large", f"{_where(path, key)} has {len(value)} characters, limit {max_chars}"
        )
    _check_unicode(value, _where(path, key))  # a str subclass: checked the long way
    return value


def _check_unicode(value: str, where: str) -> None:
    """Refuse a lone surrogate (JSON's ``"\\ud800"`` escape decodes to one): it is not text,
    and no UTF-8 store (SQLite, a log file, a toast) can hold it."""
    if not _is_text(value):
        raise WireError("invalid_field", f"{where} holds a lone surrogate (not valid Unicode text)")


def _is_text(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(value: object, max_chars: int, *, allow_empty: bool = False) -> TypeGuard[str]:
    """Whether ``value`` is a string :func:`_str` accepts (for the quick paths, which need a
    yes or no; the strict path says what is wrong)."""
    return (
        type(value) is str
        and len(value) <= max_chars
        and (allow_empty or value != "")
        and _is_text(value)
    )


def _int(
    data: JsonObject, key: str, path: str, *, minimum: int = 0, maximum: int | None = None
) -> int:
    value = _present(data, key, path)
    if type(value) is int and value >= minimum and (maximum is None or value <= maximum):
        return value
    # bool is an int subclass in Python; on the wire it is not a number.
    if not isinstance(value, int) or isinstance(value, bool):
        raise WireError("invalid_field", f"{_where(path, key)} must be an integer")
    if value < minimum:
        raise WireError("invalid_field", f"{_where(path, key)} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise WireError("invalid_field", f"{_where(path, key)} must be at most {maximum}")
    return value


def _seq(data: JsonObject, key: str, path: str, *, minimum: int = 0) -> int:
    return _int(data, key, path, minimum=minimum, maximum=MAX_SEQ)


def _bool(data: JsonObject, key: str, path: str) -> bool:
    value = _present(data, key, path)
    if value is True or value is False:
        return bool(value)
    raise WireError("invalid_field", f"{_where(path, key)} must be true or false")


def _enum(data: JsonObject, key: str, path: str, enum: type[_E]) -> _E:
    value = _present(data, key, path)
    if type(value) is str:
        # The members by value: a dict lookup, where calling the enum costs ten times more.
        member: _E | None = enum._value2member_map_.get(value)  # type: ignore[assignment]
        if member is not None:
            return member
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise WireError(
            "unknown_type" if key == "type" else "invalid_field",
            f"{_where(path, key)} is {_shown(value)}; expected one of {allowed}",
        ) from None


_ABSOLUTE_HTTP_URL: Final = re.compile(r"^https?://[^\s/]+", flags=re.IGNORECASE)


def _url(data: JsonObject, key: str, path: str) -> str:
    value = _str(data, key, path, max_chars=MAX_URL_CHARS)
    # The wire only carries absolute http(s) URLs; whether the client opens one is decided
    # later by the link allow-list against the configured helpdesk origin.
    if not _ABSOLUTE_HTTP_URL.match(value):
        raise WireError("invalid_field", f"{_where(path, key)} must be an absolute http(s) URL")
    return value


def _id_list(data: JsonObject, key: str, path: str) -> tuple[str, ...]:
    value = _present(data, key, path)
    if not isinstance(value, list):
        raise WireError("invalid_field", f"{_where(path, key)} must be a list of ids")
    if len(value) > MAX_IDS_PER_EVENT:
        raise WireError("too_large", f"{_where(path, key)} has more than {MAX_IDS_PER_EVENT} ids")
    ids: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item or len(item) > MAX_ID_CHARS:
            raise WireError("invalid_field", f"{_where(path, key)}[{index}] must be an id string")
        _check_unicode(item, f"{_where(path, key)}[{index}]")
        ids.append(item)
    return tuple(ids)


def parse_timestamp(value: object, where: str = "created_at") -> datetime:
    """RFC 3339 with an explicit offset, returned in UTC."""
    if not isinstance(value, str) or len(value) > 40:
        raise WireError("invalid_field", f"{where} must be an RFC 3339 timestamp string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise WireError(
            "invalid_field", f"{where} is not an RFC 3339 timestamp: {value!r}"
        ) from None
    if parsed.tzinfo is None:
        raise WireError("invalid_field", f"{where} must carry a time zone offset (use Z)")
    return parsed.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """UTC, second precision plus microseconds when present, with a ``Z`` suffix."""
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


def decode_json(raw: str | bytes, max_bytes: int = MAX_FRAME_BYTES) -> Any:
    """Decode a frame or body, enforcing the size limit (this contract's, unless another
    helpdesk's adapter names its own) before parsing."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > max_bytes:
        raise WireError("too_large", f"message of {size} bytes exceeds {max_bytes} bytes")
    try:
        return json.loads(raw)
    except ValueError as exc:
        # JSONDecodeError and UnicodeDecodeError are ValueErrors, and so is CPython's refusal of
        # integers longer than 4,300 digits (a cheap denial-of-service otherwise).
        raise WireError("malformed_json", f"message is not valid JSON: {exc}") from None
    except RecursionError:
        # Valid JSON nested deeper than the interpreter's recursion limit (~1,000): a 2 KB
        # frame of brackets. No message of the contract nests more than four levels.
        raise WireError("malformed_json", "message is nested too deeply") from None


def encode_json(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


# --------------------------------------------------------------------------- value types


@dataclass(frozen=True, slots=True)
class Actor:
    """Who caused a notification. ``id`` is the helpdesk's id for that person."""

    kind: ActorKind
    id: str
    name: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "id": self.id, "name": self.name}

    @classmethod
    def parse(cls, data: object, path: str = "from") -> Actor:
        obj = _obj(data, path)
        return cls(
            kind=_enum(obj, "kind", path, ActorKind),
            id=_str(obj, "id", path, max_chars=MAX_ID_CHARS),
            name=_str(obj, "name", path, max_chars=MAX_NAME_CHARS),
        )


@dataclass(frozen=True, slots=True)
class TicketRef:
    id: str
    subject: str
    url: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "subject": self.subject, "url": self.url}

    @classmethod
    def parse(cls, data: object, path: str = "ticket") -> TicketRef:
        obj = _obj(data, path)
        return cls(
            id=_str(obj, "id", path, max_chars=MAX_ID_CHARS),
            subject=_str(obj, "subject", path, max_chars=MAX_SUBJECT_CHARS, allow_empty=True),
            url=_url(obj, "url", path),
        )


@dataclass(frozen=True, slots=True)
class CommentRef:
    id: str
    url: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url}

    @classmethod
    def parse(cls, data: object, path: str = "comment") -> CommentRef:
        obj = _obj(data, path)
        return cls(id=_str(obj, "id", path, max_chars=MAX_ID_CHARS), url=_url(obj, "url", path))


@dataclass(frozen=True, slots=True)
class Notification:
    """One notification for one agent.

    ``seq`` is the seq of the event that last wrote this notification (its creation, or a
    later fold such as "3 people reacted"); read-state changes and deletions have seqs of
    their own and do not change this field.
    """

    id: str
    seq: int
    type: NotificationType
    sender: Actor | None  # "from" on the wire
    to: str
    ticket: TicketRef
    comment: CommentRef | None
    message: str
    read: bool
    created_at: datetime
    reason: Reason | None = None

    @property
    def link(self) -> str:
        """Where a click leads: the comment for mentions and reactions on it, else the ticket."""
        return self.comment.url if self.comment is not None else self.ticket.url

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "type": self.type.value,
            "from": self.sender.to_json() if self.sender is not None else None,
            "to": self.to,
            "ticket": self.ticket.to_json(),
            "comment": self.comment.to_json() if self.comment is not None else None,
            "message": self.message,
            "read": self.read,
            "created_at": format_timestamp(self.created_at),
            **({"reason": self.reason.value} if self.reason is not None else {}),
        }

    @classmethod
    def parse(cls, data: object, path: str = "notification") -> Notification:
        return _quick_notification(data) or cls.parse_strictly(data, path)

    @classmethod
    def parse_strictly(cls, data: object, path: str = "notification") -> Notification:
        """:meth:`parse` the long way, field by field, naming the first thing that is wrong
        (:meth:`parse` tries a quick path first, which only says yes or no)."""
        obj = _obj(data, path)
        sender_raw = _present(obj, "from", path)
        comment_raw = _present(obj, "comment", path)
        return cls(
            id=_str(obj, "id", path, max_chars=MAX_ID_CHARS),
            seq=_seq(obj, "seq", path, minimum=1),
            type=_enum(obj, "type", path, NotificationType),
            sender=None if sender_raw is None else Actor.parse(sender_raw, _where(path, "from")),
            to=_str(obj, "to", path, max_chars=MAX_ID_CHARS),
            ticket=TicketRef.parse(_present(obj, "ticket", path), _where(path, "ticket")),
            comment=None
            if comment_raw is None
            else CommentRef.parse(comment_raw, _where(path, "comment")),
            message=_str(obj, "message", path, max_chars=MAX_MESSAGE_CHARS, allow_empty=True),
            read=_bool(obj, "read", path),
            created_at=parse_timestamp(
                _present(obj, "created_at", path), _where(path, "created_at")
            ),
            reason=_optional_reason(obj.get("reason")),
        )


def _optional_reason(value: object) -> Reason | None:
    # Unknown reasons are dropped, not rejected: a newer server may add some.
    if type(value) is not str:
        return None
    return _REASONS.get(value)


_NOTIFICATION_TYPES: Final = {member.value: member for member in NotificationType}
_ACTOR_KINDS: Final = {member.value: member for member in ActorKind}
_REASONS: Final = {member.value: member for member in Reason}


def _http_url(value: object) -> TypeGuard[str]:
    return _text(value, MAX_URL_CHARS) and _ABSOLUTE_HTTP_URL.match(value) is not None


@dataclass(frozen=True, slots=True)
class AgentInfo:
    id: str
    username: str
    name: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "name": self.name}

    @classmethod
    def parse(cls, data: object, path: str = "agent") -> AgentInfo:
        obj = _obj(data, path)
        return cls(
            id=_str(obj, "id", path, max_chars=MAX_ID_CHARS),
            username=_str(obj, "username", path, max_chars=MAX_NAME_CHARS),
            name=_str(obj, "name", path, max_chars=MAX_NAME_CHARS),
        )


# --------------------------------------------------------------------------- preferences

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class QuietRange:
    """Quiet from ``start`` on ``day`` (0 = Monday) to ``end``; an end not after the start
    means the range crosses midnight into the next day."""

    day: int
    start: str  # "HH:MM"
    end: str  # "HH:MM"

    def to_json(self) -> dict[str, Any]:
        return {"day": self.day, "start": self.start, "end": self.end}

    @classmethod
    def parse(cls, data: object, path: str) -> QuietRange:
        obj = _obj(data, path)
        day = _int(obj, "day", path)
        if day > 6:
            raise WireError("invalid_field", f"{_where(path, 'day')} must be 0 (Monday) to 6")
        return cls(day=day, start=_hhmm(obj, "start", path), end=_hhmm(obj, "end", path))


def _hhmm(obj: JsonObject, key: str, path: str) -> str:
    value = _str(obj, key, path, max_chars=5)
    if not _HHMM.match(value):
        raise WireError("invalid_field", f"{_where(path, key)} must be HH:MM, got {_shown(value)}")
    return value


@dataclass(frozen=True, slots=True)
class EmailPreferences:
    """What the helpdesk mails the agent, and when.

    ``digest_time`` is the local time (in :attr:`Preferences.timezone`) of the daily digest.
    ``only_when_disconnected``: instant mail is sent only for a notification that arrived while
    the agent had no stream open and that is still unread after the server's grace period.
    Both were added after protocol version 1 shipped, so a peer may omit them: they then take
    these defaults (and the reference server keeps the stored value on ``PUT``).
    """

    enabled: bool = False
    frequency: EmailFrequency = EmailFrequency.INSTANT
    types: frozenset[NotificationType] = frozenset(NotificationType)
    digest_time: str = "08:00"  # "HH:MM"
    only_when_disconnected: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "frequency": self.frequency.value,
            "types": _types_to_json(self.types),
            "digest_time": self.digest_time,
            "only_when_disconnected": self.only_when_disconnected,
        }

    @classmethod
    def parse(cls, data: object, path: str = "email") -> EmailPreferences:
        obj = _obj(data, path)
        defaults = cls()
        return cls(
            enabled=_bool(obj, "enabled", path),
            frequency=_enum(obj, "frequency", path, EmailFrequency),
            types=_parse_types(obj, "types", path),
            digest_time=_hhmm(obj, "digest_time", path)
            if "digest_time" in obj
            else defaults.digest_time,
            only_when_disconnected=_bool(obj, "only_when_disconnected", path)
            if "only_when_disconnected" in obj
            else defaults.only_when_disconnected,
        )


# Fields of :class:`EmailPreferences` a version 1 peer may omit (see its docstring).
EMAIL_OPTIONAL_FIELDS: Final = ("digest_time", "only_when_disconnected")


def _types_to_json(types: Iterable[NotificationType]) -> list[str]:
    return [t.value for t in NotificationType if t in set(types)]


def _parse_types(obj: JsonObject, key: str, path: str) -> frozenset[NotificationType]:
    value = _present(obj, key, path)
    if not isinstance(value, list):
        raise WireError("invalid_field", f"{_where(path, key)} must be a list of types")
    types = set()
    for index, item in enumerate(value):
        try:
            types.add(NotificationType(item))
        except ValueError:
            raise WireError(
                "unknown_type",
                f"{_where(path, key)}[{index}] is not a notification type: {_shown(item)}",
            ) from None
    return frozenset(types)


@dataclass(frozen=True, slots=True)
class Preferences:
    """An agent's notification preferences, kept by the helpdesk (``/me/preferences``)."""

    in_app: bool = True
    types: frozenset[NotificationType] = frozenset(NotificationType)
    comment_reactions: bool = True
    email: EmailPreferences = field(default_factory=EmailPreferences)
    quiet_hours: tuple[QuietRange, ...] = ()
    timezone: str = "UTC"

    def to_json(self) -> dict[str, Any]:
        return {
            "in_app": self.in_app,
            "types": _types_to_json(self.types),
            "comment_reactions": self.comment_reactions,
            "email": self.email.to_json(),
            "quiet_hours": [r.to_json() for r in self.quiet_hours],
            "timezone": self.timezone,
        }

    @classmethod
    def parse(cls, data: object, path: str = "") -> Preferences:
        obj = _obj(data, path)
        ranges_raw = _present(obj, "quiet_hours", path)
        if not isinstance(ranges_raw, list) or len(ranges_raw) > 70:
            raise WireError("invalid_field", f"{_where(path, 'quiet_hours')} must be a list (≤ 70)")
        return cls(
            in_app=_bool(obj, "in_app", path),
            types=_parse_types(obj, "types", path),
            comment_reactions=_bool(obj, "comment_reactions", path),
            email=EmailPreferences.parse(_present(obj, "email", path), _where(path, "email")),
            quiet_hours=tuple(
                QuietRange.parse(item, f"{_where(path, 'quiet_hours')}[{i}]")
                for i, item in enumerate(ranges_raw)
            ),
            timezone=_str(obj, "timezone", path, max_chars=64),
        )


# --------------------------------------------------------------------------- stream events


class EventType(StrEnum):
    HELLO = "hello"
    NOTIFICATION = "notification"
    READ_STATE = "read_state"
    DELETED = "deleted"
    UNREAD_COUNT = "unread_count"
    SYNCED = "synced"
    RESET = "reset"
    ERROR = "error"
    EVENTS = "events"


@dataclass(frozen=True, slots=True)
class Hello:
    """The server's first message on a stream."""

    protocol: int
    agent: AgentInfo
    last_seq: int

    def to_json(self) -> dict[str, Any]:
        return {
            "type": EventType.HELLO.value,
            "protocol": self.protocol,
            "agent": self.agent.to_json(),
            "last_seq": self.last_seq,
        }


@dataclass(frozen=True, slots=True)
class NotificationEvent:
    """A notification was created, or re-issued with new content (a folded reaction)."""

    seq: int
    notification: Notification

    def to_json(self) -> dict[str, Any]:
        return {
            "type": EventType.NOTIFICATION.value,
            "seq": self.seq,
            "notification": self.notification.to_json(),
        }


@dataclass(frozen=True, slots=True)
class ReadStateEvent:
    seq: int
    ids: tuple[str, ...]
    read: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "type": EventType.READ_STATE.value,
            "seq": self.seq,
            "ids": list(self.ids),
            "read": self.read,
        }


@dataclass(frozen=True, slots=True)
class DeletedEvent:
    seq: int
    ids: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"type": EventType.DELETED.value, "seq": self.seq, "ids": list(self.ids)}


@dataclass(frozen=True, slots=True)
class UnreadCountEvent:
    """The unread count after every event up to ``seq``; not itself a log entry."""

    seq: int
    count: int

    def to_json(self) -> dict[str, Any]:
        return {"type": EventType.UNREAD_COUNT.value, "seq": self.seq, "count": self.count}


@dataclass(frozen=True, slots=True)
class SyncedEvent:
    """The replay after ``resume`` is complete up to ``seq``; live events follow."""

    seq: int

    def to_json(self) -> dict[str, Any]:
        return {"type": EventType.SYNCED.value, "seq": self.seq}


@dataclass(frozen=True, slots=True)
class ResetEvent:
    """The server cannot replay after the cursor the client sent (it is ahead of the log, or
    the log was pruned). The client must drop its cache, page the history again, and resume
    after ``seq``."""

    seq: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"type": EventType.RESET.value, "seq": self.seq, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    code: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"type": EventType.ERROR.value, "code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """An event type this client does not know. Clients ignore it (forward compatibility)."""

    type: str
    seq: int | None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type}
        if self.seq is not None:
            data["seq"] = self.seq
        return data


@dataclass(frozen=True, slots=True)
class SkippedEvent:
    """A log event this client could not read: its ``seq`` was readable, the rest broke the
    contract (or the cache could not store it). Never sent by a server: a client's stream
    yields it in place of the frame so that the cursor moves past ``seq`` and the event is
    not replayed on every reconnect; the event itself is lost for this client, and logged."""

    seq: int
    error: str


ServerEvent = (
    Hello
    | NotificationEvent
    | ReadStateEvent
    | DeletedEvent
    | UnreadCountEvent
    | SyncedEvent
    | ResetEvent
    | ErrorEvent
    | UnknownEvent
)
# What a client's event stream yields: the server's events, and the log events it skipped.
StreamEvent = ServerEvent | SkippedEvent


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Several events in one frame (``{"type": "events", "events": [...]}``, section 4.2 of
    docs/protocol.md), sent only to a client that asked for them in its resume request.

    ``items`` are the events' JSON objects, not parsed yet: a client parses each with
    :func:`parse_batched_event`, as if it had come in a frame of its own, so that one bad
    item is skipped alone. Not a :data:`ServerEvent`: whoever reads frames unpacks it."""

    items: tuple[Any, ...]

    def to_json(self) -> dict[str, Any]:
        return {"type": EventType.EVENTS.value, "events": list(self.items)}


# What one frame holds: an event, or a batch of them.
ServerFrame = ServerEvent | EventBatch
# The characters of the events in one ``events`` frame a server sends (see batch_frames).
BATCH_FRAME_CHARS: Final = 64 * 1024


def batch_frames(frames: Iterable[str], max_chars: int = BATCH_FRAME_CHARS) -> Iterator[str]:
    """Events already encoded as frames of their own (:func:`encode_json`), regrouped into
    ``events`` frames of at most ``max_chars`` characters (so at most four times as many
    bytes, well under :data:`MAX_FRAME_BYTES`) and :data:`MAX_EVENTS_PER_FRAME` events; an
    event too large to share a frame is sent alone, as it is."""
    head, tail = '{"type":"events","events":[', "]}"
    budget = max_chars - len(head) - len(tail)
    group: list[str] = []
    size = 0
    for frame in frames:
        if len(frame) >= budget:
            yield from _grouped(group, head, tail)
            group, size = [], 0
            yield frame
            continue
        if size + len(frame) + 1 > budget or len(group) == MAX_EVENTS_PER_FRAME:
            yield from _grouped(group, head, tail)
            group, size = [], 0
        group.append(frame)
        size += len(frame) + 1
    yield from _grouped(group, head, tail)


def _grouped(group: list[str], head: str, tail: str) -> Iterator[str]:
    if len(group) == 1:
        yield group[0]
    elif group:
        yield head + ",".join(group) + tail


def parse_batched_event(item: object) -> ServerEvent:
    """One item of an :class:`EventBatch`, parsed as a frame of its own would be (a
    :class:`WireError` keeps the item's ``seq`` when it was readable); a batch inside a
    batch breaks the contract."""
    if not isinstance(item, Mapping):
        raise WireError("invalid_field", "an item of events must be a JSON object")
    event = parse_server_event(item)
    if isinstance(event, EventBatch):
        raise WireError("invalid_field", "an item of events must not be an events frame")
    return event


def parse_server_event(raw: str | bytes | JsonObject) -> ServerFrame:
    """Parse one server → client frame. Unknown ``type`` values give :class:`UnknownEvent`;
    an ``events`` frame gives an :class:`EventBatch`, whose items the caller parses."""
    data = _obj(raw if isinstance(raw, Mapping) else decode_json(raw), "")
    kind = _present(data, "type", "")
    if not isinstance(kind, str) or not kind or len(kind) > 64:
        raise WireError("invalid_field", "type must be a short string")
    try:
        event_type = EventType(kind)
    except ValueError:
        seq = data.get("seq")
        return UnknownEvent(
            type=kind, seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else None
        )
    if event_type is EventType.HELLO:
        return Hello(
            protocol=_int(data, "protocol", "", minimum=1),
            agent=AgentInfo.parse(_present(data, "agent", ""), "agent"),
            last_seq=_int(data, "last_seq", ""),
        )
    if event_type is EventType.ERROR:
        return ErrorEvent(
            code=_str(data, "code", "", max_chars=64),
            message=_str(data, "message", "", max_chars=MAX_MESSAGE_CHARS, allow_empty=True),
        )
    if event_type is EventType.EVENTS:
        items = _present(data, "events", "")
        if not isinstance(items, list):
            raise WireError("invalid_field", "events must be a list of events")
        if len(items) > MAX_EVENTS_PER_FRAME:
            raise WireError("too_large", f"events has more than {MAX_EVENTS_PER_FRAME} events")
        return EventBatch(tuple(items))
    seq = _seq(data, "seq", "")
    if event_type in _LOG_EVENTS:
        try:
            return _parse_log_event(event_type, seq, data)
        except WireError as error:
            raise WireError(error.code, str(error), seq=seq) from None
    if event_type is EventType.UNREAD_COUNT:
        return UnreadCountEvent(seq=seq, count=_int(data, "count", ""))
    if event_type is EventType.SYNCED:
        return SyncedEvent(seq=seq)
    return ResetEvent(seq=seq, reason=_str(data, "reason", "", max_chars=MAX_MESSAGE_CHARS))


_LOG_EVENTS: Final = (EventType.NOTIFICATION, EventType.READ_STATE, EventType.DELETED)


def _parse_log_event(event_type: EventType, seq: int, data: JsonObject) -> ServerEvent:
    if event_type is EventType.NOTIFICATION:
        notification = Notification.parse(_present(data, "notification", ""), "notification")
        if notification.seq != seq:
            raise WireError(
                "invalid_field", f"notification.seq {notification.seq} differs from event seq {seq}"
            )
        return NotificationEvent(seq=seq, notification=notification)
    if event_type is EventType.READ_STATE:
        return ReadStateEvent(seq=seq, ids=_id_list(data, "ids", ""), read=_bool(data, "read", ""))
    return DeletedEvent(seq=seq, ids=_id_list(data, "ids", ""))


@dataclass(frozen=True, slots=True)
class ResumeRequest:
    """Client → server, first message on a stream: replay every event after ``after_seq``.
    ``batch``: the client reads ``events`` frames (:class:`EventBatch`); a server may then
    send the replay in them. Servers that do not know the field ignore it."""

    after_seq: int
    batch: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": "resume", "after_seq": self.after_seq}
        if self.batch:
            data["batch"] = True
        return data

    @classmethod
    def parse(cls, raw: str | bytes | JsonObject) -> ResumeRequest:
        data = _obj(raw if isinstance(raw, Mapping) else decode_json(raw), "")
        kind = _present(data, "type", "")
        if kind != "resume":
            raise WireError("unknown_type", f"expected a resume message, got type {_shown(kind)}")
        # Anything but true is "no": a client that does not say it reads batches gets none.
        return cls(after_seq=_int(data, "after_seq", ""), batch=data.get("batch") is True)


# --------------------------------------------------------------------------- REST bodies


@dataclass(frozen=True, slots=True)
class NotificationPage:
    """``GET /notifications``: notifications with seq > after_seq, ascending, at most limit.

    ``last_seq`` is the head of the agent's event log when the page was read; resuming the
    stream after the first page's ``last_seq`` once all pages are read misses nothing.
    """

    notifications: tuple[Notification, ...]
    unread_count: int
    last_seq: int
    has_more: bool
    # Client side only (never sent): the items ``parse(skip_bad=True)`` left out, as
    # (seq or None when unreadable, why), so paging can move past them.
    skipped: tuple[tuple[int | None, str], ...] = ()

    @property
    def end_seq(self) -> int:
        """The highest seq on this page, skipped items included (0 for an empty page): the
        next page starts after it."""
        seqs = [n.seq for n in self.notifications[-1:]]
        seqs += [seq for seq, _why in self.skipped if seq is not None]
        return max(seqs, default=0)

    def to_json(self) -> dict[str, Any]:
        return {
            "notifications": [n.to_json() for n in self.notifications],
            "unread_count": self.unread_count,
            "last_seq": self.last_seq,
            "has_more": self.has_more,
        }

    @classmethod
    def parse(cls, raw: str | bytes | JsonObject, *, skip_bad: bool = False) -> NotificationPage:
        """Strict by default (any bad item rejects the page, naming it). With ``skip_bad``
        (the client reading its history) a bad item is left out and listed in ``skipped``,
        as a bad stream event is: one unreadable notification must not block the others."""
        data = _obj(raw if isinstance(raw, Mapping) else decode_json(raw), "")
        items = _present(data, "notifications", "")
        if not isinstance(items, list):
            raise WireError("invalid_field", "notifications must be a list")
        notifications, skipped = _page_notifications(items, skip_bad=skip_bad)
        return cls(
            notifications=tuple(notifications),
            unread_count=_int(data, "unread_count", ""),
            last_seq=_seq(data, "last_seq", ""),
            has_more=_bool(data, "has_more", ""),
            skipped=tuple(skipped),
        )


def _page_notifications(
    items: list[Any], *, skip_bad: bool
) -> tuple[list[Notification], list[tuple[int | None, str]]]:
    """The rows of a history page: each one read by :func:`_quick_notification`, sharing the
    page's senders and tickets, or when it declines,
    by :meth:`Notification.parse_strictly`, which accepts it or names what is wrong."""
    notifications: list[Notification] = []
    skipped: list[tuple[int | None, str]] = []
    actors: dict[tuple[str, str, str], Actor] = {}
    tickets: dict[tuple[str, str, str], TicketRef] = {}
    for i, item in enumerate(items):
        notification = _quick_notification(item, actors, tickets)
        if notification is None:
            try:
                notification = Notification.parse_strictly(item, f"notifications[{i}]")
            except WireError as error:
                if not skip_bad:
                    raise
                skipped.append((_readable_seq(item), str(error)))
                continue
        notifications.append(notification)
    return notifications, skipped


def _slot_setter(cls: type, name: str) -> Callable[[object, object], None]:
    setter: Callable[[object, object], None] = cls.__dict__[name].__set__
    return setter


# _quick_notification builds a Notification by setting its slots directly: the frozen dataclass's
# __init__ sets each field through object.__setattr__, the largest part of a history row's
# cost after json.loads (benchmarks/README.md, "First sign-in"). No __init__ or
# __post_init__ runs, so the class must have none of its own.
_new = object.__new__
_set_id = _slot_setter(Notification, "id")
_set_seq = _slot_setter(Notification, "seq")
_set_type = _slot_setter(Notification, "type")
_set_sender = _slot_setter(Notification, "sender")
_set_to = _slot_setter(Notification, "to")
_set_ticket = _slot_setter(Notification, "ticket")
_set_comment = _slot_setter(Notification, "comment")
_set_message = _slot_setter(Notification, "message")
_set_read = _slot_setter(Notification, "read")
_set_created_at = _slot_setter(Notification, "created_at")
_set_reason = _slot_setter(Notification, "reason")
# The fields _quick_notification sets, in the class's order (tests/test_wire_page.py compares them).
_PAGE_ROW_FIELDS: Final = (
    "id", "seq", "type", "sender", "to", "ticket", "comment", "message", "read", "created_at",
    "reason",
)  # fmt: skip


def _quick_notification(
    data: object,
    actors: dict[tuple[str, str, str], Actor] | None = None,
    tickets: dict[tuple[str, str, str], TicketRef] | None = None,
) -> Notification | None:
    """:meth:`Notification.parse` of a notification that follows the contract, read with a
    call per part (ticket, sender, comment, time) rather than per field: every replayed
    event and every history row goes through it (a first sign-in reads 50,000). None for
    anything else, even what the strict path accepts, which then decides and names the
    error. A page's rows share few senders and tickets: given ``actors`` and ``tickets`` (the
    ones seen so far, keyed by their fields), each is checked and built once and shared, as
    equal frozen values may be. It checks exactly what :meth:`Notification.parse_strictly`
    checks (tests/test_wire.py and tests/test_wire_page.py hold them together)."""
    if type(data) is not dict:
        return None
    if actors is None:
        actors = {}
    if tickets is None:
        tickets = {}
    get = data.get
    nid, seq, kind, to, message = get("id"), get("seq"), get("type"), get("to"), get("message")
    read, created, ticket_raw, reason = get("read"), get("created_at"), get("ticket"), get("reason")
    if not (
        type(nid) is str
        and 0 < len(nid) <= MAX_ID_CHARS
        and type(seq) is int
        and 0 < seq <= MAX_SEQ
        and type(kind) is str
        and type(to) is str
        and 0 < len(to) <= MAX_ID_CHARS
        and type(message) is str
        and len(message) <= MAX_MESSAGE_CHARS
        and (read is True or read is False)
        and type(created) is str
        and len(created) <= 40
        and (nid.isascii() or _is_text(nid))
        and (to.isascii() or _is_text(to))
        and (message.isascii() or _is_text(message))
    ):
        return None
    notification_type = _NOTIFICATION_TYPES.get(kind)
    if notification_type is None:
        return None
    ticket = _shared(ticket_raw, _TICKET_FIELDS, tickets, _checked_ticket)
    if ticket is None:
        return None
    try:
        sender_raw, comment_raw = data["from"], data["comment"]
    except KeyError:
        return None
    sender = comment = None
    if sender_raw is not None:
        sender = _shared(sender_raw, _ACTOR_FIELDS, actors, _checked_actor)
        if sender is None:
            return None
    if comment_raw is not None:
        comment = _quick_comment(comment_raw)
        if comment is None:
            return None
    created_at = _quick_timestamp(created)
    if created_at is None:
        return None
    row = _new(Notification)
    _set_id(row, nid)
    _set_seq(row, seq)
    _set_type(row, notification_type)
    _set_sender(row, sender)
    _set_to(row, to)
    _set_ticket(row, ticket)
    _set_comment(row, comment)
    _set_message(row, message)
    _set_read(row, read)
    _set_created_at(row, created_at)
    _set_reason(row, _optional_reason(reason))
    return row


_Shared = TypeVar("_Shared", Actor, TicketRef)
_TICKET_FIELDS: Final = ("id", "subject", "url")
_ACTOR_FIELDS: Final = ("kind", "id", "name")


def _shared(
    data: object,
    names: tuple[str, str, str],
    known: dict[tuple[str, str, str], _Shared],
    checked: Callable[[str, str, str], _Shared | None],
) -> _Shared | None:
    """A row's ticket or sender (three string fields ``names``): the equal one read earlier
    on the page (``known``), else ``checked`` of the fields, kept in ``known`` when it
    follows the contract; None when it does not."""
    if type(data) is not dict:
        return None
    first, second, third = data.get(names[0]), data.get(names[1]), data.get(names[2])
    if type(first) is not str or type(second) is not str or type(third) is not str:
        return None
    key = (first, second, third)
    value = known.get(key)
    if value is None:
        value = checked(first, second, third)
        if value is not None:
            known[key] = value
    return value


def _checked_ticket(ticket_id: str, subject: str, url: str) -> TicketRef | None:
    if (
        _text(ticket_id, MAX_ID_CHARS)
        and _text(subject, MAX_SUBJECT_CHARS, allow_empty=True)
        and _http_url(url)
    ):
        return TicketRef(ticket_id, subject, url)
    return None


def _checked_actor(kind: str, actor_id: str, name: str) -> Actor | None:
    actor_kind = _ACTOR_KINDS.get(kind)
    if actor_kind is not None and _text(actor_id, MAX_ID_CHARS) and _text(name, MAX_NAME_CHARS):
        return Actor(actor_kind, actor_id, name)
    return None


def _quick_comment(data: object) -> CommentRef | None:
    """A row's comment reference when it follows the contract, else None."""
    if type(data) is not dict:
        return None
    c_id, c_url = data.get("id"), data.get("url")
    return CommentRef(c_id, c_url) if _text(c_id, MAX_ID_CHARS) and _http_url(c_url) else None


def _quick_timestamp(value: str) -> datetime | None:
    """:func:`parse_timestamp` of a string of at most 40 characters, None when it refuses."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return None if parsed.tzinfo is None else parsed.astimezone(UTC)


def _readable_seq(item: object) -> int | None:
    """The ``seq`` of an item that failed to parse, if that field itself is valid."""
    if not isinstance(item, Mapping):
        return None
    try:
        return _seq(item, "seq", "")
    except WireError:
        return None


@dataclass(frozen=True, slots=True)
class ActionResult:
    """Answer to a mark / delete / clear call. ``seq`` is the event it appended (or the log
    head when nothing changed), ``changed`` how many notifications it touched."""

    seq: int
    changed: int
    unread_count: int

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "changed": self.changed, "unread_count": self.unread_count}

    @classmethod
    def parse(cls, raw: str | bytes | JsonObject) -> ActionResult:
        data = _obj(raw if isinstance(raw, Mapping) else decode_json(raw), "")
        return cls(
            seq=_int(data, "seq", ""),
            changed=_int(data, "changed", ""),
            unread_count=_int(data, "unread_count", ""),
        )


@dataclass(frozen=True, slots=True)
class ApiError:
    """Every non-2xx REST answer: ``{"error": {"code": ..., "message": ...}}``."""

    code: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}

    @classmethod
    def parse(cls, raw: str | bytes | JsonObject) -> ApiError:
        data = _obj(raw if isinstance(raw, Mapping) else decode_json(raw), "")
        error = _obj(_present(data, "error", ""), "error")
        return cls(
            code=_str(error, "code", "error", max_chars=64),
            message=_str(error, "message", "error", max_chars=MAX_MESSAGE_CHARS, allow_empty=True),
        )
