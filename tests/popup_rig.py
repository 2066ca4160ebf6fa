"""The notification panel over a real SQLite cache and the real controller (signed out, so
actions are applied to the cache locally), wired as the app wires it; the clock, the timed
wake-ups and the browser are fakes. Shared by the popup tests."""

from __future__ import annotations

from PySide6.QtCore import QRect
from pytestqt.qtbot import QtBot
from tray_fakes import FakeClock, FakeScheduler, RecordingUrlOpener

from notifier.app.account import AccountService
from notifier.app.controller import AppController
from notifier.app.list_model import NotificationListModel, Role
from notifier.core.settings import Settings
from notifier.store.cache import NotificationCache
from notifier.ui.application import connect_panel
from notifier.ui.popup import NotificationPanel

SERVER = "https://helpdesk.example.com"
ANNOUNCE_MS = 50  # the popup's burst of arrivals announced as one, short for tests


class Rig:
    def __init__(self, qtbot: QtBot, cache: NotificationCache) -> None:
        self.clock = FakeClock()
        self.opener = RecordingUrlOpener()
        self.controller = AppController(
            account=AccountService(Settings(server_url=SERVER)),
            cache=cache,
            clock=self.clock,
            scheduler=FakeScheduler(self.clock),
            url_opener=self.opener,
        )
        self.model = NotificationListModel(cache, self.clock)
        self.announced: list[str] = []  # what a screen reader was told (see announcer.py)
        self.panel = NotificationPanel(
            self.model, self.clock, announce=self.announced.append, announce_burst_ms=ANNOUNCE_MS
        )
        qtbot.addWidget(self.panel)
        c, p = self.controller, self.panel
        c.changeApplied.connect(self.model.apply_change)
        c.unreadChanged.connect(p.set_unread_count)
        connect_panel(p, c)
        p.set_unread_count(c.counts.unread)
        self.model.reload()
        p.resize(420, 520)
        p.show()
        qtbot.waitExposed(p)

    def row_rect(self, row: int) -> QRect:
        return self.panel.list_view.visualRect(self.model.index(row))

    def ids(self) -> list[str]:
        return [self.model.data(self.model.index(r), Role.ID) for r in range(self.model.rowCount())]

    def read(self, notification_id: str) -> bool:
        n = self.controller.cache.get(notification_id)
        assert n is not None
        return n.read
