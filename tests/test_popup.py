"""The popup: rows painted as plain text, row and header actions, keyboard, the link allow-list,
the offline banner and placement. Offscreen, over a real SQLite cache and the real controller
(signed out, so actions are applied to the cache locally); the browser is a recording fake.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from tray_fakes import (
    FakeClock,
    FakeScheduler,
    RecordingUrlOpener,
    fill_cache,
    make_notification,
)

from notifier.app.controller import AppController
from notifier.app.list_model import NotificationListModel, Role
from notifier.app.signals import emit
from notifier.core.settings import Settings
from notifier.core.status import ConnectionState, ConnectionStatus
from notifier.core.wire import NotificationType
from notifier.store.cache import NotificationCache
from notifier.ui.delegate import ICON_SIZE, MARGIN, button_rects, paint_row_for_test
from notifier.ui.popup import NotificationPanel, Popup, place_popup

SERVER = "https://helpdesk.example.com"
TEXT_LEFT = 16 + ICON_SIZE + MARGIN


class Rig:
    def __init__(self, qtbot: QtBot, cache: NotificationCache) -> None:
        self.clock = FakeClock()
        self.opener = RecordingUrlOpener()
        self.controller = AppController(
            settings=Settings(server_url=SERVER),
            cache=cache,
            clock=self.clock,
            scheduler=FakeScheduler(self.clock),
            url_opener=self.opener,
        )
        self.model = NotificationListModel(cache, self.clock)
        self.panel = NotificationPanel(self.model, self.clock)
        qtbot.addWidget(self.panel)
        c, p = self.controller, self.panel
        c.changeApplied.connect(self.model.apply_change)
        c.unreadChanged.connect(p.set_unread_count)
        p.openRequested.connect(c.open_notification)
        p.toggleReadRequested.connect(c.toggle_read)
        p.markReadRequested.connect(c.mark_read)
        p.markUnreadRequested.connect(c.mark_unread)
        p.deleteRequested.connect(c.delete)
        p.markAllReadRequested.connect(c.mark_all_read)
        p.clearReadRequested.connect(c.clear_read)
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


def ink_columns(image: QImage, top: int, bottom: int) -> int:
    """How many pixel columns of the text column, in the band [top, bottom), hold ink."""
    columns = 0
    for x in range(TEXT_LEFT, image.width()):
        if any(image.pixelColor(x, y).lightness() < 160 for y in range(top, bottom)):
            columns += 1
    return columns


def test_message_markup_is_painted_literally(qtbot: QtBot, cache: NotificationCache) -> None:
    fill_cache(cache, [make_notification(1, message="<b>x</b>"), make_notification(2, message="x")])
    rig = Rig(qtbot, cache)
    delegate = rig.panel.delegate
    tagged = rig.model.index(1)  # seq 1 is the second row (newest first)
    plain = rig.model.index(0)
    assert delegate.text_lines(tagged)[1] == "<b>x</b>"
    # The message line of the tagged row has far more ink than a lone "x": the tags show.
    height = rig.panel.fontMetrics().height() + 2
    line = (MARGIN - 2 + height + 1, MARGIN - 2 + 2 * height - 1)  # the message line
    tagged_ink = ink_columns(paint_row_for_test(delegate, tagged, rig.panel), *line)
    plain_ink = ink_columns(paint_row_for_test(delegate, plain, rig.panel), *line)
    assert plain_ink > 0
    assert tagged_ink > 4 * plain_ink


def test_unread_rows_have_a_dot_and_read_rows_do_not(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    fill_cache(cache, [make_notification(1, read=True), make_notification(2)])
    rig = Rig(qtbot, cache)
    unread = paint_row_for_test(rig.panel.delegate, rig.model.index(0), rig.panel)
    read = paint_row_for_test(rig.panel.delegate, rig.model.index(1), rig.panel)

    def blue(c: QColor) -> bool:
        return c.blue() > 150 and c.red() < 100

    dot = [(x, y) for x in range(2, 13) for y in range(10, 23)]
    assert any(blue(unread.pixelColor(x, y)) for x, y in dot)
    assert not any(blue(read.pixelColor(x, y)) for x, y in dot)


def test_click_opens_helpdesk_link_and_marks_read(qtbot: QtBot, cache: NotificationCache) -> None:
    fill_cache(cache, [make_notification(1, server=SERVER)])
    rig = Rig(qtbot, cache)
    qtbot.mouseClick(
        rig.panel.list_view.viewport(), Qt.MouseButton.LeftButton, pos=rig.row_rect(0).center()
    )
    assert rig.opener.opened == [f"{SERVER}/tickets/1"]
    assert rig.read("n1")
    assert rig.model.data(rig.model.index(0), Role.READ) is True
    assert rig.panel.count_label.text() == "0 unread"


def test_foreign_link_is_refused_logged_and_not_opened(
    qtbot: QtBot, cache: NotificationCache, caplog: pytest.LogCaptureFixture
) -> None:
    evil = "https://helpdesk.example.com.evil.com/tickets/1"
    fill_cache(cache, [make_notification(1, link=evil)])
    rig = Rig(qtbot, cache)
    refused: list[tuple[str, str]] = []
    rig.controller.linkRefused.connect(lambda i, reason: refused.append((i, reason)))
    with caplog.at_level(logging.WARNING, logger="notifier.app.controller"):
        qtbot.mouseClick(
            rig.panel.list_view.viewport(), Qt.MouseButton.LeftButton, pos=rig.row_rect(0).center()
        )
    assert rig.opener.opened == []
    assert not rig.read("n1")  # refused: not marked read either
    assert refused and refused[0][0] == "n1"
    assert any("refused to open the link of notification n1" in r.message for r in caplog.records)


def test_hover_buttons_toggle_read_and_delete(qtbot: QtBot, cache: NotificationCache) -> None:
    fill_cache(cache, [make_notification(1, server=SERVER), make_notification(2, server=SERVER)])
    rig = Rig(qtbot, cache)
    viewport = rig.panel.list_view.viewport()
    toggle, delete = button_rects(rig.row_rect(0))
    qtbot.mouseMove(viewport, toggle.center())
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=toggle.center())
    assert rig.read("n2")
    assert rig.opener.opened == []  # a button click does not open the ticket
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=toggle.center())
    assert not rig.read("n2")
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=delete.center())
    assert rig.controller.cache.get("n2") is None
    assert rig.ids() == ["n1"]


def test_hover_follows_the_pointer_and_leaves_with_it(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    fill_cache(cache, [make_notification(s, server=SERVER) for s in (1, 2, 3)])
    rig = Rig(qtbot, cache)
    viewport = rig.panel.list_view.viewport()
    assert rig.panel.delegate.hovered_row is None
    qtbot.mouseMove(viewport, rig.row_rect(1).center())
    assert rig.panel.delegate.hovered_row == 1
    qtbot.mouseMove(viewport, rig.row_rect(2).center())
    assert rig.panel.delegate.hovered_row == 2
    QApplication.sendEvent(rig.panel.list_view, QEvent(QEvent.Type.Leave))
    assert rig.panel.delegate.hovered_row is None


def test_row_context_menu_offers_the_row_actions(qtbot: QtBot, cache: NotificationCache) -> None:
    fill_cache(cache, [make_notification(1, server=SERVER, read=True)])
    rig = Rig(qtbot, cache)
    menu = rig.panel.row_menu(rig.model.index(0))
    actions = {a.text(): a for a in menu.actions()}
    assert list(actions) == ["Open", "Mark unread", "Delete"]
    actions["Mark unread"].trigger()
    assert not rig.read("n1")
    menu = rig.panel.row_menu(rig.model.index(0))
    assert [a.text() for a in menu.actions()] == ["Open", "Mark read", "Delete"]
    next(a for a in menu.actions() if a.text() == "Delete").trigger()
    assert rig.model.rowCount() == 0
    assert rig.panel.empty_label.isVisibleTo(rig.panel)


def test_keyboard_arrows_enter_r_and_delete(qtbot: QtBot, cache: NotificationCache) -> None:
    fill_cache(cache, [make_notification(s, server=SERVER) for s in (1, 2, 3)])
    rig = Rig(qtbot, cache)
    view = rig.panel.list_view
    view.setFocus()
    view.setCurrentIndex(rig.model.index(0))
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert rig.panel.current_id() == "n2"
    qtbot.keyClick(view, Qt.Key.Key_R)
    assert rig.read("n2")
    qtbot.keyClick(view, Qt.Key.Key_R)
    assert not rig.read("n2")
    qtbot.keyClick(view, Qt.Key.Key_Return)
    assert rig.opener.opened == [f"{SERVER}/tickets/2"]
    assert rig.read("n2")
    qtbot.keyClick(view, Qt.Key.Key_Delete)
    assert rig.ids() == ["n3", "n1"]
    assert rig.controller.cache.get("n2") is None


def test_header_filters_mark_all_and_clear_read(qtbot: QtBot, cache: NotificationCache) -> None:
    fill_cache(
        cache,
        [
            make_notification(1, type=NotificationType.ASSIGNMENT, read=True),
            make_notification(2, type=NotificationType.MENTION),
            make_notification(3, type=NotificationType.REACTION),
        ],
    )
    rig = Rig(qtbot, cache)
    panel = rig.panel
    assert panel.count_label.text() == "2 unread"
    panel.show_filter.setCurrentIndex(1)  # Unread
    assert rig.ids() == ["n3", "n2"]
    panel.type_filter.setCurrentText("Mentions")
    assert rig.ids() == ["n2"]
    panel.show_filter.setCurrentIndex(0)
    panel.type_filter.setCurrentText("All types")
    assert rig.ids() == ["n3", "n2", "n1"]
    qtbot.mouseClick(panel.mark_all_button, Qt.MouseButton.LeftButton)
    assert panel.count_label.text() == "0 unread"
    assert all(rig.read(i) for i in ("n1", "n2", "n3"))
    assert not panel.mark_all_button.isEnabled()
    qtbot.mouseClick(panel.clear_read_button, Qt.MouseButton.LeftButton)
    assert rig.model.rowCount() == 0
    assert cache.count() == 0


def test_offline_banner_counts_down_only_while_visible(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    rig = Rig(qtbot, cache)
    panel = rig.panel
    # Signed out (the controller's first state) says so; live hides the banner.
    assert panel.banner_label.text() == "Not signed in — open Settings to sign in"
    assert not panel.retry_button.isVisibleTo(panel)
    panel.set_status(ConnectionStatus(ConnectionState.LIVE))
    assert not panel.banner.isVisibleTo(panel)
    retries: list[bool] = []
    panel.retryRequested.connect(lambda: retries.append(True))
    status = ConnectionStatus(
        ConnectionState.BACKING_OFF,
        last_error="server unreachable",
        next_retry_at=rig.clock.now() + timedelta(seconds=8),
    )
    panel.set_status(status)
    assert panel.banner.isVisibleTo(panel)
    assert panel.banner_label.text() == ("Offline — showing saved notifications; retrying in 8 s")
    assert panel.timers_active() == (True, True)
    rig.clock.set(rig.clock.now() + timedelta(seconds=3))
    emit(panel._countdown.timeout)  # the 1 s tick
    assert panel.banner_label.text().endswith("retrying in 5 s")
    qtbot.mouseClick(panel.retry_button, Qt.MouseButton.LeftButton)
    assert retries == [True]
    panel.hide()
    assert panel.timers_active() == (False, False)
    panel.show()
    panel.set_status(ConnectionStatus(ConnectionState.LIVE))
    assert not panel.banner.isVisibleTo(panel)
    assert panel.timers_active() == (True, False)


def test_popup_closes_on_escape_and_opens_clamped(qtbot: QtBot, cache: NotificationCache) -> None:
    fill_cache(cache, [make_notification(1)])
    rig = Rig(qtbot, cache)
    popup = Popup(rig.panel)
    qtbot.addWidget(popup)
    opened: list[bool] = []
    popup.opened.connect(lambda: opened.append(True))
    popup.show_near(QRect(10_000, 10_000, 22, 22))  # off every screen: clamped
    qtbot.waitExposed(popup)
    assert opened == [True]
    screen = popup.screen().availableGeometry()
    assert screen.contains(popup.frameGeometry())
    assert rig.panel.current_id() == "n1"
    with qtbot.waitSignal(popup.closed, timeout=2000):
        qtbot.keyClick(rig.panel.list_view, Qt.Key.Key_Escape)
    assert not popup.isVisible()


@pytest.mark.parametrize(
    ("anchor", "expected"),
    [
        # Tray at the bottom right: above the icon, right edges aligned.
        (QRect(1880, 1050, 24, 24), QPoint(1904 - 420, 1050 - 520 - 4)),
        # Tray at the top left: below the icon, left edges aligned.
        (QRect(5, 2, 24, 24), QPoint(5, 2 + 24 + 4 - 1)),
        # Near the right edge of a top panel: clamped inside the screen.
        (QRect(1910, 0, 24, 24), QPoint(1920 - 420, 24 + 4 - 1)),
    ],
)
def test_place_popup(anchor: QRect, expected: QPoint) -> None:
    available = QRect(0, 0, 1920, 1080)
    assert place_popup(QSize(420, 520), anchor, QPoint(0, 0), available) == expected


def test_place_popup_uses_the_cursor_without_tray_geometry() -> None:
    available = QRect(0, 0, 1920, 1080)
    at = place_popup(QSize(420, 520), None, QPoint(1900, 1070), available)
    # Above the cursor (it is in the lower half), right edge at the cursor.
    assert at == QPoint(1900 - 420 + 1, 1070 - 520 - 4)


def test_accessible_names(qtbot: QtBot, cache: NotificationCache) -> None:
    fill_cache(cache, [make_notification(1)])
    rig = Rig(qtbot, cache)
    panel = rig.panel
    names = {
        panel.list_view.accessibleName(),
        panel.mark_all_button.accessibleName(),
        panel.clear_read_button.accessibleName(),
        panel.retry_button.accessibleName(),
        panel.show_filter.accessibleName(),
        panel.type_filter.accessibleName(),
    }
    assert "" not in names and len(names) == 6
    text = rig.model.data(rig.model.index(0), Qt.ItemDataRole.AccessibleTextRole)
    assert text.startswith("Unread. Bea mentioned you on #1 Ticket 1.")
