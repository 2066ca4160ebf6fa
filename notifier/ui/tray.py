"""The tray icon: the painted badge, a tooltip in words, activation and the context menu.

It shows state and reports intent, nothing more: :meth:`TrayIcon.set_badge` repaints the
icon (only when the state changed), :meth:`TrayIcon.set_tooltip_text` sets the words, and
the menu's actions are public attributes the application connects to the controller.
A left click (or the platform's "activate") emits :attr:`TrayIcon.openRequested` with the
icon's geometry so the popup can open next to it.

Menu: Open notifications · Mark all read · Pause notifications ▸ (For 1 hour, Until tomorrow
morning, Resume) · Reconnect now · Settings… · Quit.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

from PySide6.QtCore import QRect, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication, QIcon, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from notifier.ui.badge import BadgeState, paint_badge

if TYPE_CHECKING:
    from notifier.ui.fallback_window import FallbackWindow

log = logging.getLogger(__name__)

TRAY_ICON_SIZE = 32
# The sizes trays show icons at (Windows 16, GNOME and KDE panels 22-24, trayer and macOS
# menus up to 32): the badge is painted for each, so the tray scales nothing down and the
# count and halo keep their size in pixels (paint_badge lays them out per size).
TRAY_ICON_SIZES = (16, 22, 24, TRAY_ICON_SIZE)
NO_TRAY_MESSAGE = "this desktop has no system tray; showing a small window instead of a tray icon"


def screen_ratio() -> float:
    screen = QGuiApplication.primaryScreen()
    return screen.devicePixelRatio() if screen is not None else 1.0


def badge_icon(state: BadgeState) -> QIcon:
    """The badge painted at each of :data:`TRAY_ICON_SIZES`, at the primary screen's device
    pixel ratio (the tray picks the size it shows)."""
    ratio = screen_ratio()
    icon = QIcon()
    for size in TRAY_ICON_SIZES:
        icon.addPixmap(QPixmap.fromImage(paint_badge(state, size, ratio)))
    return icon


class TrayIcon(QSystemTrayIcon):
    openRequested = Signal(QRect)

    def __init__(self) -> None:
        super().__init__()
        self.badge_state: BadgeState | None = None
        self._paint_pending = False
        self.set_badge(BadgeState())
        self.setToolTip("Helpdesk notifications")
        self.menu = QMenu()
        self.open_action = QAction("Open notifications", self.menu)
        self.mark_all_action = QAction("Mark all read", self.menu)
        self.pause_menu = QMenu("Pause notifications", self.menu)
        self.pause_hour_action = QAction("For 1 hour", self.pause_menu)
        self.pause_morning_action = QAction("Until tomorrow morning (08:00)", self.pause_menu)
        self.resume_action = QAction("Resume", self.pause_menu)
        self.pause_menu.addActions(
            [self.pause_hour_action, self.pause_morning_action, self.resume_action]
        )
        self.reconnect_action = QAction("Reconnect now", self.menu)
        self.settings_action = QAction("Settings…", self.menu)
        self.quit_action = QAction("Quit", self.menu)
        self.menu.addAction(self.open_action)
        self.menu.addAction(self.mark_all_action)
        self.menu.addMenu(self.pause_menu)
        self.menu.addAction(self.reconnect_action)
        self.menu.addSeparator()
        self.menu.addAction(self.settings_action)
        self.menu.addAction(self.quit_action)
        self.setContextMenu(self.menu)
        self.open_action.triggered.connect(self._on_open_action_triggered)
        self.activated.connect(self._on_activated)
        self.set_paused(False)
        self.set_can_reconnect(False)

    def set_badge(self, state: BadgeState) -> bool:
        """Show ``state``; False (and no work) when it is what is shown already.

        Before the icon is shown it is painted at once (the first paint must show the cached
        count). Once shown, painting waits for the event loop's next turn and paints only the
        last state: marking 300 mentions read one by one changes the count 300 times in one
        turn, and each picture is four SVG renders (one per tray size).
        """
        if state == self.badge_state:
            return False
        self.badge_state = state
        if not self.isVisible():
            self._paint()
        elif not self._paint_pending:
            self._paint_pending = True
            QTimer.singleShot(0, self._paint)
        return True

    def _paint(self) -> None:
        self._paint_pending = False
        if self.badge_state is not None:
            self.setIcon(badge_icon(self.badge_state))

    def set_tooltip_text(self, text: str) -> None:
        # Each setToolTip goes to the tray host (an SNI property change on the bus), even
        # when the text is the same: a change of counts refreshes it twice, say.
        if text != self.toolTip():
            self.setToolTip(text)

    def set_paused(self, paused: bool) -> None:
        self.resume_action.setEnabled(paused)

    def set_unread(self, unread: int) -> None:
        self.mark_all_action.setEnabled(unread > 0)

    def set_can_reconnect(self, can: bool) -> None:
        """Enable "Reconnect now" only when there is a connection to retry: not while connected
        (it would do nothing), nor signed out (there is nothing to connect)."""
        self.reconnect_action.setEnabled(can)

    def _on_open_action_triggered(self) -> None:
        self.openRequested.emit(self.geometry())

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.openRequested.emit(self.geometry())


class TrayShell:
    """What the first paint shows, before the controller, the list or the network exist.

    Either the tray icon or, where the desktop has no system tray, the fallback window (said
    once in the log: :meth:`log_no_tray_once`). :class:`notifier.ui.application.TrayApp`
    adopts it afterwards. Keeping this module light (no list model, no asyncio) is what keeps
    the first paint fast.
    """

    def __init__(self, state: BadgeState, tooltip: str, *, use_tray: bool | None = None) -> None:
        has_tray = QSystemTrayIcon.isSystemTrayAvailable() if use_tray is None else use_tray
        self.tray: TrayIcon | None = None
        self.fallback: FallbackWindow | None = None
        self._no_tray_logged = False
        if has_tray:
            self.tray = TrayIcon()
            self.tray.set_badge(state)
            self.tray.set_tooltip_text(tooltip)
        else:
            # Said at once on stderr (the window appears next), and once in the log file when
            # logging is up (log_no_tray_once).
            sys.stderr.write(f"notifier: {NO_TRAY_MESSAGE}\n")
            from notifier.ui.fallback_window import FallbackWindow  # only without a tray

            self.fallback = FallbackWindow()
            self.fallback.set_badge(state)
            self.fallback.set_tooltip_text(tooltip)

    def log_no_tray_once(self) -> None:
        """Say in the log (once) that there is no system tray. Called once logging is set up,
        which is after the first paint, so the message reaches the log file."""
        if self.fallback is not None and not self._no_tray_logged:
            self._no_tray_logged = True
            log.info("%s", NO_TRAY_MESSAGE)

    def show(self) -> None:
        if self.tray is not None:
            self.tray.show()
        elif self.fallback is not None:
            self.fallback.show()
