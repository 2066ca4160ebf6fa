"""Starts the Qt tray application."""

from __future__ import annotations

import argparse
import sys

from PySide6.QtWidgets import QApplication

from notifier.ui.tray import TrayIcon


def run_tray(args: argparse.Namespace) -> int:
    app = QApplication(sys.argv[:1])
    app.setApplicationName("notifier")
    app.setQuitOnLastWindowClosed(False)
    tray = TrayIcon()
    tray.quit_action.triggered.connect(app.quit)
    tray.show()
    return app.exec()
