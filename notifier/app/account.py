"""The account service: which helpdesk, who is signed in to it, and the settings (no Qt).

One for every entry point: the tray app's settings dialog talks to it (it implements the
dialog's ``SettingsBackend`` Protocol), and so does ``notifier login``. It owns

* the settings in force, their file, and IT's site settings: a locked key keeps the site's
  value whatever is saved (:meth:`save_settings`, :meth:`apply`), and a sign-in elsewhere than
  a locked helpdesk is refused;
* signing in (password or API token: checked against the helpdesk, then kept in the keyring,
  and the helpdesk and its kind saved with the settings), testing the saved sign-in, signing
  out (the token deleted);
* the e-mail preferences kept on the helpdesk, with a copy of the quiet hours (the helpdesk
  holds e-mail during them too), the start-at-login entry and the log folder.

It does not sync. The part that does (the tray's :class:`~notifier.app.controller.AppController`)
registers as its :class:`AccountWatcher`: it hears of every change of the settings, of a
change in how the helpdesk is reached (reconnect), and of a sign-in or sign-out, before the
credentials change (stop syncing) and after (start again, or forget what was synced).

The network, the keyring and the autostart entry are layers ``app`` may not import: they come
through :class:`AccountPorts`, which the composition root implements
(:class:`notifier.compose.LiveServices`); tests pass the same real one against the reference
server.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path
from typing import Protocol

from notifier.app.background import Background
from notifier.app.local_zone import local_zone
from notifier.core.errors import AuthFailed, BackendError, NotifierError
from notifier.core.settings import (
    HelpdeskChoice,
    Settings,
    SettingsError,
    from_json,
    validate_server_url,
)
from notifier.core.text import wait_words
from notifier.core.wire import AgentInfo, Preferences
from notifier.store.settings_file import save_settings
from notifier.store.site_settings import SiteSettings, current_site_settings

log = logging.getLogger(__name__)


class UrlOpener(Protocol):
    def open_url(self, url: str) -> bool:
        """Open ``url`` in the default browser; False if the platform could not."""
        ...


class AccountPorts(Protocol):
    """What the account service needs from layers ``app`` may not import (client, keyring,
    autostart). ``settings`` says which kind of helpdesk, and how to reach it."""

    async def request_token(
        self, settings: Settings, server_url: str, username: str, password: str
    ) -> str: ...
    async def check_connection(
        self, settings: Settings, server_url: str, token: str
    ) -> AgentInfo: ...
    async def check_live_connection(
        self, settings: Settings, server_url: str, token: str
    ) -> None: ...
    def stored_token(self, server_url: str) -> str | None: ...
    def save_token(self, server_url: str, token: str) -> None: ...
    def delete_token(self, server_url: str) -> None: ...
    async def load_preferences(self, settings: Settings) -> Preferences: ...
    async def save_preferences(
        self, settings: Settings, preferences: Preferences
    ) -> Preferences: ...
    def set_start_at_login(self, enabled: bool) -> None: ...
    def log_folder(self) -> Path: ...


class AccountWatcher(Protocol):
    """The part that syncs for the account (the tray's controller)."""

    def account_settings_changed(self, settings: Settings) -> None:
        """``settings`` are in force now (and saved)."""
        ...

    def account_connection_changed(self) -> None:
        """How the helpdesk is reached changed (URL, kind, CA bundle, proxy): reconnect, in
        the background."""
        ...

    async def account_switching(self) -> None:
        """The credentials are about to change: stop syncing, and return once stopped."""
        ...

    def account_switched(self, agent: AgentInfo | None) -> None:
        """Signed in as ``agent`` (sync with the new credentials), or out (None: forget what
        was synced for the old ones)."""
        ...


class AccountService:
    """See the module docstring. ``ports`` None: settings only (signing in raises).
    ``server_override`` is ``--server`` / ``NOTIFIER_SERVER``; ``site`` IT's settings (None:
    those in force now); ``tz`` the time zone quiet hours are read in (None: the system's)."""

    def __init__(
        self,
        settings: Settings,
        ports: AccountPorts | None = None,
        *,
        settings_path: Path | None = None,
        site: SiteSettings | None = None,
        server_override: str | None = None,
        tz: tzinfo | None = None,
        url_opener: UrlOpener | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._site = site if site is not None else current_site_settings()
        self._settings = settings
        self._ports = ports
        self._settings_path = settings_path
        self._server_override = server_override
        self._tz = tz
        self._url_opener = url_opener
        self._agent: AgentInfo | None = None
        self._watcher: AccountWatcher | None = None
        self._background = Background("saving the quiet hours on the helpdesk")
        self._monotonic = monotonic
        # Per helpdesk: when (monotonic) a password sign-in may be sent again after one was
        # answered 429 with Retry-After (docs/protocol.md: never sooner).
        self._sign_in_not_before: dict[str, float] = {}

    def watch(self, watcher: AccountWatcher) -> None:
        """Tell ``watcher`` of every change from now on (one watcher: the part that syncs)."""
        self._watcher = watcher

    # ------------------------------------------------------------------ state

    def settings(self) -> Settings:
        return self._settings

    @property
    def server_url(self) -> str:
        """The helpdesk in use: --server / NOTIFIER_SERVER, else the settings' one."""
        return self._server_override or self._settings.server_url

    def locked_settings(self) -> frozenset[str]:
        return self._site.locked

    def signed_in_agent(self) -> AgentInfo | None:
        return self._agent

    def agent_connected(self, agent: AgentInfo) -> None:
        """The helpdesk said who the saved sign-in is (the engine asks at each connect)."""
        self._agent = agent

    async def wait_idle(self) -> None:
        """Wait for the saves still running in the background (before quitting)."""
        await self._background.wait()

    # ------------------------------------------------------------------ settings

    def apply(self, settings: Settings) -> Settings:
        """Put ``settings`` in force (a locked key keeps the site's value), write the file and
        tell the watcher. Returns what is in force."""
        settings = self._with_locks(settings)
        unchanged = settings == self._settings
        self._settings = settings
        # Nothing to write when nothing changed: signing in again to a helpdesk IT locked
        # leaves the agent's own file as it was (byte for byte).
        if self._settings_path is not None and not unchanged:
            save_settings(self._settings_path, settings, self._site)
        if self._watcher is not None:
            self._watcher.account_settings_changed(settings)
        return settings

    def save_settings(self, settings: Settings) -> None:
        """Validate, write the file, apply: the start-at-login entry follows, the quiet hours
        go to the helpdesk, a new way to the helpdesk reconnects. A locked setting keeps the
        site's value whatever ``settings`` holds."""
        settings = self._with_locks(settings.replace())  # validates; raises SettingsError
        old = self._settings
        if settings.start_at_login != old.start_at_login and self._ports is not None:
            self._ports.set_start_at_login(settings.start_at_login)
        self.apply(settings)
        if (
            settings.quiet_hours != old.quiet_hours
            and settings.backend.keeps_preferences
            and self._agent is not None
            and self._ports is not None
        ):
            self._background.spawn(self._save_quiet_hours_on_helpdesk())
        if _connection(settings) != _connection(old) and self._watcher is not None:
            self._watcher.account_connection_changed()

    def set_start_at_login(self, enabled: bool) -> None:
        self._require_ports().set_start_at_login(enabled)
        if enabled != self._settings.start_at_login:
            self.apply(self._settings.replace(start_at_login=enabled))

    def open_log_folder(self) -> None:
        folder = self._require_ports().log_folder()
        if self._url_opener is not None:
            self._url_opener.open_url(folder.as_uri())

    # ------------------------------------------------------------------ signing in and out

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
        ports = self._require_ports()
        account = self._account(self._allowed_server_url(server_url), helpdesk)
        wait = self._sign_in_not_before.get(account.server_url, 0.0) - self._monotonic()
        if wait > 0:
            raise BackendError(
                "the helpdesk asked for a pause after too many sign-ins;"
                f" try again in {wait_words(wait)}",
                status=429,
                code="rate_limited",
                retry_after=wait,
            )
        try:
            token = await ports.request_token(account, account.server_url, username, password)
        except BackendError as error:
            if error.retry_after:
                until = self._monotonic() + error.retry_after
                self._sign_in_not_before[account.server_url] = until
            raise
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
        """Whether the saved sign-in works, in words for the agent."""
        ports = self._require_ports()
        account = self._account(server_url, helpdesk)
        server_url = account.server_url
        try:
            token = ports.stored_token(server_url)
        except NotifierError as error:  # e.g. no usable keyring
            return f"Cannot read the saved token: {error}"
        if token is None:
            return "Not signed in to this helpdesk yet: sign in to test the connection."
        try:
            agent = await ports.check_connection(account, server_url, token)
        except AuthFailed as error:
            if error.code == "not_an_agent":
                return str(error)
            return "The helpdesk refused the saved token: sign in again."
        except NotifierError as error:
            return f"Could not connect: {error}"
        try:
            # A Frappe site's socket.io server is set apart from its URL (and named by the
            # site name): signed in but never live is what a wrong one looks like.
            await ports.check_live_connection(account, server_url, token)
        except NotifierError as error:
            return (
                f"Signed in as {agent.name}, but live updates cannot connect: {error}. Check the"
                " site name and the socket.io URL; `notifier doctor` says what to fix."
            )
        return f"Connected as {agent.name}"

    async def sign_out(self) -> None:
        """Stop syncing, delete the token, and forget this agent's notifications and queue."""
        ports = self._require_ports()
        if self._watcher is not None:
            await self._watcher.account_switching()
        if self._settings.server_url:
            ports.delete_token(self._settings.server_url)
        self._agent = None
        if self._watcher is not None:
            self._watcher.account_switched(None)

    async def _finish_sign_in(
        self, account: Settings, helpdesk: HelpdeskChoice | None, token: str
    ) -> AgentInfo:
        ports = self._require_ports()
        agent = await ports.check_connection(account, account.server_url, token)
        ports.save_token(account.server_url, token)
        if self._watcher is not None:
            await self._watcher.account_switching()
        # No wipe here: the engine claims the cache for this account and agent when it
        # connects, and resets it (publishing RESET) if it held someone else's.
        self._agent = agent
        # On the settings as they are now (a pause set meanwhile stays).
        self.apply(self._account(account.server_url, helpdesk))
        if self._watcher is not None:
            self._watcher.account_switched(agent)
        return agent

    # ------------------------------------------------------------------ on the helpdesk

    async def load_preferences(self) -> Preferences:
        return await self._require_ports().load_preferences(self._settings)

    async def save_preferences(self, preferences: Preferences) -> Preferences:
        return await self._require_ports().save_preferences(self._settings, preferences)

    @property
    def tz(self) -> tzinfo:
        """The time zone quiet hours are read in: the one given, else the computer's, looked
        up again each time (it may have changed since start-up)."""
        return self._tz if self._tz is not None else local_zone()

    async def _save_quiet_hours_on_helpdesk(self) -> None:
        """The helpdesk holds e-mail during quiet hours too, so it gets a copy of them (and of
        the time zone they are read in); the tray keeps using its own copy, offline as well.
        A failure is logged; the next save of the quiet hours sends them again."""
        ports = self._require_ports()
        preferences = await ports.load_preferences(self._settings)
        zone = getattr(self.tz, "key", None)
        updated = dataclasses.replace(
            preferences,
            quiet_hours=self._settings.quiet_hours,
            # Only a real IANA name means the same on the helpdesk ("localtime" does not).
            timezone=zone if zone == "UTC" or (zone and "/" in zone) else preferences.timezone,
        )
        if updated != preferences:
            await ports.save_preferences(self._settings, updated)

    # ------------------------------------------------------------------ internals

    def _require_ports(self) -> AccountPorts:
        if self._ports is None:
            raise RuntimeError("this account service was built without its ports")
        return self._ports

    def _account(self, server_url: str, helpdesk: HelpdeskChoice | None) -> Settings:
        """The current settings with this helpdesk (validated; raises SettingsError)."""
        settings = self._settings.replace(server_url=validate_server_url(server_url))
        return helpdesk.applied_to(settings) if helpdesk is not None else settings

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


def _connection(settings: Settings) -> tuple[object, ...]:
    """The settings that decide how the engine reaches the helpdesk (a change reconnects)."""
    return (
        settings.server_url,
        settings.ca_bundle,
        settings.proxy,
        HelpdeskChoice.of(settings),
    )
