"""End to end against the reference helpdesk on loopback: the real engine, cache, controller
and widgets (offscreen), with the composition root's LiveServices. Only the true edges are
fakes: the toast service (a recording sink), the browser (a recording opener) and the
controller's clock/scheduler (so the toast policy's timers fire without sleeping).

* a notification created on the server appears in the popup and raises exactly ONE toast;
* viewing the ticket on the server clears it in the tray (badge back to 0, row read) and
  withdraws the toast;
* opening a row in the popup opens the helpdesk link and the server sees it read.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from helpdesk import Helpdesk
from PySide6.QtCore import SignalInstance
from pytestqt.qtbot import QtBot
from tray_fakes import FakeClock, FakeScheduler, RecordingSink, RecordingUrlOpener

from notifier.app.account import AccountService
from notifier.app.controller import AppController
from notifier.app.list_model import Role
from notifier.compose import LiveServices
from notifier.core.settings import Settings
from notifier.core.status import ConnectionState, ConnectionStatus
from notifier.store.cache import NotificationCache
from notifier.store.paths import app_paths
from notifier.ui.application import TrayApp

TIMEOUT_S = 20


async def until(signal: SignalInstance, condition: Callable[[], bool], what: str) -> None:
    """Wait, with a deadline, until ``condition`` holds; re-checked each time ``signal`` fires
    (the engine runs on this loop meanwhile)."""
    fired = asyncio.Event()

    def on_signal(*_: object) -> None:
        fired.set()

    signal.connect(on_signal)
    try:
        async with asyncio.timeout(TIMEOUT_S):
            while not condition():
                await fired.wait()
                fired.clear()
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
    finally:
        signal.disconnect(on_signal)


async def drained(cache: NotificationCache) -> None:
    """Until the offline-action queue is empty (the server acknowledged every action). The
    engine publishes nothing for an acknowledgement, so this polls, with a deadline."""
    deadline = time.monotonic() + TIMEOUT_S
    for _attempt in itertools.count():
        if not cache.pending_count() or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    assert cache.pending_count() == 0


@pytest.mark.asyncio
async def test_live_notification_toasts_once_and_clears_when_viewed(
    qtbot: QtBot, helpdesk: Helpdesk, tmp_path: Path
) -> None:
    alice_token = helpdesk.add_agent("alice", "Alice Able")
    alice = helpdesk.actions(alice_token)
    _, bob = helpdesk.new_agent("bob", name="Bob Baker")
    ticket = bob.create_ticket("Printer on fire", "The printer on floor 3 is on fire")

    paths = app_paths({"NOTIFIER_HOME": str(tmp_path / "app")}).ensure()
    cache = NotificationCache.open(paths.cache_file)
    clock = FakeClock()
    scheduler = FakeScheduler(clock)
    opener = RecordingUrlOpener()
    sink = RecordingSink()
    services = LiveServices(paths, {"NOTIFIER_TOKEN": alice_token})
    controller = AppController(
        account=AccountService(
            Settings(server_url=helpdesk.url),
            services,
            settings_path=paths.settings_file,
            url_opener=opener,
        ),
        cache=cache,
        clock=clock,
        scheduler=scheduler,
        url_opener=opener,
        engines=services,
    )
    app = TrayApp(controller, clock, use_tray=True, sink=sink)
    assert app.popup is not None and app.tray is not None
    qtbot.addWidget(app.popup)
    statuses: list[ConnectionStatus] = []
    controller.statusChanged.connect(statuses.append)
    app.show_first_paint()
    try:
        async with asyncio.timeout(TIMEOUT_S):
            await app.start()
        await until(
            controller.statusChanged,
            lambda: controller.status.state is ConnectionState.LIVE,
            "live",
        )
        assert app.tray.toolTip() == "0 unread · Connected"
        assert controller.account.signed_in_agent() is not None

        # Bob assigns the ticket to Alice on the server.
        await asyncio.to_thread(bob.assign, ticket["id"], "alice")
        await until(controller.unreadChanged, lambda: controller.counts.unread == 1, "it")
        assert app.model.rowCount() == 1
        row = app.model.index(0)
        notification_id = app.model.data(row, Role.ID)
        assert app.model.data(row, Role.SUMMARY) == (
            f"Bob Baker assigned you #{ticket['id']} Printer on fire"
        )
        assert app.model.data(row, Role.READ) is False
        assert app.tray.badge_state is not None and app.tray.badge_state.unread == 1
        assert app.tray.badge_state.new_since_seen

        # The toast's wake-up fires (fake clock): exactly one toast, and no more later.
        scheduler.advance(timedelta(seconds=1))
        scheduler.advance(timedelta(minutes=5))
        assert [t.key for t in sink.shown] == [notification_id]
        assert sink.shown[0].title == "Ticket assigned to you"

        # Alice views the ticket on the server: the tray clears and the toast is withdrawn.
        await asyncio.to_thread(alice.view, ticket["id"])
        await until(controller.unreadChanged, lambda: controller.counts.unread == 0, "read")
        assert app.tray.badge_state.unread == 0
        assert app.model.data(app.model.index(0), Role.READ) is True
        assert sink.withdrawn == [notification_id]
        assert app.tray.toolTip() == "0 unread · Connected"

        # A mention; Alice opens it from the popup: the browser gets the helpdesk link and
        # the server records it read.
        await asyncio.to_thread(bob.comment, ticket["id"], "@alice can you take a look?")
        await until(controller.unreadChanged, lambda: controller.counts.unread == 1, "mention")
        mention_id = app.model.data(app.model.index(0), Role.ID)
        assert mention_id != notification_id
        scheduler.advance(timedelta(seconds=1))
        assert [t.key for t in sink.shown] == [notification_id, mention_id]
        app.open_popup(None)
        assert not app.tray.badge_state.new_since_seen
        app.panel.openRequested.emit(mention_id)
        assert len(opener.opened) == 1
        assert opener.opened[0].startswith(helpdesk.url)

        await until(controller.unreadChanged, lambda: controller.counts.unread == 0, "local")
        await drained(cache)
        page = await asyncio.to_thread(alice.notifications)
        assert [(n["id"], n["read"]) for n in page["notifications"]] == [
            (notification_id, True),
            (mention_id, True),
        ]
        assert controller.counts.unread == 0
        assert cache.pending_count() == 0
        assert sink.withdrawn == [notification_id, mention_id]
        assert len(sink.shown) == 2

        # Signing out forgets this agent's notifications: the list and the badge are empty.
        async with asyncio.timeout(TIMEOUT_S):
            await controller.account.sign_out()
        assert controller.status.state is ConnectionState.SIGNED_OUT
        assert cache.count() == 0 and cache.cursor() == 0
        assert app.model.rowCount() == 0
        assert app.tray.badge_state.unread == 0
        assert app.tray.toolTip().startswith("0 unread · Not signed in")
    finally:
        async with asyncio.timeout(TIMEOUT_S):
            await app.shutdown()
        cache.close()
    assert all(s.state is not ConnectionState.AUTH_FAILED for s in statuses)
    assert sink.closed  # the toast service connection is released at quit
