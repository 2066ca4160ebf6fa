"""Toasts where the desktop has a system tray but no notification service.

The app's fallback chain (notifier/ui/toasts.py ``choose_sink``): desktop-notifier fails
(nothing owns org.freedesktop.Notifications on the bus, nothing can be activated), so the app
shows Qt's own tray balloon (``QSystemTrayIcon.showMessage``, drawn by Qt next to an XEmbed
tray icon). Checked end to end with the real app against the reference helpdesk, inside a
bare session (X and a bus) plus trayer:

* the app says which toast service it uses;
* a notification created on the server pops up one balloon window of the app (a tooltip
  window near the tray);
* clicking the balloon (xdotool, a real pointer click on X) opens the ticket (a stand-in
  ``xdg-open`` records the URL) and the server shows the notification read.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from desktop_session import (  # noqa: F401  (the fixture bare_desktop_session)
    DesktopSession,
    FakeBrowser,
    bare_desktop_session_fixture,
    require,
    wait_until,
)
from helpdesk import Helpdesk

from notifier.store.paths import app_paths

pytestmark = pytest.mark.desktop

TIMEOUT_S = 15.0


def visible_windows(session: DesktopSession, pid: int) -> set[int]:
    result = session.run(["xdotool", "search", "--onlyvisible", "--pid", str(pid)], check=False)
    return {int(word) for word in result.stdout.split()}


def window_types(session: DesktopSession, window: int) -> str:
    return session.run(["xprop", "-id", str(window), "_NET_WM_WINDOW_TYPE"]).stdout


def test_without_a_notification_service_a_tray_balloon_toasts_and_its_click_reads(
    bare_desktop_session: DesktopSession, helpdesk: Helpdesk, tmp_path: Path
) -> None:
    require("xdotool", "xprop")
    session = bare_desktop_session
    assert not session.has_owner("org.freedesktop.Notifications")
    alice_token = helpdesk.add_agent("alice", "Alice Able")
    alice = helpdesk.actions(alice_token)
    _, bob = helpdesk.new_agent("bob", name="Bob Baker")
    ticket = bob.create_ticket("Printer on fire", "The printer on floor 3 is on fire")
    browser = FakeBrowser(tmp_path)
    env = browser.install(
        session.environment(NOTIFIER_SERVER=helpdesk.url, NOTIFIER_TOKEN=alice_token)
    )
    log_file = app_paths(env).log_file

    with session.tray_host():
        app = session.spawn("app-balloon", [sys.executable, "-m", "notifier"], env)
        try:
            wait_until(
                lambda: log_file.exists() and "status: live" in log_file.read_text(),
                "the app to go live",
                TIMEOUT_S,
            )
            assert "toasts: using tray balloon (QSystemTrayIcon)" in log_file.read_text()
            before = visible_windows(session, app.pid)  # the tray icon

            bob.assign(ticket["id"], "alice")
            wait_until(
                lambda: bool(visible_windows(session, app.pid) - before),
                "the balloon",
                TIMEOUT_S,
            )
            (balloon,) = visible_windows(session, app.pid) - before
            assert "_NET_WM_WINDOW_TYPE_TOOLTIP" in window_types(session, balloon)
            (notification,) = alice.notifications()["notifications"]
            assert notification["read"] is False

            session.run(["xdotool", "mousemove", "--window", str(balloon), "20", "20"])
            session.run(["xdotool", "click", "1"])
            wait_until(
                lambda: alice.notifications()["notifications"][0]["read"] is True,
                "the click to mark it read on the server",
                TIMEOUT_S,
            )
            wait_until(lambda: bool(browser.opened), "the browser to be asked", TIMEOUT_S)
            assert browser.opened == [f"{helpdesk.url}/tickets/{ticket['id']}"]
            assert app.poll() is None, session.log_text("app-balloon")
        finally:
            session.stop_process(app)
    assert "Traceback" not in log_file.read_text()
