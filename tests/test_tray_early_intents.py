"""Clicks on the tray icon, its menu and second starts while the app is still being built are
done once it is (notifier/ui/early_intents.py). Offscreen, real controller and cache."""

from __future__ import annotations

from PySide6.QtCore import QObject, QRect, Signal
from pytestqt.qtbot import QtBot
from tray_fakes import FakeClock, RecordingSink, make_controller

from notifier.store.cache import NotificationCache
from notifier.ui.application import TrayApp
from notifier.ui.badge import BadgeState
from notifier.ui.early_intents import EarlyIntents
from notifier.ui.tray import TrayShell


class Guard(QObject):
    """The single-instance guard's surface that matters here."""

    activated = Signal()


def test_what_was_asked_while_loading_is_done_in_order_once_built(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    shell = TrayShell(BadgeState(), "0 unread · Connecting…", use_tray=True)
    assert shell.tray is not None
    shell.show()
    guard = Guard()
    early = EarlyIntents(guard.activated, shell.tray)
    # The agent, while the modules load: pauses for an hour, clicks the icon, starts the app
    # again, asks for Quit.
    shell.tray.pause_hour_action.trigger()
    shell.tray.openRequested.emit(QRect(100, 0, 22, 22))
    guard.activated.emit()
    shell.tray.quit_action.trigger()
    assert early.pending == 4

    clock = FakeClock()
    controller = make_controller(cache, clock)
    app = TrayApp(controller, clock, shell=shell, sink=RecordingSink())
    guard.activated.connect(app.on_another_start)
    quits: list[None] = []
    app.quitRequested.connect(lambda: quits.append(None))
    popup = app.popup
    assert popup is not None
    qtbot.addWidget(popup)
    assert controller.account.settings().paused_until is None and not popup.isVisible()

    early.hand_over(app)
    assert controller.account.settings().paused_until is not None
    assert popup.isVisible()  # opened by the click; the second start found it open
    assert quits == [None]
    assert early.pending == 0

    # Recording has stopped: what comes now goes to the app alone, once.
    popup.hide()
    shell.tray.quit_action.trigger()
    guard.activated.emit()
    assert quits == [None, None]
    assert popup.isVisible()
    assert early.pending == 0


def test_without_a_tray_only_second_starts_are_recorded(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    shell = TrayShell(BadgeState(), "0 unread · Connecting…", use_tray=False)
    assert shell.fallback is not None
    qtbot.addWidget(shell.fallback)
    shell.show()
    guard = Guard()
    early = EarlyIntents(guard.activated, shell.tray)
    guard.activated.emit()
    clock = FakeClock()
    app = TrayApp(make_controller(cache, clock), clock, shell=shell, sink=RecordingSink())
    shell.fallback.hide()
    early.hand_over(app)
    assert shell.fallback.isVisible()  # the second start brought the window up
