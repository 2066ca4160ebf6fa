"""One tray app per user (and per NOTIFIER_HOME): a second start wakes the first and exits.

The first instance listens on a QLocalServer (a Unix socket in the runtime folder on Linux,
a named pipe on Windows). A later start connects, sends ``activate`` and exits 0; the first
emits :attr:`SingleInstance.activated` and opens its popup. The name includes the user and a
hash of the data folder, so tests and demos with their own NOTIFIER_HOME never collide with
the agent's real app. A socket left behind by a crashed instance refuses connections, so it
is removed and taken over.

Two instances started in the same few milliseconds can both win (both find no server); that
costs a duplicate icon, never data, because the cache is SQLite with WAL.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Mapping

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from notifier.app.signals import emit

log = logging.getLogger(__name__)

ACTIVATE = b"activate\n"
CONNECT_TIMEOUT_MS = 500


def instance_name(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    # The uid on POSIX, the user name elsewhere (a local pipe/socket name is per machine).
    user = str(os.getuid()) if hasattr(os, "getuid") else env.get("USERNAME", "user")
    scope = env.get("NOTIFIER_HOME") or env.get("HOME") or env.get("USERPROFILE") or ""
    # Not a secret, just a short stable name: crc32 is enough (and hashlib costs start-up time).
    digest = zlib.crc32(scope.encode("utf-8", "surrogatepass"))
    return f"notifier-{user}-{digest:08x}"


class SingleInstance(QObject):
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
                emit(self.activated)
