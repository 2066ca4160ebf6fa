"""Using the popup builds no Python types of QEvent subclasses it does not handle.

A Python override that takes a bare ``QEvent`` (an ``eventFilter``, ``event``,
``changeEvent``, ``leaveEvent``, a delegate's ``editorEvent``) makes PySide6 build the Python
types of all 52 QEvent subclasses on its first call; they stay for the app's life (about
0.4 MB once the popup was used, all day in the window shown where there is no tray:
benchmarks/README.md, "Idle memory with 100,000 cached"). Which types PySide6 has built can
only be seen in a fresh interpreter: the test session has built them all already.
"""

from __future__ import annotations

from pathlib import Path

from fresh_interpreter import fresh_output

TESTS = Path(__file__).resolve().parent

# The panel over a real cache, shown offscreen, used with the pointer (enter, hover, click on
# a row's toggle button, leave), the keyboard (R, Delete), a resize and a palette change.
# Prints what each use did, then the QEvent subclasses PySide6 has built a type for.
USE_THE_PANEL = f"""
import os, sys, tempfile
os.environ["QT_QPA_PLATFORM"] = "offscreen"
sys.path.insert(0, {str(TESTS)!r})
from pathlib import Path
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
app = QApplication([])
from tray_fakes import FakeClock, fill_cache, make_notification
from notifier.app.list_model import NotificationListModel, Role
from notifier.store.cache import NotificationCache
from notifier.ui.delegate import button_rects
from notifier.ui.popup import NotificationPanel
cache = NotificationCache.open(Path(tempfile.mkdtemp()) / "cache.sqlite3")
fill_cache(cache, [make_notification(seq) for seq in (1, 2, 3)])
model = NotificationListModel(cache, FakeClock())
model.reload()
panel = NotificationPanel(model, FakeClock())
toggled, deleted = [], []
panel.toggleReadRequested.connect(toggled.append)
panel.deleteRequested.connect(deleted.append)
panel.resize(420, 520)
panel.show()
QTest.qWaitForWindowExposed(panel)
view = panel.list_view
viewport = view.viewport()
row = view.visualRect(model.index(1))
QTest.mouseMove(viewport, row.center())
QTest.qWait(20)
hovered = panel.delegate.hovered_row
QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=button_rects(row)[0].center())
view.setFocus()
QTest.keyClick(view, Qt.Key.Key_R)
QTest.keyClick(view, Qt.Key.Key_Delete)
panel.resize(400, 500)
dark = QPalette(app.palette())
dark.setColor(QPalette.ColorRole.Base, QColor("#1f2125"))
app.setPalette(dark)
QApplication.sendEvent(view, QEvent(QEvent.Type.Leave))
QTest.qWait(600)
print("hovered", hovered, "then", panel.delegate.hovered_row)
print("toggled", *toggled)
print("deleted", *deleted)
import PySide6.QtCore, PySide6.QtGui, PySide6.QtWidgets
built = [name for module in (PySide6.QtCore, PySide6.QtGui, PySide6.QtWidgets)
         for name in vars(module) if name.startswith("Q") and name.endswith("Event")]
print("events", *sorted(built))
"""


def test_using_the_panel_builds_only_the_event_types_it_handles() -> None:
    lines = dict(line.split(" ", 1) for line in fresh_output(USE_THE_PANEL).splitlines())
    # The uses reached the panel: hover, a click on the toggle button, the keys, the leave.
    assert lines["hovered"] == "1 then None"
    assert lines["toggled"].split() == ["n2", "n2"]  # the click, then R on the current row
    assert lines["deleted"].split() == ["n2"]
    events = set(lines["events"].split())
    # The handlers' own types (and their bases), not every QEvent subclass: no tablet,
    # gesture or graphics-scene events, which nothing here handles.
    assert {"QKeyEvent", "QMouseEvent", "QEnterEvent", "QResizeEvent"} <= events
    assert not {"QTabletEvent", "QNativeGestureEvent", "QGraphicsSceneMouseEvent"} & events
    assert len(events) < 20, sorted(events)
