"""Shared helpers for the engine's tests (cache, session, engine): notification factories
and a tiny reference model of the server's event log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from notifier.core.wire import (
    Actor,
    ActorKind,
    CommentRef,
    DeletedEvent,
    Notification,
    NotificationEvent,
    NotificationType,
    ReadStateEvent,
    Reason,
    TicketRef,
)

BASE_TIME = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TYPES = list(NotificationType)


def make_notification(
    notification_id: str,
    seq: int,
    *,
    read: bool = False,
    type_: NotificationType | None = None,
    message: str | None = None,
) -> Notification:
    kind = type_ if type_ is not None else TYPES[seq % len(TYPES)]
    return Notification(
        id=notification_id,
        seq=seq,
        type=kind,
        sender=Actor(ActorKind.AGENT, "a-2", "Bea Baker") if seq % 2 else None,
        to="a-1",
        ticket=TicketRef(
            f"t-{notification_id}",
            f"Printer on fire {notification_id}",
            f"https://helpdesk.test/tickets/{notification_id}",
        ),
        comment=CommentRef("c-1", f"https://helpdesk.test/tickets/{notification_id}#comment-c-1")
        if kind is NotificationType.MENTION
        else None,
        message=message if message is not None else f"message {notification_id} at {seq}",
        read=read,
        created_at=BASE_TIME + timedelta(seconds=seq),
        reason=Reason.MENTIONED if kind is NotificationType.MENTION else None,
    )


Event = NotificationEvent | ReadStateEvent | DeletedEvent


@dataclass
class LogModel:
    """The server's view, built by appending events in order (the truth tests compare to)."""

    events: list[Event] = field(default_factory=list)
    rows: dict[str, Notification] = field(default_factory=dict)

    @property
    def head(self) -> int:
        return len(self.events)

    def create(self, notification_id: str) -> NotificationEvent:
        """A new notification, or a re-issue of an existing id (unread again, new seq)."""
        seq = self.head + 1
        event = NotificationEvent(seq, make_notification(notification_id, seq))
        self.events.append(event)
        self.rows[notification_id] = event.notification
        return event

    def mark(self, ids: tuple[str, ...], read: bool) -> ReadStateEvent:
        event = ReadStateEvent(self.head + 1, ids, read)
        self.events.append(event)
        for notification_id in ids:
            if notification_id in self.rows:
                row = self.rows[notification_id]
                self.rows[notification_id] = make_notification(
                    row.id, row.seq, read=read, type_=row.type, message=row.message
                )
        return event

    def delete(self, ids: tuple[str, ...]) -> DeletedEvent:
        event = DeletedEvent(self.head + 1, ids)
        self.events.append(event)
        for notification_id in ids:
            self.rows.pop(notification_id, None)
        return event

    def view(self) -> list[tuple[str, int, bool]]:
        return sorted((n.id, n.seq, n.read) for n in self.rows.values())
