"""The interfaces the sync engine needs from the outside world.

:class:`HelpdeskBackend` is the one seam between the engine and a helpdesk. The reference
backend's adapter (``notifier.client.reference``) implements it over docs/protocol.md; another
helpdesk (Frappe Helpdesk, Zammad) plugs in by implementing it too, without touching the engine,
the cache or the UI. Every method is a coroutine; errors are the ones in
:mod:`notifier.core.errors`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Protocol

from notifier.core.wire import (
    ActionResult,
    AgentInfo,
    ClearScope,
    NotificationPage,
    Preferences,
    StreamEvent,
)


class EventStream(Protocol):
    """One live connection, already resumed. Iterating yields events in order (the replay,
    then :class:`~notifier.core.wire.SyncedEvent`, then live events) until the connection ends,
    which raises :class:`~notifier.core.errors.ConnectionLost` (or ``AuthFailed``). A log event
    it could not read is yielded as a :class:`~notifier.core.wire.SkippedEvent`."""

    def __aiter__(self) -> AsyncIterator[StreamEvent]: ...

    async def close(self) -> None: ...


class HelpdeskBackend(Protocol):
    async def me(self) -> AgentInfo: ...

    async def open_stream(self, after_seq: int) -> EventStream:
        """Connect and send the resume request; return once the handshake succeeded."""
        ...

    async def list_notifications(self, after_seq: int, limit: int) -> NotificationPage: ...

    async def mark_read(self, notification_id: str) -> ActionResult: ...

    async def mark_unread(self, notification_id: str) -> ActionResult: ...

    async def mark_all_read(self, up_to_seq: int) -> ActionResult: ...

    async def delete(self, notification_id: str) -> ActionResult: ...

    async def clear(self, scope: ClearScope) -> ActionResult: ...

    async def get_preferences(self) -> Preferences: ...

    async def put_preferences(self, preferences: Preferences) -> Preferences: ...

    async def aclose(self) -> None: ...


class Clock(Protocol):
    """Wall-clock time (aware, UTC) and a monotonic reading, injected so tests control time."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...
