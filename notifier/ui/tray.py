"""The tray icon. Foundation version: the bell, a tooltip and a menu with Quit."""

from __future__ import annotations

from PySide6.QtGui import QAction, QGuiApplication, QIcon, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from notifier.ui.icons import render_svg

TRAY_ICON_SIZE = 32


class TrayIcon(QSystemTrayIcon):
    def __init__(self) -> None:
        super().__init__()
        ratio = (
            QGuiApplication.primaryScreen().devicePixelRatio()
            if QGuiApplication.primaryScreen()
            else 1.0
        )
        self.setIcon(QIcon(QPixmap.fromImage(render_svg("bell", TRAY_ICON_SIZE, ratio))))
        self.setToolTip("Helpdesk notifications")
        self.menu = QMenu()
        self.quit_action = QAction("Quit", self.menu)
        self.menu.addAction(self.quit_action)
        self.setContextMenu(self.menu)
