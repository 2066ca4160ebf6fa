"""Builds the real sync engine and backend from settings and the environment (no Qt here).

The one factory for backends and engines: the tray app (:class:`LiveServices`),
``notifier login``, ``notifier tail`` and ``notifier doctor`` all get theirs from
:func:`build_backend` and :func:`build_engine`, so they reach the helpdesk and fill a cache
exactly the same way. :func:`build_backend` is the one place that picks the kind of helpdesk
(``Settings.backend``): the reference helpdesk (docs/protocol.md) or a Frappe Helpdesk site
(docs/frappe.md), whose adapter keeps a ledger file beside the cache it fills
(:func:`frappe_ledger_file`: the tray's and ``notifier tail``'s each have their own). Also
here: the rotating log file and the filter that keeps tokens out of every log line.

Precedence: ``NOTIFIER_SERVER`` over ``settings.server_url``; ``NOTIFIER_TOKEN`` over the
keyring. No server URL or no token means signed out: no engine (the caller's cache still
shows what was synced before).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from notifier.client.reference import ReferenceBackend
from notifier.client.transport import TransportConfig
from notifier.core.errors import AuthFailed, ConnectionLost, KeyringUnavailable
from notifier.core.ports import HelpdeskBackend
from notifier.core.settings import BackendKind, Settings, chosen_server_url
from notifier.core.status import CacheChange, ConnectionStatus
from notifier.core.wire import AgentInfo, Preferences
from notifier.store.cache import NotificationCache
from notifier.store.log_file import RotatingLogFile
from notifier.store.paths import AppPaths
from notifier.sync.engine import EngineOptions, SyncEngine, SystemClock

if TYPE_CHECKING:  # keyring is imported when a token is read from it (not for NOTIFIER_TOKEN)
    from notifier.store.secrets import TokenStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Credentials:
    server_url: str
    token: str | None
    token_source: str  # "environment", "keyring", or why there is none


def resolve_server_url(
    settings: Settings, environ: Mapping[str, str], override: str | None = None
) -> str:
    """The helpdesk URL: :func:`~notifier.core.settings.chosen_server_url` over the settings."""
    return chosen_server_url(override, environ, settings.server_url)


def resolve_credentials(
    settings: Settings,
    environ: Mapping[str, str],
    *,
    server_override: str | None = None,
    token_store: TokenStore | None = None,
) -> Credentials:
    server_url = resolve_server_url(settings, environ, server_override)
    env_token = environ.get("NOTIFIER_TOKEN", "").strip()
    if env_token:
        return Credentials(server_url, env_token, "environment")
    if not server_url:
        return Credentials(server_url, None, "no server configured")
    if token_store is None:
        from notifier.store.secrets import TokenStore

        token_store = TokenStore()
    try:
        token = token_store.get(server_url)
    except KeyringUnavailable as error:
        log.warning("no token: %s", error)
        return Credentials(server_url, None, f"keyring unavailable: {error}")
    return Credentials(server_url, token, "keyring" if token else "not signed in")


def transport_config(
    settings: Settings,
    defaults: TransportConfig | None = None,
    environ: Mapping[str, str] = os.environ,
) -> tuple[TransportConfig, str | None]:
    """How to reach the helpdesk with ``settings`` and the proxy variables of ``environ``
    (timeouts from ``defaults``), and a notice when a setting cannot be used.

    An unusable CA bundle (missing, not PEM) is dropped with a notice instead of raising: the
    tray must start and say what is wrong. Verification stays on with the system's trust
    store; a server signed by the missing CA then fails with a certificate error the status
    shows. Verification is never turned off.
    """
    config = TransportConfig.from_settings(settings, defaults=defaults, environ=environ)
    if config.ca_bundle is None:
        # Nothing to check; a context made here would load the system's trust store, which a
        # plain-http helpdesk never needs (and a TLS one loads when it connects).
        return config, None
    try:
        config.ssl_context()
    except ValueError as error:
        # Not logged here: the engine logs it (build_engine) and doctor reports it as a check,
        # where a log line on standard error would say it twice.
        return dataclasses.replace(config, ca_bundle=None), str(error)
    return config, None


def frappe_ledger_file(cache_file: Path) -> Path:
    """The Frappe adapter's ledger (its cursor state) for the cache at ``cache_file``, beside
    it: ``notifications.sqlite3`` → ``notifications.frappe-ledger.sqlite3``. One per cache,
    since a cache's cursor is a number of its ledger."""
    return cache_file.with_name(f"{cache_file.stem}.frappe-ledger.sqlite3")


def forget_backend_state(cache_file: Path) -> None:
    """Sign-out: delete what an adapter kept for the cache at ``cache_file`` (the Frappe
    ledger holds the agent's notifications too)."""
    from notifier.client.frappe_ledger import Ledger

    Ledger.delete(frappe_ledger_file(cache_file))


def build_backend(
    settings: Settings,
    server_url: str,
    token: str,
    config: TransportConfig,
    *,
    ledger_file: Path,
) -> HelpdeskBackend:
    """The adapter for the helpdesk at ``server_url`` of the kind ``settings.backend`` names:
    the one place that picks it, for the engine and one-off calls alike. ``token`` is the
    keyring's string (for Frappe: ``KEY:SECRET``, or a username and password, see
    :meth:`~notifier.client.frappe_rest.FrappeCredentials.from_token`). ``ledger_file`` is
    where a Frappe adapter keeps its cursor (:func:`frappe_ledger_file` of the cache it
    fills); one-off calls (``me``, preferences) never open it.

    Raises ``AuthFailed`` when ``token`` cannot be this kind's credentials (sign in again).
    """
    if settings.backend is BackendKind.FRAPPE:
        # Imported here: the reference helpdesk's tray never loads the Frappe adapter.
        from notifier.client.frappe import FrappeBackend
        from notifier.client.frappe_rest import FrappeCredentials, FrappeSite

        try:
            credentials = FrappeCredentials.from_token(token)
        except ValueError as error:
            raise AuthFailed(
                f"the saved sign-in is not one for a Frappe Helpdesk site ({error}); sign in again",
                status=401,
                code="unusable_credentials",
            ) from None
        site = FrappeSite(
            server_url, settings.frappe_site_name or "", settings.frappe_socketio_url or ""
        )
        return FrappeBackend(
            site, credentials, ledger_file, config, time_zone=settings.frappe_time_zone
        )
    return ReferenceBackend(server_url, token, config)


async def token_for_password(
    settings: Settings, server_url: str, username: str, password: str, config: TransportConfig
) -> str:
    """What to keep in the keyring for a username and password sign-in. The reference
    helpdesk trades them for an API token. A Frappe Helpdesk site gives an agent no token
    (only a System Manager can make API keys), and its sessions expire, so the username and
    password themselves are kept (README, "Connecting to a Frappe Helpdesk site"); check
    them with :func:`check_sign_in`."""
    if settings.backend is BackendKind.FRAPPE:
        from notifier.client.frappe_rest import FrappeCredentials

        return FrappeCredentials(username=username, password=password).to_token()
    from notifier.client.auth import request_token

    return await request_token(server_url, username, password, config)


async def check_sign_in(
    settings: Settings,
    server_url: str,
    token: str,
    config: TransportConfig,
    *,
    ledger_file: Path,
) -> AgentInfo:
    """Who ``token`` signs in as on the helpdesk of ``settings.backend`` at ``server_url``
    (``AuthFailed``, ``ConnectionLost`` … otherwise). Stores nothing."""
    backend = build_backend(settings, server_url, token, config, ledger_file=ledger_file)
    try:
        return await backend.me()
    finally:
        await backend.aclose()


async def check_live_connection(
    settings: Settings, server_url: str, token: str, config: TransportConfig
) -> None:
    """Whether the live connection of a Frappe Helpdesk site opens (its socket.io server,
    with the site name as namespace): ``ConnectionLost`` saying why otherwise. Nothing to do
    for the project's own helpdesk, whose WebSocket is at the URL the sign-in just used."""
    if settings.backend is not BackendKind.FRAPPE:
        return
    import asyncio
    import tempfile

    # A ledger of its own: the tray's stays with the tray's engine.
    with tempfile.TemporaryDirectory(prefix="notifier-check-") as folder:
        ledger_file = Path(folder) / "ledger.sqlite3"
        backend = build_backend(settings, server_url, token, config, ledger_file=ledger_file)
        try:
            async with asyncio.timeout(config.connect_timeout + 5):
                stream = await backend.open_stream(0)
                await stream.close()
                # It opens without socket.io too (on reconciliation alone), saying why.
                missing = getattr(stream, "realtime_error", None)
                if isinstance(missing, ConnectionLost):
                    raise missing
        except TimeoutError:
            raise ConnectionLost("the socket.io server did not answer in time") from None
        finally:
            await backend.aclose()


def build_engine(
    settings: Settings,
    cache: NotificationCache,
    *,
    on_status: Callable[[ConnectionStatus], None],
    on_change: Callable[[CacheChange], None],
    environ: Mapping[str, str] = os.environ,
    token_store: TokenStore | None = None,
    server_override: str | None = None,
    transport: TransportConfig | None = None,
    publish_before_commit: bool = False,
) -> SyncEngine | None:
    """The engine that keeps ``cache`` in sync (None when signed out): the tray app's
    (``LiveServices``) and ``notifier tail``'s, so both label and fill a cache the same way.

    The cache is labelled with the server URL and the agent id: another helpdesk, even with
    the same agent id, gets a fresh cache and cursor. ``transport`` gives the timeouts; the
    CA bundle and the proxy always come from ``settings``. ``publish_before_commit``: see
    :class:`EngineOptions` (``notifier tail``'s at-least-once output). A Frappe adapter keeps its
    ledger in :func:`frappe_ledger_file` of the cache's path. A saved sign-in that cannot be
    this kind's credentials counts as signed out (logged).
    """
    credentials = resolve_credentials(
        settings, environ, server_override=server_override, token_store=token_store
    )
    if not credentials.server_url or not credentials.token:
        log.info("signed out (%s)", credentials.token_source)
        return None
    config, notice = transport_config(settings, transport, environ)
    if notice is not None:
        log.warning("%s", notice)
    try:
        backend = build_backend(
            settings,
            credentials.server_url,
            credentials.token,
            config,
            ledger_file=frappe_ledger_file(cache.path),
        )
    except AuthFailed as error:
        log.warning("signed out: %s", error)
        return None
    return SyncEngine(
        backend,
        cache,
        SystemClock(),
        on_status=on_status,
        on_change=on_change,
        options=EngineOptions(
            notice=notice,
            account=credentials.server_url,
            publish_before_commit=publish_before_commit,
        ),
    )


class LiveServices:
    """The real ports of the tray app and of ``notifier login``: the account service's
    (:class:`notifier.app.account.AccountPorts`: the client layer, the keyring, the autostart
    entry) and the controller's engine factory
    (:class:`notifier.app.controller.EngineFactory`). Every heavy import (httpx, keyring)
    happens inside the method that needs it.

    Engines and backends come from :func:`build_engine` and :func:`build_backend`, as for
    ``notifier tail`` and ``notifier doctor``. ``transport`` gives the timeouts (tests shorten
    them); the CA bundle and the proxy always come from the settings. ``token_store`` is the
    keyring (None: the default one); ``NOTIFIER_TOKEN`` in ``environ`` comes before it.
    """

    def __init__(
        self,
        paths: AppPaths,
        environ: Mapping[str, str],
        server_override: str | None = None,
        transport: TransportConfig | None = None,
        *,
        token_store: TokenStore | None = None,
    ) -> None:
        self._paths = paths
        self._environ = environ
        self._server_override = server_override
        self._transport = transport
        self._token_store = token_store

    def build_engine(
        self,
        settings: Settings,
        cache: NotificationCache,
        *,
        on_status: Callable[[ConnectionStatus], None],
        on_change: Callable[[CacheChange], None],
    ) -> SyncEngine | None:
        return build_engine(
            settings,
            cache,
            on_status=on_status,
            on_change=on_change,
            environ=self._environ,
            token_store=self._token_store,
            server_override=self._server_override,
            transport=self._transport,
        )

    def _config(self, settings: Settings) -> TransportConfig:
        return TransportConfig.from_settings(
            settings, defaults=self._transport, environ=self._environ
        )

    def _tokens(self) -> TokenStore:
        if self._token_store is None:
            from notifier.store.secrets import TokenStore

            self._token_store = TokenStore()
        return self._token_store

    async def request_token(
        self, settings: Settings, server_url: str, username: str, password: str
    ) -> str:
        return await token_for_password(
            settings, server_url, username, password, self._config(settings)
        )

    async def check_connection(self, settings: Settings, server_url: str, token: str) -> AgentInfo:
        return await check_sign_in(
            settings,
            server_url,
            token,
            self._config(settings),
            ledger_file=frappe_ledger_file(self._paths.cache_file),
        )

    async def check_live_connection(self, settings: Settings, server_url: str, token: str) -> None:
        await check_live_connection(settings, server_url, token, self._config(settings))

    def stored_token(self, server_url: str) -> str | None:
        env_token = self._environ.get("NOTIFIER_TOKEN", "").strip()
        return env_token or self._tokens().get(server_url)

    def save_token(self, server_url: str, token: str) -> None:
        self._tokens().set(server_url, token)

    def delete_token(self, server_url: str) -> None:
        """Delete the token, and what the backend kept for this account (the Frappe ledger
        holds the agent's notifications, like the cache the controller forgets)."""
        forget_backend_state(self._paths.cache_file)
        if self._environ.get("NOTIFIER_TOKEN", "").strip():
            return  # the token comes from the environment; nothing is stored to delete
        self._tokens().delete(server_url)

    def _backend(self, settings: Settings) -> HelpdeskBackend:
        credentials = resolve_credentials(
            settings,
            self._environ,
            server_override=self._server_override,
            token_store=self._token_store,
        )
        if not credentials.server_url or not credentials.token:
            raise AuthFailed("not signed in", status=401)
        config, notice = transport_config(settings, self._transport, self._environ)
        if notice is not None:
            log.warning("%s", notice)
        return build_backend(
            settings,
            credentials.server_url,
            credentials.token,
            config,
            ledger_file=frappe_ledger_file(self._paths.cache_file),
        )

    async def load_preferences(self, settings: Settings) -> Preferences:
        backend = self._backend(settings)
        try:
            return await backend.get_preferences()
        finally:
            await backend.aclose()

    async def save_preferences(self, settings: Settings, preferences: Preferences) -> Preferences:
        backend = self._backend(settings)
        try:
            return await backend.put_preferences(preferences)
        finally:
            await backend.aclose()

    def set_start_at_login(self, enabled: bool) -> None:
        from notifier.store.autostart import AutostartEntry, current_command, default_config_home

        entry = AutostartEntry(default_config_home(self._environ), current_command())
        if enabled:
            entry.enable()
        else:
            entry.disable()

    def log_folder(self) -> Path:
        return self._paths.log_dir


# --------------------------------------------------------------------------- logging

_SECRET_PATTERNS = (
    # "Authorization: Bearer abc", "'authorization': 'Bearer abc'", "Bearer abc"
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(?:bearer\s+)?[^\s'\",}]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)((?:token|password)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}&]+"),
)


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with tokens, passwords and Authorization values replaced by ``[redacted]``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1[redacted]", text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message so no token or Authorization value is written.

    Known secrets (the current token) are replaced wherever they appear; patterns catch the
    rest (``Bearer ...``, ``token=...``, ``"password": ...``).
    """

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self.secrets)
        if record.exc_info and record.exc_info[1] is not None:
            # Format the traceback now, redacted, so the handler does not add the raw one.
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info), self.secrets)
            record.exc_info = None
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


def redact_also(handler: logging.Handler, secret: str) -> None:
    """Have ``handler`` (from :func:`setup_logging`) redact ``secret`` too: a token read after
    logging started."""
    for item in handler.filters:
        if isinstance(item, RedactingFilter):
            item.secrets = (*item.secrets, secret)


def setup_logging(
    paths: AppPaths,
    level: str = "INFO",
    *,
    secrets: tuple[str, ...] = (),
    stderr: bool = False,
) -> logging.Handler:
    """A rotating log file in ``paths.log_dir`` (1 MB × 5), tokens redacted. Returns the
    file handler (tests and the UI may remove it again)."""
    paths.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    handler = RotatingLogFile(paths.log_file, max_bytes=1_000_000, backups=5)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.setLevel(level)
    root.addHandler(handler)
    if stderr:
        console = logging.StreamHandler()
        console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        console.addFilter(RedactingFilter(secrets))
        root.addHandler(console)
    # httpx logs every request URL at INFO; ours are token-free, but keep the file quiet.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return handler
