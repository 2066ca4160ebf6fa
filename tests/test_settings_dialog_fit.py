"""Nothing in the settings dialog is cut off at its default size: at 1×, at 2× scaling
(QT_SCALE_FACTOR=2) and with 1.5× and 2× text, every tab is shown and every button,
box, time field and label is measured against the room it got (its width and height against
its minimum size hint, the text of the Quiet hours cells against the cell, and each widget
inside the visible part of its tab). The reported case: the Quiet hours tab cut its From/To
cells to "22", its day cells to "(" and its Remove buttons to "emov".

The 2× runs need a QApplication made with those settings, so they run this module as a
script in a fresh process (offscreen, on a screen of a given size), which prints what it found
as JSON. They run on a 2560×1440 screen, where the dialog has room to open whole; on a small
one (1280×720 at 2× is 640×360) it opens no larger than the screen and each tab scrolls
instead: then every widget must still be whole inside its tab's scrolled page, and the OK
button inside the dialog.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLabel,
    QLineEdit,
    QTimeEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot

HERE = Path(__file__).resolve().parent
TIMEOUT_S = 60
WAIT_MS = 2000


def problems_in_tab(tab: QWidget) -> list[str]:
    """Every way a widget of ``tab`` (shown) is cut off, in words; empty when none is."""
    found: list[str] = []
    visible = tab.rect()
    kinds = (QAbstractButton, QComboBox, QAbstractSpinBox, QLabel, QLineEdit)
    for widget in tab.findChildren(QWidget):
        if not widget.isVisible() or not isinstance(widget, kinds):
            continue
        if isinstance(widget, QLineEdit) and isinstance(widget.parent(), QAbstractSpinBox):
            continue  # the spin box's own editor: measured with the spin box below
        name = f"{type(widget).__name__} {describe(widget)!r}"
        hint = widget.minimumSizeHint()
        if isinstance(widget, QLabel) and widget.wordWrap():
            hint.setWidth(0)  # wraps: any width will do, the height is what counts
            hint.setHeight(widget.heightForWidth(widget.width()))
        if widget.width() < hint.width() or widget.height() < hint.height():
            found.append(f"{name} is {widget.size().toTuple()}, needs {hint.toTuple()}")
        area = QRect(widget.mapTo(tab, QPoint(0, 0)), widget.size())
        scroller = scroll_viewport(widget, tab)
        if scroller is not None:
            # Rows below the fold are what the scroll bar is for; across, nothing may hide.
            if area.left() < scroller.left() or area.right() > scroller.right():
                found.append(f"{name} at {area.getRect()} is cut by {scroller.getRect()}")
            area = area.intersected(scroller)
        if not area.isEmpty() and not visible.contains(area):
            found.append(f"{name} at {area.getRect()} is outside its tab {visible.getRect()}")
        if isinstance(widget, QLineEdit) and widget.placeholderText() and not widget.text():
            # The placeholder says what an empty field means: cut, it says something else
            # ("Default: the site URL (a bench: http://host:..." hid the port).
            needed = widget.fontMetrics().horizontalAdvance(widget.placeholderText())
            room = widget.width() - 2 * line_edit_frame(widget) - 4  # Qt's 2 px text margins
            if needed > room:
                found.append(f"{name}: a {needed} px placeholder in {room} px")
        if isinstance(widget, QTimeEdit):
            editor = widget.findChild(QLineEdit)
            assert editor is not None
            needed = widget.fontMetrics().horizontalAdvance(widget.text())
            if needed > editor.width() - 2:
                found.append(f"{name}: {needed} px of text in a {editor.width()} px field")
    return found


def line_edit_frame(widget: QLineEdit) -> int:
    from PySide6.QtWidgets import QStyle

    if not widget.hasFrame():
        return 0
    return widget.style().pixelMetric(QStyle.PixelMetric.PM_DefaultFrameWidth, None, widget)


def scroll_viewport(widget: QWidget, tab: QWidget) -> QRect | None:
    """Where the scroll area holding ``widget`` shows its contents (in ``tab``), if any."""
    from PySide6.QtWidgets import QScrollArea

    parent = widget.parentWidget()
    while parent is not None and parent is not tab:
        if isinstance(parent, QScrollArea):
            viewport = parent.viewport()
            return QRect(viewport.mapTo(tab, QPoint(0, 0)), viewport.size())
        parent = parent.parentWidget()
    return None


def describe(widget: QWidget) -> str:
    if isinstance(widget, QLineEdit):
        return (widget.text() or widget.accessibleName())[:30]
    if isinstance(widget, QAbstractButton | QLabel):
        return widget.text()[:30]
    if isinstance(widget, QComboBox):
        return widget.currentText()
    if isinstance(widget, QAbstractSpinBox):
        return widget.text()
    return widget.objectName()


def dialog_problems() -> dict[str, list[str]]:
    """Open the dialog (signed in, a work week of quiet hours) at its default size and look
    at every tab."""
    from datetime import UTC

    from test_settings_dialog import ALICE, SERVER, FakeBackend

    from notifier.core.settings import Settings
    from notifier.core.wire import QuietRange
    from notifier.ui.schedule_editor import ScheduleEditor
    from notifier.ui.settings_dialog import SettingsDialog

    week = tuple(QuietRange(day, "22:00", "07:00") for day in range(7))
    backend = FakeBackend(Settings(server_url=SERVER, quiet_hours=week), agent=ALICE)
    dialog = SettingsDialog(backend, schedule_editor=ScheduleEditor(UTC))
    dialog.show()
    app = QApplication.instance()
    assert app is not None
    found: dict[str, list[str]] = {}
    for index in range(dialog.tabs.count()):
        dialog.tabs.setCurrentIndex(index)
        app.processEvents()
        found[dialog.tabs.tabText(index)] = problems_in_tab(dialog.tabs.widget(index))
    dialog.close()
    found[FRAPPE_ACCOUNT] = frappe_account_problems()
    return found


FRAPPE_ACCOUNT = "Account (Frappe Helpdesk, API key sign-in)"


def frappe_account_problems() -> list[str]:
    """The Account tab for a Frappe Helpdesk site, not signed in, the API key page shown:
    the site's fields and the key and secret, all empty (their placeholders showing)."""
    from datetime import UTC

    from test_settings_dialog import SERVER, FakeBackend

    from notifier.core.settings import BackendKind, Settings
    from notifier.ui.schedule_editor import ScheduleEditor
    from notifier.ui.settings_dialog import TAB_ACCOUNT, SettingsDialog

    backend = FakeBackend(Settings(server_url=SERVER, backend=BackendKind.FRAPPE))
    dialog = SettingsDialog(backend, schedule_editor=ScheduleEditor(UTC))
    dialog.show()
    dialog.tabs.setCurrentIndex(TAB_ACCOUNT)
    dialog.use_token.setChecked(True)
    app = QApplication.instance()
    assert app is not None
    app.processEvents()
    tab = dialog.tabs.widget(TAB_ACCOUNT)
    kind = dialog.helpdesk_kind
    shown = [kind.site_name, kind.socketio_url, kind.time_zone, kind.api_key, kind.api_secret]
    assert all(field.isVisible() for field in shown)
    problems = problems_in_tab(tab)
    dialog.close()
    return problems


def offscreen_screen(folder: Path, width: int, height: int) -> str:
    """QT_QPA_PLATFORM for the offscreen platform with one screen of ``width`` × ``height``
    device pixels (its default is 800×600: at 2× a 400×300 screen)."""
    config = folder / f"screen-{width}x{height}.json"
    screen = {"name": "test", "x": 0, "y": 0, "width": width, "height": height}
    config.write_text(json.dumps({"screens": [{**screen, "logicalDpi": 96, "dpr": 1}]}))
    return f"offscreen:configfile={config}"


def run_scaled(**env: str) -> dict[str, list[str]]:
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve())],
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", **env},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        cwd=HERE,
    )
    assert result.returncode == 0, result.stderr
    found: dict[str, list[str]] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def test_nothing_is_cut_off_at_the_default_size(qtbot: object) -> None:
    found = dialog_problems()
    assert set(found) == {
        "Account",
        "Notifications",
        "Quiet hours",
        "Email",
        "General",
        FRAPPE_ACCOUNT,
    }
    assert found == {tab: [] for tab in found}


@pytest.mark.parametrize(
    "env",
    [{"QT_SCALE_FACTOR": "2"}, {"TEST_FONT_SCALE": "1.5"}, {"TEST_FONT_SCALE": "2"}],
    ids=["2x scaling", "1.5x text", "2x text"],
)
def test_nothing_is_cut_off_at_2x(env: dict[str, str], tmp_path: Path) -> None:
    found = run_scaled(**env, QT_QPA_PLATFORM=offscreen_screen(tmp_path, 2560, 1440))
    assert found == {tab: [] for tab in found}
    assert "Quiet hours" in found and FRAPPE_ACCOUNT in found


SCROLLS = "tabs that scroll"


def small_screen_problems() -> dict[str, list[str]]:
    """Open the dialog as :func:`dialog_problems` does, on a screen too small for it: what
    sticks out of the screen, and for each tab what is cut off in its scrolled page (the
    whole page, as the scroll bars reach it). Also which tabs scroll (SCROLLS)."""
    from datetime import UTC

    from PySide6.QtWidgets import QDialogButtonBox, QScrollArea
    from test_settings_dialog import ALICE, SERVER, FakeBackend

    from notifier.core.settings import BackendKind, Settings
    from notifier.core.wire import QuietRange
    from notifier.ui.schedule_editor import ScheduleEditor
    from notifier.ui.settings_dialog import TAB_ACCOUNT, SettingsDialog

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    week = tuple(QuietRange(day, "22:00", "07:00") for day in range(7))
    found: dict[str, list[str]] = {SCROLLS: []}
    for case, settings, agent in (
        ("signed in", Settings(server_url=SERVER, quiet_hours=week), ALICE),
        ("Frappe", Settings(server_url=SERVER, backend=BackendKind.FRAPPE), None),
    ):
        dialog = SettingsDialog(
            FakeBackend(settings, agent=agent), schedule_editor=ScheduleEditor(UTC)
        )
        dialog.show()
        dialog.use_token.setChecked(True)  # Frappe: the API key page, the longest
        app.processEvents()
        screen = dialog.screen().availableGeometry()
        window = f"{case}: the dialog"
        found[window] = []
        if not screen.contains(dialog.frameGeometry()):
            frame = dialog.frameGeometry().getRect()
            found[window].append(f"at {frame} sticks out of the screen {screen.getRect()}")
        ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok_area = QRect(ok.mapTo(dialog, QPoint(0, 0)), ok.size())
        if not dialog.rect().contains(ok_area):
            found[window].append(f"OK at {ok_area.getRect()} is outside {dialog.rect().getRect()}")
        for index in range(dialog.tabs.count()):
            if case == "Frappe" and index != TAB_ACCOUNT:
                continue
            dialog.tabs.setCurrentIndex(index)
            app.processEvents()
            name = f"{case}: {dialog.tabs.tabText(index)}"
            scroller = dialog.tabs.widget(index)
            if not isinstance(scroller, QScrollArea) or scroller.widget() is None:
                found[name] = ["the tab does not scroll"]
                continue
            page = scroller.widget()
            found[name] = problems_in_tab(page)
            if page.height() > scroller.viewport().height():
                found[SCROLLS].append(name)
        dialog.close()
    return found


@pytest.mark.parametrize(
    "env",
    [{"QT_SCALE_FACTOR": "2"}, {"TEST_FONT_SIZE": "18"}],
    ids=["2x scaling", "18 pt text"],
)
def test_on_a_small_screen_the_dialog_fits_and_its_tabs_scroll(
    env: dict[str, str], tmp_path: Path
) -> None:
    # At 2x on 1280x720 (640x360) the dialog opened 534x463, OK and Cancel below the screen's
    # edge; at 18 pt the Frappe account needed 733 px of a 720 px screen.
    found = run_scaled(
        **env, TEST_MODE="small screen", QT_QPA_PLATFORM=offscreen_screen(tmp_path, 1280, 720)
    )
    scrolled = found.pop(SCROLLS)
    assert found == {part: [] for part in found}
    assert "signed in: Quiet hours" in found and "Frappe: Account" in found
    assert "Frappe: Account" in scrolled  # the screen was too small: the scrolling was tested


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    application = QApplication(sys.argv[:1])
    # Larger text, as a desktop's text scaling sets it (the offscreen platform ignores
    # QT_FONT_DPI): the application font's size times TEST_FONT_SCALE.
    font = application.font()
    font.setPointSizeF(font.pointSizeF() * float(os.environ.get("TEST_FONT_SCALE", "1")))
    font.setPointSizeF(float(os.environ.get("TEST_FONT_SIZE", font.pointSizeF())))
    application.setFont(font)
    small = os.environ.get("TEST_MODE") == "small screen"
    print(json.dumps(small_screen_problems() if small else dialog_problems()))


def quiet_hours_shown(qtbot: QtBot, ranges: tuple[Any, ...]) -> Any:
    """The settings dialog of a signed-in agent with these quiet-hours ranges, shown on its
    Quiet hours tab (the offscreen screen: 800 x 600)."""
    from datetime import UTC

    from test_settings_dialog import ALICE, SERVER, FakeBackend

    from notifier.core.settings import Settings
    from notifier.ui.schedule_editor import ScheduleEditor
    from notifier.ui.settings_dialog import TAB_QUIET, SettingsDialog

    backend = FakeBackend(Settings(server_url=SERVER, quiet_hours=ranges), agent=ALICE)
    dialog = SettingsDialog(backend, schedule_editor=ScheduleEditor(UTC))
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.tabs.setCurrentIndex(TAB_QUIET)
    qtbot.waitExposed(dialog)
    return dialog


def test_a_work_week_of_quiet_hours_shows_without_scrolling(qtbot: QtBot) -> None:
    # In its tab's scroll area the editor was asked its size before its rows were added, and
    # kept asking for a heading's room: seven rows got a three-row box and a scroll bar
    # although the screen had room for the dialog to show them all.
    from notifier.core.wire import QuietRange

    week = tuple(QuietRange(day, "22:00", "07:00") for day in range(7))
    dialog = quiet_hours_shown(qtbot, week)  # held: the editor lives as long as its dialog
    editor = dialog.schedule_editor

    def every_row_shows() -> None:
        viewport = editor.rows_scroll.viewport()
        for row in range(editor.row_count()):
            remove = editor.row_widgets(row)[3]
            area = QRect(remove.mapTo(viewport, QPoint(0, 0)), remove.size())
            assert viewport.rect().contains(area), f"row {row} at {area.getRect()} is hidden"

    qtbot.waitUntil(every_row_shows, timeout=WAIT_MS)  # once the layouts have settled


def test_weeknights_added_in_the_dialog_grow_it_instead_of_scrolling(qtbot: QtBot) -> None:
    # Seen in the README's demo: the dialog opened for no ranges, Weeknights added five, and
    # the tab scrolled at once (its last line cut) with the screen's room unused below.
    dialog = quiet_hours_shown(qtbot, ())
    editor = dialog.schedule_editor
    qtbot.wait(300)  # settled, as the agent sees it before clicking
    assert dialog.height() < 500  # room to grow on the 800 x 600 offscreen screen
    editor.weeknights_button.click()
    qtbot.wait(300)  # the layouts' posted requests: until then the old geometry shows
    tab = dialog.tabs.currentWidget()
    assert isinstance(tab, QAbstractScrollArea)

    def all_of_it_shows() -> None:
        page = tab.widget()
        assert page is not None
        shown, needed = tab.viewport().height(), page.sizeHint().height()
        assert shown >= needed, f"the tab scrolls: {shown} px shown of {needed}"
        assert not tab.verticalScrollBar().isVisible(), "the tab scrolls"
        viewport = tab.viewport()
        for widget in (editor.hint, *editor.row_widgets(editor.row_count() - 1)):
            area = QRect(widget.mapTo(viewport, QPoint(0, 0)), widget.size())
            assert viewport.rect().contains(area), f"{describe(widget)} is cut"

    qtbot.waitUntil(all_of_it_shows, timeout=WAIT_MS)


def test_without_ranges_the_box_says_what_to_do_instead_of_empty_columns(qtbot: QtBot) -> None:
    # With no ranges, "From" and "To" ran into each other at the box's right edge above
    # nothing, and "Remove all" was there to press.
    from datetime import UTC

    from notifier.ui.schedule_editor import ScheduleEditor

    editor = ScheduleEditor(UTC)
    qtbot.addWidget(editor)
    editor.show()
    qtbot.waitExposed(editor)
    headings = [
        label
        for label in editor.rows_area.findChildren(QLabel)
        if label.text() in ("Day", "From", "To")
    ]
    assert len(headings) == 3
    assert editor.empty_label.isVisible() and "add a range" in editor.empty_label.text()
    assert not any(label.isVisible() for label in headings)
    assert not editor.clear_button.isEnabled()
    editor.add_range()
    assert not editor.empty_label.isVisible() and all(label.isVisible() for label in headings)
    assert editor.clear_button.isEnabled()
    editor.clear_button.click()
    assert editor.empty_label.isVisible() and not editor.clear_button.isEnabled()
