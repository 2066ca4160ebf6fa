"""Fakes for the tray app's true edges: the clock, timed wake-ups, the OS toast service and
the browser. Each implements the same Protocol as the real part, so mypy checks them too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from notifier.app.account import AccountService
from notifier.app.controller import AppController
from notifier.core.settings import Settings
from notifier.core.wire import (
    Actor,
    ActorKind,
    Notification,
    NotificationEvent,
    NotificationType,
    Reason,
    TicketRef,
)
from notifier.store.cache import NotificationCache
from notifier.ui.toasts import ToastRequest


class FakeClock:
    """core.ports.Clock with time that moves only when a test says so."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
        self._monotonic = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def set(self, when: datetime) -> None:
        self._monotonic += (when - self._now).total_seconds()
        self._now = when


@dataclass
class _FakeHandle:
    when: datetime
    callback: Callable[[], None]
    cancelled: bool = False
    fired: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeScheduler:
    """app.scheduler.Scheduler: remembers wake-ups; advance() moves the clock and fires them."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.handles: list[_FakeHandle] = []

    def call_at(self, when: datetime, callback: Callable[[], None]) -> _FakeHandle:
        handle = _FakeHandle(when, callback)
        self.handles.append(handle)
        return handle

    def pending(self) -> list[datetime]:
        return sorted(h.when for h in self.handles if not h.cancelled and not h.fired)

    def advance(self, delta: timedelta) -> None:
        """Move time forward by ``delta``, firing each due wake-up at its own instant."""
        target = self.clock.now() + delta
        while True:
            due = [h for h in self.handles if not h.cancelled and not h.fired and h.when <= target]
            if not due:
                break
            handle = min(due, key=lambda h: h.when)
            self.clock.set(max(handle.when, self.clock.now()))
            handle.fired = True
            handle.callback()
        self.clock.set(target)


@dataclass
class RecordingSink:
    """ui.toasts.ToastSink that records what it was asked to show and withdraw."""

    name: str = "recording"
    shown: list[ToastRequest] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)
    on_clicked: Callable[[str], None] | None = None
    on_action: Callable[[str, str], None] | None = None
    closed: bool = False

    def bind(
        self, on_clicked: Callable[[str], None], on_action: Callable[[str, str], None]
    ) -> None:
        self.on_clicked = on_clicked
        self.on_action = on_action

    def show(self, toast: ToastRequest) -> None:
        self.shown.append(toast)

    def withdraw(self, key: str) -> None:
        self.withdrawn.append(key)

    async def aclose(self) -> None:
        self.closed = True

    def click(self, key: str) -> None:
        assert self.on_clicked is not None
        self.on_clicked(key)

    def press(self, key: str, action: str) -> None:
        assert self.on_action is not None
        self.on_action(key, action)


@dataclass
class RecordingUrlOpener:
    """ui.popup / app.controller UrlOpener: the browser edge; records the URLs it got."""

    opened: list[str] = field(default_factory=list)

    def open_url(self, url: str) -> bool:
        self.opened.append(url)
        return True


def make_notification(
    seq: int,
    *,
    type: NotificationType = NotificationType.MENTION,
    read: bool = False,
    message: str = "Can you look at this?",
    server: str = "http://127.0.0.1:8000",
    sender: str | None = "Bea",
    ticket_id: str | None = None,
    created_at: datetime | None = None,
    link: str | None = None,
    reason: Reason | None = None,
    subject: str | None = None,
) -> Notification:
    """A valid notification for tests; ``link`` replaces the ticket URL (and no comment)."""
    ticket = ticket_id or str(seq)
    return Notification(
        id=f"n{seq}",
        seq=seq,
        type=type,
        sender=None if sender is None else Actor(ActorKind.AGENT, "a-bea", sender),
        to="alice",
        ticket=TicketRef(
            ticket,
            f"Ticket {ticket}" if subject is None else subject,
            link or f"{server}/tickets/{ticket}",
        ),
        comment=None,
        message=message,
        read=read,
        created_at=created_at or datetime(2026, 3, 4, 9, 0, tzinfo=UTC),
        reason=reason,
    )


def fill_cache(cache: NotificationCache, notifications: list[Notification]) -> None:
    """Write notifications through the cache's own apply path (one transaction)."""
    cache.apply_events(NotificationEvent(seq=n.seq, notification=n) for n in notifications)


def make_controller(
    cache: NotificationCache,
    clock: FakeClock,
    *,
    server_url: str = "https://helpdesk.example.com",
    opener: RecordingUrlOpener | None = None,
    tz: tzinfo | None = None,
) -> AppController:
    """The real AppController over a real cache, signed out (no engine), with the fake clock,
    scheduler and browser: what the tray and popup tests build their app on."""
    return AppController(
        account=AccountService(Settings(server_url=server_url), tz=tz),
        cache=cache,
        clock=clock,
        scheduler=FakeScheduler(clock),
        url_opener=opener if opener is not None else RecordingUrlOpener(),
    )
