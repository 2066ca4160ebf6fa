"""One-shot wake-ups at a wall-clock instant, behind a Protocol so tests fire them by hand.

The tray app never polls: when the toast policy or the quiet-hours schedule says "something
changes at 07:00", the controller asks the scheduler for one wake-up then, and recomputes
(and asks again) when it fires. :class:`QtScheduler` uses a single-shot ``QTimer`` per call;
tests use a fake with the same interface that fires due callbacks when its clock advances.

A ``QTimer`` counts monotonic time, so across a suspend it can fire late; the wake-up
callback always recomputes from the wall clock, so a late or early fire is harmless. Delays
are capped at :data:`MAX_DELAY` (a QTimer interval is a 32-bit millisecond count); a capped
timer simply fires, finds nothing due, and schedules again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from PySide6.QtCore import QObject, QTimer

from notifier.core.ports import Clock

MAX_DELAY = timedelta(hours=12)


class WakeUpHandle(Protocol):
    def cancel(self) -> None:
        """Forget the wake-up; its callback will not run. Safe to call twice or after it ran."""
        ...


class Scheduler(Protocol):
    def call_at(self, when: datetime, callback: Callable[[], None]) -> WakeUpHandle:
        """Run ``callback`` once on the GUI thread at (or soon after) the aware ``when``."""
        ...


class _TimerHandle:
    def __init__(self, timer: QTimer) -> None:
        self._timer: QTimer | None = timer

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer.deleteLater()
            self._timer = None

    def _finished(self) -> None:
        if self._timer is not None:
            self._timer.deleteLater()
            self._timer = None


class QtScheduler(QObject):
    """:class:`Scheduler` on single-shot QTimers, children of this object."""

    def __init__(self, clock: Clock, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._clock = clock

    def call_at(self, when: datetime, callback: Callable[[], None]) -> WakeUpHandle:
        delay = min(max(when - self._clock.now(), timedelta(0)), MAX_DELAY)
        timer = QTimer(self)
        timer.setSingleShot(True)
        handle = _TimerHandle(timer)

        def fire() -> None:
            handle._finished()
            callback()

        timer.timeout.connect(fire)
        # Round up so the callback never runs a millisecond before ``when``; one that is due
        # already (a leading toast) runs at the loop's next turn, not a millisecond later.
        timer.start(int(delay / timedelta(milliseconds=1)) + 1 if delay else 0)
        return handle
