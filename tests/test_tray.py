"""The tray app's widgets around the controller: first paint with the cached count, badge and
tooltip per state, the menu, toasts routed to the sink and back, the no-tray fallback window,
and no timers running while idle. Offscreen, real cache, fake clock/scheduler/sink/browser.
"""

from __future__ import annotations

import gc
import logging
from datetime import UTC, timedelta

import pytest
from PySide6.QtCore import QRect, QSize, Qt, QTimer
from PySide6.QtGui import QCursor
from PySide6.QtWidgets import QApplication, QSystemTrayIcon
from pytestqt.qtbot import QtBot
from tray_fakes import (
    FakeClock,
    FakeScheduler,
    RecordingSink,
    RecordingUrlOpener,
    fill_cache,
    make_controller,
    make_notification,
)

from notifier.app.account import AccountService
from notifier.app.controller import AppController
from notifier.app.list_model import Role
from notifier.core.settings import BadgeStyle, Settings
from notifier.core.status import CacheChange, ChangeKind, ConnectionState, ConnectionStatus
from notifier.core.wire import NotificationType
from notifier.store.cache import NotificationCache
from notifier.ui.application import TrayApp
from notifier.ui.badge import BadgeState, paint_badge
from notifier.ui.tray import TRAY_ICON_SIZES, badge_icon

SERVER = "https://helpdesk.example.com"


class Rig:
    def __init__(self, qtbot: QtBot, cache: NotificationCache, *, use_tray: bool = True) -> None:
        self.clock = FakeClock()
        self.scheduler = FakeScheduler(self.clock)
        self.opener = RecordingUrlOpener()
        self.sink = RecordingSink()
        self.controller = AppController(
            account=AccountService(Settings(server_url=SERVER), tz=UTC),
            cache=cache,
            clock=self.clock,
            scheduler=self.scheduler,
            url_opener=self.opener,
        )
        self.app = TrayApp(self.controller, self.clock, use_tray=use_tray, sink=self.sink)
        for widget in (self.app.popup, self.app.fallback):
            if widget is not None:
                qtbot.addWidget(widget)
        self.app.show_first_paint()

    def arrive(self, seq: int) -> None:
        n = make_notification(seq, server=SERVER)
        fill_cache(self.controller.cache, [n])
        self.controller.on_change(CacheChange(ChangeKind.UPSERTED, notifications=(n,)))


def test_first_paint_shows_the_cached_count(qtbot: QtBot, cache: NotificationCache) -> None:
    fill_cache(cache, [make_notification(s, read=s == 1) for s in (1, 2, 3, 4)])
    rig = Rig(qtbot, cache)
    tray = rig.app.tray
    assert tray is not None and tray.isVisible()
    assert tray.badge_state is not None
    assert tray.badge_state.unread == 3
    assert tray.badge_state.online is False  # not live yet: greyed
    assert tray.toolTip() == "3 unread · Not signed in — open Settings to sign in"
    assert rig.app.model.rowCount() == 4


def test_badge_and_tooltip_follow_status_and_counts(qtbot: QtBot, cache: NotificationCache) -> None:
    rig = Rig(qtbot, cache)
    tray = rig.app.tray
    assert tray is not None
    c = rig.controller
    c.on_status(ConnectionStatus(ConnectionState.LIVE))
    assert tray.toolTip() == "0 unread · Connected"
    assert tray.badge_state is not None and tray.badge_state.online
    rig.arrive(1)
    rig.arrive(2)
    assert tray.badge_state.unread == 2
    assert tray.badge_state.new_since_seen
    assert tray.toolTip() == "2 unread · Connected"
    retry_at = rig.clock.now() + timedelta(seconds=8)
    c.on_status(
        ConnectionStatus(
            ConnectionState.BACKING_OFF, last_error="server unreachable", next_retry_at=retry_at
        )
    )
    # The tooltip is read whenever the agent hovers: it names the time of the next attempt
    # (local wall clock), which stays true as time passes; the banner counts down.
    at = retry_at.astimezone().strftime("%H:%M:%S")
    assert tray.toolTip() == f"2 unread · Offline — server unreachable, retrying at {at}"
    assert not tray.badge_state.online
    assert rig.app.panel.banner.isVisibleTo(rig.app.panel)
    c.account.save_settings(c.account.settings().replace(badge_style=BadgeStyle.DOT))
    assert tray.badge_state.dot


def test_menu_actions(qtbot: QtBot, cache: NotificationCache) -> None:
    rig = Rig(qtbot, cache)
    tray = rig.app.tray
    assert tray is not None
    assert [a.text() for a in tray.contextMenu().actions() if not a.isSeparator()] == [
        "Open notifications",
        "Mark all read",
        "Pause notifications",
        "Reconnect now",
        "Settings…",
        "Quit",
    ]
    assert [a.text() for a in tray.pause_menu.actions()] == [
        "For 1 hour",
        "Until tomorrow morning (08:00)",
        "Resume",
    ]
    rig.arrive(1)
    assert tray.mark_all_action.isEnabled()
    tray.mark_all_action.trigger()
    assert rig.controller.counts.unread == 0
    assert not tray.mark_all_action.isEnabled()
    assert not tray.resume_action.isEnabled()
    tray.pause_hour_action.trigger()
    assert tray.badge_state is not None and tray.badge_state.quiet
    assert tray.resume_action.isEnabled()
    assert tray.toolTip().endswith("\nPaused until 11:00")
    tray.resume_action.trigger()
    assert not tray.badge_state.quiet
    tray.pause_morning_action.trigger()
    assert rig.controller.quiet_reason is not None
    assert rig.controller.quiet_reason.startswith("Paused until")
    quits: list[bool] = []
    rig.app.quitRequested.connect(lambda: quits.append(True))
    tray.quit_action.trigger()
    assert quits == [True]


@pytest.mark.parametrize(
    ("state", "enabled"),
    [
        (ConnectionState.LIVE, False),  # connected: nothing to reconnect
        (ConnectionState.SIGNED_OUT, False),  # nothing to connect to
        (ConnectionState.AUTH_FAILED, False),
        (ConnectionState.CONNECTING, True),
        (ConnectionState.BACKING_OFF, True),
        (ConnectionState.OFFLINE, True),
    ],
)
def test_reconnect_now_only_when_there_is_something_to_retry(
    qtbot: QtBot, cache: NotificationCache, state: ConnectionState, enabled: bool
) -> None:
    rig = Rig(qtbot, cache)
    tray = rig.app.tray
    assert tray is not None
    assert not tray.reconnect_action.isEnabled()  # signed out at first
    rig.controller.on_status(ConnectionStatus(state))
    assert tray.reconnect_action.isEnabled() is enabled


def test_activation_opens_the_popup_and_clears_the_new_mark(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    rig = Rig(qtbot, cache)
    tray, popup = rig.app.tray, rig.app.popup
    assert tray is not None and popup is not None
    rig.arrive(1)
    assert tray.badge_state is not None and tray.badge_state.new_since_seen
    tray.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
    qtbot.waitExposed(popup)
    assert not tray.badge_state.new_since_seen
    assert tray.badge_state.unread == 1
    assert rig.app.model.rowCount() == 1
    # Activating again toggles it closed.
    tray.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
    assert not popup.isVisible()


def test_toasts_reach_the_sink_and_clicks_come_back(qtbot: QtBot, cache: NotificationCache) -> None:
    rig = Rig(qtbot, cache)
    rig.arrive(1)
    rig.scheduler.advance(timedelta(seconds=1))
    assert [t.key for t in rig.sink.shown] == ["n1"]
    rig.sink.click("n1")
    assert rig.opener.opened == [f"{SERVER}/tickets/1"]
    # Opening marked it read, which withdraws the toast.
    assert rig.sink.withdrawn == ["n1"]
    rig.arrive(2)
    rig.scheduler.advance(timedelta(seconds=1))
    rig.sink.press("n2", "mark-read")
    assert rig.controller.counts.unread == 0
    assert rig.sink.withdrawn == ["n1", "n2"]


def test_no_tray_falls_back_to_a_window(
    qtbot: QtBot, cache: NotificationCache, caplog: pytest.LogCaptureFixture
) -> None:
    fill_cache(cache, [make_notification(1)])
    with caplog.at_level(logging.INFO, logger="notifier.ui.tray"):
        rig = Rig(qtbot, cache, use_tray=False)
    assert len([r.message for r in caplog.records if "no system tray" in r.message]) == 1
    window = rig.app.fallback
    assert rig.app.tray is None and rig.app.popup is None
    assert window is not None and window.isVisible()
    assert window.badge_state is not None and window.badge_state.unread == 1
    assert window.status_label.text().startswith("1 unread · ")
    # Refused: the header names the state, the panel's banner below says why (once), and the
    # whole sentence is the window's tooltip. The header repeated the banner's sentence.
    rig.controller.on_status(ConnectionStatus(ConnectionState.AUTH_FAILED))
    assert window.status_label.text() == "1 unread · Signed out"
    assert window.toolTip() == (
        "1 unread · Signed out — the helpdesk refused the token; sign in again in Settings"
    )
    window.hide()
    rig.app.open_popup(QRect())
    assert window.isVisible()
    assert rig.controller.counts.new_since_seen == 0
    quits: list[bool] = []
    rig.app.quitRequested.connect(lambda: quits.append(True))
    window.quit_button.click()
    assert quits == [True]


def test_offscreen_asks_qt_and_falls_back(qtbot: QtBot, cache: NotificationCache) -> None:
    # Offscreen there is no system tray: TrayApp must notice by itself.
    clock = FakeClock()
    controller = make_controller(cache, clock, server_url="")
    app = TrayApp(controller, clock)
    assert not QSystemTrayIcon.isSystemTrayAvailable()
    assert app.tray is None and app.fallback is not None
    qtbot.addWidget(app.fallback)


def test_nothing_ticks_while_idle(qtbot: QtBot, cache: NotificationCache) -> None:
    rig = Rig(qtbot, cache)
    popup = rig.app.popup
    assert popup is not None
    rig.controller.on_status(
        ConnectionStatus(
            ConnectionState.BACKING_OFF, next_retry_at=rig.clock.now() + timedelta(seconds=5)
        )
    )
    popup.show_near(None)
    qtbot.waitExposed(popup)
    running = [t for t in popup.findChildren(QTimer) if t.isActive()]
    assert len(running) == 2  # relative times + the banner countdown, while open
    popup.hide()
    assert [t for t in popup.findChildren(QTimer) if t.isActive()] == []
    assert [t for t in rig.app.findChildren(QTimer) if t.isActive()] == []
    assert rig.scheduler.pending() == []


def test_settings_action_opens_the_dialog_on_the_controller(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    rig = Rig(qtbot, cache)
    tray = rig.app.tray
    assert tray is not None
    tray.settings_action.trigger()
    dialog = rig.app._settings_dialog
    assert dialog is not None
    qtbot.addWidget(dialog)
    assert dialog.isVisible()
    assert dialog.server_url.text() == SERVER
    # Saving through the dialog goes to the account service, and through the controller to
    # the badge.
    dialog.badge_style.setCurrentIndex(dialog.badge_style.findData(BadgeStyle.DOT))
    dialog.accept()
    assert rig.controller.account.settings().badge_style is BadgeStyle.DOT
    assert tray.badge_state is not None and tray.badge_state.dot
    tray.settings_action.trigger()
    assert rig.app._settings_dialog is dialog  # one dialog, reused


def test_sign_in_in_the_popups_banner_opens_the_settings_in_its_place(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    rig = Rig(qtbot, cache)  # signed out
    popup = rig.app.popup
    assert popup is not None
    popup.show_near(None)
    qtbot.waitExposed(popup)
    qtbot.mouseClick(popup.panel.sign_in_button, Qt.MouseButton.LeftButton)
    dialog = rig.app._settings_dialog
    assert dialog is not None
    qtbot.addWidget(dialog)
    assert dialog.isVisible()
    assert not popup.isVisible()


def test_the_tray_gets_the_badge_painted_for_its_own_size(qtbot: QtBot) -> None:
    """A tray shows icons at 16 (Windows), 22-24 (GNOME, KDE) or 32 px: each is painted at
    that size (the count and the halo keep their pixel size), none scaled down from 32."""
    state = BadgeState(unread=42, new_since_seen=True)
    icon = badge_icon(state)
    assert [size.width() for size in icon.availableSizes()] == list(TRAY_ICON_SIZES)
    for size in TRAY_ICON_SIZES:
        shown = icon.pixmap(QSize(size, size)).toImage()
        painted = paint_badge(state, size, 1.0).convertToFormat(shown.format())
        assert shown == painted, size


def test_a_burst_of_count_changes_repaints_the_icon_once(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    """Marking the mentions read one by one changes the count once per mention in one turn of
    the event loop; the shown icon is painted once, for the last count (each picture is four
    SVG renders), and the state the tray reports is always the current one."""
    fill_cache(cache, [make_notification(s, type=NotificationType.MENTION) for s in range(1, 6)])
    rig = Rig(qtbot, cache)
    tray = rig.app.tray
    assert tray is not None and tray.isVisible()
    shown = tray.icon().cacheKey()
    rig.controller.mark_all_read(frozenset({NotificationType.MENTION}))
    assert tray.badge_state is not None and tray.badge_state.unread == 0
    assert tray.icon().cacheKey() == shown  # not painted yet: five changes, no picture
    QApplication.processEvents()
    assert tray.icon().cacheKey() != shown
    picture = tray.icon().pixmap(QSize(22, 22)).toImage()
    assert picture == paint_badge(tray.badge_state, 22, 1.0).convertToFormat(picture.format())


def test_while_catching_up_the_tray_follows_the_counts_a_few_times_a_second(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    # A replay changes the counts ~150 times a second; each tooltip or icon change goes to the
    # tray host over the bus (benchmarks/README.md, "A burst replayed after a reconnect").
    rig = Rig(qtbot, cache)
    tray = rig.app.tray
    assert tray is not None
    sent: list[str] = []
    send = tray.setToolTip

    def recording_set_tool_tip(text: str) -> None:
        sent.append(text)
        send(text)

    tray.setToolTip = recording_set_tool_tip  # type: ignore[method-assign]
    c = rig.controller
    c.on_status(ConnectionStatus(ConnectionState.CONNECTING))
    sent.clear()
    for seq in range(1, 201):
        rig.arrive(seq)
    assert sent == []  # not yet: the refresh waits for CATCH_UP_REFRESH_MS
    qtbot.waitUntil(lambda: tray.toolTip().startswith("200 unread"), timeout=5_000)
    assert len(sent) == 1
    assert tray.badge_state is not None and tray.badge_state.unread == 100  # "99+"
    for seq in range(201, 211):
        rig.arrive(seq)
    c.on_status(ConnectionStatus(ConnectionState.LIVE))
    assert tray.toolTip() == "210 unread · Connected"  # going live shows the final counts
    sent.clear()
    rig.arrive(211)  # live: at once, and sent once though both counts changed
    assert sent == ["211 unread · Connected"]
    c.on_status(ConnectionStatus(ConnectionState.LIVE))  # refreshes; the same text is not sent
    assert sent == ["211 unread · Connected"]


def test_while_catching_up_an_open_list_follows_big_batches_a_few_times_a_second(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    # Without a tray the window shows the list all through a first sign-in: re-reading and
    # repainting it after every slice of a history page tripled the sign-in's CPU.
    QCursor.setPos(-10_000, -10_000)  # not over the list (where rows wait for it to leave)
    rig = Rig(qtbot, cache, use_tray=False)
    model = rig.app.model
    resets: list[None] = []
    model.modelReset.connect(lambda: resets.append(None))
    c = rig.controller
    c.on_status(ConnectionStatus(ConnectionState.CONNECTING))

    def history_slice(start: int) -> None:
        batch = [make_notification(s, server=SERVER) for s in range(start, start + 60)]
        fill_cache(cache, batch)
        c.on_change(CacheChange(ChangeKind.UPSERTED, notifications=tuple(batch)))

    for start in range(1, 301, 60):
        history_slice(start)
    assert resets == [] and model.stale  # not yet: the list waits for CATCH_UP_REFRESH_MS
    qtbot.waitUntil(lambda: not model.stale, timeout=5_000)
    assert len(resets) == 1
    assert model.data(model.index(0), Role.SEQ) == 300
    history_slice(301)
    c.on_status(ConnectionStatus(ConnectionState.LIVE))  # going live shows the final rows
    assert model.data(model.index(0), Role.SEQ) == 360 and not model.stale
    history_slice(361)  # live: at once
    assert model.data(model.index(0), Role.SEQ) == 420 and len(resets) == 3


def test_going_live_the_first_time_freezes_what_start_up_made(
    qtbot: QtBot, cache: NotificationCache, gc_state_restored: None
) -> None:
    # A full collection walked every object of the app (30 ms during a replay of 10,000);
    # what start-up made lives as long as the app, so it is frozen once, when first live.
    gc.disable()
    without = Rig(qtbot, cache)
    without.controller.on_status(ConnectionStatus(ConnectionState.LIVE))
    assert gc.get_freeze_count() == 0  # without automatic collection: nothing to save
    gc.enable()
    rig = Rig(qtbot, cache)
    c = rig.controller
    c.on_status(ConnectionStatus(ConnectionState.CONNECTING))
    assert gc.get_freeze_count() == 0  # not before it is live
    c.on_status(ConnectionStatus(ConnectionState.LIVE))
    assert gc.get_freeze_count() > 0
    assert not any(o is rig.app for o in gc.get_objects())  # out of the collector's sight
    made_later: list[object] = [[]]
    c.on_status(ConnectionStatus(ConnectionState.BACKING_OFF))
    c.on_status(ConnectionStatus(ConnectionState.LIVE))
    assert any(o is made_later for o in gc.get_objects())  # frozen once, not again
