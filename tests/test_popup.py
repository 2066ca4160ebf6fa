"""The popup: rows painted as plain text, row and header actions, keyboard, the link allow-list,
the offline banner and placement. Offscreen, over a real SQLite cache and the real controller
(signed out, so actions are applied to the cache locally); the browser is a recording fake.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from popup_rig import SERVER, Rig
from PySide6.QtCore import QEvent, QPoint, QRect, Qt
from PySide6.QtGui import (
    QColor,
    QHelpEvent,
    QImage,
    QPalette,
    QTextDocument,
    QTextLayout,
    QTextOption,
)
from PySide6.QtGui import Qt as QtGuiNamespace
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QLabel,
    QStyle,
    QStyleOptionSlider,
    QToolTip,
)
from pytestqt.qtbot import QtBot
from tray_fakes import fill_cache, make_notification

from notifier.app.list_model import Role
from notifier.core.status import ConnectionState, ConnectionStatus, DeliveryDelay
from notifier.core.wire import NotificationType
from notifier.store.cache import NotificationCache
from notifier.ui.delegate import (
    TEXT_LEFT,
    UNREAD_DOT_ON_DARK,
    button_rects,
    paint_row_for_test,
    row_option,
)
from notifier.ui.popup import NO_BREAK_SPACE, NotificationPanel, Popup


def banner(panel: NotificationPanel) -> str:
    """The banner's words (its non-breaking spaces as plain ones)."""
    return panel.banner_label.text().replace(NO_BREAK_SPACE, " ")


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
    assert delegate.texts(tagged).message == "<b>x</b>"
    # The message line of the tagged row has far more ink than a lone "x": the tags show.
    message_rect = delegate.layout(row_option(rig.panel), tagged).message[0]
    line = (message_rect.top() + 1, message_rect.bottom())  # the message line
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
    assert banner(panel) == "Not signed in to a helpdesk"
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
    assert banner(panel) == "Offline — showing saved notifications; retrying in 8 s"
    assert panel.timers_active() == (True, True)
    rig.clock.set(rig.clock.now() + timedelta(seconds=3))
    panel._countdown.timeout.emit()  # the 1 s tick
    assert banner(panel).endswith("retrying in 5 s")
    qtbot.mouseClick(panel.retry_button, Qt.MouseButton.LeftButton)
    assert retries == [True]
    panel.hide()
    assert panel.timers_active() == (False, False)
    panel.show()
    panel.set_status(ConnectionStatus(ConnectionState.LIVE))
    assert not panel.banner.isVisibleTo(panel)
    assert panel.timers_active() == (True, False)


def test_live_without_live_updates_shows_a_banner_without_retry(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    # Live on periodic checks alone (a Frappe site without socket.io): the banner says so,
    # and offers no Retry, which could not bring live updates back; nothing counts down.
    rig = Rig(qtbot, cache)
    panel = rig.panel
    delay = DeliveryDelay("the socket.io server is unreachable (refused)", 60.0)
    panel.set_status(ConnectionStatus(ConnectionState.LIVE, delayed=delay))
    assert panel.banner.isVisibleTo(panel)
    assert banner(panel) == (
        "No live updates from the helpdesk; checking for new notifications every minute"
    )
    assert not panel.retry_button.isVisibleTo(panel)
    assert not panel.sign_in_button.isVisibleTo(panel)
    assert panel.timers_active() == (True, False)
    panel.set_status(ConnectionStatus(ConnectionState.LIVE))  # socket.io connected
    assert not panel.banner.isVisibleTo(panel)


def line_breaks(label: QLabel, width: int) -> list[str]:
    """The lines a word-wrapping plain-text label of ``width`` shows its text in (QLabel
    lays plain text out with QTextLayout and word wrap, as here)."""
    text = label.text()
    layout = QTextLayout(text, label.font())
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WordWrap)
    layout.setTextOption(option)
    layout.beginLayout()
    lines = []
    while True:
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(width)
        lines.append(text[line.textStart() : line.textStart() + line.textLength()])
    layout.endLayout()
    return lines


def test_the_banner_never_breaks_a_line_inside_a_phrase(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    """The reported "retrying in 1" / "s": at every width of the popup, the countdown stays on
    one line, whole, and no line starts with the dash."""
    rig = Rig(qtbot, cache)
    panel = rig.panel
    for seconds in (1, 8, 10, 59):
        panel.set_status(
            ConnectionStatus(
                ConnectionState.BACKING_OFF,
                last_error="server unreachable",
                next_retry_at=rig.clock.now() + timedelta(seconds=seconds),
            )
        )
        countdown = f"retrying in {seconds} s"
        for width in range(panel.minimumSizeHint().width(), 700, 7):
            panel.resize(width, 520)
            panel.layout().activate()
            panel.banner.layout().activate()
            lines = line_breaks(panel.banner_label, panel.banner_label.contentsRect().width())
            plain = [line.replace(NO_BREAK_SPACE, " ").strip() for line in lines]
            assert any(countdown in line for line in plain), (width, plain)
            assert not any(line.startswith("—") for line in plain), (width, plain)
            assert len(plain) <= 3, (width, plain)


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


def test_a_long_count_keeps_the_popup_at_its_size_and_says_it_whole(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    """The reported case: 128 unread customer replies, "Ticket updates" chosen. The header's
    "128 unread ticket updates" beside the two filters needed 470 px: the 420 px popup at the
    tray icon grew to the right, past the icon (off the screen at its edge), as the filter was
    picked. The popup keeps its size; the count's words all show."""
    fill_cache(
        cache,
        [make_notification(seq, type=NotificationType.REACTION) for seq in range(1, 129)],
    )
    rig = Rig(qtbot, cache)
    popup = Popup(rig.panel)
    qtbot.addWidget(popup)
    popup.show_near(QRect(1800, 8, 24, 24))
    qtbot.waitExposed(popup)
    opened = popup.geometry()
    panel = rig.panel
    for show in ("All", "Unread"):
        for choice in ("Ticket updates", "Assignments", "Mentions", "All types"):
            panel.show_filter.setCurrentText(show)
            panel.type_filter.setCurrentText(choice)
            QApplication.processEvents()
            label = panel.count_label
            assert popup.geometry() == opened, (show, choice, label.text())
            if choice == "Ticket updates":
                assert label.text() == "128 unread ticket updates"
            room = label.contentsRect()
            if label.wordWrap():
                assert room.height() >= label.heightForWidth(room.width()), label.text()
            else:
                assert room.width() >= label.sizeHint().width(), label.text()
            assert label.geometry().right() < panel.show_label.geometry().left(), label.text()


def test_accessible_names(qtbot: QtBot, cache: NotificationCache) -> None:
    fill_cache(cache, [make_notification(1)])
    rig = Rig(qtbot, cache)
    panel = rig.panel
    names = {
        panel.list_view.accessibleName(),
        panel.mark_all_button.accessibleName(),
        panel.clear_read_button.accessibleName(),
        panel.retry_button.accessibleName(),
        panel.show_label.text(),  # the filters are named by their labels, their buddies
        panel.type_label.text(),
    }
    assert "" not in names and len(names) == 6
    assert panel.show_label.buddy() is panel.show_filter
    assert panel.type_label.buddy() is panel.type_filter
    text = rig.model.data(rig.model.index(0), Qt.ItemDataRole.AccessibleTextRole)
    assert text.startswith("Unread. Bea mentioned you on #1 Ticket 1.")


def test_the_list_follows_the_desktop_from_light_to_dark(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    """A desktop switched to dark while the app runs: the list's background follows (its style
    sheet had kept the light palette), and the unread dot is a blue that shows on it."""
    fill_cache(cache, [make_notification(1)])
    rig = Rig(qtbot, cache)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    light = app.palette()
    dark = QPalette(light)
    dark.setColor(QPalette.ColorRole.Base, QColor("#1f2125"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#e6e6e6"))
    try:
        app.setPalette(dark)
        QApplication.processEvents()
        view = rig.panel.list_view
        below_rows = QPoint(view.width() // 2, rig.row_rect(0).bottom() + 40)
        shown = view.grab().toImage().pixelColor(below_rows)
        assert shown.lightness() < 60, shown.name()
        row = paint_row_for_test(rig.panel.delegate, rig.model.index(0), view)
        dot = row.pixelColor(
            8,
            rig.panel.delegate.layout(row_option(view), rig.model.index(0))
            .headline[0]
            .center()
            .y(),
        )
        assert dot.name() == UNREAD_DOT_ON_DARK.name()
    finally:
        app.setPalette(light)


def test_the_list_is_flush_with_the_popup_and_its_scroll_bar_has_no_arrows(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    """No box inside a box: the list has no frame of its own and reaches the popup's frame
    left, right and at the bottom. Under Qt's Fusion style (a Linux desktop without a Qt
    theme, whose own scroll bars have no arrows) the list's scroll bar is slim and arrowless;
    native styles keep their own."""
    fill_cache(cache, [make_notification(s) for s in range(1, 41)])
    rig = Rig(qtbot, cache)
    popup = Popup(rig.panel)
    qtbot.addWidget(popup)
    popup.show_near(QRect(1800, 8, 24, 24))
    qtbot.waitExposed(popup)
    view = rig.panel.list_view
    assert view.frameShape() == QFrame.Shape.NoFrame
    inside = popup.contentsRect()
    placed = QRect(view.mapTo(popup, QPoint(0, 0)), view.size())
    assert (placed.left(), placed.right(), placed.bottom()) == (
        inside.left(),
        inside.right(),
        inside.bottom(),
    )
    assert QApplication.style().name().lower() == "fusion"  # offscreen: Qt's own style
    bar = view.verticalScrollBar()
    assert bar.isVisible()
    option = QStyleOptionSlider()
    option.initFrom(bar)
    option.orientation = Qt.Orientation.Vertical
    option.minimum, option.maximum, option.pageStep = bar.minimum(), bar.maximum(), bar.pageStep()
    option.subControls = QStyle.SubControl.SC_All
    for arrow in (QStyle.SubControl.SC_ScrollBarAddLine, QStyle.SubControl.SC_ScrollBarSubLine):
        rect = bar.style().subControlRect(QStyle.ComplexControl.CC_ScrollBar, option, arrow, bar)
        assert rect.height() == 0, arrow
    assert bar.width() <= 10


def test_the_row_the_keyboard_acts_on_is_highlighted_on_opening_and_after_a_filter_change(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    # Focusing the list made its first row current without selecting it, and a filter change
    # left no current row: Enter then opened a row that looked like any other.
    fill_cache(cache, [make_notification(s, server=SERVER) for s in (1, 2, 3)])
    rig = Rig(qtbot, cache)
    popup = Popup(rig.panel)
    qtbot.addWidget(popup)
    view = rig.panel.list_view

    def highlighted_rows() -> list[int]:
        """Rows whose background (left of the unread dot) is not the list's base colour."""
        image = view.viewport().grab().toImage()
        base = view.palette().color(QPalette.ColorRole.Base)
        rows = []
        for row in range(rig.model.rowCount()):
            rect = rig.row_rect(row)
            if image.pixelColor(2, rect.top() + 3) != base:
                rows.append(row)
        return rows

    popup.show_near(QRect(1800, 8, 24, 24))
    qtbot.waitExposed(popup)
    assert rig.panel.current_id() == "n3"
    assert highlighted_rows() == [0]
    qtbot.keyClick(view, Qt.Key.Key_Return)
    assert rig.opener.opened == [f"{SERVER}/tickets/3"]

    rig.panel.show_filter.setCurrentIndex(1)  # Unread: n2 and n1 are left
    assert rig.ids() == ["n2", "n1"]
    assert rig.panel.current_id() == "n2"
    assert highlighted_rows() == [0]


def tooltip_at(rig: Rig, point: QPoint) -> str:
    """The text the row tooltip at ``point`` (viewport coordinates) shows, as the tooltip
    label renders it: HTML when Qt takes the text for HTML, else the characters."""
    viewport = rig.panel.list_view.viewport()
    QToolTip.hideText()
    event = QHelpEvent(QEvent.Type.ToolTip, point, viewport.mapToGlobal(point))
    QApplication.sendEvent(viewport, event)
    shown = QToolTip.text()
    document = QTextDocument()
    if QtGuiNamespace.mightBeRichText(shown):
        document.setHtml(shown)
    else:
        document.setPlainText(shown)
    QToolTip.hideText()
    return document.toPlainText()


def test_row_tooltips_show_markup_from_the_helpdesk_as_plain_text(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    # A customer named "<b>Maria</b>" (or a subject "<h1>…") was rendered as HTML in the
    # tooltip, since Qt renders any tooltip that looks like HTML.
    fill_cache(
        cache,
        [
            make_notification(
                1,
                sender="<b>Maria</b>",
                subject="<h1>Refund</h1>",
                message='<img src="x"> & <a href="https://evil.example">click</a>',
            )
        ],
    )
    rig = Rig(qtbot, cache)
    expected = str(rig.model.index(0).data(Qt.ItemDataRole.ToolTipRole))
    assert expected.startswith("<b>Maria</b> mentioned you on #1 <h1>Refund</h1>")
    text_point = QPoint(TEXT_LEFT + 20, rig.row_rect(0).top() + 12)
    assert tooltip_at(rig, text_point) == expected


def test_hover_buttons_say_what_they_do(qtbot: QtBot, cache: NotificationCache) -> None:
    fill_cache(cache, [make_notification(1, read=True), make_notification(2)])  # n2 is first
    rig = Rig(qtbot, cache)
    unread_row, read_row = rig.row_rect(0), rig.row_rect(1)
    toggle, delete = button_rects(unread_row)
    assert tooltip_at(rig, toggle.center()) == "Mark read"
    assert tooltip_at(rig, delete.center()) == "Delete"
    toggle, delete = button_rects(read_row)
    assert tooltip_at(rig, toggle.center()) == "Mark unread"
    assert tooltip_at(rig, delete.center()) == "Delete"


def test_signed_out_the_banner_offers_to_sign_in(qtbot: QtBot, cache: NotificationCache) -> None:
    # The banner said "Not signed in — open Settings to sign in" and offered nothing: the
    # agent had to find the tray menu's Settings… item.
    rig = Rig(qtbot, cache)
    panel = rig.panel
    asked: list[bool] = []
    panel.settingsRequested.connect(lambda: asked.append(True))
    for state in (ConnectionState.SIGNED_OUT, ConnectionState.AUTH_FAILED):
        panel.set_status(ConnectionStatus(state))
        assert panel.banner.isVisible()
        assert panel.sign_in_button.isVisible() and not panel.retry_button.isVisible()
        assert panel.banner.rect().contains(panel.sign_in_button.geometry())
        qtbot.mouseClick(panel.sign_in_button, Qt.MouseButton.LeftButton)
    assert asked == [True, True]
    retrying_at = rig.clock.now() + timedelta(seconds=5)
    panel.set_status(ConnectionStatus(ConnectionState.BACKING_OFF, next_retry_at=retrying_at))
    assert panel.retry_button.isVisible() and not panel.sign_in_button.isVisible()
