"""The OS's network reachability reaches the controller (QNetworkInformation wiring).

Offscreen there is no QNetworkInformation backend, so the signal source is a QObject with
the same ``reachabilityChanged`` signal and ``reachability()``: the edge, behind the same
interface. The app loads it when the connection is first lost (idle memory: Qt's GLib backend
costs ~3 MB), and from then on follows it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QNetworkInformation
from pytestqt.qtbot import QtBot
from tray_fakes import FakeClock, FakeScheduler, RecordingSink, RecordingUrlOpener

from notifier.app.controller import AppController
from notifier.core.settings import Settings
from notifier.core.status import ConnectionState, ConnectionStatus
from notifier.store.cache import NotificationCache
from notifier.ui.application import TrayApp, follow_reachability

Reachability = QNetworkInformation.Reachability


class FakeNetworkInformation(QObject):
    reachabilityChanged = Signal(Reachability)

    def __init__(self, now: QNetworkInformation.Reachability = Reachability.Online) -> None:
        super().__init__()
        self.now = now

    def reachability(self) -> QNetworkInformation.Reachability:
        return self.now


def test_disconnected_means_offline_and_anything_else_means_try_again(qtbot: QtBot) -> None:
    info = FakeNetworkInformation()
    seen: list[bool] = []
    follow_reachability(info, seen.append)
    assert seen == []  # online now: nothing to say (the engine retries on its own schedule)
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


def test_a_network_already_down_is_said_at_once(qtbot: QtBot) -> None:
    seen: list[bool] = []
    follow_reachability(FakeNetworkInformation(Reachability.Disconnected), seen.append)
    assert seen == [False]


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[NotificationCache]:
    cache = NotificationCache.open(tmp_path / "cache.sqlite3")
    yield cache
    cache.close()


def test_reachability_is_loaded_on_the_first_lost_connection_and_followed(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    clock = FakeClock()
    controller = AppController(
        settings=Settings(server_url="https://helpdesk.example.com"),
        cache=cache,
        clock=clock,
        scheduler=FakeScheduler(clock),
        url_opener=RecordingUrlOpener(),
        tz=UTC,
    )
    seen: list[bool] = []
    controller.network_changed = seen.append  # type: ignore[method-assign]  # the spy
    info = FakeNetworkInformation(Reachability.Disconnected)
    loads: list[FakeNetworkInformation] = []

    def load() -> FakeNetworkInformation:
        loads.append(info)
        return info

    app = TrayApp(controller, clock, use_tray=True, sink=RecordingSink(), network_information=load)
    app.show_first_paint()
    controller.on_status(ConnectionStatus(ConnectionState.CONNECTING))
    controller.on_status(ConnectionStatus(ConnectionState.LIVE))
    assert loads == []  # a live connection needs no reachability monitor

    controller.on_status(
        ConnectionStatus(
            ConnectionState.BACKING_OFF,
            last_error="server unreachable",
            next_retry_at=clock.now() + timedelta(seconds=8),
        )
    )
    assert loads == [info]
    assert seen == [False]  # the network was already down: said at once
    info.reachabilityChanged.emit(Reachability.Online)
    assert seen == [False, True]  # back: the engine reconnects now

    # Loaded once; followed from then on, live or not.
    controller.on_status(ConnectionStatus(ConnectionState.LIVE))
    controller.on_status(ConnectionStatus(ConnectionState.OFFLINE))
    info.reachabilityChanged.emit(Reachability.Disconnected)
    assert loads == [info]
    assert seen == [False, True, False]
