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
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Final

# The longest wait a server's Retry-After is followed for: a misconfigured or hostile
# "Retry-After: 99999999" must not park the tray for years (it retries after an hour).
MAX_RETRY_AFTER_S: Final = 3600.0


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A ``Retry-After`` header (RFC 9110: delay-seconds or an HTTP-date) as seconds from
    ``now`` (aware), within [0, :data:`MAX_RETRY_AFTER_S`]; None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        seconds = float(int(text[:12]))  # digits past 12 are years beyond the cap anyway
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000": RFC 5322's unknown zone; HTTP dates are GMT
            when = when.replace(tzinfo=now.tzinfo)
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def requested_wait(status: int, retry_after: str | None, now: datetime) -> float | None:
    """The seconds an answer of ``status`` with this ``Retry-After`` asks the client to wait
    before asking again: only 429 (too many requests) and 503 (busy) ask; else None."""
    if status not in (429, 503):
        return None
    return retry_after_seconds(retry_after, now)


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
