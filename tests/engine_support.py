"""Shared helpers for the engine's tests (cache, session, engine): notification factories
and a tiny reference model of the server's event log."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from notifier.client.reference import ReferenceBackend
from notifier.client.transport import TransportConfig
from notifier.core.backoff import Backoff
from notifier.core.status import CacheChange, ConnectionState, ConnectionStatus
from notifier.core.wire import (
    Actor,
    ActorKind,
    CommentRef,
    DeletedEvent,
    Notification,
    NotificationEvent,
    NotificationPage,
    NotificationType,
    ReadStateEvent,
    Reason,
    TicketRef,
)
from notifier.store.cache import NotificationCache
from notifier.sync.engine import EngineOptions, SyncEngine


def quick_backoff() -> Backoff:
    """Reconnect delays of 50 ms to 0.3 s: tests wait for retries, not for the real ones."""
    return Backoff(first=0.05, cap=0.3)


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


# --------------------------------------------------------------------------- engine harness


FAST = TransportConfig(ping_interval=0.5, ping_timeout=0.5, connect_timeout=2, read_timeout=5)


class FakeClock:
    """Real time plus an offset that a test can jump (a laptop waking up)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def monotonic(self) -> float:
        return time.monotonic()

    def jump(self, delta: timedelta) -> None:
        self.offset += delta


class CountingBackend:
    """Wraps a backend (same Protocol) and counts calls; optionally garbles the stream by
    sending every event twice and swapping neighbours, as a misbehaving proxy could."""

    def __init__(self, inner: Any, *, garble: bool = False) -> None:
        self.inner = inner
        self.garble = garble
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if not callable(attribute):
            return attribute

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return await attribute(*args, **kwargs)

        return counted

    async def open_stream(self, after_seq: int) -> Any:
        self.calls["open_stream"] = self.calls.get("open_stream", 0) + 1
        stream = await self.inner.open_stream(after_seq)
        return GarbledStream(stream) if self.garble else stream


class GarbledStream:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._events()

    async def _events(self) -> AsyncIterator[Any]:
        held = None
        async for event in self.inner:
            kind = type(event).__name__
            if kind in ("NotificationEvent", "ReadStateEvent", "DeletedEvent"):
                if held is None:
                    held = event  # hold it back: the next one overtakes it
                    continue
                yield event
                yield held
                yield event
                yield held
                held = None
            else:
                if held is not None:
                    yield held
                    yield held
                    held = None
                yield event

    async def close(self) -> None:
        await self.inner.close()


class Harness:
    """An engine on a real cache file, with its statuses and changes recorded."""

    def __init__(self, engine: SyncEngine, cache: NotificationCache, backend: Any) -> None:
        self.engine = engine
        self.cache = cache
        self.backend = backend
        self.statuses: list[ConnectionStatus] = []
        self.changes: list[CacheChange] = []
        self._changed = asyncio.Event()

    def on_status(self, status: ConnectionStatus) -> None:
        self.statuses.append(status)
        self._changed.set()

    def on_change(self, change: CacheChange) -> None:
        self.changes.append(change)
        self._changed.set()

    async def wait_until(self, predicate: Callable[[], bool], within: float = 20.0) -> None:
        """Re-check ``predicate`` after every status or change (and every 0.2 s)."""
        async with asyncio.timeout(within):
            while not predicate():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.2):
                        await self._changed.wait()

    @property
    def state(self) -> ConnectionState:
        return self.engine.status.state


@asynccontextmanager
async def running_engine(
    server_url: str,
    token: str,
    cache_path: Path,
    *,
    clock: Any = None,
    garble: bool = False,
    config: TransportConfig = FAST,
    **engine_kwargs: Any,
) -> AsyncIterator[Harness]:
    backend = ReferenceBackend(server_url, token, config)
    async with running_engine_on(
        backend, cache_path, clock=clock, garble=garble, **engine_kwargs
    ) as harness:
        yield harness


@asynccontextmanager
async def running_engine_on(
    inner: Any, cache_path: Path, *, clock: Any = None, garble: bool = False, **engine_kwargs: Any
) -> AsyncIterator[Harness]:
    """A running SyncEngine syncing through ``inner`` (any HelpdeskBackend, wrapped in a
    :class:`CountingBackend`) into a real cache at ``cache_path``; stopped afterwards."""
    backend = CountingBackend(inner, garble=garble)
    cache = NotificationCache.open(cache_path)
    harness: Harness
    engine = SyncEngine(
        backend,  # type: ignore[arg-type]
        cache,
        clock if clock is not None else FakeClock(),
        on_status=lambda s: harness.on_status(s),
        on_change=lambda c: harness.on_change(c),
        # quick retries and watchdog, unless the test passes its own (any EngineOptions field)
        options=EngineOptions(
            **{"backoff": quick_backoff, "watchdog_interval": 0.05, **engine_kwargs}
        ),
    )
    harness = Harness(engine, cache, backend)
    task = asyncio.create_task(engine.run())
    try:
        yield harness
    finally:
        await engine.stop()
        async with asyncio.timeout(15):
            await task
        cache.close()


def server_view(server_url: str, token: str) -> tuple[list[tuple[str, int, bool]], int, int]:
    """Every notification (id, seq, read) from GET /notifications paged in full, the unread
    count and the log head."""
    rows: list[tuple[str, int, bool]] = []
    after = 0
    with httpx.Client(
        base_url=server_url, headers={"Authorization": f"Bearer {token}"}, trust_env=False
    ) as client:
        while True:
            response = client.get(
                "/api/v1/notifications", params={"after_seq": after, "limit": 500}
            )
            response.raise_for_status()
            page = NotificationPage.parse(response.content)
            rows.extend((n.id, n.seq, n.read) for n in page.notifications)
            if not page.has_more or not page.notifications:
                return sorted(rows), page.unread_count, page.last_seq
            after = page.notifications[-1].seq


def cache_view(cache: NotificationCache) -> list[tuple[str, int, bool]]:
    return sorted((n.id, n.seq, n.read) for n in cache.all_notifications())


async def converge(harness: Harness, server_url: str, token: str) -> None:
    """Wait until the engine is live and has applied the server's log head, then assert the
    cache equals the server's view exactly."""
    _, _, head = server_view(server_url, token)
    await harness.wait_until(
        lambda: harness.state is ConnectionState.LIVE and harness.cache.cursor() >= head
    )
    rows, unread, _ = server_view(server_url, token)
    assert cache_view(harness.cache) == rows
    assert harness.cache.unread_count() == unread


async def sync_until_live(
    server_url: str,
    token: str,
    cache: NotificationCache,
    head: int,
    on_change: Callable[[CacheChange], None],
    timeout_s: float = 45.0,
) -> None:
    """Run the real engine (system clock, default slices and backoff) into ``cache`` until it
    is live with every event up to ``head`` applied; ``on_change`` sees every change."""
    from notifier.sync.engine import SystemClock

    done = asyncio.Event()

    def on_status(status: ConnectionStatus) -> None:
        if status.state is ConnectionState.LIVE and cache.cursor() >= head:
            done.set()

    engine = SyncEngine(
        ReferenceBackend(server_url, token),
        cache,
        SystemClock(),
        on_status=on_status,
        on_change=on_change,
    )
    task = asyncio.create_task(engine.run())
    try:
        async with asyncio.timeout(timeout_s):
            await done.wait()
    finally:
        await engine.stop()
        async with asyncio.timeout(timeout_s):
            await task
