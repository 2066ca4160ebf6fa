"""Shared parts of the end-to-end benchmarks: a reference helpdesk with a large history, the
tray app as the agent starts it, and what can be read from outside it.

Not a benchmark itself. The scripts next to it import it (the benchmarks folder is the first
entry of ``sys.path`` when one of them runs):

* histories of 10,000 or 100,000 are written with ``Helpdesk.seed_assignments``
  (tests/helpdesk.py), straight into the server's database: seconds instead of the hour
  it takes over HTTP; a stream that is open meanwhile is not woken (seed before the app
  connects, or while the server is stopped);
* :class:`Bench` holds a temporary folder, a started server with an agent ``alice`` and a
  sender ``bob``, and the environment the app runs in (HOME and XDG folders in tmp, the token
  from NOTIFIER_TOKEN, no keyring, Qt offscreen unless a desktop session replaces it);
* :class:`AppLog` follows the app's log file (its lines carry millisecond time stamps);
* :class:`XDisplay` walks the X window tree through libX11 (a tray's docked icons);
* :func:`rss_mb` and friends read /proc.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from desktop_session import DesktopSession  # noqa: E402 (Xvfb, bus, dunst, tray hosts)
from helpdesk import Helpdesk, connect_stream  # noqa: E402 (the reference server, outside pytest)

from notifier.store.paths import app_paths  # noqa: E402

__all__ = ["DesktopSession", "Helpdesk", "connect_stream"]

FAIL_KEYRING = "keyring.backends.fail.Keyring"  # the token comes from NOTIFIER_TOKEN
IS_VIEWABLE = 2  # XWindowAttributes.map_state: mapped, and every ancestor too


def app_command(profile: Path | None, index: int) -> list[str]:
    """``python -m notifier``; under cProfile with ``--profile`` (the stats are written when
    the app quits on SIGTERM)."""
    if profile is None:
        return [sys.executable, "-m", "notifier"]
    out = profile.with_name(f"{profile.name}.{index}")
    return [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "notifier"]


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A memory figure of /proc/PID/status in MB (VmRSS, VmHWM = peak RSS, RssAnon)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def spread(values: Sequence[float]) -> str:
    """ "median (min–max)" of repeated runs, for the reader to judge the noise."""

    def shown(value: float) -> str:
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"

    return f"{shown(statistics.median(values))} ({shown(min(values))}–{shown(max(values))})"


def file_mb(path: Path) -> float:
    return path.stat().st_size / 1e6 if path.exists() else 0.0


def load_average() -> str:
    """The machine's 1-minute load and its core count: the tables say how busy it was."""
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


class XWindowAttributes(ctypes.Structure):
    _fields_ = [
        ("x", ctypes.c_int),
        ("y", ctypes.c_int),
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("border_width", ctypes.c_int),
        ("depth", ctypes.c_int),
        ("visual", ctypes.c_void_p),
        ("root", ctypes.c_ulong),
        ("c_class", ctypes.c_int),
        ("bit_gravity", ctypes.c_int),
        ("win_gravity", ctypes.c_int),
        ("backing_store", ctypes.c_int),
        ("backing_planes", ctypes.c_ulong),
        ("backing_pixel", ctypes.c_ulong),
        ("save_under", ctypes.c_int),
        ("colormap", ctypes.c_ulong),
        ("map_installed", ctypes.c_int),
        ("map_state", ctypes.c_int),
        ("all_event_masks", ctypes.c_long),
        ("your_event_mask", ctypes.c_long),
        ("do_not_propagate_mask", ctypes.c_long),
        ("override_redirect", ctypes.c_int),
        ("screen", ctypes.c_void_p),
    ]


class XDisplay:
    """Just enough of libX11 to walk the window tree: children, owner PID, viewable."""

    def __init__(self, display: str) -> None:
        x = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
        x.XOpenDisplay.restype = ctypes.c_void_p
        x.XOpenDisplay.argtypes = [ctypes.c_char_p]
        x.XDefaultRootWindow.restype = ctypes.c_ulong
        x.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        x.XInternAtom.restype = ctypes.c_ulong
        x.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        x.XQueryTree.argtypes = [ctypes.c_void_p, ctypes.c_ulong] + [ctypes.c_void_p] * 4
        x.XGetWindowProperty.argtypes = [
            ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_long, ctypes.c_long,
            ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
            ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        x.XGetWindowAttributes.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p]
        x.XFree.argtypes = [ctypes.c_void_p]
        x.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self.x = x
        self.connection = x.XOpenDisplay(display.encode())
        if not self.connection:
            raise RuntimeError(f"cannot open the X display {display}")
        self.root = x.XDefaultRootWindow(self.connection)
        self.pid_atom = x.XInternAtom(self.connection, b"_NET_WM_PID", 0)

    def close(self) -> None:
        self.x.XCloseDisplay(self.connection)

    def children(self, window: int) -> list[int]:
        root, parent = ctypes.c_ulong(), ctypes.c_ulong()
        kids, count = ctypes.POINTER(ctypes.c_ulong)(), ctypes.c_uint()
        if not self.x.XQueryTree(
            self.connection, window, ctypes.byref(root), ctypes.byref(parent),
            ctypes.byref(kids), ctypes.byref(count),
        ):  # fmt: skip
            return []
        found = [kids[i] for i in range(count.value)]
        if kids:
            self.x.XFree(kids)
        return found

    def pid(self, window: int) -> int | None:
        kind, fmt = ctypes.c_ulong(), ctypes.c_int()
        items, after = ctypes.c_ulong(), ctypes.c_ulong()
        data = ctypes.POINTER(ctypes.c_ulong)()
        status = self.x.XGetWindowProperty(
            self.connection, window, self.pid_atom, 0, 1, 0, 0, ctypes.byref(kind),
            ctypes.byref(fmt), ctypes.byref(items), ctypes.byref(after), ctypes.byref(data),
        )  # fmt: skip
        try:
            return int(data[0]) if status == 0 and items.value == 1 and data else None
        finally:
            if data:
                self.x.XFree(data)

    def viewable(self, window: int) -> bool:
        attributes = XWindowAttributes()
        if not self.x.XGetWindowAttributes(self.connection, window, ctypes.byref(attributes)):
            return False
        return bool(attributes.map_state == IS_VIEWABLE)

    def walk(self, window: int | None = None) -> Iterator[tuple[int, list[int]]]:
        """Every window under ``window`` (default: the root) with its ancestors."""
        stack: list[tuple[int, list[int]]] = [(window or self.root, [])]
        while stack:
            current, ancestors = stack.pop()
            yield current, ancestors
            stack.extend((child, [*ancestors, current]) for child in self.children(current))

    def docked(self, app_pid: int, host_pid: int) -> int | None:
        """The window of ``app_pid`` inside a window of ``host_pid`` (an XEmbed tray's
        icon), if there is one and it is viewable."""
        hosts: set[int] = set()
        for window, ancestors in self.walk():
            owner = self.pid(window)
            if owner == host_pid:
                hosts.add(window)
            elif owner == app_pid and hosts.intersection(ancestors) and self.viewable(window):
                return window
        return None


class AppLog:
    """The app's log file (``<NOTIFIER_HOME>/logs/notifier.log``), read as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def text(self) -> str:
        return self.path.read_text(errors="replace") if self.path.exists() else ""

    def count(self, needle: str) -> int:
        return self.text().count(needle)

    def time_of(self, needle: str, nth: int = 1) -> float | None:
        """The wall-clock time (epoch seconds) of the ``nth`` line containing ``needle``."""
        seen = 0
        for line in self.text().splitlines():
            if needle in line:
                seen += 1
                if seen == nth:
                    stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
                    return stamp.timestamp()
        return None


def wait_for(
    condition: Callable[[], bool], what: str, timeout_s: float, poll_s: float = 0.01
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(poll_s)


@dataclass
class Bench:
    """A temporary folder with a started reference server, ``alice`` and ``bob``."""

    work: Path
    server: Helpdesk
    alice_token: str
    bob_token: str
    ticket: int  # a ticket of bob's that the seeded notifications are about
    base_env: dict[str, str]

    def app_env(self, home: str, **extra: str) -> dict[str, str]:
        """The environment of one app instance whose files all live in ``work/home``."""
        return {
            **self.base_env,
            "NOTIFIER_HOME": str(self.work / home),
            "NOTIFIER_SERVER": self.server.url,
            "NOTIFIER_TOKEN": self.alice_token,
            **extra,
        }

    def app_log(self, env: dict[str, str]) -> AppLog:
        return AppLog(app_paths(env).log_file)

    def cache_file(self, env: dict[str, str]) -> Path:
        return app_paths(env).cache_file

    def warm_up(self) -> None:
        """Run the app once until it is live (it compiles and caches its byte code)."""
        env = self.app_env("warm-up")
        log = self.app_log(env)
        app = subprocess.Popen(
            [sys.executable, "-m", "notifier"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(lambda: "status: live" in log.text() or app.poll() is not None, "live", 60)
        finally:
            app.terminate()
            app.wait(timeout=30)

    @contextlib.contextmanager
    def desktop(self) -> Iterator[DesktopSession]:
        """Xvfb, a private session bus and dunst for the block; no tray host yet (each
        benchmark chooses trayer, an SNI host or none)."""
        session = DesktopSession(self.work / "desktop")
        try:
            session.start_x()
            session.start_bus()
            session.start_notification_daemon()
            yield session
        finally:
            session.stop()

    def seed(self, count: int, prefix: str = "Ticket") -> list[int]:
        return self.server.seed_assignments("alice", "bob", self.ticket, count, prefix)


# Byte code for every module the app loads, kept between runs (an installed app has its .pyc
# files; this environment may set PYTHONDONTWRITEBYTECODE), outside the source tree.
PYCACHE = Path(tempfile.gettempdir()) / "notifier-bench-pycache"


def base_environment(work: Path) -> dict[str, str]:
    """An app's environment with HOME, the XDG folders and the runtime folder in ``work``, Qt
    offscreen (a desktop session replaces it), no keyring, and the byte-code cache on."""
    home = work / "home"
    home.mkdir(exist_ok=True)
    (work / "runtime").mkdir(mode=0o700, exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")
        and not k.startswith("NOTIFIER_")
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        PYTHONPYCACHEPREFIX=str(PYCACHE),
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_RUNTIME_DIR=str(work / "runtime"),
        QT_QPA_PLATFORM="offscreen",
        PYTHON_KEYRING_BACKEND=FAIL_KEYRING,
    )
    return env


@contextlib.contextmanager
def bench(prefix: str) -> Iterator[Bench]:
    """A :class:`Bench` for the ``with`` block; everything is removed afterwards. The app has
    run once (signed in, live, quit), so the byte-code cache holds what it loads."""
    with tempfile.TemporaryDirectory(prefix=f"notifier-{prefix}-") as temp:
        work = Path(temp)
        base_env = base_environment(work)
        server = Helpdesk(work / "server", env=base_env)
        server.start()
        try:
            alice = server.add_agent("alice", "Alice Able")
            bob = server.add_agent("bob", "Bob Baker")
            ticket = server.actions(bob).create_ticket("Printer on fire", "On floor 3")
            b = Bench(work, server, alice, bob, int(ticket["id"]), base_env)
            b.warm_up()
            yield b
        finally:
            server.stop()


def server_unread(bench_: Bench) -> int:
    """Alice's unread count as the server has it (read from its database)."""
    connection = sqlite3.connect(bench_.server.db)
    try:
        row = connection.execute(
            "SELECT count(*) FROM notifications n JOIN users u ON u.id = n.agent_id"
            " WHERE u.username = 'alice' AND n.read = 0"
        ).fetchone()
        return int(row[0])
    finally:
        connection.close()
