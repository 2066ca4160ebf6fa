"""The QTimer scheduler behind the controller's single wake-up, and the system clock."""

from __future__ import annotations

from datetime import UTC, timedelta

from PySide6.QtCore import QTimer
from pytestqt.qtbot import QtBot

from notifier.app.clock import SystemClock
from notifier.app.scheduler import MAX_DELAY, QtScheduler


def test_wake_ups_fire_in_order_and_cancelled_ones_never(qtbot: QtBot) -> None:
    clock = SystemClock()
    scheduler = QtScheduler(clock)
    fired: list[str] = []
    now = clock.now()
    cancelled = scheduler.call_at(now, lambda: fired.append("cancelled"))
    scheduler.call_at(now + timedelta(milliseconds=5), lambda: fired.append("second"))
    scheduler.call_at(now - timedelta(hours=1), lambda: fired.append("past"))
    cancelled.cancel()
    cancelled.cancel()  # twice is fine
    qtbot.waitUntil(lambda: "second" in fired, timeout=5000)
    assert fired == ["past", "second"]


def test_far_wake_ups_are_capped_not_lost(qtbot: QtBot) -> None:
    clock = SystemClock()
    scheduler = QtScheduler(clock)
    handle = scheduler.call_at(clock.now() + timedelta(days=400), lambda: None)
    timers = scheduler.findChildren(type(scheduler.children()[0]))
    assert len(timers) == 1
    assert timers[0].isActive()
    # The interval is the cap (the wake-up callback reschedules); remainingTime() is not
    # exact for Qt's coarse timers, the interval is.
    assert timers[0].interval() == MAX_DELAY / timedelta(milliseconds=1) + 1
    handle.cancel()
    assert not timers[0].isActive()


def test_system_clock_is_aware_utc() -> None:
    clock = SystemClock()
    assert clock.now().tzinfo is UTC
    first = clock.monotonic()
    assert clock.monotonic() >= first


def test_a_wake_up_already_due_waits_for_no_timer_tick(qtbot: QtBot) -> None:
    # A leading toast is due at once: its wake-up runs at the loop's next turn, where it
    # waited a millisecond before (benchmarks/README.md, "Toast latency").
    clock = SystemClock()
    scheduler = QtScheduler(clock)
    fired: list[str] = []
    scheduler.call_at(clock.now() - timedelta(milliseconds=1), lambda: fired.append("due"))
    scheduler.call_at(clock.now() + timedelta(milliseconds=2), lambda: fired.append("later"))
    intervals = sorted(t.interval() for t in scheduler.findChildren(QTimer))
    assert intervals[0] == 0
    assert intervals[1] >= 2  # a later one still never runs early
    qtbot.waitUntil(lambda: fired == ["due", "later"], timeout=5000)
