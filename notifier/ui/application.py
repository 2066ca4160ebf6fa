"""The Qt side of the tray app, wired to the controller.

:class:`TrayApp` builds the widgets around an :class:`~notifier.app.controller.AppController`
and connects them: controller signals → badge, tooltip, popup, toasts; widget intents →
controller methods. It does no I/O itself. The composition root (notifier/main.py) builds the
controller from the real settings, cache and services and calls, in this order:

1. :class:`~notifier.ui.tray.TrayShell` shows the tray icon (or the fallback window) with the
   CACHED unread count, right after the QApplication exists; not even this module, the
   controller or asyncio is imported yet, let alone the network stack, keyring or toast
   library (see the performance budget in issue 5); then this module, the controller and
   the rest are imported on a worker thread while the event loop answers the tray host
   (:mod:`notifier.app.preload`), what the agent asks meanwhile kept for step 2
   (:mod:`notifier.ui.early_intents`);
2. ``TrayApp(controller, clock, shell=shell)`` adopts it and wires it; with a tray, the
   popup (its widgets, list view and delegate, and the modules behind them) is built on
   first use, so an app whose popup is never opened does not carry it all day;
3. :meth:`TrayApp.start` on the qasync loop – picks the toast sink (imports
   desktop-notifier), starts the engine through the controller (imports httpx, websockets,
   keyring), and watches the OS network state where a backend exists.

Idle behaviour: no repeating timer runs while the popup is closed; the controller holds one
single-shot wake-up for the next quiet-hours/toast decision. The only periodic work is the
WebSocket keepalive (a ping every 20 s), which also carries the engine's sleep watchdog
(notifier/sync/engine.py); benchmarks/startup.py counts the wake-ups.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Final

from PySide6.QtCore import QObject, QRect, QSocketNotifier, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices

from notifier.app.controller import AppController
from notifier.app.heap import freeze_long_lived_objects, give_back_freed_memory
from notifier.app.reachability import NetworkChanged, ReachabilityWatch, watch_reachability
from notifier.app.status_text import can_retry, header_text, tooltip_text
from notifier.core.links import is_on_this_machine
from notifier.core.ports import Clock
from notifier.core.settings import BadgeStyle
from notifier.core.status import CacheChange, ConnectionState, ConnectionStatus
from notifier.ui.badge import MAX_SHOWN_COUNT, BadgeState
from notifier.ui.toasts import NullSink, ToastRequest, ToastSink, choose_sink
from notifier.ui.tray import TrayIcon, TrayShell

if TYPE_CHECKING:
    from notifier.app.list_model import NotificationListModel
    from notifier.ui.fallback_window import FallbackWindow
    from notifier.ui.popup import NotificationPanel, Popup
    from notifier.ui.settings_dialog import SettingsDialog

log = logging.getLogger(__name__)

PAUSE_HOUR = timedelta(hours=1)
# After the popup closed: by then it has dropped its window (a zero-delay timer of its own).
HEAP_RELEASE_DELAY_MS = 500
CATCH_UP_REFRESH_MS: Final = 100
"""While the engine catches up (a replay, a sync: hundreds of changes a second), the badge
and tooltip follow the counts at most this often; live, a change shows at once."""


def connect_panel(p: NotificationPanel, c: AppController) -> None:
    """The list panel's intents to the controller's methods."""
    p.openRequested.connect(c.open_notification)
    p.toggleReadRequested.connect(c.toggle_read)
    p.markReadRequested.connect(c.mark_read)
    p.markUnreadRequested.connect(c.mark_unread)
    p.deleteRequested.connect(c.delete)
    p.markAllReadRequested.connect(c.mark_all_read)
    p.clearReadRequested.connect(c.clear_read)
    p.retryRequested.connect(c.retry_now)


class DesktopUrlOpener:
    """:class:`notifier.app.account.UrlOpener` through QDesktopServices (the browser)."""

    def open_url(self, url: str) -> bool:
        return bool(QDesktopServices.openUrl(QUrl(url)))


class TrayApp(QObject):
    """Widgets around the controller.

    ``shell`` is what the first paint already shows (tray icon or fallback window); without
    one, a shell is made here (``use_tray=None`` asks Qt whether a tray exists).
    """

    quitRequested = Signal()

    def __init__(
        self,
        controller: AppController,
        clock: Clock,
        *,
        use_tray: bool | None = None,
        shell: TrayShell | None = None,
        sink: ToastSink | None = None,
        reachability: Callable[[NetworkChanged], ReachabilityWatch | None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self._clock = clock
        self._model: NotificationListModel | None = None  # built on first use: see model
        self._panel: NotificationPanel | None = None  # built on first use: see panel
        self._popup: Popup | None = None
        self.sink: ToastSink = sink if sink is not None else NullSink()
        self._sink_fixed = sink is not None
        self._settings_dialog: SettingsDialog | None = None
        self._network: ReachabilityWatch | None = None
        self._network_watched = False
        # The OS's reachability, started on the first lost connection (tests pass a fake).
        self._watch_reachability = reachability or watch_reachability
        self._signal_sockets: tuple[socket.socket, socket.socket, QSocketNotifier] | None = None
        self._startup_frozen = False
        self._catch_up_refresh = QTimer(self)
        self._catch_up_refresh.setSingleShot(True)
        self._catch_up_refresh.setInterval(CATCH_UP_REFRESH_MS)
        self._catch_up_refresh.timeout.connect(self._on_catch_up_tick)
        if shell is None:
            shell = TrayShell(self.badge_state(), self.tooltip(), use_tray=use_tray)
            shell.log_no_tray_once()
        self.tray: TrayIcon | None = shell.tray
        self.fallback: FallbackWindow | None = shell.fallback
        if self.tray is None and self.fallback is not None:
            self.fallback.set_panel(self.panel)  # the window shows the list at once
        self._connect()
        self.sink.bind(controller.toast_clicked, controller.toast_action)
        self._refresh_everything()

    # ------------------------------------------------------------------ lazily built parts

    @property
    def model(self) -> NotificationListModel:
        """The list's Qt model over the cache, built (and loaded) on first use.

        With a tray, nothing needs it until the popup first opens; importing it loads PySide6's
        ``Qt`` namespace (every enum in it), which the idle app can do without.
        """
        if self._model is None:
            from notifier.app.list_model import NotificationListModel

            self._model = NotificationListModel(self.controller.cache, self._clock, parent=self)
            self._model.reload()
            self._model.defer_bulk_reloads(self._catching_up())
        return self._model

    @property
    def panel(self) -> NotificationPanel:
        """The notification list widget, built (and brought up to date) on first use."""
        if self._panel is None:
            from notifier.ui.popup import NotificationPanel

            panel = NotificationPanel(self.model, self._clock)
            connect_panel(panel, self.controller)
            panel.settingsRequested.connect(self._on_panel_settings_requested)
            panel.set_status(self.controller.status)
            panel.set_unread_count(self.controller.counts.unread)
            self._panel = panel
        return self._panel

    @property
    def popup(self) -> Popup | None:
        """The frameless panel near the tray icon (None without a tray), built on first use."""
        if self.tray is None:
            return None
        if self._popup is None:
            from notifier.ui.popup import Popup

            self._popup = Popup(self.panel)
            self._popup.opened.connect(self._on_popup_opened)
            self._popup.closed.connect(self._on_popup_closed)
        return self._popup

    # ------------------------------------------------------------------ start-up

    def show_first_paint(self) -> None:
        """Show the icon (or window) with the cached count (if the shell is not shown yet)."""
        if self._model is not None:
            self._model.reload()
        if self.tray is not None:
            self.tray.show()
        elif self.fallback is not None:
            self.fallback.show()

    async def start(self) -> None:
        """After the first paint: toast service, engine. (The OS's reachability is watched from
        the first lost connection on: see :mod:`notifier.app.reachability`.)"""
        if not self._sink_fixed:
            self.sink = await choose_sink(self.tray)
            self.sink.bind(self.controller.toast_clicked, self.controller.toast_action)
        self.controller.start()

    async def shutdown(self) -> None:
        await self.controller.stop()
        await self.sink.aclose()
        if self.tray is not None:
            self.tray.hide()
        if self._popup is not None:
            self._popup.hide()
        if self.fallback is not None:
            self.fallback.hide()

    # ------------------------------------------------------------------ actions

    def open_popup(self, anchor: QRect | None = None) -> None:
        log.debug("opening the notification list")
        popup = self.popup
        if popup is not None:
            if popup.isVisible():
                popup.hide()
                return
            popup.show_near(anchor)
        elif self.fallback is not None:
            self._on_popup_opened()
            self.fallback.bring_up()

    def on_another_start(self) -> None:
        """Someone started ``notifier`` again: show this instance's list instead."""
        log.info("another start asked for the notification list")
        if self._popup is None or not self._popup.isVisible():
            self.open_popup(self.tray.geometry() if self.tray is not None else None)

    def open_settings(self) -> None:
        if self._settings_dialog is None:
            # Imported on first use: the dialog is not needed for the first paint.
            from notifier.ui.settings_dialog import SettingsDialog

            self._settings_dialog = SettingsDialog(self.controller.account)
        self._settings_dialog.show()
        self._settings_dialog.raise_()
        self._settings_dialog.activateWindow()

    def _on_panel_settings_requested(self) -> None:
        if self._popup is not None:
            self._popup.hide()  # the dialog comes up in its place
        self.open_settings()

    def request_quit(self) -> None:
        self.quitRequested.emit()

    def quit_on_signals(self) -> None:
        """SIGINT/SIGTERM (Ctrl+C, logout, ``kill``) quit cleanly, like the Quit menu item.

        Python runs signal handlers only between bytecodes, and Qt's event loop waits in C++;
        instead of waking up every few hundred ms to let Python look (polling), the C-level
        handler writes to a socket (``signal.set_wakeup_fd``) that a QSocketNotifier watches.
        """
        if sys.platform == "win32":  # no wakeup-fd sockets for Qt there; Ctrl+C is enough
            return
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        signal.set_wakeup_fd(writer.fileno())
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, self._on_signal)
        notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, self)
        notifier.activated.connect(self._on_signal_socket_activated)
        self._signal_sockets = (reader, writer, notifier)

    def _on_signal(self, number: int, frame: object) -> None:
        log.info("signal %d: quitting", number)
        self.request_quit()

    def _on_signal_socket_activated(self) -> None:
        if self._signal_sockets is None:
            return
        with contextlib.suppress(BlockingIOError):
            self._signal_sockets[0].recv(
                64
            )  # the Python-level handler above runs right after this slot

    # ------------------------------------------------------------------ wiring

    def _connect(self) -> None:
        c = self.controller
        c.changeApplied.connect(self._on_controller_change_applied)
        c.unreadChanged.connect(self._on_counts_changed)
        c.newSinceSeenChanged.connect(self._on_counts_changed)
        c.statusChanged.connect(self._on_controller_status_changed)
        c.quietChanged.connect(self._refresh_everything)
        c.settingsChanged.connect(self._refresh_everything)
        c.toastsDue.connect(self._on_controller_toasts_due)
        c.toastsWithdrawn.connect(self._on_controller_toasts_withdrawn)
        c.openPopupRequested.connect(self._on_open_popup_requested)

        if self.tray is not None:
            t = self.tray
            t.openRequested.connect(self.open_popup)
            t.mark_all_action.triggered.connect(lambda: c.mark_all_read())  # every type
            t.pause_hour_action.triggered.connect(lambda: c.pause_for(PAUSE_HOUR))
            t.pause_morning_action.triggered.connect(c.pause_until_morning)
            t.resume_action.triggered.connect(c.resume)
            t.reconnect_action.triggered.connect(c.retry_now)
            t.settings_action.triggered.connect(self.open_settings)
            t.quit_action.triggered.connect(self.request_quit)
        if self.fallback is not None:
            self.fallback.quitRequested.connect(self.request_quit)
            self.fallback.settingsRequested.connect(self.open_settings)

    def _on_popup_opened(self) -> None:
        self.controller.popup_opened()
        if self._model is not None:
            self._model.reload()
        else:
            self.model  # noqa: B018  (built now, it loads the cache as it is: no second read)

    def _on_popup_closed(self) -> None:
        # The list's counts read whole indexes of the cache: give back SQLite's page cache,
        # then (once the closed popup has dropped its window too) the heap pages it leaves.
        self.controller.cache.release_memory()
        QTimer.singleShot(HEAP_RELEASE_DELAY_MS, give_back_freed_memory)

    def _on_open_popup_requested(self) -> None:
        self.open_popup(self.tray.geometry() if self.tray is not None else None)

    def _on_controller_change_applied(self, change: CacheChange) -> None:
        if self._model is not None:  # a model built later loads the cache as it is then
            self._model.apply_change(change)
            if self._model.stale and self._catching_up() and not self._catch_up_refresh.isActive():
                self._catch_up_refresh.start()

    def _catching_up(self) -> bool:
        return self.controller.status.state is ConnectionState.CONNECTING

    def _on_catch_up_tick(self) -> None:
        """What follows the engine at most every :data:`CATCH_UP_REFRESH_MS` while it catches
        up: the badge and tooltip, and the list's rows when a big batch left them stale."""
        self._refresh_everything()
        if self._model is not None:
            self._model.reload_if_stale()

    def _on_counts_changed(self, *_: object) -> None:
        """The badge and tooltip show a change at once, except while the engine connects and
        catches up: then they follow at most every :data:`CATCH_UP_REFRESH_MS`, since each
        refresh sends the icon and tooltip to the tray host and a replay of 10,000 changes
        the counts 150 times a second. Going live (any change of status) refreshes them with
        the final counts (:meth:`_on_controller_status_changed`)."""
        if not self._catching_up():
            self._refresh_everything()
        elif not self._catch_up_refresh.isActive():
            self._catch_up_refresh.start()

    def _on_controller_status_changed(self, status: ConnectionStatus) -> None:
        if self._model is not None:  # live (or lost): a stale list is re-read now
            self._model.defer_bulk_reloads(self._catching_up())
        if status.state is ConnectionState.LIVE:
            # Caught up: a sync wrote much of the cache through SQLite's page cache, which
            # the idle app has no use for.
            self.controller.cache.release_memory()
            if not self._startup_frozen:
                # What the first connection made (the engine's, the stream's) lives on too.
                self._startup_frozen = freeze_long_lived_objects()
        if not self._network_watched and status.state in (
            ConnectionState.BACKING_OFF,
            ConnectionState.OFFLINE,
        ):
            self._watch_network()
        if self._panel is not None:  # a panel built later starts from the current status
            self._panel.set_status(status)
        if status.notice:
            log.info("%s", status.notice)
        self._refresh_everything()

    def _on_controller_toasts_due(self, toasts: list[ToastRequest]) -> None:
        for toast in toasts:
            self.sink.show(toast)

    def _on_controller_toasts_withdrawn(self, keys: list[str]) -> None:
        for key in keys:
            self.sink.withdraw(key)

    def badge_state(self) -> BadgeState:
        c = self.controller
        return BadgeState(
            # As shown: every count above 99 is "99+", one picture (no repaint from 120 to 121).
            unread=min(c.counts.unread, MAX_SHOWN_COUNT + 1),
            new_since_seen=c.counts.new_since_seen > 0,
            online=c.status.state is ConnectionState.LIVE,
            quiet=c.quiet_reason is not None,
            dot=c.account.settings().badge_style is BadgeStyle.DOT,
        )

    def tooltip(self) -> str:
        c = self.controller
        return tooltip_text(c.counts.unread, c.status, self._clock.now(), c.quiet_reason)

    def _refresh_everything(self, *_: object) -> None:
        state = self.badge_state()
        text = self.tooltip()
        if self._panel is not None:
            self._panel.set_unread_count(self.controller.counts.unread)
        if self.tray is not None:
            self.tray.set_badge(state)
            self.tray.set_tooltip_text(text)
            self.tray.set_paused(self.controller.account.settings().paused_until is not None)
            self.tray.set_unread(self.controller.counts.unread)
            self.tray.set_can_reconnect(can_retry(self.controller.status))
        if self.fallback is not None:
            self.fallback.set_badge(state)
            c = self.controller
            self.fallback.set_status_text(
                header_text(c.counts.unread, c.status, c.quiet_reason), text
            )

    def _watch_network(self) -> None:
        """Start following the OS's reachability (once, on the first lost connection)."""
        self._network_watched = True
        if is_on_this_machine(self.controller.account.settings().server_url):
            # Reachable with no network at all: the OS's "offline" must not stop the retries.
            log.info("the server is on this machine: the OS's network state is not followed")
            return
        self._network = self._watch_reachability(self.controller.network_changed)
        if self._network is not None:
            log.info("following the OS's network reachability (%s)", self._network.backend)
