"""Toasts through a real notification daemon: dunst on a private session bus under Xvfb.

The session is tests/desktop_session.py's (a bus with no service directories, so nothing
real is auto-started), with HOME in tmp, stopped by PID at the end. The app side is the real
DesktopNotifierSink (desktop-notifier over D-Bus) wired to the real controller and cache;
only the browser (a recording opener) and the controller's clock are fakes.

* a toast reaches dunst, and clicking it (``dunstctl action 0``) opens the ticket and marks
  the notification read;
* a notification read elsewhere withdraws its toast from dunst.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from desktop_session import (  # noqa: F401  (the fixture toast_desktop_session)
    DesktopSession,
    toast_desktop_session_fixture,
)
from pytestqt.qtbot import QtBot
from tray_fakes import FakeClock, FakeScheduler, RecordingUrlOpener, fill_cache, make_notification

from notifier.app.account import AccountService
from notifier.app.controller import AppController
from notifier.core.settings import Settings
from notifier.core.status import CacheChange, ChangeKind
from notifier.store.cache import NotificationCache
from notifier.ui.application import TrayApp
from notifier.ui.toasts import DesktopNotifierSink, make_desktop_notifier_sink

pytestmark = pytest.mark.desktop

SERVER = "https://helpdesk.example.com"
DEADLINE_S = 20.0


async def wait_for_async(condition: Callable[[], bool], what: str) -> None:
    """Wait while the asyncio loop keeps running (D-Bus callbacks arrive on it)."""
    deadline = time.monotonic() + DEADLINE_S
    for _attempt in iter(int, 1):
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
def desktop(
    toast_desktop_session: DesktopSession, monkeypatch: pytest.MonkeyPatch
) -> DesktopSession:
    """The module's desktop with no toast left over; this process's D-Bus clients (the sink)
    talk to its bus (desktop-notifier reads the address when it connects)."""
    toast_desktop_session.close_all_toasts()
    toast_desktop_session.apply(monkeypatch)
    return toast_desktop_session


@pytest.mark.asyncio
async def test_toast_reaches_dunst_click_opens_and_marks_read_and_read_withdraws(
    qtbot: QtBot, desktop: DesktopSession, tmp_path: Path
) -> None:
    cache = NotificationCache.open(tmp_path / "cache.sqlite3")
    clock = FakeClock()
    scheduler = FakeScheduler(clock)
    opener = RecordingUrlOpener()
    controller = AppController(
        account=AccountService(Settings(server_url=SERVER)),
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
        await wait_for_async(lambda: desktop.displayed_toasts() == 1, "the toast in dunst")
        desktop.click_toast()
        await wait_for_async(lambda: controller.counts.unread == 0, "the click to mark it read")
        assert opener.opened == [f"{SERVER}/tickets/1"]
        # dunst keeps a toast on screen after ``dunstctl action`` (most servers close it), and
        # desktop-notifier forgets a toast once its action fired, so it cannot be withdrawn:
        # dismiss it as the agent would.
        desktop.close_top_toast()
        await wait_for_async(lambda: desktop.displayed_toasts() == 0, "the toast to close")

        # Read elsewhere: the toast goes away without a click.
        arrive(2)
        async with asyncio.timeout(DEADLINE_S):
            await sink.drain()
        await wait_for_async(lambda: desktop.displayed_toasts() == 1, "the second toast")
        cache.local_mark("n2", True)
        controller.on_change(CacheChange(ChangeKind.READ_STATE, ids=("n2",), read=True))
        async with asyncio.timeout(DEADLINE_S):
            await sink.drain()
        await wait_for_async(
            lambda: desktop.displayed_toasts() == 0, "the withdrawn toast to close"
        )
        assert opener.opened == [f"{SERVER}/tickets/1"]
    finally:
        async with asyncio.timeout(DEADLINE_S):
            await app.shutdown()
        cache.close()
