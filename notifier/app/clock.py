"""The real clock: aware UTC wall time and a monotonic reading (core.ports.Clock).

Everything above core takes a :class:`~notifier.core.ports.Clock` instead of calling
``datetime.now()``, so tests drive time with a fake and nothing ever sleeps.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


class SystemClock:
    """:class:`notifier.core.ports.Clock` backed by the operating system."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()
