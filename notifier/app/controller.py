"""The tray app's notification controller: one QObject between the sync engine and the widgets
(QtCore only).

Signals out, intents in. The widgets never touch the cache or the engine; they connect to
the signals below and call the intent methods (``open_notification``, ``mark_all_read``,
``pause_for`` …). The engine never touches Qt; it calls :meth:`AppController.on_status` and
:meth:`AppController.on_change` (plain callbacks) on the asyncio loop, which under qasync is
the Qt thread, and the controller turns them into signals.

What it owns:

* the :class:`NotificationCache` (opened before anything heavy is imported, so the tray can
  paint the cached unread count first), the engine (built later through the injected
  :class:`EngineFactory`, because ``app`` may not import the client layer or the composition
  root), the toast policy and the quiet-hours state;
* exactly ONE pending wake-up (:class:`~notifier.app.scheduler.Scheduler`): the earliest of
  the toast policy's next decision (burst window, end of quiet hours) and the next quiet-hours
  or pause boundary (for the badge's quiet mark). Nothing polls.

The account (which helpdesk, who is signed in, the settings and their file) is the
:class:`~notifier.app.account.AccountService`'s, ``controller.account``, which the settings
dialog talks to. The controller watches it (:class:`~notifier.app.account.AccountWatcher`):
new settings update the toast policy and the quiet state, a new way to the helpdesk restarts
the engine, a sign-in or sign-out stops it first and then starts it again or forgets the
cached notifications. A pause is saved with the settings through it as well.

Links: :meth:`open_notification` sends every URL through :func:`notifier.core.links.check_link`
against the configured helpdesk; a refused link is logged (the URL's origin and the reason,
never a token) and not opened. Opening goes through the :class:`UrlOpener` Protocol (the
browser is a true edge; tests record the URLs).

Actions (mark read, delete …) go to the engine, which applies them to the cache at once
(``local=True`` change) and queues them for the server. Signed out (no engine) they are
applied to the cache and queued the same way, and flushed once an engine runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Protocol

from PySide6.QtCore import QObject, Signal

from notifier.app.account import AccountService, UrlOpener
from notifier.app.background import Background
from notifier.app.scheduler import Scheduler, WakeUpHandle
from notifier.core.links import LinkRefused, check_link
from notifier.core.ports import Clock
from notifier.core.quiet_hours import QuietSchedule, QuietState, resolve_wall_time
from notifier.core.settings import Settings, SettingsError
from notifier.core.status import CacheChange, ChangeKind, ConnectionState, ConnectionStatus
from notifier.core.toast_policy import Toast, ToastPolicy
from notifier.core.wire import AgentInfo, ClearScope, Notification, NotificationType
from notifier.store.cache import Applied, ListFilter, NotificationCache
from notifier.sync.engine import changes_for

log = logging.getLogger(__name__)

MORNING = time(8, 0)
TOAST_ACTION_MARK_READ = "mark-read"
TOAST_ACTION_OPEN = "open"

StatusCallback = Callable[[ConnectionStatus], None]
ChangeCallback = Callable[[CacheChange], None]


class Engine(Protocol):
    """The part of :class:`notifier.sync.engine.SyncEngine` the controller drives."""

    @property
    def status(self) -> ConnectionStatus: ...
    async def run(self) -> None: ...
    async def stop(self) -> None: ...
    def retry_now(self) -> None: ...
    def network_changed(self, online: bool) -> None: ...
    async def mark_read(self, notification_id: str) -> None: ...
    async def mark_unread(self, notification_id: str) -> None: ...
    async def mark_all_read(self) -> None: ...
    async def delete(self, notification_id: str) -> None: ...
    async def clear_read(self) -> None: ...


class EngineFactory(Protocol):
    """Builds the engine for the settings in force: what the controller needs from layers it
    may not import (client, compose, keyring). The composition root provides the real one
    (:class:`notifier.compose.LiveServices`); tests pass the same real one (against the
    reference server)."""

    def build_engine(
        self,
        settings: Settings,
        cache: NotificationCache,
        *,
        on_status: StatusCallback,
        on_change: ChangeCallback,
    ) -> Engine | None:
        """The engine for ``settings`` (None when signed out: no server URL or no token)."""
        ...


@dataclass(frozen=True, slots=True)
class Counts:
    unread: int
    new_since_seen: int


class AppController(QObject):
    unreadChanged = Signal(int)
    newSinceSeenChanged = Signal(int)
    statusChanged = Signal(object)  # ConnectionStatus
    changeApplied = Signal(object)  # CacheChange, after the cache commit
    toastsDue = Signal(list)  # list[Toast]
    toastsWithdrawn = Signal(list)  # list[str] toast keys
    quietChanged = Signal(object)  # str | None: the reason toasts are held, for the tooltip
    settingsChanged = Signal(object)  # Settings
    openPopupRequested = Signal()  # e.g. a summary toast was clicked
    linkRefused = Signal(str, str)  # notification id, reason (for a status line)

    def __init__(
        self,
        *,
        account: AccountService,
        cache: NotificationCache,
        clock: Clock,
        scheduler: Scheduler,
        url_opener: UrlOpener,
        engines: EngineFactory | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.account = account
        self.cache = cache
        self._clock = clock
        self._scheduler = scheduler
        self._url_opener = url_opener
        self._engines = engines
        settings = account.settings()
        self._quiet = self._quiet_state(settings)
        self._policy = ToastPolicy(settings, self._quiet)
        self._wake_up: WakeUpHandle | None = None
        self._wake_at: datetime | None = None
        self._engine: Engine | None = None
        self._engine_task: asyncio.Task[None] | None = None
        self._actions = Background("an action")
        self._restart_task: asyncio.Task[None] | None = None
        self._status = ConnectionStatus(ConnectionState.SIGNED_OUT)
        self._counts = Counts(cache.unread_count(), cache.new_since_seen_count())
        self._quiet_reason = self._quiet.reason(clock.now())
        if cache.recovered_from is not None:
            self._status = ConnectionStatus(
                ConnectionState.SIGNED_OUT,
                notice="The saved notifications could not be read and are being rebuilt.",
            )
        self._schedule_wake_up()
        account.watch(self)

    # ------------------------------------------------------------------ state for the widgets

    @property
    def status(self) -> ConnectionStatus:
        return self._status

    @property
    def counts(self) -> Counts:
        return self._counts

    @property
    def quiet_reason(self) -> str | None:
        return self._quiet_reason

    @property
    def engine(self) -> Engine | None:
        return self._engine

    def is_quiet(self) -> bool:
        return self._quiet.is_suppressed(self._clock.now())

    # ------------------------------------------------------------------ engine lifecycle

    def start(self) -> None:
        """Build the engine (if signed in) and run it as a task on the running loop."""
        if self._engines is None or self._engine is not None:
            return
        engine = self._engines.build_engine(
            self.account.settings(), self.cache, on_status=self.on_status, on_change=self.on_change
        )
        if engine is None:
            self.on_status(ConnectionStatus(ConnectionState.SIGNED_OUT))
            return
        self._engine = engine
        self._engine_task = asyncio.ensure_future(self._run_engine(engine))

    async def _run_engine(self, engine: Engine) -> None:
        try:
            await engine.run()
        except Exception:  # a bug in the engine must not take the tray down silently
            log.exception("the sync engine stopped with an error")
            self.on_status(
                ConnectionStatus(ConnectionState.BACKING_OFF, last_error="internal error")
            )

    async def stop(self) -> None:
        """Stop syncing (quit, sign-out): cancel a pending restart, stop the engine and wait
        for it, for actions in flight and for the account's saves in the background; cancel
        the wake-up. Safe to call twice, and from a task the controller spawned."""
        current = asyncio.current_task()
        restart, self._restart_task = self._restart_task, None
        if restart is not None and restart is not current:
            restart.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await restart
        self._cancel_wake_up()
        await self._stop_engine()
        await self._actions.wait()
        await self.account.wait_idle()

    async def _stop_engine(self) -> None:
        engine, task = self._engine, self._engine_task
        self._engine, self._engine_task = None, None
        if engine is not None:
            await engine.stop()
        if task is not None:
            await task

    async def restart_engine(self) -> None:
        """Reconnect with the current settings (new server URL, proxy or CA bundle)."""
        await self._stop_engine()
        self.start()
        self._schedule_wake_up()

    # ------------------------------------------------------------------ engine callbacks

    def on_status(self, status: ConnectionStatus) -> None:
        if status.agent is not None:
            self.account.agent_connected(status.agent)
        self._status = status
        self.statusChanged.emit(status)

    def on_change(self, change: CacheChange) -> None:
        # The toasts first: a leading toast's wake-up is queued before the list, the badge
        # and the tooltip (and the timers they start) take their turn.
        now = self._clock.now()
        withdrawn = self._policy.withdrawn(change)
        if withdrawn:
            self.toastsWithdrawn.emit(withdrawn)
        self._policy.offer(change, now)
        self._schedule_wake_up()
        self.changeApplied.emit(change)
        self._update_counts()

    # ------------------------------------------------------------------ intents

    def open_notification(self, notification_id: str) -> bool:
        """Open the ticket (or comment) in the browser and mark it read. False if refused."""
        notification = self.cache.get(notification_id)
        if notification is None:
            log.info("notification %s is gone; nothing to open", notification_id)
            return False
        try:
            url = check_link(notification.link, self.account.server_url)
        except LinkRefused as error:
            log.warning("refused to open the link of notification %s: %s", notification_id, error)
            self.linkRefused.emit(notification_id, str(error))
            return False
        if not self._url_opener.open_url(url):
            log.warning("the desktop could not open the link of notification %s", notification_id)
        if not notification.read:
            self.mark_read(notification_id)
        return True

    def mark_read(self, notification_id: str) -> None:
        self._act(
            lambda e: e.mark_read(notification_id),
            lambda: self.cache.local_mark(notification_id, True),
        )

    def mark_unread(self, notification_id: str) -> None:
        self._act(
            lambda e: e.mark_unread(notification_id),
            lambda: self.cache.local_mark(notification_id, False),
        )

    def toggle_read(self, notification_id: str) -> None:
        notification = self.cache.get(notification_id)
        if notification is None:
            return
        if notification.read:
            self.mark_unread(notification_id)
        else:
            self.mark_read(notification_id)

    def mark_all_read(self, types: frozenset[NotificationType] | None = None) -> None:
        """Mark every unread notification read, or only those of ``types`` (the popup's type
        filter: the helpdesk's read-all takes no type, so those go one by one)."""
        if types is None:
            self._act(lambda e: e.mark_all_read(), lambda: self.cache.local_mark_all_read()[0])
            return
        for notification in self._all_of(ListFilter(unread_only=True, types=types)):
            self.mark_read(notification.id)

    def delete(self, notification_id: str) -> None:
        self._act(
            lambda e: e.delete(notification_id), lambda: self.cache.local_delete(notification_id)
        )

    def clear_read(self, types: frozenset[NotificationType] | None = None) -> None:
        """Delete every read notification, or only those of ``types`` (one by one, as above)."""
        if types is None:
            self._act(lambda e: e.clear_read(), lambda: self.cache.local_clear(ClearScope.READ))
            return
        for notification in self._all_of(ListFilter(types=types)):
            if notification.read:
                self.delete(notification.id)

    def _all_of(self, list_filter: ListFilter) -> list[Notification]:
        return self.cache.page(list_filter, limit=max(1, self.cache.count(list_filter)))

    def retry_now(self) -> None:
        if self._engine is not None:
            self._engine.retry_now()

    def network_changed(self, online: bool) -> None:
        if self._engine is not None:
            self._engine.network_changed(online)

    def popup_opened(self) -> None:
        """The agent looked: nothing is "new" any more (the red mark goes)."""
        self.cache.mark_seen()
        self._update_counts()

    def pause_for(self, duration: timedelta) -> None:
        self._set_paused_until(self._clock.now() + duration)

    def pause_until_morning(self) -> None:
        """Pause until the next 08:00 local time (tomorrow's, unless it is before 08:00)."""
        now = self._clock.now()
        tz = self._quiet.schedule.tz
        local = now.astimezone(tz)
        for days in (0, 1, 2):
            candidate = resolve_wall_time(local.date() + timedelta(days=days), MORNING, tz)
            if candidate > now:
                self._set_paused_until(candidate)
                return

    def resume(self) -> None:
        self._set_paused_until(None)

    def toast_clicked(self, key: str) -> None:
        if self.cache.get(key) is not None:
            self.open_notification(key)
        else:
            self.openPopupRequested.emit()

    def toast_action(self, key: str, action: str) -> None:
        if action == TOAST_ACTION_MARK_READ:
            self.mark_read(key)
        elif action == TOAST_ACTION_OPEN:
            self.toast_clicked(key)
        else:
            log.warning("unknown toast action %r", action)

    # ------------------------------------------------------------------ AccountWatcher

    def account_settings_changed(self, settings: Settings) -> None:
        self._quiet = self._quiet_state(settings)
        self._policy.update(settings, self._quiet)
        self.settingsChanged.emit(settings)
        self._on_wake_up()

    def account_connection_changed(self) -> None:
        """Reconnect in the background; a newer change replaces a pending reconnect."""
        if self._engines is None:
            return
        if self._restart_task is not None:
            self._restart_task.cancel()
        self._restart_task = asyncio.ensure_future(self.restart_engine())

    async def account_switching(self) -> None:
        await self.stop()

    def account_switched(self, agent: AgentInfo | None) -> None:
        if agent is None:
            self._forget_cached()
            self.on_status(ConnectionStatus(ConnectionState.SIGNED_OUT))
            return
        self.start()
        self._schedule_wake_up()

    # ------------------------------------------------------------------ internals

    def _forget_cached(self) -> None:
        self.cache.forget()  # notifications, queue and owner
        self.on_change(CacheChange(ChangeKind.RESET))

    def _act(
        self,
        with_engine: Callable[[Engine], Coroutine[Any, Any, None]],
        offline: Callable[[], Applied],
    ) -> None:
        if self._engine is not None:
            self._actions.spawn(with_engine(self._engine))
            return
        # Signed out: apply and queue locally, publishing the change as the engine would.
        applied = offline()
        for change in changes_for(applied, local=True):
            self.on_change(change)

    def _update_counts(self) -> None:
        counts = Counts(self.cache.unread_count(), self.cache.new_since_seen_count())
        old, self._counts = self._counts, counts
        if counts.unread != old.unread:
            self.unreadChanged.emit(counts.unread)
        if counts.new_since_seen != old.new_since_seen:
            self.newSinceSeenChanged.emit(counts.new_since_seen)

    def _quiet_state(self, settings: Settings) -> QuietState:
        schedule = QuietSchedule(settings.quiet_hours, self.account.tz)
        return QuietState(schedule, settings.paused_until)

    def _set_paused_until(self, until: datetime | None) -> None:
        try:
            self.account.apply(self.account.settings().replace(paused_until=until))
        except SettingsError as error:  # cannot happen for a datetime; keep the old state
            log.error("could not pause: %s", error)

    def _cancel_wake_up(self) -> None:
        if self._wake_up is not None:
            self._wake_up.cancel()
            self._wake_up = None
            self._wake_at = None

    def _schedule_wake_up(self) -> None:
        now = self._clock.now()
        candidates = [
            when
            for when in (self._policy.next_wakeup(), self._quiet.next_change(now))
            if when is not None
        ]
        when = min(candidates, default=None)
        if when == self._wake_at and self._wake_up is not None:
            return
        self._cancel_wake_up()
        if when is not None:
            self._wake_at = when
            self._wake_up = self._scheduler.call_at(when, self._on_wake_up)

    def _on_wake_up(self) -> None:
        self._wake_up = None
        self._wake_at = None
        now = self._clock.now()
        due: list[Toast] = self._policy.due(now)
        reason = self._quiet.reason(now)
        if reason != self._quiet_reason:
            self._quiet_reason = reason
            self.quietChanged.emit(reason)
        if due:
            self.toastsDue.emit(due)
        self._schedule_wake_up()
