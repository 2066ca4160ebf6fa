"""The OS's network reachability reaches the controller (QNetworkInformation wiring).

Offscreen there is no QNetworkInformation backend, so the signal source is a QObject with
the same ``reachabilityChanged`` signal: the edge, behind the same interface.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QNetworkInformation
from pytestqt.qtbot import QtBot

from notifier.ui.application import follow_reachability

Reachability = QNetworkInformation.Reachability


class FakeNetworkInformation(QObject):
    reachabilityChanged = Signal(Reachability)


def test_disconnected_means_offline_and_anything_else_means_try_again(qtbot: QtBot) -> None:
    info = FakeNetworkInformation()
    seen: list[bool] = []
    follow_reachability(info, seen.append)
    for reachability in (
        Reachability.Disconnected,
        Reachability.Online,
        Reachability.Disconnected,
        Reachability.Local,
        Reachability.Site,
        Reachability.Unknown,
    ):
        info.reachabilityChanged.emit(reachability)
    assert seen == [False, True, False, True, True, True]
