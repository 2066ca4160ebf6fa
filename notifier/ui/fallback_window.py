"""A small normal window for desktops without a system tray.

Running invisibly would be worse than anything: when ``QSystemTrayIcon.isSystemTrayAvailable()``
is False (some Wayland compositors, bare X servers) the app says so once in the log and shows
this window instead: the same badge and words as the tray tooltip on top, the same
notification panel below, and buttons for what the tray menu would offer. Closing it
minimises instead of quitting (the agent keeps getting toasts); Quit quits.

The window is shown at the first paint with the badge alone; the panel (list model, delegate)
is added by :meth:`FallbackWindow.set_panel` right after, so the first paint stays cheap.

It follows the text size: the badge is at least two lines of text high (32 px beside a
9 pt line, larger with large text, repainted when the font changes), and the window opens
no larger than its screen's free area (420x580 does not fit 1280x720 at 2x, which is
640x360).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Signal
from PySide6.QtGui import QCloseEvent, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from notifier.ui.badge import BadgeState, paint_badge
from notifier.ui.placement import window_room
from notifier.ui.tray import screen_ratio

BADGE_SIZE = 32  # the smallest badge (at the default font); it grows with the text
BADGE_LINES = 2  # the badge is this many lines of text high, when that is more
WINDOW_SIZE = (420, 580)


def badge_name(state: BadgeState) -> str:
    """The badge in words: "Badge: 3 unread"."""
    return f"Badge: {state.unread} unread"


class FallbackWindow(QWidget):
    quitRequested = Signal()
    settingsRequested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Helpdesk notifications")
        self.setAccessibleName("Helpdesk notifications")
        self.panel: QWidget | None = None
        self.badge_state: BadgeState | None = None
        self.badge_label = QLabel()
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.settings_button = QPushButton("Settings…")
        self.quit_button = QPushButton("Quit")
        header = QHBoxLayout()
        header.addWidget(self.badge_label)
        header.addWidget(self.status_label, 1)
        header.addWidget(self.settings_button)
        header.addWidget(self.quit_button)
        self._layout = QVBoxLayout(self)
        self._layout.addLayout(header)
        self._layout.addStretch(1)
        room = window_room(self.screen().availableGeometry().size())
        self.resize(QSize(*WINDOW_SIZE).boundedTo(room))
        self.settings_button.clicked.connect(self.settingsRequested)
        self.quit_button.clicked.connect(self.quitRequested)
        self.set_badge(BadgeState())

    def set_panel(self, panel: QWidget) -> None:
        """Put the notification list under the header (once, after the first paint)."""
        # Qt's namespace is imported only now, after the first paint (see ui/badge.py).
        from PySide6.QtCore import Qt

        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self._layout.takeAt(1)  # the placeholder stretch
        self._layout.addWidget(panel, 1)
        self.panel = panel

    def badge_size(self) -> int:
        """The badge's side in logical pixels: :data:`BADGE_LINES` lines of the window's
        text, at least :data:`BADGE_SIZE`."""
        return max(BADGE_SIZE, BADGE_LINES * self.fontMetrics().height())

    def set_badge(self, state: BadgeState) -> bool:
        if state == self.badge_state:
            return False
        self.badge_state = state
        # The picture's name says what it shows (a screen reader cannot read the number).
        self.badge_label.setAccessibleName(badge_name(state))
        self._paint_badge()
        return True

    def _paint_badge(self) -> None:
        if self.badge_state is not None:
            image = paint_badge(self.badge_state, self.badge_size(), screen_ratio())
            self.badge_label.setPixmap(QPixmap.fromImage(image))

    def changeEvent(self, event: QEvent) -> None:  # Qt override
        # The desktop's text size changed while the app runs: the badge follows it.
        if event.type() == QEvent.Type.FontChange:
            self._paint_badge()
        super().changeEvent(event)

    def set_tooltip_text(self, text: str) -> None:
        self.status_label.setText(text)
        self.setToolTip(text)

    def set_status_text(self, header: str, tooltip: str) -> None:
        """The header's short words ("3 unread · Signed out") once the panel's banner says
        why; the whole sentence stays in the tooltip."""
        self.status_label.setText(header)
        self.setToolTip(tooltip)

    def bring_up(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def closeEvent(self, event: QCloseEvent) -> None:
        # Closing the only window must not end the app: hide to the taskbar instead.
        event.ignore()
        self.showMinimized()
