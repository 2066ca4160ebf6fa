"""Per-agent wake-ups for open streams.

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
