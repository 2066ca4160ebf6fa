"""A small normal window for desktops without a system tray.

Running invisibly would be worse than anything: when ``QSystemTrayIcon.isSystemTrayAvailable()``
is False (some Wayland compositors, bare X servers) the app says so once in the log and shows
this window instead: the same badge and words as the tray tooltip on top, the same
notification panel below, and buttons for what the tray menu would offer. Closing it
minimises instead of quitting (the agent keeps getting toasts); Quit quits.

The window is shown at the first paint with the badge alone; the panel (list model, delegate)
is added by :meth:`FallbackWindow.set_panel` right after, so the first paint stays cheap.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QCloseEvent, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from notifier.ui.badge import BadgeState, paint_badge
from notifier.ui.tray import screen_ratio

BADGE_SIZE = 32
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
        self.resize(*WINDOW_SIZE)
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

    def set_badge(self, state: BadgeState) -> bool:
        if state == self.badge_state:
            return False
        self.badge_state = state
        # The picture's name says what it shows (a screen reader cannot read the number).
        self.badge_label.setAccessibleName(badge_name(state))
        self.badge_label.setPixmap(
            QPixmap.fromImage(paint_badge(state, BADGE_SIZE, screen_ratio()))
        )
        return True

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
