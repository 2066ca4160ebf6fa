"""Per-agent wake-ups for open streams, and the open streams per token.

A stream handler subscribes an :class:`asyncio.Event` for its agent, clears it, drains the
event log, then waits on it. Every committed write calls :meth:`Hub.wake` for the agents whose
logs grew. Because the handler clears *before* it reads, a write that commits while it reads
sets the event again and the next wait returns at once: no event can fall into a gap.

A write that already read what it appended (the helpdesk actions do, in the same call on the
database thread) hands that to :meth:`Hub.publish` instead: the events rendered once, as JSON
text, for every stream of the agent. A stream whose cursor they continue sends them as they
are, with no read of its own; anything else (a plain wake, a gap, too many pending) makes it
read the log, as before.

Listeners (:meth:`Hub.add_listener`) hear of every wake-up and publication: the mailer looks
at its outbox then.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

MAX_PENDING: Final = 64  # published writes a stream may have unsent before it reads the log


@dataclass(frozen=True, slots=True)
class Published:
    """What one commit appended to an agent's log: seqs ``first_seq`` to ``head``."""

    first_seq: int
    frames: tuple[tuple[int, str], ...]  # (seq, the event as JSON text)
    head: int
    unread: int  # the agent's unread count right after the commit


class Subscription(asyncio.Event):
    """A stream's wake-up, with what was published for it since it last looked."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[Published] = []
        self.stale = False  # woken without the events: the stream must read the log

    def take(self) -> tuple[list[Published], bool]:
        """The published writes and whether a read is needed; resets both."""
        published, stale = self.published, self.stale
        self.published, self.stale = [], False
        return published, stale


class Hub:
    def __init__(self) -> None:
        self._waiters: dict[int, set[Subscription]] = {}
        self._listeners: list[Callable[[], None]] = []

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every :meth:`wake` and :meth:`publish` (a committed
        write); it must be quick."""
        self._listeners.append(listener)

    @contextlib.contextmanager
    def subscribe(self, agent_id: int) -> Iterator[Subscription]:
        event = Subscription()
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
                event.stale = True
                event.set()
        for listener in self._listeners:
            listener()

    def subscribed(self, agent_id: int) -> bool:
        return agent_id in self._waiters

    def publish(self, agent_id: int, published: Published) -> None:
        for event in self._waiters.get(agent_id, ()):
            if len(event.published) < MAX_PENDING:
                event.published.append(published)
            else:
                event.stale = True
            event.set()
        for listener in self._listeners:
            listener()

    def connections(self) -> int:
        return sum(len(waiters) for waiters in self._waiters.values())


@dataclass(eq=False)
class OpenStream:
    """One stream's serving task; :meth:`end` stops it and says how the socket should close."""

    task: asyncio.Task[Any]
    ends_at: float | None = None  # the event loop's time when its web session expires
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
    def track(
        self, token_hash: str, task: asyncio.Task[Any], ends_at: float | None = None
    ) -> Iterator[OpenStream]:
        stream = OpenStream(task, ends_at)
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

    def end_expired(self, now: float, code: int, reason: str) -> None:
        """End the streams whose ``ends_at`` is not after ``now``."""
        for streams in list(self._by_token.values()):
            for stream in streams:
                if stream.ends_at is not None and stream.ends_at <= now:
                    stream.end(code, reason)

    def token_hashes(self) -> list[str]:
        """The tokens (by hash) that have at least one open stream."""
        return list(self._by_token)
