"""A real, private desktop session for the desktop tests: X server, session bus, toasts, keyring.

What unit tests fake (the notification service, the Secret Service keyring, the system tray)
is real here, and private to the test run::

    Xvfb :N -nolisten tcp -displayfd FD      an X server on the first free display number
    dbus-daemon --config-file=<tmp>/bus.conf  a session bus on a socket in tmp
    dunst -config <tmp>/dunstrc               org.freedesktop.Notifications (toasts stay up)
    gnome-keyring-daemon --foreground --unlock --components=secrets
                                              org.freedesktop.secrets, unlocked from stdin
    trayer                                    an XEmbed system tray, only inside
                                              :meth:`DesktopSession.tray_host`
    status-notifier-watcher, then gtk-sni-tray-standalone
                                              a StatusNotifierItem tray (D-Bus), only
                                              inside :meth:`DesktopSession.sni_tray_host`

Fixtures (a test module imports ``desktop_session_fixture`` / ``bare_desktop_session_fixture``
and asks for ``desktop_session`` / ``bare_desktop_session``; every desktop test is
``@pytest.mark.desktop``):

* ``desktop_session`` (module scope): all of the above but the tray host;
* ``bare_desktop_session`` (module scope): only the X server and the bus, to check what the
  product says when the notification service, the keyring and the tray are missing.

Design decisions, each against a trap found on a clean Debian machine:

* The bus uses its OWN configuration with no service directories. With the stock
  ``session.conf`` a client asking for ``org.freedesktop.secrets``, ``org.a11y.Bus`` or
  ``org.freedesktop.Notifications`` makes the bus *activate* gnome-keyring, the at-spi bus or
  dunst from /usr/share/dbus-1/services: processes no test started and no teardown stops,
  and "no keyring on the bus" could never be tested.
* Every process is started here with ``subprocess.Popen`` (no ``--fork``, no
  ``dbus-launch``, ``gnome-keyring-daemon --foreground``), so its PID is known and
  :meth:`DesktopSession.stop` ends each one by that PID, newest first, also when a test or
  the start-up itself failed. Each child also asks the kernel for SIGTERM when pytest dies
  (``PR_SET_PDEATHSIG``), so a killed run leaves no daemon behind either.
* Nothing here changes ``os.environ``. Subprocesses get :meth:`DesktopSession.environment`
  (DISPLAY and DBUS_SESSION_BUS_ADDRESS of this session, ``QT_QPA_PLATFORM=xcb``, the
  test's HOME and XDG folders, no forced keyring backend); in-process code gets the two
  variables through :meth:`DesktopSession.apply` on the test's ``monkeypatch``, undone after
  the test. The pytest process itself stays offscreen: Qt parts under X run in subprocesses.
* The daemons run with HOME and the XDG folders in the session's tmp folder, so the keyring
  files and dunst's state never touch the real HOME.
* Toasts are read back from ``dbus-monitor --binary`` with the match rule
  ``interface='org.freedesktop.Notifications'`` and decoded with jeepney, so bodies with
  newlines, quotes or markup arrive exactly as sent (the text output of dbus-monitor is not
  parseable for those). Reading waits on the pipe with a deadline; it never sleeps.
* A button of a toast is pressed the way a user does it with dunst: ``dunstctl context``
  runs dunst's ``dmenu`` command, here a script that answers with the line of the chosen
  action (:meth:`DesktopSession.press_toast_button`).
* The browser is the one true edge left: :class:`FakeBrowser` puts a recording ``xdg-open``
  first on PATH, which is what Qt runs for ``QDesktopServices.openUrl`` under X11.
* Readiness of a daemon is what its clients need (the X display number from -displayfd, the
  bus address line, the well-known name on the bus, the tray selection), each with a
  deadline; a daemon that dies or stays silent fails the test with its log.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

if not sys.platform.startswith("linux"):  # jeepney, Xvfb and dunst are Linux things
    pytest.skip("desktop tests run on Linux (X11 and D-Bus)", allow_module_level=True)

from jeepney import (  # type: ignore[import-untyped]
    DBusAddress,
    HeaderFields,
    MessageType,
    new_method_call,
)
from jeepney.io.blocking import (  # type: ignore[import-untyped]
    DBusConnection,
    open_dbus_connection,
)
from jeepney.low_level import Message, Parser  # type: ignore[import-untyped]

START_DEADLINE_S = 10.0
STOP_GRACE_S = 3.0
COMMAND_TIMEOUT_S = 15.0
NOTIFICATIONS = "org.freedesktop.Notifications"
SECRETS = "org.freedesktop.secrets"
SNI_WATCHER = "org.kde.StatusNotifierWatcher"
SNI_ITEM = "org.kde.StatusNotifierItem"
KEYRING_PASSWORD = "desktop-test"  # unlocks the throw-away keyring in tmp

# Which Debian package provides each program (for the skip reason).
PACKAGES = {
    "Xvfb": "xvfb",
    "dbus-daemon": "dbus",
    "dbus-monitor": "dbus",
    "dunst": "dunst",
    "dunstctl": "dunst",
    "gnome-keyring-daemon": "gnome-keyring",
    "secret-tool": "libsecret-tools",
    "trayer": "trayer",
    "status-notifier-watcher": "haskell-status-notifier-item-utils",
    "gtk-sni-tray-standalone": "haskell-gtk-sni-tray-utils",
    "xdotool": "xdotool",
    "xwininfo": "x11-utils",
    "xprop": "x11-utils",
    "ip": "iproute2",
    "unshare": "util-linux",
    "nsenter": "util-linux",
}

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <!-- No <standard_session_servicedirs/>: nothing may be started behind the tests' back. -->
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

# Toasts stay on screen until a test acts on them or closes them.
DUNSTRC = """[global]
    dmenu = {dmenu}
    mouse_left_click = do_action, close_current
    show_indicators = no
[urgency_low]
    timeout = 0
[urgency_normal]
    timeout = 0
[urgency_critical]
    timeout = 0
"""

# dunst's context menu: dunst writes one line per action ("#Mark read (title) [id,key]") and
# takes back the line the "user" picked: here, the first holding the text in the pick file.
DMENU_SCRIPT = """#!/bin/sh
cat > "{menu}"
grep -m1 -F -- "$(cat "{pick}")" "{menu}"
"""


FAKE_BROWSER = """#!/bin/sh
# Stands in for the desktop's URL opener: records what the app asked to open.
printf '%s\\n' "$@" >> "{record}"
"""


class FakeBrowser:
    """An ``xdg-open`` first on PATH that records URLs instead of opening a browser (the
    browser is a true edge). Qt's ``QDesktopServices.openUrl`` runs it under X11."""

    def __init__(self, folder: Path) -> None:
        self.bin_dir = folder / "bin"
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        self.record = folder / "opened-urls"
        self.record.touch()
        script = self.bin_dir / "xdg-open"
        script.write_text(FAKE_BROWSER.format(record=self.record), encoding="utf-8")
        script.chmod(0o755)

    def install(self, env: dict[str, str]) -> dict[str, str]:
        """``env`` with this stand-in first on PATH (and no BROWSER to bypass it)."""
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', os.defpath)}"
        env.pop("BROWSER", None)
        return env

    @property
    def opened(self) -> list[str]:
        return self.record.read_text(encoding="utf-8").splitlines()


def require(*programs: str) -> None:
    """Skip the test, naming the program and its package, when one is not installed."""
    for program in programs:
        if shutil.which(program) is None:
            package = PACKAGES.get(program, program)
            pytest.skip(
                f"desktop test needs `{program}` (Debian package {package}), not found on PATH"
            )


class SessionError(RuntimeError):
    """A part of the desktop session did not start; the message carries its log."""


def _read_line(stream: IO[bytes], deadline: float, process: subprocess.Popen[bytes]) -> str:
    """The first line ``process`` writes to ``stream``, waiting at most until ``deadline``."""
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SessionError(f"{process.args!r}: no output line in time ({buffer!r})")
            if selector.select(timeout=min(remaining, 0.5)):
                chunk = os.read(stream.fileno(), 4096)
                if not chunk:
                    raise SessionError(f"{process.args!r} exited: {process.wait()}")
                buffer += chunk
            elif process.poll() is not None:
                raise SessionError(f"{process.args!r} exited: {process.returncode}")
    return buffer.split(b"\n", 1)[0].decode()


def _die_with_the_tests() -> None:
    """In the child, before exec: get SIGTERM if the pytest process dies (even SIGKILLed),
    so no daemon outlives a crashed or killed run. Teardown still stops each one by PID."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def x_selection_owner(display: str, selection: str) -> int:
    """The window owning ``selection`` on ``display`` (0: none), asked through libX11."""
    libx11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    libx11.XOpenDisplay.restype = ctypes.c_void_p
    libx11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    libx11.XInternAtom.restype = ctypes.c_ulong
    libx11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    libx11.XGetSelectionOwner.restype = ctypes.c_ulong
    libx11.XGetSelectionOwner.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    libx11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    connection = libx11.XOpenDisplay(display.encode())
    if not connection:
        raise SessionError(f"cannot open the X display {display}")
    try:
        atom = libx11.XInternAtom(connection, selection.encode(), 0)
        return int(libx11.XGetSelectionOwner(connection, atom))
    finally:
        libx11.XCloseDisplay(connection)


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    """Poll ``condition`` (an external process's state) until true; fail after the deadline."""
    deadline = time.monotonic() + timeout_s
    delay = 0.01
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


class LineReader:
    """Lines from a subprocess's stdout pipe, each awaited with a deadline (no sleeping)."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        self.process = process
        self._stream = process.stdout
        self._buffer = b""
        self.lines: list[str] = []

    def next_line(self, timeout_s: float = 10.0) -> str:
        deadline = time.monotonic() + timeout_s
        with selectors.DefaultSelector() as selector:
            selector.register(self._stream, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"no line from {self.process.args!r} within {timeout_s} s "
                        f"(so far: {self.lines!r}, partial {self._buffer!r})"
                    )
                if selector.select(timeout=remaining):
                    chunk = os.read(self._stream.fileno(), 4096)
                    if not chunk:
                        raise AssertionError(
                            f"{self.process.args!r} exited ({self.process.wait()}) "
                            f"after {self.lines!r}"
                        )
                    self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        self.lines.append(line.decode())
        return self.lines[-1]


@dataclass
class Started:
    name: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass(frozen=True)
class NotifyCall:
    """One org.freedesktop.Notifications.Notify call as seen on the bus."""

    app_name: str
    replaces_id: int
    icon: str
    summary: str
    body: str
    actions: tuple[tuple[str, str], ...]  # (key, label)
    hints: Mapping[str, Any]
    expire_timeout: int

    @property
    def action_labels(self) -> list[str]:
        return [label for _key, label in self.actions]

    @classmethod
    def from_body(cls, body: tuple[Any, ...]) -> NotifyCall:
        app_name, replaces_id, icon, summary, text, actions, hints, expire = body
        pairs = tuple(zip(actions[0::2], actions[1::2], strict=True))
        return cls(app_name, replaces_id, icon, summary, text, pairs, dict(hints), expire)


@dataclass
class NotificationMonitor:
    """``dbus-monitor --binary`` on the notification interface, decoded with jeepney."""

    process: subprocess.Popen[bytes]
    messages: list[Message] = field(default_factory=list)
    _parser: Parser = field(default_factory=Parser)

    def _pump(self, deadline: float) -> None:
        """Read what dbus-monitor wrote, waiting at most until ``deadline`` for more."""
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            remaining = max(0.0, deadline - time.monotonic())
            while selector.select(timeout=remaining):
                chunk = os.read(self.process.stdout.fileno(), 65536)
                if not chunk:
                    raise SessionError(f"dbus-monitor exited: {self.process.wait()}")
                self.messages.extend(self._parser.feed(chunk))
                remaining = 0.0  # drain what is there now, then let the caller check

    def wait_for(self, condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        self._pump(time.monotonic())
        while not condition():
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"timed out after {timeout_s} s waiting for {what}; seen on the bus: "
                    f"{[self.describe(m) for m in self.messages]}"
                )
            self._pump(deadline)

    def settle(self) -> None:
        """Take in everything already written (no waiting)."""
        self._pump(time.monotonic())

    @staticmethod
    def member(message: Message) -> str:
        return str(message.header.fields.get(HeaderFields.member, ""))

    @classmethod
    def describe(cls, message: Message) -> str:
        return f"{message.header.message_type.name} {cls.member(message)} {message.body!r}"

    def calls(self, member: str) -> list[Message]:
        return [
            m
            for m in self.messages
            if m.header.message_type is MessageType.method_call and self.member(m) == member
        ]

    def signals(self, member: str) -> list[tuple[Any, ...]]:
        return [
            m.body
            for m in self.messages
            if m.header.message_type is MessageType.signal and self.member(m) == member
        ]

    def notify_calls(self) -> list[NotifyCall]:
        return [NotifyCall.from_body(m.body) for m in self.calls("Notify")]


class DesktopSession:
    """Xvfb, a private session bus and the desktop services, all under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.display = ""
        self.bus_address = ""
        self._started: list[Started] = []
        self._bus: DBusConnection | None = None
        self._dmenu_pick = root / "dmenu-pick"
        self.dmenu_menu = root / "dmenu-menu"
        self._daemon_env = self._make_daemon_env()

    # ------------------------------------------------------------------ environments

    def _make_daemon_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "DBUS_"))}
        for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "PYTHON_KEYRING_BACKEND"):
            env.pop(name, None)
        folders = {
            "XDG_CONFIG_HOME": self.home / ".config",
            "XDG_DATA_HOME": self.home / ".local" / "share",
            "XDG_CACHE_HOME": self.home / ".cache",
            "XDG_RUNTIME_DIR": self.root / "runtime",
        }
        for folder in folders.values():
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        env.update({name: str(path) for name, path in folders.items()})
        env.update(HOME=str(self.home), NO_AT_BRIDGE="1")
        return env

    def _session_vars(self) -> dict[str, str]:
        session: dict[str, str] = {"NO_AT_BRIDGE": "1", "QT_QPA_PLATFORM": "xcb"}
        if self.display:
            session["DISPLAY"] = self.display
        if self.bus_address:
            session["DBUS_SESSION_BUS_ADDRESS"] = self.bus_address
        return session

    def environment(self, base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
        """For a subprocess under test: ``base`` (default: the test's os.environ, whose HOME
        and XDG folders the autouse fixture put in tmp) with this session's display and bus,
        Qt on X, and keyring left to choose its backend as on an agent's desktop."""
        env = dict(os.environ if base is None else base)
        for name in (
            "DISPLAY",
            "WAYLAND_DISPLAY",
            "DBUS_SESSION_BUS_ADDRESS",
            "PYTHON_KEYRING_BACKEND",
            "QT_QPA_PLATFORM",
            "XAUTHORITY",
        ):
            env.pop(name, None)
        env.update(self._session_vars())
        env.update(extra)
        return env

    def apply(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point in-process code (D-Bus clients such as keyring) at this session for one test."""
        monkeypatch.setenv("DISPLAY", self.display)
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", self.bus_address)

    # ------------------------------------------------------------------ processes

    def _spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        stdin: int | None = subprocess.DEVNULL,
        stdout: int | None = None,
        pass_fds: Sequence[int] = (),
    ) -> subprocess.Popen[bytes]:
        log = self.root / f"{name}.log"
        with log.open("ab") as log_file:
            process = subprocess.Popen(
                list(argv),
                stdin=stdin,
                stdout=stdout if stdout is not None else log_file,
                stderr=log_file,
                env={**self._daemon_env, **self._session_vars()},
                pass_fds=tuple(pass_fds),
                cwd=self.root,
                preexec_fn=_die_with_the_tests,
            )
        self._started.append(Started(name, process, log))
        return process

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        stdout_pipe: bool = False,
    ) -> subprocess.Popen[bytes]:
        """Start a process under test (the app, a driver script); stopped with the session
        unless stopped first. Its stderr (and stdout, unless piped) goes to
        ``<root>/<name>.log`` (see :meth:`log_text`)."""
        log = self.root / f"{name}.log"
        with log.open("ab") as log_file:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if stdout_pipe else log_file,
                stderr=log_file,
                env=dict(env),
                preexec_fn=_die_with_the_tests,
            )
        self._started.append(Started(name, process, log))
        return process

    def log_text(self, name: str) -> str:
        log = self.root / f"{name}.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def stop_process(self, process: subprocess.Popen[bytes]) -> int:
        """Stop one process started here, by its PID: SIGTERM, then SIGKILL after a grace."""
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_GRACE_S)
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        self._started = [s for s in self._started if s.process is not process]
        return process.returncode

    def stop(self) -> None:
        """Stop everything, newest first (the bus and X last). Safe to call twice."""
        if self._bus is not None:
            self._bus.close()
            self._bus = None
        for started in reversed(list(self._started)):
            self.stop_process(started.process)

    def _failed(self, name: str, why: str) -> SessionError:
        return SessionError(f"{name} did not start: {why}\n{self.log_text(name)}")

    # ------------------------------------------------------------------ X and the bus

    def start_x(self) -> None:
        require("Xvfb")
        read_fd, write_fd = os.pipe()
        try:
            process = self._spawn(
                "xvfb",
                [
                    "Xvfb",
                    "-displayfd",
                    str(write_fd),
                    "-nolisten",
                    "tcp",
                    "-screen",
                    "0",
                    "1280x800x24",
                    "-noreset",
                ],
                pass_fds=(write_fd,),
            )
            os.close(write_fd)
            write_fd = -1
            with os.fdopen(read_fd, "rb", buffering=0) as display_pipe:
                read_fd = -1
                try:
                    number = _read_line(display_pipe, time.monotonic() + START_DEADLINE_S, process)
                except SessionError as error:
                    raise self._failed("xvfb", str(error)) from None
        finally:
            for fd in (read_fd, write_fd):
                if fd >= 0:
                    os.close(fd)
        self.display = f":{int(number)}"

    def start_bus(self) -> None:
        require("dbus-daemon")
        socket = self.root / "bus"
        if len(str(socket)) > 100:  # sun_path holds 108 bytes
            raise SessionError(f"the tmp path is too long for a bus socket: {socket}")
        config = self.root / "bus.conf"
        config.write_text(BUS_CONFIG.format(socket=socket), encoding="utf-8")
        process = self._spawn(
            "dbus-daemon",
            ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
            stdout=subprocess.PIPE,
        )
        assert process.stdout is not None
        try:
            address = _read_line(process.stdout, time.monotonic() + START_DEADLINE_S, process)
        except SessionError as error:
            raise self._failed("dbus-daemon", str(error)) from None
        self.bus_address = address.strip()
        self._bus = open_dbus_connection(bus=self.bus_address)

    def _bus_call(self, method: str, signature: str | None = None, *args: Any) -> Any:
        assert self._bus is not None, "start_bus() first"
        bus = DBusAddress(
            "/org/freedesktop/DBus",
            bus_name="org.freedesktop.DBus",
            interface="org.freedesktop.DBus",
        )
        reply = self._bus.send_and_get_reply(
            new_method_call(bus, method, signature, args), timeout=5
        )
        return reply.body[0]

    def has_owner(self, name: str) -> bool:
        return bool(self._bus_call("NameHasOwner", "s", name))

    def connection_pid(self, name: str) -> int:
        """The PID of the process owning bus name ``name``."""
        return int(self._bus_call("GetConnectionUnixProcessID", "s", name))

    def get_property(self, name: str, path: str, interface: str, prop: str) -> Any:
        """``org.freedesktop.DBus.Properties.Get`` on this bus, the variant's value."""
        assert self._bus is not None, "start_bus() first"
        target = DBusAddress(path, bus_name=name, interface="org.freedesktop.DBus.Properties")
        reply = self._bus.send_and_get_reply(
            new_method_call(target, "Get", "ss", (interface, prop)), timeout=5
        )
        if reply.header.message_type is MessageType.error:
            raise SessionError(f"{name} {path} {interface}.{prop}: {reply.body}")
        _signature, value = reply.body[0]
        return value

    def _wait_for_name(self, name: str, started: subprocess.Popen[bytes], who: str) -> None:
        deadline = time.monotonic() + START_DEADLINE_S
        delay = 0.01
        while not self.has_owner(name):
            if started.poll() is not None:
                raise self._failed(who, f"exited with {started.returncode}")
            if time.monotonic() > deadline:
                raise self._failed(who, f"{name} not on the bus after {START_DEADLINE_S} s")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    # ------------------------------------------------------------------ services

    def start_notification_daemon(self) -> None:
        require("dunst", "dunstctl")
        dmenu = self.root / "dmenu.sh"
        dmenu.write_text(
            DMENU_SCRIPT.format(menu=self.dmenu_menu, pick=self._dmenu_pick), encoding="utf-8"
        )
        dmenu.chmod(0o700)
        self._dmenu_pick.write_text("", encoding="utf-8")
        dunstrc = self.root / "dunstrc"
        dunstrc.write_text(DUNSTRC.format(dmenu=dmenu), encoding="utf-8")
        process = self._spawn("dunst", ["dunst", "-config", str(dunstrc)])
        self._wait_for_name(NOTIFICATIONS, process, "dunst")

    def start_keyring(self) -> None:
        require("gnome-keyring-daemon")
        process = self._spawn(
            "gnome-keyring",
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            stdin=subprocess.PIPE,
        )
        assert process.stdin is not None
        # --unlock reads the password from stdin up to EOF: this creates and unlocks the
        # "login" keyring in the session's tmp XDG_DATA_HOME, no prompt.
        process.stdin.write(KEYRING_PASSWORD.encode())
        process.stdin.close()
        self._wait_for_name(SECRETS, process, "gnome-keyring")

    def start_keyring_without_a_login_keyring(self) -> None:
        """gnome-keyring as on a desktop whose login never created a keyring: no default
        collection, so storing or reading a secret first asks to create one."""
        require("gnome-keyring-daemon")
        process = self._spawn(
            "gnome-keyring", ["gnome-keyring-daemon", "--foreground", "--components=secrets"]
        )
        self._wait_for_name(SECRETS, process, "gnome-keyring")

    @contextlib.contextmanager
    def tray_host(self) -> Iterator[subprocess.Popen[bytes]]:
        """An XEmbed system tray (trayer) for the ``with`` block."""
        require("trayer")
        process = self._spawn(
            "trayer",
            [
                "trayer",
                "--edge",
                "top",
                "--align",
                "right",
                "--height",
                "32",
                "--widthtype",
                "request",
                "--SetDockType",
                "true",
                "--transparent",
                "false",
            ],
        )
        try:
            wait_until(
                lambda: self.tray_selection_owned() or process.poll() is not None,
                "trayer to own the system tray selection",
            )
            if process.poll() is not None:
                raise self._failed("trayer", f"exited with {process.returncode}")
            yield process
        finally:
            self.stop_process(process)

    @contextlib.contextmanager
    def sni_tray_host(self) -> Iterator[subprocess.Popen[bytes]]:
        """A StatusNotifierItem tray (D-Bus): the watcher, then a host registered with it (a
        panel 30 px high across the top of the screen, its items from the left); yields the
        host's process."""
        require("status-notifier-watcher", "gtk-sni-tray-standalone")
        watcher = self._spawn("sni-watcher", ["status-notifier-watcher"])
        try:
            self._wait_for_name(SNI_WATCHER, watcher, "sni-watcher")
            host = self._spawn("sni-tray", ["gtk-sni-tray-standalone", "--top"])
            try:
                wait_until(
                    lambda: host.poll() is not None or self.sni_host_registered(),
                    "the tray to register with the StatusNotifierWatcher",
                )
                if host.poll() is not None:
                    raise self._failed("sni-tray", f"exited with {host.returncode}")
                yield host
            finally:
                self.stop_process(host)
        finally:
            self.stop_process(watcher)

    def _sni_watcher_property(self, prop: str) -> Any:
        return self.get_property(SNI_WATCHER, "/StatusNotifierWatcher", SNI_WATCHER, prop)

    def sni_host_registered(self) -> bool:
        return bool(self._sni_watcher_property("IsStatusNotifierHostRegistered"))

    def sni_items(self) -> list[str]:
        """Bus names (or ``name/path``) of the registered StatusNotifierItems."""
        return [str(item) for item in self._sni_watcher_property("RegisteredStatusNotifierItems")]

    def sni_items_of(self, pid: int) -> list[str]:
        """The registered StatusNotifierItems (``name`` or ``name/path``) of process ``pid``."""
        return [
            item for item in self.sni_items() if self.connection_pid(item.split("/", 1)[0]) == pid
        ]

    def sni_item_property(self, item: str, prop: str) -> Any:
        """A property of the StatusNotifierItem ``item`` (as :meth:`sni_items` names it),
        answered by its program within 5 s (or TimeoutError)."""
        name, _, path = item.partition("/")
        return self.get_property(name, path or "/StatusNotifierItem", SNI_ITEM, prop)

    def tray_selection_owned(self) -> bool:
        """Whether a system tray owns ``_NET_SYSTEM_TRAY_S0`` on this display: what Qt's
        ``QSystemTrayIcon.isSystemTrayAvailable()`` asks X for an XEmbed tray."""
        return x_selection_owner(self.display, "_NET_SYSTEM_TRAY_S0") != 0

    # ------------------------------------------------------------------ commands

    def run(
        self, argv: Sequence[str], *, check: bool = True, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a desktop tool (dunstctl, xdotool, secret-tool …) in this session."""
        result = subprocess.run(
            list(argv),
            env=self.environment(self._daemon_env),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{argv!r} failed ({result.returncode}): {result.stderr}")
        return result

    @contextlib.contextmanager
    def monitor(self, *rules: str) -> Iterator[NotificationMonitor]:
        """Record every call and signal of org.freedesktop.Notifications for the block, or
        of what the match ``rules`` name (``"destination='org.freedesktop.secrets'"``)."""
        require("dbus-monitor")
        process = self._spawn(
            "dbus-monitor",
            [
                "dbus-monitor",
                "--address",
                self.bus_address,
                "--binary",
                *(rules or ("interface='org.freedesktop.Notifications'",)),
            ],
            stdout=subprocess.PIPE,
        )
        monitor = NotificationMonitor(process)
        try:
            # dbus-monitor gives up its unique name when it has become a monitor: ready.
            monitor.wait_for(lambda: bool(monitor.signals("NameLost")), "dbus-monitor")
            yield monitor
        finally:
            self.stop_process(process)

    def close_all_toasts(self) -> None:
        self.run(["dunstctl", "close-all"])

    def displayed_toasts(self) -> int:
        """How many toasts dunst has on screen now."""
        return int(self.run(["dunstctl", "count", "displayed"]).stdout.strip())

    def close_top_toast(self) -> None:
        """Dismiss the topmost toast, as the agent's click on its close mark does."""
        self.run(["dunstctl", "close"])

    def click_toast(self) -> None:
        """The default action of the topmost toast: what a click on its body does."""
        self.run(["dunstctl", "action", "0"])

    def press_toast_button(self, toast: NotifyCall, label: str) -> None:
        """Press the button ``label`` of ``toast`` through dunst's context menu, as a user
        does. The menu lists every action on screen as ``#<label> (<summary>) [<id>,<key>]``;
        the pick is by the action's key, unique to this toast."""
        keys = [key for key, shown in toast.actions if shown == label]
        assert keys, f"{toast.summary!r} has no {label!r} button: {toast.action_labels}"
        self._dmenu_pick.write_text(f",{keys[0]}]", encoding="utf-8")
        self.run(["dunstctl", "context"])


def _start(root: Path, *parts: Callable[[DesktopSession], None]) -> Iterator[DesktopSession]:
    session = DesktopSession(root)
    try:
        for part in parts:
            part(session)
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="module", name="desktop_session")
def desktop_session_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DesktopSession]:
    """Xvfb + private session bus + dunst + unlocked gnome-keyring, for one test module."""
    yield from _start(
        tmp_path_factory.mktemp("desktop"),
        DesktopSession.start_x,
        DesktopSession.start_bus,
        DesktopSession.start_notification_daemon,
        DesktopSession.start_keyring,
    )


@pytest.fixture(scope="module", name="toast_desktop_session")
def toast_desktop_session_fixture(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DesktopSession]:
    """Xvfb, a private session bus and dunst: the notification service, nothing more."""
    yield from _start(
        tmp_path_factory.mktemp("toast-desktop"),
        DesktopSession.start_x,
        DesktopSession.start_bus,
        DesktopSession.start_notification_daemon,
    )


@pytest.fixture(scope="module", name="bare_desktop_session")
def bare_desktop_session_fixture(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DesktopSession]:
    """Only Xvfb and a session bus: no notification service, no keyring, no tray."""
    yield from _start(
        tmp_path_factory.mktemp("bare-desktop"), DesktopSession.start_x, DesktopSession.start_bus
    )


@pytest.fixture(scope="module", name="keyring_desktop_session")
def keyring_desktop_session_fixture(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DesktopSession]:
    """A session bus and gnome-keyring with an unlocked login keyring, nothing else."""
    yield from _start(
        tmp_path_factory.mktemp("keyring-desktop"),
        DesktopSession.start_bus,
        DesktopSession.start_keyring,
    )


@pytest.fixture(scope="module", name="new_keyring_desktop_session")
def new_keyring_desktop_session_fixture(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DesktopSession]:
    """A session bus and gnome-keyring that has no login keyring (no default collection)."""
    yield from _start(
        tmp_path_factory.mktemp("new-keyring-desktop"),
        DesktopSession.start_bus,
        DesktopSession.start_keyring_without_a_login_keyring,
    )
