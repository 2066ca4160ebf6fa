"""The whole tray app, as an agent runs it, against a Frappe Helpdesk site (the stand-in of
tests/frappe_standin.py), inside a real desktop session (tests/desktop_session.py: Xvfb, a
private session bus, dunst, gnome-keyring).

``notifier login --backend frappe`` stores the API key and secret in the real keyring and the
site in the settings; ``notifier`` (a process) then syncs through the Frappe adapter. A ticket
assigned to the agent on the site gives exactly one toast, read back from the notification
daemon over D-Bus; clicking it opens the ticket's page of the helpdesk web app (a stand-in
``xdg-open`` records it) and marks the row read on the site.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from desktop_session import (  # noqa: F401  (the fixture desktop_session)
    COMMAND_TIMEOUT_S,
    DesktopSession,
    FakeBrowser,
    desktop_session_fixture,
    wait_until,
)
from frappe_support import SiteUnderTest, site_view

from notifier.compose import frappe_ledger_file
from notifier.store.paths import app_paths
from notifier.ui.toasts import APP_NAME

pytestmark = pytest.mark.desktop

TIMEOUT_S = 20.0


def test_a_new_assignment_on_a_frappe_site_toasts_once(
    desktop_session: DesktopSession, standin_site: SiteUnderTest, tmp_path: Path
) -> None:
    standin, driver = standin_site.standin, standin_site.driver
    assert standin is not None
    ann, bea = driver.create_user("Ann Adams"), driver.create_user("Bea Baker")
    desktop_session.close_all_toasts()
    browser = FakeBrowser(tmp_path)
    env = browser.install(desktop_session.environment())

    login = subprocess.run(
        [sys.executable, "-m", "notifier", "--server", standin.url, "login",
         "--backend", "frappe", "--site-name", standin.name,
         "--socketio-url", standin.socketio_url, "--token-stdin"],
        input=f"{bea.api_key}:{bea.api_secret}\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    assert "(Frappe Helpdesk) as Bea Baker" in login.stdout

    with desktop_session.monitor() as monitor:
        app = desktop_session.spawn("notifier-app", [sys.executable, "-m", "notifier"], env)
        paths = app_paths(env)
        try:
            wait_until(
                lambda: paths.log_file.exists() and "status: live" in paths.log_file.read_text(),
                "the app to go live on the Frappe site",
                TIMEOUT_S,
            )
            assert frappe_ledger_file(paths.cache_file).exists()  # the adapter's, beside it
            assert monitor.notify_calls() == []

            ticket = driver.create_ticket("Printer on fire")
            driver.as_user(ann).assign(ticket, bea.email)
            monitor.wait_for(lambda: len(monitor.notify_calls()) == 1, "the toast", TIMEOUT_S)
            (toast,) = monitor.notify_calls()
            assert toast.app_name == APP_NAME
            assert toast.summary == "Ticket assigned to you"
            assert toast.body.startswith(f"Ann Adams assigned you #{ticket} Printer on fire")
            assert toast.action_labels == ["", "Mark read"]
            ((name, read),) = site_view(standin_site, bea.email)
            assert read is False

            # A click opens the ticket in the helpdesk web app and reads the row on the site.
            desktop_session.click_toast()
            wait_until(lambda: bool(browser.opened), "the browser to be asked", TIMEOUT_S)
            assert browser.opened == [f"{standin.url}/helpdesk/tickets/{ticket}"]
            wait_until(
                lambda: site_view(standin_site, bea.email) == [(name, True)],
                "the row read on the site",
                TIMEOUT_S,
            )
            monitor.settle()
            assert len(monitor.notify_calls()) == 1  # one toast, and the read made no other
            assert app.poll() is None, desktop_session.log_text("notifier-app")
        finally:
            desktop_session.stop_process(app)
    log_text = paths.log_file.read_text()
    assert "Traceback" not in log_text
    assert bea.api_secret not in log_text
