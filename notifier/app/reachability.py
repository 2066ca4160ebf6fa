"""The OS's word on the network, for the engine: "offline" and "maybe back".

Started on the first lost connection, not at start-up: while the stream is live the keepalive
is the authority, and this is what tells an app that is waiting to retry that the network is
back, so that it reconnects at once instead of at the end of its back-off.

* Linux: the kernel's route table (:mod:`notifier.store.routes`), a netlink socket watched by
  a QSocketNotifier. No thread, no library, nothing resident to speak of.
* Elsewhere: Qt's QNetworkInformation (the OS's own reachability API on macOS and Windows).

Either way "offline" is said only when the OS is sure; anything it is unsure of means "try",
because a wrong "offline" stops the engine from reconnecting until the OS speaks again.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, QSocketNotifier

from notifier.store.routes import RouteMonitor, reachability_news

if TYPE_CHECKING:
    from PySide6.QtNetwork import QNetworkInformation

log = logging.getLogger(__name__)

NetworkChanged = Callable[[bool], None]


class ReachabilityWatch(Protocol):
    """A running watch; kept alive by its owner for as long as it should report."""

    @property
    def backend(self) -> str:
        """In words, for the log: where the news comes from."""
        ...


class RouteWatch(QObject):
    """:class:`RouteMonitor` on the Qt event loop."""

    backend = "Linux route table"

    def __init__(
        self,
        monitor: RouteMonitor,
        network_changed: NetworkChanged,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._monitor = monitor
        self._network_changed = network_changed
        self._routes = monitor.routes()
        self._notifier = QSocketNotifier(monitor.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._on_readable)
        if not self._routes:
            network_changed(False)  # already down: said at once

    def _on_readable(self) -> None:
        try:
            self._monitor.drain()
        except OSError as error:  # the socket itself failed: stop watching, keep running
            log.warning("the route table can no longer be watched: %s", error)
            self._notifier.setEnabled(False)
            return
        routes = self._monitor.routes()
        news = reachability_news(self._routes, routes)
        self._routes = routes
        if news is not None:
            log.info("the network %s", "may be back" if news else "is down (no route left)")
            self._network_changed(news)


class QtNetworkWatch:
    """QNetworkInformation's reachability; see :func:`follow_reachability`."""

    def __init__(self, info: QNetworkInformation, network_changed: NetworkChanged) -> None:
        self._info = info
        self.backend = f"Qt {info.backendName()}"
        follow_reachability(info, network_changed)


def follow_reachability(info: QObject, network_changed: NetworkChanged) -> None:
    """Tell ``network_changed`` whenever QNetworkInformation says offline or back online.

    ``info`` is a QNetworkInformation (or anything with the same ``reachabilityChanged``
    signal and ``reachability()``): Disconnected means offline; every other value, including
    Unknown, means "try". A network that is already down is said at once; "online" is not
    (the engine is already retrying on its own schedule).
    """
    from PySide6.QtNetwork import QNetworkInformation

    def on_reachability(reachability: QNetworkInformation.Reachability) -> None:
        network_changed(reachability != QNetworkInformation.Reachability.Disconnected)

    info.reachabilityChanged.connect(on_reachability)  # type: ignore[attr-defined]
    if info.reachability() == QNetworkInformation.Reachability.Disconnected:  # type: ignore[attr-defined]
        network_changed(False)


def watch_reachability(
    network_changed: NetworkChanged, *, platform: str = sys.platform
) -> ReachabilityWatch | None:
    """Start telling ``network_changed``; None where the OS offers nothing to watch."""
    if platform.startswith("linux"):
        try:
            monitor = RouteMonitor()
        except OSError as error:  # a sandbox without netlink: the keepalive alone
            log.info("the route table cannot be watched (%s); relying on the keepalive", error)
            return None
        return RouteWatch(monitor, network_changed)
    from PySide6.QtNetwork import QNetworkInformation

    if not QNetworkInformation.loadDefaultBackend():
        log.info("no network-information backend; relying on the keepalive alone")
        return None
    info: QNetworkInformation | None = QNetworkInformation.instance()  # None if unloaded
    if info is None:
        return None
    return QtNetworkWatch(info, network_changed)
