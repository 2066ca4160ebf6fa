"""Single instance over QLocalServer (a named pipe): where Python has no Unix sockets.

:mod:`notifier.ui.single_instance` uses a Unix socket where the platform has them (Linux,
macOS, the BSDs) and this QtNetwork-based one elsewhere (Windows), with the same behaviour:
the first instance listens; a later start connects, sends ``activate`` and exits 0; the first
emits :attr:`LocalServerSingleInstance.activated`. A name left behind by a crashed instance
refuses connections, so it is removed and taken over. The tests run both on Linux.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from notifier.ui.single_instance import ACTIVATE, CONNECT_TIMEOUT_S

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_MS = round(CONNECT_TIMEOUT_S * 1000)


class LocalServerSingleInstance(QObject):
    """Call :meth:`claim` once at start-up, before showing anything."""

    activated = Signal()

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._server: QLocalServer | None = None
        self._clients: list[QLocalSocket] = []

    def claim(self) -> bool:
        """True: we are the only instance (now listening). False: another one is running and
        has been asked to show its popup; the caller should exit 0."""
        if self._wake_running_instance():
            return False
        QLocalServer.removeServer(self.name)  # a stale socket from a crash
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            log.warning("single-instance server %s failed: %s", self.name, server.errorString())
            return True
        server.newConnection.connect(self._on_server_new_connection)
        self._server = server
        return True

    def release(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self._clients.clear()

    def _wake_running_instance(self) -> bool:
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        # Blocking, but only at start-up before the event loop runs, and a local socket with
        # no listener fails at once.
        if not socket.waitForConnected(CONNECT_TIMEOUT_MS):
            return False
        socket.write(ACTIVATE)
        socket.waitForBytesWritten(CONNECT_TIMEOUT_MS)
        socket.disconnectFromServer()
        log.info("another notifier is running; asked it to open its popup")
        return True

    def _on_server_new_connection(self) -> None:
        assert self._server is not None
        while (socket := self._server.nextPendingConnection()) is not None:
            # Read once the peer has written and hung up: one message per connection, so
            # there is no framing to do, and Qt owns the socket (a child of the server).
            socket.disconnected.connect(self._on_socket_disconnected)
            self._clients.append(socket)
            if socket.state() != QLocalSocket.LocalSocketState.ConnectedState:
                self._on_socket_disconnected()

    def _on_socket_disconnected(self) -> None:
        for socket in [
            s for s in self._clients if s.state() != QLocalSocket.LocalSocketState.ConnectedState
        ]:
            self._clients.remove(socket)
            data = bytes(socket.readAll().data())
            socket.close()
            if data.startswith(ACTIVATE.strip()):
                self.activated.emit()
