"""Qt's real reachability backend, loaded when the connection is first lost.

The real app on X (a bare session: X and a bus, no NetworkManager, so Qt picks its GLib
backend) against the reference helpdesk: while the stream is live nothing is loaded (idle
memory); when the server goes away the app loads QNetworkInformation and says which backend
follows the network; when the server is back the app is live again.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from desktop_session import (  # noqa: F401  (the fixture bare_desktop_session)
    DesktopSession,
    bare_desktop_session_fixture,
    wait_until,
)
from helpdesk import Helpdesk

from notifier.store.paths import app_paths

pytestmark = pytest.mark.desktop

TIMEOUT_S = 20.0
FOLLOWING = "following the OS's network reachability"


def threads_of(pid: int) -> set[str]:
    return {(task / "comm").read_text().strip() for task in Path(f"/proc/{pid}/task").iterdir()}


def test_reachability_is_loaded_when_the_connection_is_lost(
    bare_desktop_session: DesktopSession, helpdesk: Helpdesk
) -> None:
    session = bare_desktop_session
    token = helpdesk.add_agent("alice", "Alice Able")
    env = session.environment(NOTIFIER_SERVER=helpdesk.url, NOTIFIER_TOKEN=token)
    log_file = app_paths(env).log_file

    def log_text() -> str:
        return log_file.read_text() if log_file.exists() else ""

    app = session.spawn("app-reachability", [sys.executable, "-m", "notifier"], env)
    try:
        wait_until(lambda: "status: live" in log_text(), "the app to go live", TIMEOUT_S)
        assert FOLLOWING not in log_text()
        assert "gmain" not in threads_of(app.pid)  # no GLib main loop while live

        helpdesk.stop()
        wait_until(lambda: FOLLOWING in log_text(), "reachability to be followed", TIMEOUT_S)
        assert f"{FOLLOWING} (glib backend)" in log_text(), log_text()
        assert "gmain" in threads_of(app.pid)  # Qt's GLib backend runs its main loop

        lives = log_text().count("status: live")
        helpdesk.start()
        wait_until(lambda: log_text().count("status: live") > lives, "the app to be live again", 60)
        assert log_text().count(FOLLOWING) == 1  # loaded once
    finally:
        session.stop_process(app)
    assert app.returncode == 0, session.log_text("app-reachability")
