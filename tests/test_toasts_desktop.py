"""Toasts through a real notification daemon: dunst on a private session bus under Xvfb.

Everything runs with HOME in tmp and is stopped by PID at the end. The app side is the real
DesktopNotifierSink (desktop-notifier over D-Bus) wired to the real controller and cache;
only the browser (a recording opener) and the controller's clock are fakes.

* a toast reaches dunst, and clicking it (``dunstctl action 0``) opens the ticket and marks
  the notification read;
* a notification read elsewhere withdraws its toast from dunst.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from tray_fakes import FakeClock, FakeScheduler, RecordingUrlOpener, fill_cache, make_notification

from notifier.app.controller import AppController
from notifier.core.settings import Settings
from notifier.core.status import CacheChange, ChangeKind
from notifier.store.cache import NotificationCache
from notifier.ui.application import TrayApp
from notifier.ui.toasts import DesktopNotifierSink, make_desktop_notifier_sink

pytestmark = pytest.mark.desktop

BINARIES = ("dbus-daemon", "Xvfb", "dunst", "dunstctl")
MISSING = [name for name in BINARIES if shutil.which(name) is None]
SERVER = "https://helpdesk.example.com"
DEADLINE_S = 20.0


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll a daemon's state (subprocess readiness), with a deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


async def wait_for_async(condition: Callable[[], bool], what: str) -> None:
    """The same while the asyncio loop keeps running (D-Bus callbacks arrive on it)."""
    deadline = time.monotonic() + DEADLINE_S
    for _attempt in iter(int, 1):
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class Desktop:
    """Xvfb + a private session bus + dunst, all children of this test, stopped by PID."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.processes: list[subprocess.Popen[bytes]] = []
        self.env: dict[str, str] = {}

    def start(self) -> None:
        home = self.root / "home"
        (home / ".config" / "dunst").mkdir(parents=True)
        runtime = self.root / "runtime"
        runtime.mkdir(mode=0o700)
        base = {
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_RUNTIME_DIR": str(runtime),
        }
        read_fd, write_fd = os.pipe()
        xvfb = subprocess.Popen(
            [
                "Xvfb",
                "-displayfd",
                str(write_fd),
                "-screen",
                "0",
                "1024x768x24",
                "-nolisten",
                "tcp",
            ],
            pass_fds=(write_fd,),
            env=base,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(xvfb)
        os.close(write_fd)
        with os.fdopen(read_fd) as display_pipe:
            display = display_pipe.readline().strip()
        assert display, "Xvfb did not report a display"
        bus = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1"],
            env=base,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(bus)
        assert bus.stdout is not None
        address = bus.stdout.readline().decode().strip()
        assert address.startswith("unix:"), address
        self.env = dict(base, DISPLAY=f":{display}", DBUS_SESSION_BUS_ADDRESS=address)
        # A short, predictable dunst: no timeout, no history surprises.
        (home / ".config" / "dunst" / "dunstrc").write_text(
            "[global]\n    timeout = 0\n    sticky_history = no\n", encoding="utf-8"
        )
        dunst = subprocess.Popen(
            ["dunst"], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.processes.append(dunst)
        wait_for(lambda: self.dunstctl("is-paused").returncode == 0, "dunst on the bus")

    def dunstctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["dunstctl", *args], env=self.env, capture_output=True, text=True, timeout=10
        )

    def displayed(self) -> int:
        result = self.dunstctl("count", "displayed")
        return int(result.stdout.strip() or "0") if result.returncode == 0 else -1

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()


@pytest.fixture
def desktop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desktop]:
    if MISSING:
        pytest.skip(f"needs {', '.join(MISSING)} (scripts/test.sh installs them)")
    desktop = Desktop(tmp_path / "desktop")
    try:
        desktop.start()
        # This process talks to that bus (desktop-notifier reads the address at connect).
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", desktop.env["DBUS_SESSION_BUS_ADDRESS"])
        yield desktop
    finally:
        desktop.stop()


@pytest.mark.asyncio
async def test_toast_reaches_dunst_click_opens_and_marks_read_and_read_withdraws(
    qtbot: QtBot, desktop: Desktop, tmp_path: Path
) -> None:
    cache = NotificationCache.open(tmp_path / "cache.sqlite3")
    clock = FakeClock()
    scheduler = FakeScheduler(clock)
    opener = RecordingUrlOpener()
    controller = AppController(
        settings=Settings(server_url=SERVER),
        cache=cache,
        clock=clock,
        scheduler=scheduler,
        url_opener=opener,
    )
    async with asyncio.timeout(DEADLINE_S):
        sink = await make_desktop_notifier_sink()
    assert isinstance(sink, DesktopNotifierSink)
    app = TrayApp(controller, clock, use_tray=True, sink=sink)
    assert app.popup is not None
    qtbot.addWidget(app.popup)

    def arrive(seq: int) -> None:
        n = make_notification(seq, server=SERVER, message="<b>not bold</b> & plain")
        fill_cache(cache, [n])
        controller.on_change(CacheChange(ChangeKind.UPSERTED, notifications=(n,)))
        scheduler.advance(timedelta(seconds=1))

    try:
        arrive(1)
        async with asyncio.timeout(DEADLINE_S):
            await sink.drain()
        await wait_for_async(lambda: desktop.displayed() == 1, "the toast in dunst")
        assert desktop.dunstctl("action", "0").returncode == 0
        await wait_for_async(lambda: controller.counts.unread == 0, "the click to mark it read")
        assert opener.opened == [f"{SERVER}/tickets/1"]
        # dunst keeps a toast on screen after ``dunstctl action`` (most servers close it), and
        # desktop-notifier forgets a toast once its action fired, so it cannot be withdrawn:
        # dismiss it as the agent would.
        assert desktop.dunstctl("close").returncode == 0
        await wait_for_async(lambda: desktop.displayed() == 0, "the toast to close")

        # Read elsewhere: the toast goes away without a click.
        arrive(2)
        async with asyncio.timeout(DEADLINE_S):
            await sink.drain()
        await wait_for_async(lambda: desktop.displayed() == 1, "the second toast")
        cache.local_mark("n2", True)
        controller.on_change(CacheChange(ChangeKind.READ_STATE, ids=("n2",), read=True))
        async with asyncio.timeout(DEADLINE_S):
            await sink.drain()
        await wait_for_async(lambda: desktop.displayed() == 0, "the withdrawn toast to close")
        assert opener.opened == [f"{SERVER}/tickets/1"]
    finally:
        async with asyncio.timeout(DEADLINE_S):
            await app.shutdown()
        cache.close()
