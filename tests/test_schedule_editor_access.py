"""The quiet-hours editor as a screen reader meets it: each row's time fields and Remove
button are named after their own range, in Qt's accessibility tree (what Orca and NVDA read),
and the names follow the day as it changes; the Tab key goes through the ranges in order,
then to the buttons under them."""

from __future__ import annotations

from datetime import UTC

from PySide6.QtCore import Qt, QTime
from PySide6.QtGui import QAccessible
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QWidget
from pytestqt.qtbot import QtBot

from notifier.core.wire import QuietRange
from notifier.ui.schedule_editor import ScheduleEditor

MAX_TABS = 60  # more than the Quiet hours tab and the dialog's buttons have stops
WAIT_MS = 2000


def name(widget: QWidget) -> str:
    interface = QAccessible.queryAccessibleInterface(widget)
    assert interface is not None and interface.isValid()
    return interface.text(QAccessible.Text.Name)


def row_names(editor: ScheduleEditor) -> list[tuple[str, str, str]]:
    """(start, end, remove) as a screen reader names them, for every row."""
    names = []
    for row in range(editor.row_count()):
        _, start, end, remove = editor.row_widgets(row)
        names.append((name(start), name(end), name(remove)))
    return names


def test_time_fields_say_which_range_they_belong_to(qtbot: QtBot) -> None:
    # Every row's fields were "From" and "To": tabbing through three rows, a screen reader
    # said "From, To, Remove …" three times, and which day a time was for only by going back.
    editor = ScheduleEditor(UTC)
    qtbot.addWidget(editor)
    editor.set_ranges(
        [
            QuietRange(0, "22:00", "07:00"),
            QuietRange(1, "12:00", "13:00"),
            QuietRange(5, "00:00", "00:00"),
        ]
    )
    assert row_names(editor) == [
        ("Monday quiet hours start", "Monday quiet hours end", "Remove Monday 22:00–07:00"),
        ("Tuesday quiet hours start", "Tuesday quiet hours end", "Remove Tuesday 12:00–13:00"),
        ("Saturday quiet hours start", "Saturday quiet hours end", "Remove Saturday 00:00–00:00"),
    ]


def test_the_names_follow_a_change_of_day(qtbot: QtBot) -> None:
    editor = ScheduleEditor(UTC)
    qtbot.addWidget(editor)
    editor.set_ranges([QuietRange(0, "22:00", "07:00"), QuietRange(1, "22:00", "07:00")])
    day, start, _, _ = editor.row_widgets(1)
    day.setCurrentIndex(4)
    start.setTime(QTime(23, 15))
    assert row_names(editor) == [
        ("Monday quiet hours start", "Monday quiet hours end", "Remove Monday 22:00–07:00"),
        ("Friday quiet hours start", "Friday quiet hours end", "Remove Friday 23:15–07:00"),
    ]
    # A row added and one removed: the rows left keep their own names.
    editor.add_range()
    editor.remove_row(0)
    assert row_names(editor) == [
        ("Friday quiet hours start", "Friday quiet hours end", "Remove Friday 23:15–07:00"),
        ("Saturday quiet hours start", "Saturday quiet hours end", "Remove Saturday 22:00–07:00"),
    ]


def test_two_ranges_on_one_day_are_told_apart(qtbot: QtBot) -> None:
    # A split Monday (a lunch break and a night) gave both rows' fields the same names.
    editor = ScheduleEditor(UTC)
    qtbot.addWidget(editor)
    editor.set_ranges(
        [
            QuietRange(0, "12:00", "13:00"),
            QuietRange(1, "22:00", "07:00"),
            QuietRange(0, "22:00", "07:00"),
        ]
    )
    assert row_names(editor) == [
        (
            "Monday quiet hours start, range 1 of 2",
            "Monday quiet hours end, range 1 of 2",
            "Remove Monday 12:00–13:00",
        ),
        ("Tuesday quiet hours start", "Tuesday quiet hours end", "Remove Tuesday 22:00–07:00"),
        (
            "Monday quiet hours start, range 2 of 2",
            "Monday quiet hours end, range 2 of 2",
            "Remove Monday 22:00–07:00",
        ),
    ]
    # Tuesday's row moved to Monday: three Monday ranges; back to one once two go.
    editor.row_widgets(1)[0].setCurrentIndex(0)
    assert [start for start, _, _ in row_names(editor)] == [
        "Monday quiet hours start, range 1 of 3",
        "Monday quiet hours start, range 2 of 3",
        "Monday quiet hours start, range 3 of 3",
    ]
    editor.remove_row(0)
    editor.remove_row(0)
    assert row_names(editor) == [
        ("Monday quiet hours start", "Monday quiet hours end", "Remove Monday 22:00–07:00")
    ]


def tab_walk(qtbot: QtBot, dialog: QWidget, start: QWidget, stop: QWidget) -> list[QWidget]:
    """The widgets the Tab key visits from ``start`` until ``stop`` (a time field's second
    Tab, to its minutes, stays in the field and is counted once)."""
    start.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is start, timeout=WAIT_MS)
    visited: list[QWidget] = []
    for _ in range(MAX_TABS):
        focused = QApplication.focusWidget()
        assert focused is not None, "the focus left the dialog"
        QTest.keyClick(focused, Qt.Key.Key_Tab)
        focused = QApplication.focusWidget()
        assert focused is not None and dialog.isAncestorOf(focused), "Tab left the dialog"
        if not visited or visited[-1] is not focused:
            visited.append(focused)
        if focused is stop:
            return visited
    raise AssertionError(f"Tab never reached {stop!r}: {visited}")


def test_tab_goes_through_the_ranges_before_their_buttons_and_ok(qtbot: QtBot) -> None:
    # The rows are made after the buttons under them and after OK and Cancel: from the tab
    # bar, Tab went to "Add range", "Weeknights", "Remove all", OK, Cancel and only then
    # to the ranges; a range added later came last of all.
    from test_settings_dialog import ALICE, SERVER, FakeBackend

    from notifier.core.settings import Settings
    from notifier.ui.settings_dialog import TAB_QUIET, SettingsDialog

    two = (QuietRange(0, "22:00", "07:00"), QuietRange(1, "22:00", "07:00"))
    backend = FakeBackend(Settings(server_url=SERVER, quiet_hours=two), agent=ALICE)
    dialog = SettingsDialog(backend, schedule_editor=ScheduleEditor(UTC))
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitActive(dialog)
    dialog.tabs.setCurrentIndex(TAB_QUIET)
    editor = dialog.schedule_editor
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    cancel = dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel)

    def expected() -> list[QWidget]:
        rows = [w for row in range(editor.row_count()) for w in editor.row_widgets(row)]
        buttons = [editor.add_button, editor.weeknights_button, editor.clear_button]
        return [editor.rows_scroll, *rows, *buttons, ok, cancel]

    tab_bar = dialog.tabs.tabBar()
    assert tab_walk(qtbot, dialog, tab_bar, cancel) == expected()
    editor.add_button.click()
    assert editor.row_count() == 3
    assert tab_walk(qtbot, dialog, tab_bar, cancel) == expected()
