"""The popup, the settings dialog and the fallback window as a screen reader and a keyboard-only
agent meet them: what Qt's accessibility tree (QAccessible, what Orca and NVDA read) says of each
control and row, the keyboard's way to every row action, a new arrival leaving the chosen row
alone, and the grey text of the rows readable (contrast of at least 4.5:1) on light and dark
palettes. Offscreen, over a real SQLite cache and the real controller (see popup_rig.py)."""

from __future__ import annotations

import dataclasses
from datetime import UTC
from itertools import pairwise

from fresh_interpreter import fresh_output
from popup_rig import SERVER, Rig
from PySide6.QtCore import QRect, Qt, QTime, QTimer
from PySide6.QtGui import QAccessible, QAccessibleInterface, QColor, QImage, QPainter, QPalette
from PySide6.QtWidgets import QApplication, QMenu, QStyle, QWidget
from pytestqt.qtbot import QtBot
from test_settings_dialog import ALICE, FakeBackend, make_dialog
from tray_fakes import fill_cache, make_notification

from notifier.core.status import CacheChange, ChangeKind
from notifier.core.wire import Notification, NotificationType, QuietRange
from notifier.store.cache import NotificationCache
from notifier.ui.announcer import ArrivalAnnouncer
from notifier.ui.badge import BadgeState
from notifier.ui.delegate import contrast_ratio, over, row_option
from notifier.ui.fallback_window import FallbackWindow
from notifier.ui.popup import Popup, popup_size
from notifier.ui.schedule_editor import ScheduleEditor

NAME = QAccessible.Text.Name
DESCRIPTION = QAccessible.Text.Description
VAT = "Invoice shows the wrong VAT rate"


def accessible(widget: QWidget) -> QAccessibleInterface:
    interface = QAccessible.queryAccessibleInterface(widget)
    assert interface is not None and interface.isValid()
    return interface


def said(widget: QWidget) -> str:
    """What a screen reader says a widget is: its accessible name and description."""
    interface = accessible(widget)
    return f"{interface.text(NAME)} / {interface.text(DESCRIPTION)}"


def vat_rig(qtbot: QtBot, cache: NotificationCache) -> Rig:
    fill_cache(
        cache,
        [
            make_notification(
                seq,
                type=NotificationType.ASSIGNMENT,
                sender="Bea Baker",
                subject=VAT,
                read=seq == 1,
                server=SERVER,
            )
            for seq in (1, 2, 3)
        ],
    )
    return Rig(qtbot, cache)


def test_labels_are_read_by_their_words_not_by_a_fixed_name(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    # The count said "Unread count", the empty list "The list is empty" and "Why the list is
    # empty": a fixed accessible name replaces a label's text, so the numbers and the reasons
    # were never read out.
    rig = vat_rig(qtbot, cache)
    panel = rig.panel
    assert accessible(panel.count_label).text(NAME) == "2 unread"
    panel.type_filter.setCurrentText("Mentions")
    assert rig.model.rowCount() == 0
    assert accessible(panel.empty_label).text(NAME) == "No mentions"
    assert accessible(panel.empty_detail).text(NAME) == (
        "3 notifications of other types are in the list."
    )
    assert accessible(panel.widen_button).text(NAME) == "Show all types"


def test_the_new_button_says_how_many_arrived(qtbot: QtBot, cache: NotificationCache) -> None:
    # It said "Show the new notifications" while it showed "↑ 2 new".
    rig = vat_rig(qtbot, cache)
    rig.model.hold_arrivals(True)  # as while the pointer is over the list
    arrivals = (make_notification(4, server=SERVER), make_notification(5, server=SERVER))
    fill_cache(cache, list(arrivals))
    rig.model.apply_change(CacheChange(ChangeKind.UPSERTED, notifications=arrivals))
    assert rig.panel.new_button.text() == "↑ 2 new"
    assert accessible(rig.panel.new_button).text(NAME) == "Show 2 new notifications"


def open_popup(qtbot: QtBot, rig: Rig, popup: Popup | None = None) -> Popup:
    """``popup`` (a new one around the rig's panel) open and active; keep it referenced."""
    if popup is None:
        popup = Popup(rig.panel)
        qtbot.addWidget(popup)
    popup.show_near(QRect(1800, 8, 24, 24))
    qtbot.waitExposed(popup)
    qtbot.waitUntil(popup.isActiveWindow, timeout=2000)
    return popup


def arrive(
    rig: Rig, cache: NotificationCache, *arrivals: Notification, local: bool = False
) -> None:
    """``arrivals`` written to the cache and published, as the engine does."""
    fill_cache(cache, list(arrivals))
    change = CacheChange(ChangeKind.UPSERTED, notifications=arrivals, local=local)
    rig.model.apply_change(change)


def announced_after(qtbot: QtBot, rig: Rig, before: int) -> list[str]:
    """The announcements after the first ``before``, once there is one more (the burst ends)."""
    qtbot.waitUntil(lambda: len(rig.announced) > before, timeout=2000)
    return rig.announced[before:]


def assignment(seq: int) -> Notification:
    return make_notification(
        seq, type=NotificationType.ASSIGNMENT, sender="Bea Baker", subject=VAT, server=SERVER
    )


def test_an_arrival_in_the_open_popup_is_announced_in_its_rows_words(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    # An arrival while the popup was open was silent for a screen reader: the focus stays on
    # the chosen row, so nothing said that the list had grown.
    rig = vat_rig(qtbot, cache)
    _popup = open_popup(qtbot, rig)  # kept: it owns the panel
    arrive(rig, cache, assignment(4))
    assert rig.announced == []  # not at once: more may follow in the same burst
    row = accessible(rig.panel.list_view).child(0).text(NAME)
    assert row == f"Unread. Bea Baker assigned you #4 {VAT}. 1 hour ago. Can you look at this?"
    assert announced_after(qtbot, rig, 0) == [row]


def test_a_burst_of_arrivals_is_one_announcement(qtbot: QtBot, cache: NotificationCache) -> None:
    rig = vat_rig(qtbot, cache)
    _popup = open_popup(qtbot, rig)  # kept: it owns the panel
    for seq in (4, 5, 6):  # three changes, one after the other
        arrive(rig, cache, make_notification(seq, server=SERVER))
    assert announced_after(qtbot, rig, 0) == ["3 new notifications"]
    # Under a type filter, only that type is news, in the header's words.
    rig.panel.type_filter.setCurrentText("Mentions")
    arrive(rig, cache, assignment(7), make_notification(8, server=SERVER))
    arrive(rig, cache, make_notification(9, server=SERVER))
    assert announced_after(qtbot, rig, 1) == ["2 new mentions"]


def test_arrivals_held_under_the_pointer_are_announced(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    # Held at the top while the pointer is on the list, arrivals do not even move the rows: the
    # "N new" button was all that told of them, and only to the eye.
    rig = vat_rig(qtbot, cache)
    _popup = open_popup(qtbot, rig)  # kept: it owns the panel
    rig.model.hold_arrivals(True)  # as while the pointer is over the list
    arrive(rig, cache, assignment(4))
    assert announced_after(qtbot, rig, 0) == [
        f"Unread. Bea Baker assigned you #4 {VAT}. 1 hour ago. Can you look at this?"
    ]
    many = tuple(make_notification(seq, server=SERVER) for seq in range(5, 65))  # a bulk batch
    arrive(rig, cache, *many)
    assert announced_after(qtbot, rig, 1) == ["60 new notifications"]
    assert rig.ids() == ["n3", "n2", "n1"]  # the list did not move
    assert rig.panel.new_button.text() == "↑ 61 new"


def test_nothing_is_announced_while_the_popup_is_closed_or_for_old_news(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    rig = vat_rig(qtbot, cache)
    popup = open_popup(qtbot, rig)
    arrive(rig, cache, assignment(4))
    popup.hide()  # before the burst ends: what it collected is dropped with it
    arrive(rig, cache, assignment(5))  # closed: the toast is the channel
    open_popup(qtbot, rig, popup)
    arrive(rig, cache, make_notification(6, server=SERVER, read=True))  # read elsewhere
    arrive(rig, cache, make_notification(2, server=SERVER))  # an old one again (a replay)
    arrive(rig, cache, make_notification(7, server=SERVER), local=True)  # the agent's own
    arrive(rig, cache, assignment(8))
    assert announced_after(qtbot, rig, 0) == [
        f"Unread. Bea Baker assigned you #8 {VAT}. 1 hour ago. Can you look at this?"
    ]


def test_a_reissued_notification_is_news(qtbot: QtBot, cache: NotificationCache) -> None:
    # The helpdesk re-issues a notification (same id, a new seq: a folded reaction, a second
    # update) to tell of it again; it moves to the top and is said like an arrival.
    rig = vat_rig(qtbot, cache)
    _popup = open_popup(qtbot, rig)  # kept: it owns the panel
    arrive(rig, cache, dataclasses.replace(assignment(2), seq=4))
    assert rig.ids() == ["n2", "n3", "n1"]
    assert announced_after(qtbot, rig, 0) == [
        f"Unread. Bea Baker assigned you #2 {VAT}. 1 hour ago. Can you look at this?"
    ]


def test_announcer_says_one_arrival_in_its_words_and_a_burst_as_a_count(qtbot: QtBot) -> None:
    said_: list[str] = []
    announcer = ArrivalAnnouncer(said_.append, burst_ms=30)
    announcer.arrived(1, "Unread. Bea assigned you #2.")
    qtbot.waitUntil(lambda: bool(said_), timeout=2000)
    announcer.arrived(1, "Unread. Bea assigned you #3.")
    announcer.arrived(2)
    assert announcer.pending == 3 and said_ == ["Unread. Bea assigned you #2."]
    qtbot.waitUntil(lambda: len(said_) == 2, timeout=2000)
    announcer.arrived(1, "Unread. Bea assigned you #6.")
    announcer.cancel()
    announcer.arrived(1, "Unread. Bea assigned you #7.")
    qtbot.waitUntil(lambda: len(said_) == 3, timeout=2000)
    assert said_ == [
        "Unread. Bea assigned you #2.",
        "3 new notifications",
        "Unread. Bea assigned you #7.",  # #6 was cancelled, unsaid
    ]


def test_the_real_announcement_is_accepted_and_its_classes_load_at_first_use() -> None:
    # Qt's announcement event, polite, posted from the popup's list with accessibility on (as
    # with a screen reader running); its Python types are made only when first announced.
    output = fresh_output(
        "import os; os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "from PySide6 import QtGui\n"
        "from PySide6.QtWidgets import QApplication, QListView\n"
        "from notifier.ui.announcer import post_announcement\n"
        "import notifier.ui.popup\n"
        "app = QApplication([])\n"
        "print('QAccessibleAnnouncementEvent' in vars(QtGui))\n"
        "view = QListView(); view.show()\n"
        "QtGui.QAccessible.setActive(True)\n"
        "post_announcement(view, 'Unread. Bea Baker assigned you #2')\n"
        "print('QAccessibleAnnouncementEvent' in vars(QtGui))\n"
    )
    assert output.split() == ["False", "True"]


def test_the_filters_say_what_they_choose(qtbot: QtBot, cache: NotificationCache) -> None:
    # On Linux Qt names a combo box by its current item: the two filters were read as "All"
    # and "All types", with nothing saying what they are for.
    rig = vat_rig(qtbot, cache)
    assert said(rig.panel.show_filter) in (
        "Show / Show all notifications or only unread ones",  # Windows, macOS
        "All / Show all notifications or only unread ones",  # Linux (AT-SPI)
    )
    assert said(rig.panel.type_filter) in (
        "Type / Which type of notifications to show",  # the label's words, its buddy
        "All types / Which type of notifications to show",
    )


def test_each_filter_has_a_visible_label_that_names_it(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    # The two boxes stood in the header with nothing saying what they were: "All" and "All
    # types" to a sighted agent, and only a name hidden from sight to a screen reader.
    rig = vat_rig(qtbot, cache)
    _popup = open_popup(qtbot, rig)  # kept: it owns the panel
    panel = rig.panel
    for label, combo, words in (
        (panel.show_label, panel.show_filter, "Show"),
        (panel.type_label, panel.type_filter, "Type"),
    ):
        assert label.isVisible() and label.buddy() is combo
        assert label.geometry().right() < combo.geometry().left()  # before its box
        # No fixed name of the box's own: the label names it (Windows and macOS read the
        # buddy's words as the name; Linux reads the label through the "labelled by" relation).
        assert combo.accessibleName() == ""
        assert [
            (interface.text(NAME), relation)
            for interface, relation in accessible(combo).relations(QAccessible.Relation.Label)
        ] == [(words, QAccessible.Relation.Label)]
        assert accessible(label).text(NAME) == words
    # The mnemonics reach the boxes from the list (no other control of the popup has one).
    qtbot.keyClick(panel.list_view, Qt.Key.Key_T, Qt.KeyboardModifier.AltModifier)
    assert QApplication.focusWidget() is panel.type_filter
    qtbot.keyClick(panel.type_filter, Qt.Key.Key_S, Qt.KeyboardModifier.AltModifier)
    assert QApplication.focusWidget() is panel.show_filter


def test_the_filter_labels_fit_the_header(qtbot: QtBot, cache: NotificationCache) -> None:
    # At the popup's size and at the narrowest the panel can be, every word of the header is
    # whole: no label or box is squeezed below what its text needs, and nothing overlaps.
    rig = vat_rig(qtbot, cache)
    panel = rig.panel
    panel.type_filter.setCurrentText("Ticket updates")  # the longest words of the header
    header = (
        panel.count_label,
        panel.show_label,
        panel.show_filter,
        panel.type_label,
        panel.type_filter,
    )
    for width in (panel.minimumSizeHint().width(), popup_size(panel.fontMetrics()).width()):
        panel.resize(width, 520)
        layout = panel.layout()
        assert layout is not None
        layout.activate()
        rects = [widget.geometry() for widget in header]
        for widget, rect in zip(header, rects, strict=True):
            assert widget.isVisible(), (width, widget)
            assert rect.width() >= widget.sizeHint().width(), (width, widget, rect)
        for left, right in pairwise(rects):
            assert left.right() < right.left(), (width, left, right)
        assert rects[-1].right() < panel.width(), width


def test_rows_read_as_the_popup_shows_them(qtbot: QtBot, cache: NotificationCache) -> None:
    # Rows read "… rate. Can you look at this?. Bea Baker, 1 hour ago": the name twice, the
    # time after the whole message, and "?." spoken as a pause and a dot.
    rig = vat_rig(qtbot, cache)
    view = accessible(rig.panel.list_view)
    rows = [view.child(row) for row in range(view.childCount())]
    assert [row.text(NAME) for row in rows] == [
        f"Unread. Bea Baker assigned you #3 {VAT}. 1 hour ago. Can you look at this?",
        f"Unread. Bea Baker assigned you #2 {VAT}. 1 hour ago. Can you look at this?",
        f"Read. Bea Baker assigned you #1 {VAT}. 1 hour ago. Can you look at this?",
    ]
    # The row buttons are painted: the list says which keys do what they do.
    assert view.text(DESCRIPTION) == (
        "Enter opens the ticket, R marks it read or unread, Delete deletes it, "
        "the Menu key shows all actions"
    )


def menu_from_key(qtbot: QtBot, rig: Rig, key: Qt.Key, modifiers: Qt.KeyboardModifier) -> list[str]:
    """Press ``key`` on the list; the actions of the menu it opens (then "Delete" from it)."""
    shown: list[str] = []

    def use_menu() -> None:
        menu = QApplication.activePopupWidget()
        if isinstance(menu, QMenu):
            actions = {action.text(): action for action in menu.actions()}
            shown.extend(actions)
            menu.close()
            actions["Delete"].trigger()

    QTimer.singleShot(0, use_menu)  # runs inside the menu's own event loop
    qtbot.keyClick(rig.panel.list_view, key, modifiers)
    qtbot.waitUntil(lambda: bool(shown), timeout=2000)
    return shown


def test_the_menu_key_opens_the_chosen_rows_menu(qtbot: QtBot, cache: NotificationCache) -> None:
    # The row menu opened on a right click only: the Menu key and Shift+F10 did nothing.
    rig = vat_rig(qtbot, cache)
    view = rig.panel.list_view
    view.setFocus()
    rig.panel.select_current_row()
    qtbot.keyClick(view, Qt.Key.Key_Down)
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert rig.panel.current_id() == "n1"  # the read one
    no_modifier = Qt.KeyboardModifier.NoModifier
    assert menu_from_key(qtbot, rig, Qt.Key.Key_Menu, no_modifier) == [
        "Open",
        "Mark unread",
        "Delete",
    ]
    assert rig.ids() == ["n3", "n2"]
    assert rig.panel.current_id() == "n2"
    shift = Qt.KeyboardModifier.ShiftModifier
    assert menu_from_key(qtbot, rig, Qt.Key.Key_F10, shift) == ["Open", "Mark read", "Delete"]
    assert rig.ids() == ["n3"]


def test_an_arrival_keeps_the_chosen_row_and_the_focus(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    rig = vat_rig(qtbot, cache)
    _popup = open_popup(qtbot, rig)  # kept: it owns the panel
    view = rig.panel.list_view
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert rig.panel.current_id() == "n2"
    arrival = make_notification(4, server=SERVER)
    fill_cache(cache, [arrival])
    rig.model.apply_change(CacheChange(ChangeKind.UPSERTED, notifications=(arrival,)))
    assert rig.ids() == ["n4", "n3", "n2", "n1"]
    assert rig.panel.current_id() == "n2"
    assert [i.row() for i in view.selectionModel().selectedIndexes()] == [2]
    assert QApplication.focusWidget() is view
    qtbot.keyClick(view, Qt.Key.Key_Return)  # still opens the row the agent chose
    assert rig.opener.opened == [f"{SERVER}/tickets/2"]


def test_the_row_the_keys_act_on_is_framed_while_the_list_has_the_focus(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    # The current row was told apart by a faint tint only (about 1.2:1 on white), the same
    # whether or not the keys were on the list.
    rig = vat_rig(qtbot, cache)
    _popup = open_popup(qtbot, rig)  # kept: it owns the panel
    view = rig.panel.list_view
    highlight = view.palette().color(QPalette.ColorRole.Highlight)

    def framed_rows() -> list[int]:
        """Rows whose left edge, halfway down, is in the highlight colour."""
        image = view.viewport().grab().toImage()
        rows = range(rig.model.rowCount())
        return [r for r in rows if image.pixelColor(0, rig.row_rect(r).center().y()) == highlight]

    assert QApplication.focusWidget() is view
    assert framed_rows() == [0]
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert framed_rows() == [1]
    qtbot.keyClick(view, Qt.Key.Key_Tab)  # to the filters: the frame goes with the focus
    assert QApplication.focusWidget() is rig.panel.show_filter
    assert framed_rows() == []


def test_escape_closes_the_popup_from_every_control(qtbot: QtBot, cache: NotificationCache) -> None:
    rig = vat_rig(qtbot, cache)
    popup = Popup(rig.panel)
    qtbot.addWidget(popup)
    panel = rig.panel
    for control in (panel.list_view, panel.show_filter, panel.type_filter, panel.mark_all_button):
        popup.show_near(QRect(1800, 8, 24, 24))
        qtbot.waitExposed(popup)
        control.setFocus()
        with qtbot.waitSignal(popup.closed, timeout=2000):
            qtbot.keyClick(control, Qt.Key.Key_Escape)
        assert not popup.isVisible(), control.accessibleName()


def dark_palette() -> QPalette:
    """A dark desktop's palette, its placeholder grey derived as Qt derives it (the text
    colour at half strength)."""
    palette = QPalette(QApplication.palette())
    colours = {
        QPalette.ColorRole.Window: "#2b2b2b",
        QPalette.ColorRole.Base: "#1e1e1e",
        QPalette.ColorRole.AlternateBase: "#2a2a2a",
        QPalette.ColorRole.Text: "#ececec",
        QPalette.ColorRole.WindowText: "#ececec",
        QPalette.ColorRole.Highlight: "#2f65ca",
    }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    palette.setColor(QPalette.ColorRole.PlaceholderText, QColor(236, 236, 236, 128))
    return palette


def message_contrast(rig: Rig, palette: QPalette, state: QStyle.StateFlag) -> float:
    """Paint the read row (its ticket, time and message are the grey ones) on the list's base
    in ``palette``, and measure the message's most contrasting ink against the row's
    background next to it."""
    probe = QWidget()
    font = probe.font()
    font.setPointSizeF(20)  # stems several pixels wide: their middle is the pen's colour
    probe.setFont(font)
    probe.setPalette(palette)
    option = row_option(probe, 420)
    option.state |= state
    index = rig.model.index(2)
    layout = rig.panel.delegate.layout(option, index)
    image = QImage(option.rect.size(), QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(palette.color(QPalette.ColorRole.Base))
    painter = QPainter(image)
    rig.panel.delegate.paint(painter, option, index)
    painter.end()
    rect = layout.message[0]
    background = image.pixelColor(2, rect.center().y())
    ink = [
        image.pixelColor(x, y)
        for x in range(rect.left(), rect.right())
        for y in range(rect.top(), rect.bottom())
    ]
    return max(contrast_ratio(pixel, background) for pixel in ink)


def test_grey_row_text_is_readable_on_light_and_dark_palettes(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    # The grey was the palette's placeholder colour, the text at half strength: 4.0:1 on white,
    # 3.7:1 on a hovered row and 3.1:1 on the chosen row's tint; on a dark palette 3.9:1 and
    # 3.7:1.
    rig = vat_rig(qtbot, cache)
    light = QApplication.palette()
    states = {
        "plain": QStyle.StateFlag.State_Enabled,
        "hovered": QStyle.StateFlag.State_MouseOver,
        "chosen": QStyle.StateFlag.State_Selected,
    }
    for palette_name, palette in (("light", light), ("dark", dark_palette())):
        for state_name, state in states.items():
            ratio = message_contrast(rig, palette, state)
            assert ratio >= 4.5, (palette_name, state_name, round(ratio, 2))


def test_the_empty_lists_detail_is_readable(qtbot: QtBot, cache: NotificationCache) -> None:
    rig = vat_rig(qtbot, cache)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    light = app.palette()
    try:
        for palette in (light, dark_palette()):
            app.setPalette(palette)
            QApplication.processEvents()
            detail = rig.panel.empty_detail
            base = palette.color(QPalette.ColorRole.Base)
            shown = over(detail.palette().color(detail.foregroundRole()), base)
            assert contrast_ratio(shown, base) >= 4.5, shown.name()
    finally:
        app.setPalette(light)


def test_settings_status_lines_are_read_by_their_words(qtbot: QtBot) -> None:
    # "Signed in as:" was followed by "agent label", and the account status by "account
    # status": their words were never read. The quiet hours preview likewise.
    dialog = make_dialog(qtbot, FakeBackend(agent=ALICE))
    assert dialog.agent_label.text() == "Alice Agent (alice)"
    assert accessible(dialog.agent_label).text(NAME) == "Alice Agent (alice)"
    dialog.account_status.setText("Connected")
    assert accessible(dialog.account_status).text(NAME) == "Connected"
    editor = ScheduleEditor(UTC)
    qtbot.addWidget(editor)
    assert editor.preview.text()
    assert accessible(editor.preview).text(NAME) == editor.preview.text()


def test_each_remove_button_names_its_quiet_hours_range(qtbot: QtBot) -> None:
    # Every row's button was "Remove this range": tabbing through them, nothing said which.
    editor = ScheduleEditor(UTC)
    qtbot.addWidget(editor)
    editor.set_ranges([QuietRange(0, "22:00", "07:00"), QuietRange(5, "00:00", "00:00")])
    removes = [editor.row_widgets(row)[3] for row in range(2)]
    assert [accessible(button).text(NAME) for button in removes] == [
        "Remove Monday 22:00–07:00",
        "Remove Saturday 00:00–00:00",
    ]
    day, start, _, remove = editor.row_widgets(0)
    day.setCurrentIndex(1)
    start.setTime(QTime(21, 30))
    assert accessible(remove).text(NAME) == "Remove Tuesday 21:30–07:00"


def test_the_fallback_windows_badge_says_its_count(qtbot: QtBot) -> None:
    # The badge picture was read as "Notification badge", whatever it showed.
    window = FallbackWindow()
    qtbot.addWidget(window)
    window.set_badge(BadgeState(unread=3))
    assert accessible(window.badge_label).text(NAME) == "Badge: 3 unread"
