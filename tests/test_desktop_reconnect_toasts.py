"""The whole app through a server restart: every notification toasts exactly once.

The real ``notifier`` app runs as a process (Qt on Xvfb, toasts to dunst on a private session
bus) against the reference helpdesk, and the helpdesk is stopped and started again under it
in the middle of a stream of notifications:

* before the restart, each notification arrives live and toasts;
* one is created right before the stop, so it may or may not have reached the app then;
* two are written while the server is down (they reach the app in the replay after the
  reconnect);
* after the reconnect the stream goes on live.

Toasts are read back from the bus with ``dbus-monitor`` (as in test_desktop_toasts.py): each
notification must be in the body of exactly one Notify, none lost to the reconnect and none
shown twice by the replay. Each step waits for the previous step's toasts, so that no burst
holds more than the burst threshold and every toast is a single one, naming its notification.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from desktop_session import (  # noqa: F401  (the fixture toast_desktop_session)
    DesktopSession,
    NotificationMonitor,
    toast_desktop_session_fixture,
    wait_until,
)
from helpdesk import Helpdesk

from notifier.store.paths import app_paths

pytestmark = pytest.mark.desktop

TIMEOUT_S = 20.0
FAIL_KEYRING = "keyring.backends.fail.Keyring"  # the token comes from NOTIFIER_TOKEN


@pytest.fixture
def monitor(toast_desktop_session: DesktopSession) -> Iterator[NotificationMonitor]:
    toast_desktop_session.close_all_toasts()
    with toast_desktop_session.monitor() as recording:
        yield recording


def test_a_server_restart_mid_stream_toasts_each_notification_once(
    toast_desktop_session: DesktopSession,
    monitor: NotificationMonitor,
    helpdesk: Helpdesk,
    tmp_path: Path,
) -> None:
    session = toast_desktop_session
    alice_token = helpdesk.add_agent("alice", "Alice Able")
    bob_token = helpdesk.add_agent("bob", "Bob Baker")
    ticket = int(helpdesk.actions(bob_token).create_ticket("Printer on fire", "Floor 3")["id"])
    env = session.environment(
        NOTIFIER_HOME=str(tmp_path / "app"),
        NOTIFIER_SERVER=helpdesk.url,
        NOTIFIER_TOKEN=alice_token,
        PYTHON_KEYRING_BACKEND=FAIL_KEYRING,
    )
    log_file = app_paths(env).log_file

    def lives() -> int:
        return log_file.read_text().count("status: live") if log_file.exists() else 0

    texts: list[str] = []  # each notification's message, unique: found in its toast's body

    def mention(text: str) -> None:
        texts.append(text)
        helpdesk.actions(bob_token).comment(str(ticket), f"@alice {text}")

    def toasted(count: int, what: str) -> None:
        monitor.wait_for(lambda: len(monitor.notify_calls()) >= count, what, TIMEOUT_S)

    app = session.spawn("notifier-app", [sys.executable, "-m", "notifier"], env)
    try:
        wait_until(lambda: lives() == 1, "the app to go live", TIMEOUT_S)
        for index in range(3):  # live, one at a time
            mention(f"live before the restart {index}")
            toasted(len(texts), f"the toast of live notification {index}")

        mention("right before the restart")  # in flight or not when the server goes
        helpdesk.stop()
        wait_until(lambda: "status: backing-off" in log_file.read_text(), "the lost link", 15)
        for seq in helpdesk.seed_assignments("alice", "bob", ticket, 2, prefix="While down"):
            assert seq > 0
        texts.extend(f"Seeded notification {index}:" for index in range(2))
        helpdesk.start()  # same port and database: the app reconnects and replays
        wait_until(lambda: lives() == 2, "the app to reconnect", TIMEOUT_S)
        toasted(len(texts), "the toasts of what came while the link was down")

        for index in range(3):  # live again
            mention(f"live after the restart {index}")
            toasted(len(texts), f"the toast of live notification {index} after the restart")

        # A last one: a late duplicate from the replay would have come before its toast.
        mention("the last one")
        toasted(len(texts), "the last toast")
        monitor.settle()
        bodies = [call.body for call in monitor.notify_calls()]
        for text in texts:
            assert sum(text in body for body in bodies) == 1, (text, bodies)
        assert len(bodies) == len(texts) == 10
        assert app.poll() is None, session.log_text("notifier-app")
    finally:
        session.stop_process(app)
    assert "Traceback" not in log_file.read_text()
