"""The fallback window (no system tray) at the text sizes and scales of agents with low
vision: its badge grows with the text (a 32 px badge beside three lines of 18 pt text was a
speck), also when the text size changes while the app runs, and the window opens inside a
small screen (420×580 did not fit 1280×720 at 2×, which is 640×360).

The 2× run needs a QApplication made with that scale, so it runs this module as a script in
a fresh process (offscreen, on a 1280×720 screen), which prints what it found as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from test_settings_dialog_fit import offscreen_screen

from notifier.ui.badge import BadgeState
from notifier.ui.fallback_window import BADGE_SIZE, FallbackWindow

HERE = Path(__file__).resolve().parent
TIMEOUT_S = 60
LARGE_PT = 18.0


def badge_side(window: FallbackWindow) -> float:
    """The badge picture's side in logical pixels, as shown."""
    pixmap = window.badge_label.pixmap()
    size = pixmap.deviceIndependentSize()
    assert size.width() == size.height()
    return size.width()


def test_the_badge_grows_with_the_text(qtbot: QtBot) -> None:
    window = FallbackWindow()
    qtbot.addWidget(window)
    window.set_badge(BadgeState(unread=12))
    window.set_tooltip_text("12 unread · Connected to helpdesk.example.com as Alice Agent")
    window.show()
    qtbot.waitExposed(window)
    assert badge_side(window) == BADGE_SIZE  # the default font keeps today's badge

    large = QFont(window.font())
    large.setPointSizeF(LARGE_PT)
    window.setFont(large)  # the desktop's text size, changed while the app runs
    line = QFontMetrics(large).height()
    assert badge_side(window) >= 2 * line > BADGE_SIZE
    # The label shows all of it once the layout has run.
    qtbot.waitUntil(lambda: window.badge_label.height() >= badge_side(window), timeout=2000)

    window.set_badge(BadgeState(unread=13))  # a new count keeps the larger size
    assert badge_side(window) >= 2 * line
    window.setFont(QFont(QApplication.font()))
    assert badge_side(window) == BADGE_SIZE


def test_the_window_opens_inside_a_small_screen(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve())],
        env={
            **os.environ,
            "QT_QPA_PLATFORM": offscreen_screen(tmp_path, 1280, 720),
            "QT_SCALE_FACTOR": "2",
        },
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        cwd=HERE,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["screen"] == [0, 0, 640, 360]
    left, top, width, height = found["window"]
    assert left >= 0 and top >= 0 and left + width <= 640 and top + height <= 360, found
    # Not squeezed below what its header and list need to show.
    assert width >= found["minimum"][0] and height >= found["minimum"][1], found


if __name__ == "__main__":
    application = QApplication(sys.argv[:1])
    window = FallbackWindow()
    window.set_badge(BadgeState(unread=3))
    window.show()
    application.processEvents()
    print(
        json.dumps(
            {
                "screen": window.screen().availableGeometry().getRect(),
                "window": window.frameGeometry().getRect(),
                "minimum": window.minimumSizeHint().toTuple(),
            }
        )
    )
