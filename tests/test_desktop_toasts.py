"""Toasts on a real notification daemon (dunst) over a private session bus, under Xvfb.

Read back with ``dbus-monitor`` (every Notify, ActionInvoked, CloseNotification and
NotificationClosed on org.freedesktop.Notifications), acted on with ``dunstctl`` as a user
would: ``dunstctl action 0`` is a click on the toast, the context menu picks a button.

* The app's :class:`~notifier.ui.toasts.DesktopNotifierSink`, built by
  ``make_desktop_notifier_sink`` on a qasync loop in a subprocess (Qt on X): the title and
  the body arrive as plain text, with the default action and a "Mark read" button, and a
  click or the button calls the app back with the toast's key.
* End to end, the real ``notifier`` app against the reference helpdesk, signed in with
  ``notifier login`` (token in the real keyring): a notification created on the server gives
  exactly one Notify; clicking it opens the ticket (a stand-in ``xdg-open`` records the URL)
  and the server shows it read; "Mark read" on the next one marks it read without opening
  anything; a notification read on the server has its toast closed by the app.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from desktop_session import (  # noqa: F401  (the fixture desktop_session)
    COMMAND_TIMEOUT_S,
    DesktopSession,
    FakeBrowser,
    LineReader,
    NotificationMonitor,
    desktop_session_fixture,
    wait_until,
)
from helpdesk import Helpdesk, HelpdeskActions

from notifier.store.paths import app_paths
from notifier.ui.toasts import APP_NAME, plain_body

pytestmark = pytest.mark.desktop

TIMEOUT_S = 15.0
CLOSED_BY_CALL = 3  # NotificationClosed reason: closed by a CloseNotification call

# Drives the app's sink the way notifier/ui/application.py does: QApplication, then a qasync
# loop, then choose the desktop-notifier sink. Sends the toasts given as JSON on argv, one at a
# time, each after the previous one was acted on; prints one JSON line per event.
SINK_DRIVER = """
import asyncio, json, sys
from dataclasses import dataclass

import qasync
from PySide6.QtWidgets import QApplication

from notifier.ui.toasts import make_desktop_notifier_sink


@dataclass(frozen=True)
class Toast:
    key: str
    title: str
    body: str
    notification_id: str | None
    sound: bool


def say(**event):
    print(json.dumps(event), flush=True)


async def main():
    sink = await make_desktop_notifier_sink()
    acted = asyncio.Queue()
    sink.bind(
        lambda key: acted.put_nowait(dict(event="clicked", key=key)),
        lambda key, action: acted.put_nowait(dict(event="action", key=key, action=action)),
    )
    for spec in json.loads(sys.argv[1]):
        sink.show(Toast(**spec))
        await sink.drain()
        say(event="sent", key=spec["key"])
        say(**await asyncio.wait_for(acted.get(), 20))


app = QApplication(sys.argv[:1])
say(event="platform", name=app.platformName())
qasync.run(main())
"""


@pytest.fixture
def monitor(desktop_session: DesktopSession) -> Iterator[NotificationMonitor]:
    desktop_session.close_all_toasts()
    with desktop_session.monitor() as recording:
        yield recording


def next_event(reader: LineReader) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(reader.next_line(TIMEOUT_S))
    return event


def test_sink_sends_plain_text_with_mark_read_and_routes_click_and_button(
    desktop_session: DesktopSession, monitor: NotificationMonitor
) -> None:
    tricky = 'Bob <b>Baker</b> & "co" mentioned you\nsecond line <a href="x">link</a>'
    toasts = [
        {"key": "n1", "title": "You were mentioned", "body": tricky,
         "notification_id": "n1", "sound": False},
        {"key": "n2", "title": "Ticket assigned to you", "body": "Ann assigned you #7",
         "notification_id": "n2", "sound": False},
    ]  # fmt: skip
    driver = desktop_session.spawn(
        "sink-driver",
        [sys.executable, "-c", SINK_DRIVER, json.dumps(toasts)],
        desktop_session.environment(),
        stdout_pipe=True,
    )
    reader = LineReader(driver)
    assert next_event(reader) == {"event": "platform", "name": "xcb"}

    assert next_event(reader) == {"event": "sent", "key": "n1"}
    monitor.wait_for(lambda: len(monitor.notify_calls()) == 1, "the first Notify")
    first = monitor.notify_calls()[0]
    assert first.app_name == APP_NAME
    # The app's bell, not desktop-notifier's default Python logo.
    assert first.icon.endswith("/bell.svg"), first.icon
    assert "python" not in first.icon.lower()
    assert first.summary == "You were mentioned"
    # The body is the text, escaped for the markup subset the spec lets daemons render,
    # so dunst shows the characters literally (and nothing is a link).
    assert first.body == plain_body(tricky)
    assert "<b>" not in first.body and "&lt;b&gt;Baker&lt;/b&gt; &amp;" in first.body
    assert first.actions[0] == ("default", "")  # a click on the body is reported
    assert first.action_labels[1:] == ["Mark read"]

    desktop_session.click_toast()
    assert next_event(reader) == {"event": "clicked", "key": "n1"}
    monitor.wait_for(lambda: bool(monitor.signals("ActionInvoked")), "ActionInvoked")
    assert monitor.signals("ActionInvoked")[-1][1] == "default"

    assert next_event(reader) == {"event": "sent", "key": "n2"}
    monitor.wait_for(lambda: len(monitor.notify_calls()) == 2, "the second Notify")
    second = monitor.notify_calls()[1]
    assert second.summary == "Ticket assigned to you"
    desktop_session.press_toast_button(second, "Mark read")
    assert next_event(reader) == {"event": "action", "key": "n2", "action": "mark-read"}
    monitor.wait_for(lambda: len(monitor.signals("ActionInvoked")) == 2, "ActionInvoked")
    invoked_key = monitor.signals("ActionInvoked")[-1][1]
    assert dict(second.actions)[invoked_key] == "Mark read"
    assert driver.wait(timeout=TIMEOUT_S) == 0, desktop_session.log_text("sink-driver")


def read_state(agent: HelpdeskActions, notification_id: str) -> bool:
    """Whether the SERVER has ``notification_id`` read (GET /api/v1/notifications)."""
    items = agent.notifications()["notifications"]
    matching = [n for n in items if n["id"] == notification_id]
    assert matching, f"{notification_id} is not on the server: {items}"
    return bool(matching[0]["read"])


def server_ids(agent: HelpdeskActions) -> list[str]:
    return [n["id"] for n in agent.notifications()["notifications"]]


def test_app_toasts_once_per_notification_and_its_actions_reach_the_server(
    desktop_session: DesktopSession,
    monitor: NotificationMonitor,
    helpdesk: Helpdesk,
    tmp_path: Path,
) -> None:
    alice_token = helpdesk.add_agent("alice", "Alice Able")
    alice = helpdesk.actions(alice_token)
    _, bob = helpdesk.new_agent("bob", name="Bob Baker")
    ticket = bob.create_ticket("Printer on fire", "The printer on floor 3 is on fire")

    browser = FakeBrowser(tmp_path)
    env = browser.install(desktop_session.environment())

    login = subprocess.run(
        [sys.executable, "-m", "notifier", "--server", helpdesk.url, "login", "--token-stdin"],
        input=alice_token,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    assert login.returncode == 0, login.stderr
    # The app finds the server in its settings and the token in the keyring.
    app = desktop_session.spawn("notifier-app", [sys.executable, "-m", "notifier"], env)
    log_file = app_paths(env).log_file
    try:
        wait_until(
            lambda: log_file.exists() and "status: live" in log_file.read_text(),
            "the app to go live",
            TIMEOUT_S,
        )
        assert monitor.notify_calls() == []

        # 1. Bob assigns the ticket to Alice: one toast; a click opens it and reads it.
        bob.assign(ticket["id"], "alice")
        monitor.wait_for(lambda: len(monitor.notify_calls()) == 1, "the assignment's toast")
        assigned = monitor.notify_calls()[0]
        assert assigned.app_name == APP_NAME
        assert assigned.summary == "Ticket assigned to you"
        assert assigned.body.startswith(f"Bob Baker assigned you #{ticket['id']} Printer on fire")
        assert assigned.action_labels == ["", "Mark read"]
        (assignment_id,) = server_ids(alice)
        assert read_state(alice, assignment_id) is False
        desktop_session.click_toast()
        wait_until(lambda: read_state(alice, assignment_id), "read on the server", TIMEOUT_S)
        wait_until(lambda: bool(browser.opened), "the browser to be asked", TIMEOUT_S)
        assert browser.opened == [f"{helpdesk.url}/tickets/{ticket['id']}"]

        # 2. A mention: one toast; its "Mark read" button reads it, opening nothing.
        bob.comment(ticket["id"], "@alice can you take a look?")
        monitor.wait_for(lambda: len(monitor.notify_calls()) == 2, "the mention's toast")
        mention = monitor.notify_calls()[1]
        assert mention.summary == "You were mentioned"
        (mention_id,) = set(server_ids(alice)) - {assignment_id}
        desktop_session.press_toast_button(mention, "Mark read")
        wait_until(lambda: read_state(alice, mention_id), "read on the server", TIMEOUT_S)

        # 3. Another mention, read on the server (Alice views the ticket): the app closes
        # its toast through CloseNotification.
        bob.comment(ticket["id"], "@alice the fire brigade is here")
        monitor.wait_for(lambda: len(monitor.notify_calls()) == 3, "the third toast")
        alice.view(ticket["id"])
        monitor.wait_for(
            lambda: any(
                reason == CLOSED_BY_CALL for _, reason in monitor.signals("NotificationClosed")
            ),
            "the app to close the toast of what was read elsewhere",
        )
        (close,) = monitor.calls("CloseNotification")
        (closed_id,) = close.body
        # ... the third toast's: the first two were acted on (their ids are in ActionInvoked)
        # and stay the daemon's business, as the agent acted on them.
        acted_on = {toast_id for toast_id, _key in monitor.signals("ActionInvoked")}
        assert len(acted_on) == 2 and closed_id not in acted_on
        assert (closed_id, CLOSED_BY_CALL) in monitor.signals("NotificationClosed")

        # Exactly one toast per notification, and the click was the only page opened.
        monitor.settle()
        assert len(monitor.notify_calls()) == 3
        assert len(browser.opened) == 1
        assert app.poll() is None, desktop_session.log_text("notifier-app")
    finally:
        desktop_session.stop_process(app)
    assert "Traceback" not in log_file.read_text()
    assert alice_token not in log_file.read_text()
