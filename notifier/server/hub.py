"""Per-agent wake-ups for open streams, and the open streams per token.

A stream handler subscribes an :class:`asyncio.Event` for its agent, clears it, drains the
event log, then waits on it. Every committed write calls :meth:`Hub.wake` for the agents whose
logs grew. Because the handler clears *before* it reads, a write that commits while it reads
sets the event again and the next wait returns at once: no event can fall into a gap.

Listeners (:meth:`Hub.add_listener`) hear of every wake-up: the mailer looks at its outbox then.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any


class Hub:
    def __init__(self) -> None:
        self._waiters: dict[int, set[asyncio.Event]] = {}
        self._listeners: list[Callable[[], None]] = []

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every :meth:`wake` (a committed write); it must be quick."""
        self._listeners.append(listener)

    @contextlib.contextmanager
    def subscribe(self, agent_id: int) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._waiters.setdefault(agent_id, set()).add(event)
        try:
            yield event
        finally:
            waiters = self._waiters.get(agent_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[agent_id]

    def wake(self, agent_ids: Iterable[int]) -> None:
        for agent_id in agent_ids:
            for event in self._waiters.get(agent_id, ()):
                event.set()
        for listener in self._listeners:
            listener()

    def connections(self) -> int:
        return sum(len(waiters) for waiters in self._waiters.values())


@dataclass(eq=False)
class OpenStream:
    """One stream's serving task; :meth:`end` stops it and says how the socket should close."""

    task: asyncio.Task[Any]
    close_code: int | None = None
    close_reason: str = ""

    def end(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
            self.task.cancel()


class OpenStreams:
    """The open streams of each token (by its hash), oldest first, so the server can end
    them: the oldest when a token holds more than its limit, all when the token is revoked."""

    def __init__(self) -> None:
        self._by_token: dict[str, list[OpenStream]] = {}

    @contextlib.contextmanager
    def track(self, token_hash: str, task: asyncio.Task[Any]) -> Iterator[OpenStream]:
        stream = OpenStream(task)
        streams = self._by_token.setdefault(token_hash, [])
        streams.append(stream)
        try:
            yield stream
        finally:
            streams.remove(stream)
            if not streams:
                del self._by_token[token_hash]

    def end_oldest(self, token_hash: str, keep: int, code: int, reason: str) -> None:
        """End the oldest live streams of the token until at most ``keep`` are left."""
        live = [s for s in self._by_token.get(token_hash, ()) if s.close_code is None]
        for stream in live[: max(0, len(live) - keep)]:
            stream.end(code, reason)

    def end_all(self, token_hash: str, code: int, reason: str) -> None:
        for stream in list(self._by_token.get(token_hash, ())):
            stream.end(code, reason)
