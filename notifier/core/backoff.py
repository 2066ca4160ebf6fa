"""Reconnect delays: exponential backoff with full jitter.

Full jitter (a uniform draw between 0 and the exponential ceiling) spreads the reconnects of
a whole office of tray apps after a server restart instead of having them hit it in waves.
The ceiling starts at ``first`` (so the first retry comes within a second), doubles per
failed attempt and is capped at ``cap`` (a minute). :meth:`Backoff.reset` after a successful
connection starts over. The random source is injected so tests are deterministic.
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    def __init__(
        self,
        *,
        first: float = 1.0,
        cap: float = 60.0,
        factor: float = 2.0,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if first <= 0 or cap < first or factor < 1:
            raise ValueError("need 0 < first <= cap and factor >= 1")
        self.first = first
        self.cap = cap
        self.factor = factor
        self._rand = rand
        self._attempts = 0

    @property
    def attempts(self) -> int:
        """Failed attempts since the last reset."""
        return self._attempts

    def ceiling(self, attempt: int) -> float:
        """The largest delay for the ``attempt``-th retry (0-based)."""
        # min() before the power would overflow on a very long outage.
        exponent = min(attempt, 64)
        return float(min(self.cap, self.first * self.factor**exponent))

    def next_delay(self) -> float:
        """The delay before the next attempt, in seconds; counts the attempt."""
        delay = self._rand() * self.ceiling(self._attempts)
        self._attempts += 1
        return delay

    def reset(self) -> None:
        self._attempts = 0
