"""With a tray, the popup is built on first use (idle memory, issue 5) and starts up to date:
the unread count and the connection banner of the moment it is opened. Offscreen, real
cache, fake clock/scheduler/sink/browser."""

from __future__ import annotations

from datetime import UTC, timedelta

from PySide6.QtCore import QRect
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot
from tray_fakes import (
    FakeClock,
    RecordingSink,
    fill_cache,
    make_controller,
    make_notification,
)

from notifier.app.list_model import NotificationListModel
from notifier.core.status import CacheChange, ChangeKind, ConnectionState, ConnectionStatus
from notifier.store.cache import NotificationCache
from notifier.ui.application import TrayApp

SERVER = "https://helpdesk.example.com"


def models_of(app: TrayApp) -> list[NotificationListModel]:
    """The list models the app has made (its children), without making one by asking."""
    return app.findChildren(NotificationListModel)


def panels_over(app: TrayApp) -> list[QWidget]:
    """Live list panels over this app's model (other tests' widgets may still exist)."""
    return [
        widget
        for widget in QApplication.allWidgets()
        if type(widget).__name__ == "NotificationPanel"
        and any(getattr(widget, "model", None) is model for model in models_of(app))
    ]


def test_the_popup_is_built_when_first_opened_and_shows_the_current_state(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    clock = FakeClock()
    controller = make_controller(cache, clock, server_url=SERVER, tz=UTC)
    app = TrayApp(controller, clock, use_tray=True, sink=RecordingSink())
    app.show_first_paint()
    assert panels_over(app) == []
    assert models_of(app) == []  # nor the list model (it loads PySide6's Qt namespace)

    # Life goes on while the popup is closed: notifications, then the connection drops.
    notifications = [make_notification(seq, server=SERVER) for seq in (1, 2, 3)]
    fill_cache(cache, notifications)
    controller.on_change(CacheChange(ChangeKind.UPSERTED, notifications=tuple(notifications)))
    controller.on_status(
        ConnectionStatus(
            ConnectionState.BACKING_OFF,
            last_error="server unreachable",
            next_retry_at=clock.now() + timedelta(seconds=8),
        )
    )
    assert panels_over(app) == []
    assert models_of(app) == []

    app.open_popup(QRect())
    popup = app.popup
    assert popup is not None
    qtbot.addWidget(popup)
    assert popup.isVisible()
    panel = app.panel
    assert panels_over(app) == [panel]
    assert panel.window() is popup
    assert panel.count_label.text() == "3 unread"
    assert panel.banner.isVisibleTo(panel)
    assert "retrying" in panel.banner_label.text()
    assert models_of(app) == [app.model]
    assert app.model.rowCount() == 3
    # Built once: later opens reuse it, and it follows the controller from now on.
    app.open_popup(QRect())
    assert not popup.isVisible()
    controller.on_status(ConnectionStatus(ConnectionState.LIVE))
    assert not panel.banner.isVisibleTo(panel)
    assert app.popup is popup
    # The model built on first open follows the cache from then on.
    fourth = make_notification(4, server=SERVER)
    fill_cache(cache, [fourth])
    controller.on_change(CacheChange(ChangeKind.UPSERTED, notifications=(fourth,)))
    assert app.model.rowCount() == 4
    assert models_of(app) == [app.model]
