"""The OS's network reachability reaches the controller.

The app starts watching when the connection is first lost (nothing is loaded while live) and
from then on follows it; a server on this machine is never subject to the OS's "offline".
Here the watch is a fake behind the same interface; the Linux route-table watch is tested
against the real kernel in tests/test_routes.py, and the whole app in a private network
namespace in tests/test_reachability_netns.py. QNetworkInformation (the watch on macOS and
Windows) is tested with a fake signal source and, below, with Qt's real backend for this OS.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QNetworkInformation
from pytestqt.qtbot import QtBot
from tray_fakes import FakeClock, RecordingSink, make_controller

from notifier.app.controller import AppController
from notifier.app.reachability import NetworkChanged, follow_reachability, watch_reachability
from notifier.core.status import ConnectionState, ConnectionStatus
from notifier.store.cache import NotificationCache
from notifier.ui.application import TrayApp

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


class FakeWatch:
    """A started watch: what the app keeps; the test speaks for the OS through ``tell``."""

    backend = "fake"

    def __init__(self, network_changed: NetworkChanged, *, online: bool) -> None:
        self.tell = network_changed
        if not online:
            network_changed(False)


def make_app(
    qtbot: QtBot, cache: NotificationCache, server_url: str, *, online: bool
) -> tuple[TrayApp, AppController, list[bool], list[FakeWatch]]:
    clock = FakeClock()
    controller = make_controller(cache, clock, server_url=server_url, tz=UTC)
    seen: list[bool] = []
    controller.network_changed = seen.append  # type: ignore[method-assign]  # the spy
    watches: list[FakeWatch] = []

    def start_watch(network_changed: NetworkChanged) -> FakeWatch:
        watches.append(FakeWatch(network_changed, online=online))
        return watches[-1]

    app = TrayApp(controller, clock, use_tray=True, sink=RecordingSink(), reachability=start_watch)
    app.show_first_paint()
    return app, controller, seen, watches  # the app too: dropped, it would stop listening


def lose_connection(controller: AppController) -> None:
    controller.on_status(
        ConnectionStatus(
            ConnectionState.BACKING_OFF,
            last_error="server unreachable",
            next_retry_at=datetime.now(UTC) + timedelta(seconds=8),  # any time: not used here
        )
    )


def test_reachability_is_watched_from_the_first_lost_connection_on(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    _app, controller, seen, watches = make_app(
        qtbot, cache, "https://helpdesk.example.com", online=False
    )
    controller.on_status(ConnectionStatus(ConnectionState.CONNECTING))
    controller.on_status(ConnectionStatus(ConnectionState.LIVE))
    assert watches == []  # a live connection needs no reachability watch

    lose_connection(controller)
    assert len(watches) == 1
    assert seen == [False]  # the network was already down: said at once
    watches[0].tell(True)
    assert seen == [False, True]  # back: the engine reconnects now

    # Started once; followed from then on, live or not.
    controller.on_status(ConnectionStatus(ConnectionState.LIVE))
    controller.on_status(ConnectionStatus(ConnectionState.OFFLINE))
    watches[0].tell(False)
    assert len(watches) == 1
    assert seen == [False, True, False]


@pytest.mark.parametrize(
    "server_url",
    ["http://127.0.0.1:8765", "http://localhost:8765", "http://[::1]:8765", "http://127.1.2.3"],
)
def test_a_server_on_this_machine_is_never_subject_to_the_os_offline(
    qtbot: QtBot, cache: NotificationCache, server_url: str
) -> None:
    _app, controller, seen, watches = make_app(qtbot, cache, server_url, online=False)
    lose_connection(controller)
    assert watches == []  # the demo on a laptop with no network still retries its server
    assert seen == []


def test_qt_network_information_is_the_watch_elsewhere(qtbot: QtBot) -> None:
    # The macOS/Windows path, with Qt's real backend for this OS (GLib's here, or
    # NetworkManager's where it runs): it loads, says which, and reports only "offline"
    # at start (this machine is online, so nothing).
    seen: list[bool] = []
    watch = watch_reachability(seen.append, platform="darwin")
    assert watch is not None
    assert watch.backend.startswith("Qt "), watch.backend
    info = QNetworkInformation.instance()
    assert info is not None
    assert seen == ([False] if info.reachability() == Reachability.Disconnected else [])
