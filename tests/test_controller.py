"""The controller with a fake clock and scheduler: burst coalescing, quiet hours and pause with
the summary afterwards, withdrawal, toast clicks, pause menu times, one wake-up at a time.

Changes are fed to ``on_change`` exactly as the engine publishes them (after writing them to a
real cache file); the time-dependent parts run on :class:`FakeClock` / :class:`FakeScheduler`.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from tray_fakes import (
    FakeClock,
    FakeScheduler,
    RecordingUrlOpener,
    fill_cache,
    make_notification,
)

from notifier.app.account import AccountService
from notifier.app.controller import AppController
from notifier.core.settings import Settings
from notifier.core.status import CacheChange, ChangeKind
from notifier.core.toast_policy import Toast
from notifier.core.wire import AgentInfo, Notification, NotificationType, Preferences, QuietRange
from notifier.store.cache import NotificationCache
from notifier.store.settings_file import load_settings

SERVER = "https://helpdesk.example.com"
# A Wednesday, 10:00 UTC; the controller runs in UTC (tz injected).
START = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
EVERY_NIGHT = tuple(QuietRange(day, "22:00", "07:00") for day in range(7))


class Rig:
    def __init__(
        self, cache: NotificationCache, tmp_path: Path, start: datetime = START, **settings: object
    ) -> None:
        self.cache = cache
        self.clock = FakeClock(start)
        self.scheduler = FakeScheduler(self.clock)
        self.opener = RecordingUrlOpener()
        self.settings_path = tmp_path / "settings.json"
        self.controller = AppController(
            account=AccountService(
                Settings(server_url=SERVER).replace(**settings),
                settings_path=self.settings_path,
                tz=UTC,
            ),
            cache=cache,
            clock=self.clock,
            scheduler=self.scheduler,
            url_opener=self.opener,
        )
        self.toasts: list[Toast] = []
        self.withdrawn: list[str] = []
        self.quiet: list[str | None] = []
        self.unread: list[int] = []
        self.popup_requests = 0
        c = self.controller
        # Python methods as slots, not builtin ones (list.append): PySide6 6.12 can crash at
        # interpreter exit when a builtin method was connected to a signal.
        c.toastsDue.connect(self._on_toasts_due)
        c.toastsWithdrawn.connect(self._on_toasts_withdrawn)
        c.quietChanged.connect(self._on_quiet_changed)
        c.unreadChanged.connect(self._on_unread_changed)
        c.openPopupRequested.connect(self._on_popup_requested)

    def _on_toasts_due(self, toasts: list[Toast]) -> None:
        self.toasts.extend(toasts)

    def _on_toasts_withdrawn(self, keys: list[str]) -> None:
        self.withdrawn.extend(keys)

    def _on_quiet_changed(self, reason: str | None) -> None:
        self.quiet.append(reason)

    def _on_unread_changed(self, unread: int) -> None:
        self.unread.append(unread)

    def _on_popup_requested(self) -> None:
        self.popup_requests += 1

    def arrive(self, *notifications: Notification, replay: bool = False) -> None:
        """As the engine does: write to the cache, then publish the change."""
        fill_cache(self.cache, list(notifications))
        self.controller.on_change(
            CacheChange(ChangeKind.UPSERTED, notifications=notifications, replay=replay)
        )

    def read_elsewhere(self, *ids: str) -> None:
        for notification_id in ids:
            self.cache.local_mark(notification_id, True)
        self.controller.on_change(CacheChange(ChangeKind.READ_STATE, ids=ids, read=True))

    def live_wakeups(self) -> int:
        return len(self.scheduler.pending())


def mention(seq: int, **kw: object) -> Notification:
    return make_notification(seq, server=SERVER, **kw)  # type: ignore[arg-type]


def test_idle_controller_schedules_nothing(
    qtbot: QtBot, cache: NotificationCache, tmp_path: Path
) -> None:
    rig = Rig(cache, tmp_path)
    assert rig.scheduler.pending() == []
    assert rig.controller.quiet_reason is None


def test_a_few_notifications_toast_one_each_after_the_burst_window(
    qtbot: QtBot, cache: NotificationCache, tmp_path: Path
) -> None:
    rig = Rig(cache, tmp_path)
    rig.arrive(mention(1, type=NotificationType.ASSIGNMENT))
    rig.arrive(mention(2))
    assert rig.toasts == []  # the window is still open
    assert rig.live_wakeups() == 1
    assert rig.unread == [1, 2]
    rig.scheduler.advance(timedelta(seconds=1))
    assert [(t.key, t.title) for t in rig.toasts] == [
        ("n1", "Ticket assigned to you"),
        ("n2", "You were mentioned"),
    ]
    assert rig.toasts[1].body.startswith("Bea mentioned you on #2 Ticket 2\n")
    assert rig.scheduler.pending() == []  # nothing left to wake up for


def test_a_burst_becomes_one_summary(
    qtbot: QtBot, cache: NotificationCache, tmp_path: Path
) -> None:
    rig = Rig(cache, tmp_path)
    rig.arrive(*(mention(s, type=NotificationType.ASSIGNMENT) for s in (1, 2, 3)))
    rig.arrive(*(mention(s) for s in range(4, 13)))
    rig.scheduler.advance(timedelta(seconds=1))
    assert len(rig.toasts) == 1
    summary = rig.toasts[0]
    assert summary.notification_id is None
    assert summary.body == "12 new notifications: 3 assignments, 9 mentions"


def test_a_notification_after_a_quiet_spell_is_toasted_without_waiting(
    qtbot: QtBot, cache: NotificationCache, tmp_path: Path
) -> None:
    rig = Rig(cache, tmp_path)
    rig.arrive(mention(1))
    assert rig.scheduler.pending() == [START]  # a wake-up now, not after a burst window
    rig.scheduler.advance(timedelta(0))
    assert [t.key for t in rig.toasts] == ["n1"]
    # The next one within the window waits for it; a flood is held, not toasted one each.
    rig.scheduler.advance(timedelta(seconds=0.2))
    rig.arrive(mention(2))
    assert rig.scheduler.pending() == [START + timedelta(seconds=0.8)]
    rig.scheduler.advance(timedelta(seconds=1))
    assert [t.key for t in rig.toasts] == ["n1", "n2"]


def test_a_leading_toast_is_queued_before_the_counts_and_the_list_take_their_turn(
    qtbot: QtBot, cache: NotificationCache, tmp_path: Path
) -> None:
    # The badge and tooltip refresh on unreadChanged (and start a repaint timer): the toast's
    # wake-up must already be queued then, not after them (benchmarks/README.md, "Toast
    # latency").
    rig = Rig(cache, tmp_path)
    seen: list[list[datetime]] = []

    def on_unread_changed(_unread: int) -> None:
        seen.append(rig.scheduler.pending())

    rig.controller.unreadChanged.connect(on_unread_changed)
    rig.arrive(mention(1))
    assert seen == [[START]]
    rig.scheduler.advance(timedelta(0))
    assert [t.key for t in rig.toasts] == ["n1"]


def test_quiet_hours_hold_toasts_and_summarise_what_is_still_unread(
    qtbot: QtBot, cache: NotificationCache, tmp_path: Path
) -> None:
    rig = Rig(cache, tmp_path, start=START.replace(hour=23), quiet_hours=EVERY_NIGHT)
    c = rig.controller
    assert c.is_quiet()
    assert c.quiet_reason == "Quiet hours until 07:00"
    rig.arrive(mention(1), mention(2, type=NotificationType.ASSIGNMENT))
    rig.scheduler.advance(timedelta(minutes=5))
    rig.arrive(mention(3))
    rig.scheduler.advance(timedelta(hours=1))
    assert rig.toasts == []  # quiet: nothing, however long we wait
    assert rig.unread[-1] == 3  # but the badge counts
    rig.read_elsewhere("n2")
    # One wake-up is pending, at the end of quiet hours (07:00 the next morning).
    assert rig.scheduler.pending() == [START.replace(day=5, hour=7)]
    rig.scheduler.advance(timedelta(hours=8))
    assert len(rig.toasts) == 1
    assert rig.toasts[0].title == "While you were away"
    assert rig.toasts[0].body == "2 new notifications: 2 mentions"
    assert rig.quiet[-1] is None
    assert c.quiet_reason is None
    # Next wake-up: when tonight's quiet hours begin (for the badge's quiet mark).
    assert rig.scheduler.pending() == [START.replace(day=5, hour=22)]


def test_no_summary_when_turned_off(qtbot: QtBot, cache: NotificationCache, tmp_path: Path) -> None:
    rig = Rig(
        cache,
        tmp_path,
        start=START.replace(hour=23),
        quiet_hours=EVERY_NIGHT,
        summary_after_quiet=False,
    )
    rig.arrive(mention(1))
    rig.scheduler.advance(timedelta(hours=9))
    assert rig.toasts == []


def test_pause_and_resume(qtbot: QtBot, cache: NotificationCache, tmp_path: Path) -> None:
    rig = Rig(cache, tmp_path)
    c = rig.controller
    c.pause_for(timedelta(hours=1))
    assert c.quiet_reason == "Paused until 11:00"
    assert rig.quiet == ["Paused until 11:00"]
    # The pause is saved with the settings.
    assert load_settings(rig.settings_path).paused_until == START + timedelta(hours=1)
    rig.arrive(mention(1))
    rig.scheduler.advance(timedelta(minutes=10))
    assert rig.toasts == []
    c.resume()
    assert [t.title for t in rig.toasts] == ["While you were away"]
    assert c.quiet_reason is None
    assert json.loads(rig.settings_path.read_text())["paused_until"] is None


def test_pause_ends_by_itself(qtbot: QtBot, cache: NotificationCache, tmp_path: Path) -> None:
    rig = Rig(cache, tmp_path)
    rig.controller.pause_for(timedelta(hours=1))
    rig.arrive(mention(1))
    assert rig.scheduler.pending() == [START + timedelta(hours=1)]
    rig.scheduler.advance(timedelta(hours=2))
    assert [t.title for t in rig.toasts] == ["While you were away"]
    assert rig.controller.quiet_reason is None


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (START, START.replace(day=5, hour=8)),  # 10:00 → tomorrow 08:00
        (START.replace(hour=6), START.replace(hour=8)),  # 06:00 → this morning 08:00
        (START.replace(hour=23, minute=59), START.replace(day=5, hour=8)),
    ],
)
def test_pause_until_morning(
    qtbot: QtBot, cache: NotificationCache, tmp_path: Path, now: datetime, until: datetime
) -> None:
    rig = Rig(cache, tmp_path, start=now)
    rig.controller.pause_until_morning()
    assert rig.controller.account.settings().paused_until == until


def test_read_elsewhere_withdraws_the_toast(
    qtbot: QtBot, cache: NotificationCache, tmp_path: Path
) -> None:
    rig = Rig(cache, tmp_path)
    rig.arrive(mention(1))
    rig.scheduler.advance(timedelta(seconds=1))
    assert [t.key for t in rig.toasts] == ["n1"]
    rig.read_elsewhere("n1")
    assert rig.withdrawn == ["n1"]


def test_read_during_the_window_never_toasts(
    qtbot: QtBot, cache: NotificationCache, tmp_path: Path
) -> None:
    rig = Rig(cache, tmp_path)
    rig.arrive(mention(1))
    rig.read_elsewhere("n1")
    rig.scheduler.advance(timedelta(seconds=1))
    assert rig.toasts == []


def test_toast_clicks_open_and_mark_read(
    qtbot: QtBot, cache: NotificationCache, tmp_path: Path
) -> None:
    rig = Rig(cache, tmp_path)
    rig.arrive(mention(1), mention(2))
    c = rig.controller
    c.toast_clicked("n1")
    assert rig.opener.opened == [f"{SERVER}/tickets/1"]
    c.toast_action("n2", "mark-read")
    assert rig.opener.opened == [f"{SERVER}/tickets/1"]
    assert c.counts.unread == 0
    assert rig.withdrawn == []  # never shown (the window was still open)
    c.toast_clicked("summary-1")
    assert rig.popup_requests == 1


def test_popup_opened_clears_the_new_mark(
    qtbot: QtBot, cache: NotificationCache, tmp_path: Path
) -> None:
    rig = Rig(cache, tmp_path)
    rig.arrive(mention(1))
    assert rig.controller.counts.new_since_seen == 1
    rig.controller.popup_opened()
    assert rig.controller.counts.new_since_seen == 0
    assert rig.controller.counts.unread == 1
    rig.arrive(mention(2))
    assert rig.controller.counts.new_since_seen == 1


def test_signed_out_actions_apply_locally_and_queue(
    qtbot: QtBot, cache: NotificationCache, tmp_path: Path
) -> None:
    rig = Rig(cache, tmp_path)
    rig.arrive(mention(1), mention(2), mention(3))
    c = rig.controller
    changes: list[CacheChange] = []
    c.changeApplied.connect(lambda change: changes.append(change))
    c.mark_read("n1")
    c.toggle_read("n1")
    c.delete("n2")
    c.mark_all_read()
    assert [(ch.kind, ch.local) for ch in changes] == [
        (ChangeKind.READ_STATE, True),
        (ChangeKind.READ_STATE, True),
        (ChangeKind.DELETED, True),
        (ChangeKind.READ_STATE, True),
    ]
    assert c.counts.unread == 0
    assert cache.pending_count() == 4
    c.clear_read()
    assert cache.count() == 0


def test_a_signed_out_action_that_changes_nothing_publishes_nothing(
    qtbot: QtBot, cache: NotificationCache, tmp_path: Path
) -> None:
    rig = Rig(cache, tmp_path)
    rig.arrive(mention(1))
    changes: list[CacheChange] = []
    rig.controller.changeApplied.connect(lambda change: changes.append(change))
    rig.controller.mark_unread("n1")  # already unread
    rig.controller.delete("n404")  # not there
    assert changes == []
    rig.controller.mark_read("n1")
    assert changes == [CacheChange(ChangeKind.READ_STATE, ids=("n1",), read=True, local=True)]


class SignedOutServices:
    """The controller's EngineFactory and the account's AccountPorts for a machine with no
    helpdesk configured: no engine, and every network or keyring call is a failure the test
    would see."""

    def __init__(self) -> None:
        self.builds = 0

    def build_engine(self, settings: Settings, cache: NotificationCache, **_: object) -> None:
        self.builds += 1
        return None

    async def request_token(self, *args: object) -> str:
        raise AssertionError("no network in this test")

    async def check_connection(self, *args: object) -> AgentInfo:
        raise AssertionError("no network in this test")

    async def check_live_connection(self, *args: object) -> None:
        raise AssertionError("no network in this test")

    def stored_token(self, server_url: str) -> str | None:
        return None

    def save_token(self, server_url: str, token: str) -> None:
        raise AssertionError("no keyring in this test")

    def delete_token(self, server_url: str) -> None:
        raise AssertionError("no keyring in this test")

    async def load_preferences(self, settings: Settings) -> Preferences:
        raise AssertionError("no network in this test")

    async def save_preferences(self, settings: Settings, preferences: Preferences) -> Preferences:
        raise AssertionError("no network in this test")

    def set_start_at_login(self, enabled: bool) -> None:
        raise AssertionError("not in this test")

    def log_folder(self) -> Path:
        return Path("/nonexistent")


@pytest.mark.asyncio
async def test_stop_while_a_settings_restart_is_pending_does_not_hang(
    qtbot: QtBot, cache: NotificationCache, tmp_path: Path
) -> None:
    services = SignedOutServices()
    clock = FakeClock(START)
    controller = AppController(
        account=AccountService(
            Settings(server_url=SERVER), services, tz=UTC, url_opener=RecordingUrlOpener()
        ),
        cache=cache,
        clock=clock,
        scheduler=FakeScheduler(clock),
        url_opener=RecordingUrlOpener(),
        engines=services,
    )
    controller.start()
    assert services.builds == 1
    # A new server URL restarts the engine in a task ...
    controller.account.save_settings(
        controller.account.settings().replace(server_url="https://other.example")
    )
    restarted = asyncio.Event()
    controller.statusChanged.connect(lambda _: restarted.set())  # signed out again
    async with asyncio.timeout(5):
        await restarted.wait()
    assert services.builds == 2
    # ... and quitting while another restart is pending cancels it and finishes.
    controller.account.save_settings(
        controller.account.settings().replace(server_url="https://third.example")
    )
    async with asyncio.timeout(5):
        await controller.stop()
    assert services.builds == 2
    assert await controller.account.test_connection("https://other.example") == (
        "Not signed in to this helpdesk yet: sign in to test the connection."
    )
