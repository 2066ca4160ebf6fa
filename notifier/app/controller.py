"""The tray app's controller: one QObject between the sync engine and the widgets (QtCore only).

Signals out, intents in. The widgets never touch the cache or the engine; they connect to
the signals below and call the intent methods (``open_notification``, ``mark_all_read``,
``pause_for`` …). The engine never touches Qt; it calls :meth:`AppController.on_status` and
:meth:`AppController.on_change` (plain callbacks) on the asyncio loop, which under qasync is
the Qt thread, and the controller turns them into signals.

What it owns:

* the settings (and their file), the :class:`NotificationCache` (opened before anything
  heavy is imported, so the tray can paint the cached unread count first), the engine (built
  later through the injected :class:`Services`, because ``app`` may not import the client
  layer or the composition root), the toast policy and the quiet-hours state;
* exactly ONE pending wake-up (:class:`~notifier.app.scheduler.Scheduler`): the earliest of
  the toast policy's next decision (burst window, end of quiet hours) and the next quiet-hours
  or pause boundary (for the badge's quiet mark). Nothing polls.

Links: :meth:`open_notification` sends every URL through :func:`notifier.core.links.check_link`
against the configured helpdesk; a refused link is logged (the URL's origin and the reason,
never a token) and not opened. Opening goes through the :class:`UrlOpener` Protocol (the
browser is a true edge; tests record the URLs).

Actions (mark read, delete …) go to the engine, which applies them to the cache at once
(``local=True`` change) and queues them for the server. Signed out (no engine) they are
applied to the cache and queued the same way, and flushed once an engine runs.

The controller also implements the settings dialog's ``SettingsBackend`` Protocol
(``settings``, ``save_settings``, ``sign_in_password`` …).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QObject, Signal

from notifier.app.scheduler import Scheduler, WakeUpHandle
from notifier.core.errors import AuthFailed, NotifierError
from notifier.core.links import LinkRefused, check_link
from notifier.core.ports import Clock
from notifier.core.quiet_hours import QuietSchedule, QuietState, resolve_wall_time
from notifier.core.settings import (
    HelpdeskChoice,
    Settings,
    SettingsError,
    from_json,
    validate_server_url,
)
from notifier.core.status import CacheChange, ChangeKind, ConnectionState, ConnectionStatus
from notifier.core.toast_policy import Toast, ToastPolicy
from notifier.core.wire import AgentInfo, ClearScope, Notification, NotificationType, Preferences
from notifier.store.cache import Applied, ListFilter, NotificationCache
from notifier.store.settings_file import save_settings
from notifier.store.site_settings import SiteSettings, current_site_settings
from notifier.sync.engine import changes_for

log = logging.getLogger(__name__)

MORNING = time(8, 0)
TOAST_ACTION_MARK_READ = "mark-read"
TOAST_ACTION_OPEN = "open"

StatusCallback = Callable[[ConnectionStatus], None]
ChangeCallback = Callable[[CacheChange], None]


class UrlOpener(Protocol):
    def open_url(self, url: str) -> bool:
        """Open ``url`` in the default browser; False if the platform could not."""
        ...


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


class Services(Protocol):
    """What the controller needs from layers it may not import (client, compose, keyring).

    The composition root (notifier/main.py) provides the real one, importing the network
    stack lazily; tests pass the same real one (against the reference server).
    """

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

    async def request_token(
        self, settings: Settings, server_url: str, username: str, password: str
    ) -> str: ...
    async def check_connection(
        self, settings: Settings, server_url: str, token: str
    ) -> AgentInfo: ...
    def stored_token(self, server_url: str) -> str | None: ...
    def save_token(self, server_url: str, token: str) -> None: ...
    def delete_token(self, server_url: str) -> None: ...
    async def load_preferences(self, settings: Settings) -> Preferences: ...
    async def save_preferences(
        self, settings: Settings, preferences: Preferences
    ) -> Preferences: ...
    def set_start_at_login(self, enabled: bool) -> None: ...
    def log_folder(self) -> Path: ...


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
        settings: Settings,
        cache: NotificationCache,
        clock: Clock,
        scheduler: Scheduler,
        url_opener: UrlOpener,
        services: Services | None = None,
        settings_path: Path | None = None,
        tz: tzinfo | None = None,
        server_override: str | None = None,
        site: SiteSettings | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._server_override = server_override
        # IT's system-wide defaults (None: those in force now); their locked keys hold.
        self._site = site if site is not None else current_site_settings()
        self._settings = settings
        self.cache = cache
        self._clock = clock
        self._scheduler = scheduler
        self._url_opener = url_opener
        self._services = services
        self._settings_path = settings_path
        self._tz = tz
        self._quiet = self._quiet_state(settings)
        self._policy = ToastPolicy(settings, self._quiet)
        self._wake_up: WakeUpHandle | None = None
        self._wake_at: datetime | None = None
        self._engine: Engine | None = None
        self._engine_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._restart_task: asyncio.Task[None] | None = None
        self._status = ConnectionStatus(ConnectionState.SIGNED_OUT)
        self._agent: AgentInfo | None = None
        self._counts = Counts(cache.unread_count(), cache.new_since_seen_count())
        self._quiet_reason = self._quiet.reason(clock.now())
        if cache.recovered_from is not None:
            self._status = ConnectionStatus(
                ConnectionState.SIGNED_OUT,
                notice="The saved notifications could not be read and are being rebuilt.",
            )
        self._schedule_wake_up()

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

    @property
    def server_url(self) -> str:
        """The helpdesk in use: --server / NOTIFIER_SERVER, else the settings' one."""
        return self._server_override or self._settings.server_url

    def is_quiet(self) -> bool:
        return self._quiet.is_suppressed(self._clock.now())

    # ------------------------------------------------------------------ engine lifecycle

    def start(self) -> None:
        """Build the engine (if signed in) and run it as a task on the running loop."""
        if self._services is None or self._engine is not None:
            return
        engine = self._services.build_engine(
            self._settings, self.cache, on_status=self.on_status, on_change=self.on_change
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
        for it and for actions in flight; cancel the wake-up. Safe to call twice, and from a
        task the controller spawned."""
        current = asyncio.current_task()
        restart, self._restart_task = self._restart_task, None
        if restart is not None and restart is not current:
            restart.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await restart
        self._cancel_wake_up()
        await self._stop_engine()
        others = [task for task in self._tasks if task is not current]
        if others:
            await asyncio.gather(*others, return_exceptions=True)

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
            self._agent = status.agent
        self._status = status
        self.statusChanged.emit(status)

    def on_change(self, change: CacheChange) -> None:
        self.changeApplied.emit(change)
        self._update_counts()
        now = self._clock.now()
        withdrawn = self._policy.withdrawn(change)
        if withdrawn:
            self.toastsWithdrawn.emit(withdrawn)
        self._policy.offer(change, now)
        self._schedule_wake_up()

    # ------------------------------------------------------------------ intents

    def open_notification(self, notification_id: str) -> bool:
        """Open the ticket (or comment) in the browser and mark it read. False if refused."""
        notification = self.cache.get(notification_id)
        if notification is None:
            log.info("notification %s is gone; nothing to open", notification_id)
            return False
        try:
            url = check_link(notification.link, self.server_url)
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

    # ------------------------------------------------------------------ SettingsBackend

    def settings(self) -> Settings:
        return self._settings

    def locked_settings(self) -> frozenset[str]:
        return self._site.locked

    def save_settings(self, settings: Settings) -> None:
        """Validate, write the file, apply (restarting the engine if the connection changed).
        A locked setting keeps the site's value whatever ``settings`` holds."""
        settings = self._with_locks(settings.replace())  # validates; raises SettingsError
        old = self._settings
        if settings.start_at_login != old.start_at_login and self._services is not None:
            self._services.set_start_at_login(settings.start_at_login)
        self._apply_settings(settings)
        if (
            settings.quiet_hours != old.quiet_hours
            and settings.backend.keeps_preferences
            and self._agent is not None
            and self._services
        ):
            self._spawn(self._save_quiet_hours_on_helpdesk())
        if _connection(settings) != _connection(old) and self._services:
            if self._restart_task is not None:
                self._restart_task.cancel()
            self._restart_task = asyncio.ensure_future(self.restart_engine())

    async def sign_in_password(
        self,
        server_url: str,
        username: str,
        password: str,
        *,
        helpdesk: HelpdeskChoice | None = None,
    ) -> AgentInfo:
        """Sign in to ``server_url``, of the kind ``helpdesk`` chooses (None: the settings'
        kind); the choice is saved with the URL once the sign-in worked."""
        services = self._require_services()
        account = self._account(self._allowed_server_url(server_url), helpdesk)
        token = await services.request_token(account, account.server_url, username, password)
        return await self._finish_sign_in(account, helpdesk, token)

    async def sign_in_token(
        self, server_url: str, token: str, *, helpdesk: HelpdeskChoice | None = None
    ) -> AgentInfo:
        """As :meth:`sign_in_password`, with an API token (Frappe: ``KEY:SECRET``)."""
        return await self._finish_sign_in(
            self._account(self._allowed_server_url(server_url), helpdesk), helpdesk, token.strip()
        )

    async def test_connection(
        self, server_url: str, *, helpdesk: HelpdeskChoice | None = None
    ) -> str:
        services = self._require_services()
        account = self._account(server_url, helpdesk)
        server_url = account.server_url
        try:
            token = services.stored_token(server_url)
        except NotifierError as error:  # e.g. no usable keyring
            return f"Cannot read the saved token: {error}"
        if token is None:
            return "Not signed in to this helpdesk yet: sign in to test the connection."
        try:
            agent = await services.check_connection(account, server_url, token)
        except AuthFailed as error:
            if error.code == "not_an_agent":
                return str(error)
            return "The helpdesk refused the saved token: sign in again."
        except NotifierError as error:
            return f"Could not connect: {error}"
        return f"Connected as {agent.name}"

    async def sign_out(self) -> None:
        """Stop syncing, delete the token, and forget this agent's notifications and queue."""
        services = self._require_services()
        await self.stop()
        if self._settings.server_url:
            services.delete_token(self._settings.server_url)
        self._agent = None
        self._forget_cached()
        self.on_status(ConnectionStatus(ConnectionState.SIGNED_OUT))

    def signed_in_agent(self) -> AgentInfo | None:
        return self._agent

    async def load_preferences(self) -> Preferences:
        return await self._require_services().load_preferences(self._settings)

    async def save_preferences(self, preferences: Preferences) -> Preferences:
        return await self._require_services().save_preferences(self._settings, preferences)

    async def _save_quiet_hours_on_helpdesk(self) -> None:
        """The helpdesk holds e-mail during quiet hours too, so it gets a copy of them (and of
        the time zone they are read in); the tray keeps using its own copy, offline as well.
        A failure is logged; the next save of the quiet hours sends them again."""
        services = self._require_services()
        preferences = await services.load_preferences(self._settings)
        zone = getattr(self._quiet.schedule.tz, "key", None)
        updated = dataclasses.replace(
            preferences,
            quiet_hours=self._settings.quiet_hours,
            # Only a real IANA name means the same on the helpdesk ("localtime" does not).
            timezone=zone if zone == "UTC" or (zone and "/" in zone) else preferences.timezone,
        )
        if updated != preferences:
            await services.save_preferences(self._settings, updated)

    def set_start_at_login(self, enabled: bool) -> None:
        self._require_services().set_start_at_login(enabled)
        if enabled != self._settings.start_at_login:
            self._apply_settings(self._settings.replace(start_at_login=enabled))

    def open_log_folder(self) -> None:
        folder = self._require_services().log_folder()
        self._url_opener.open_url(folder.as_uri())

    # ------------------------------------------------------------------ internals

    def _account(self, server_url: str, helpdesk: HelpdeskChoice | None) -> Settings:
        """The current settings with this helpdesk (validated; raises SettingsError)."""
        settings = self._settings.replace(server_url=validate_server_url(server_url))
        return helpdesk.applied_to(settings) if helpdesk is not None else settings

    async def _finish_sign_in(
        self, account: Settings, helpdesk: HelpdeskChoice | None, token: str
    ) -> AgentInfo:
        services = self._require_services()
        agent = await services.check_connection(account, account.server_url, token)
        services.save_token(account.server_url, token)
        await self.stop()
        # No wipe here: the engine claims the cache for this account and agent when it
        # connects, and resets it (publishing RESET) if it held someone else's.
        self._agent = agent
        # On the settings as they are now (a pause set meanwhile stays).
        self._apply_settings(self._account(account.server_url, helpdesk))
        self.start()
        self._schedule_wake_up()
        return agent

    def _forget_cached(self) -> None:
        self.cache.forget()  # notifications, queue and owner
        self.on_change(CacheChange(ChangeKind.RESET))

    def _require_services(self) -> Services:
        if self._services is None:
            raise RuntimeError("this controller was built without account services")
        return self._services

    def _act(
        self,
        with_engine: Callable[[Engine], Coroutine[Any, Any, None]],
        offline: Callable[[], Applied],
    ) -> None:
        if self._engine is not None:
            self._spawn(with_engine(self._engine))
            return
        # Signed out: apply and queue locally, publishing the change as the engine would.
        applied = offline()
        for change in changes_for(applied, local=True):
            self.on_change(change)

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._on_task_done)

    def _on_task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("an action failed: %s", task.exception())

    def _update_counts(self) -> None:
        counts = Counts(self.cache.unread_count(), self.cache.new_since_seen_count())
        old, self._counts = self._counts, counts
        if counts.unread != old.unread:
            self.unreadChanged.emit(counts.unread)
        if counts.new_since_seen != old.new_since_seen:
            self.newSinceSeenChanged.emit(counts.new_since_seen)

    def _quiet_state(self, settings: Settings) -> QuietState:
        schedule = (
            QuietSchedule(settings.quiet_hours, self._tz)
            if self._tz is not None
            else QuietSchedule(settings.quiet_hours)
        )
        return QuietState(schedule, settings.paused_until)

    def _with_locks(self, settings: Settings) -> Settings:
        """``settings`` with the site's value for every locked key."""
        if not self._site.locked:
            return settings
        return from_json(self._site.merge(settings.to_json()))

    def _allowed_server_url(self, server_url: str) -> str:
        """``server_url`` validated; refused when IT locked the helpdesk to another one."""
        server_url = validate_server_url(server_url)
        if "server_url" in self._site.locked and server_url != self._settings.server_url:
            raise SettingsError(
                "server_url", f"your IT department set the helpdesk to {self._settings.server_url}"
            )
        return server_url

    def _apply_settings(self, settings: Settings) -> None:
        settings = self._with_locks(settings)
        self._settings = settings
        if self._settings_path is not None:
            save_settings(self._settings_path, settings, self._site)
        self._quiet = self._quiet_state(settings)
        self._policy.update(settings, self._quiet)
        self.settingsChanged.emit(settings)
        self._on_wake_up()

    def _set_paused_until(self, until: datetime | None) -> None:
        try:
            self._apply_settings(self._settings.replace(paused_until=until))
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


def _connection(settings: Settings) -> tuple[object, ...]:
    """The settings that decide how the engine reaches the helpdesk (a change restarts it)."""
    return (
        settings.server_url,
        settings.ca_bundle,
        settings.proxy,
        HelpdeskChoice.of(settings),
    )
