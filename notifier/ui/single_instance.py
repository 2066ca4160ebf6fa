"""One tray app per user (and per NOTIFIER_HOME): a second start wakes the first and exits.

The first instance listens on a Unix socket in the user's runtime folder ($XDG_RUNTIME_DIR,
else the temp folder). A later start connects, sends ``activate`` and exits 0; the first
emits :attr:`SingleInstance.activated` and opens its popup. The name includes the user and a
hash of the data folder, so tests and demos with their own NOTIFIER_HOME never collide with
the agent's real app. A socket left behind by a crashed instance refuses connections, so it
is removed and taken over; a socket file that belongs to another user is never trusted.

Plain ``socket`` watched by a QSocketNotifier rather than QLocalServer: QtNetwork (its
library, its Python binding and the Kerberos libraries it links) is memory of an idle app
that nothing else needs while the connection is up (benchmarks/README.md, "Where the
idle-memory budget goes"). Where Python has no Unix sockets
(Windows), :func:`single_instance` returns the QLocalServer-based twin in
:mod:`notifier.ui.single_instance_qt` (a named pipe).

Two instances started in the same few milliseconds: the second to ``bind`` fails and wakes
the first instead, so only one icon appears.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import tempfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QSocketNotifier, Signal

if TYPE_CHECKING:
    from notifier.ui.single_instance_qt import LocalServerSingleInstance

log = logging.getLogger(__name__)

ACTIVATE = b"activate\n"
CONNECT_TIMEOUT_S = 0.5
MAX_MESSAGE = 64  # bytes a client may send: one short word
MAX_SOCKET_PATH = 100  # sun_path holds 104-108 bytes depending on the OS


def instance_name(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    # The uid on POSIX, the user name elsewhere (a local pipe/socket name is per machine).
    user = str(os.getuid()) if hasattr(os, "getuid") else env.get("USERNAME", "user")
    scope = env.get("NOTIFIER_HOME") or env.get("HOME") or env.get("USERPROFILE") or ""
    # Not a secret, just a short stable name: crc32 is enough (and hashlib costs start-up time).
    digest = zlib.crc32(scope.encode("utf-8", "surrogatepass"))
    return f"notifier-{user}-{digest:08x}"


def socket_path(name: str, environ: Mapping[str, str] | None = None) -> Path:
    """Where the socket lives: the private runtime folder if there is one (and the path fits
    in a socket address), else the temp folder."""
    env = os.environ if environ is None else environ
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        path = Path(runtime) / f"{name}.sock"
        if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
            return path
    return Path(tempfile.gettempdir()) / f"{name}.sock"


def single_instance(
    name: str, environ: Mapping[str, str] | None = None
) -> SingleInstance | LocalServerSingleInstance:
    """The single-instance guard for this platform (see the module doc)."""
    if hasattr(socket, "AF_UNIX"):
        return SingleInstance(name, socket_path(name, environ))
    from notifier.ui.single_instance_qt import LocalServerSingleInstance

    return LocalServerSingleInstance(name)


class SingleInstance(QObject):
    """Call :meth:`claim` once at start-up, before showing anything."""

    activated = Signal()

    def __init__(self, name: str, path: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.path = path
        self._server: socket.socket | None = None
        self._server_notifier: QSocketNotifier | None = None
        self._inode: int | None = None
        # Connected clients by file descriptor: (socket, its notifier, what it sent so far).
        self._clients: dict[int, tuple[socket.socket, QSocketNotifier, bytearray]] = {}
        # Notifiers of finished clients, disabled: a notifier is not deleted inside its own
        # signal, so they go at the next connection or at release(). The notifiers have no
        # Qt parent: Python owns them, and dropping the last reference deletes them.
        self._retired: list[QSocketNotifier] = []

    def claim(self) -> bool:
        """True: we are the only instance (now listening). False: another one is running and
        has been asked to show its popup; the caller should exit 0."""
        if self._wake_running_instance():
            return False
        self._remove_stale_socket()
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            server.bind(os.fspath(self.path))
        except OSError as error:
            server.close()
            # Lost a race with an instance starting at the same moment: wake that one.
            if self._wake_running_instance():
                return False
            log.warning("single-instance socket %s failed: %s", self.path, error)
            return True  # run anyway: a second icon is better than none
        with contextlib.suppress(OSError):
            os.chmod(self.path, 0o600)  # only this user may wake us (the folder may be /tmp)
        server.listen(8)
        server.setblocking(False)
        self._server = server
        self._inode = os.stat(self.path).st_ino
        notifier = QSocketNotifier(server.fileno(), QSocketNotifier.Type.Read)
        notifier.activated.connect(self._on_server_readable)
        self._server_notifier = notifier
        return True

    def release(self) -> None:
        for fd in list(self._clients):
            self._drop_client(fd)
        self._retired.clear()
        if self._server_notifier is not None:
            self._server_notifier.setEnabled(False)
            self._server_notifier = None
        if self._server is not None:
            self._server.close()
            self._server = None
            # Remove the socket file if it is still ours (not a successor's).
            with contextlib.suppress(OSError):
                if os.stat(self.path).st_ino == self._inode:
                    os.unlink(self.path)

    # ------------------------------------------------------------------ the second start

    def _ours(self) -> bool:
        """Whether the socket file exists and belongs to this user."""
        try:
            owner = os.lstat(self.path).st_uid
        except OSError:
            return False
        if hasattr(os, "getuid") and owner != os.getuid():
            log.warning("%s belongs to another user; not trusting it", self.path)
            return False
        return True

    def _wake_running_instance(self) -> bool:
        if not self._ours():
            return False
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Blocking, but only at start-up before the event loop runs, and a socket with no
        # listener refuses at once.
        client.settimeout(CONNECT_TIMEOUT_S)
        try:
            client.connect(os.fspath(self.path))
            client.sendall(ACTIVATE)
        except OSError:
            return False
        finally:
            client.close()
        log.info("another notifier is running; asked it to open its popup")
        return True

    def _remove_stale_socket(self) -> None:
        """Nobody answered on the socket: a crashed instance left it behind."""
        if self._ours():
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    # ------------------------------------------------------------------ the first instance

    def _on_server_readable(self, *_: Any) -> None:
        assert self._server is not None
        self._retired.clear()
        while True:
            try:
                client, _address = self._server.accept()
            except OSError:  # BlockingIOError: no more pending connections
                return
            client.setblocking(False)
            fd = client.fileno()
            notifier = QSocketNotifier(fd, QSocketNotifier.Type.Read)
            notifier.activated.connect(lambda *_args, fd=fd: self._on_client_readable(fd))
            self._clients[fd] = (client, notifier, bytearray())

    def _on_client_readable(self, fd: int) -> None:
        """Read what the client sent; act on hang-up (one message per connection, so there
        is no framing to do). A client that sends more than a word is dropped."""
        entry = self._clients.get(fd)
        if entry is None:
            return
        client, _notifier, received = entry
        try:
            chunk = client.recv(MAX_MESSAGE)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk:
            received += chunk
            if len(received) > MAX_MESSAGE:
                self._drop_client(fd)
            return
        self._drop_client(fd)
        if bytes(received).startswith(ACTIVATE.strip()):
            self.activated.emit()

    def _drop_client(self, fd: int) -> None:
        client, notifier, _received = self._clients.pop(fd)
        notifier.setEnabled(False)
        self._retired.append(notifier)
        client.close()
