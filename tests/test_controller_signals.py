"""PySide6 6.12.0 drops a reference to True on every Python-side emit(); notifier.app.signals
gives it back. Without that, an app emitting signals all day aborts ("bool_dealloc")."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from pytestqt.qtbot import QtBot
from tray_fakes import FakeClock, FakeScheduler, RecordingUrlOpener, fill_cache, make_notification

from notifier.app.controller import AppController
from notifier.app.signals import emit
from notifier.core.settings import Settings
from notifier.core.status import CacheChange, ChangeKind, ConnectionState, ConnectionStatus
from notifier.store.cache import NotificationCache


class Emitter(QObject):
    number = Signal(int)
    value = Signal(object)
    nothing = Signal()


def test_emit_keeps_trues_reference_count(qtbot: QtBot) -> None:
    emitter = Emitter()
    received: list[object] = []
    emitter.value.connect(lambda v: received.append(v))
    before = sys.getrefcount(True)
    for i in range(10_000):
        emit(emitter.number, i)  # no receiver
        emit(emitter.value, i % 2 == 0)  # a receiver, and bools as values
        emit(emitter.nothing)
    received.clear()
    # 30,000 emissions: with the bug the count would drop by 30,000. Unrelated objects may
    # take or drop a handful of references meanwhile (the GC runs), hence the small margin.
    assert abs(sys.getrefcount(True) - before) < 50


def test_a_busy_controller_keeps_trues_reference_count(qtbot: QtBot, tmp_path: Path) -> None:
    cache = NotificationCache.open(tmp_path / "cache.sqlite3")
    clock = FakeClock()
    controller = AppController(
        settings=Settings(server_url="https://helpdesk.example.com"),
        cache=cache,
        clock=clock,
        scheduler=FakeScheduler(clock),
        url_opener=RecordingUrlOpener(),
    )
    try:
        before = sys.getrefcount(True)
        for seq in range(1, 301):
            n = make_notification(seq)
            fill_cache(cache, [n])
            controller.on_change(CacheChange(ChangeKind.UPSERTED, notifications=(n,)))
            controller.on_status(ConnectionStatus(ConnectionState.LIVE))
            controller.mark_read(n.id)  # signed out: applied locally, signals emitted
        assert controller.counts.unread == 0
        # About 1,500 emissions (counts, status, changes): with the bug, -1,500. (It may grow:
        # the fake scheduler keeps every handle, each with a True flag.)
        assert sys.getrefcount(True) > before - 50
    finally:
        cache.close()
