"""Builds the real sync engine and backend from settings and the environment (no Qt here).

The one factory for backends and engines: the tray app (``notifier.main.LiveServices``),
``notifier tail`` and ``notifier doctor`` all get theirs from :func:`build_backend` and
:func:`build_engine`, so they reach the helpdesk and fill a cache exactly the same way. Also
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
from typing import TYPE_CHECKING

from notifier.client.reference import ReferenceBackend
from notifier.client.transport import TransportConfig
from notifier.core.errors import KeyringUnavailable
from notifier.core.ports import HelpdeskBackend
from notifier.core.settings import Settings, validate_server_url
from notifier.core.status import CacheChange, ConnectionStatus
from notifier.store.cache import NotificationCache
from notifier.store.log_file import RotatingLogFile
from notifier.store.paths import AppPaths
from notifier.sync.engine import SyncEngine, SystemClock

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
    """The helpdesk URL: a command-line override, then NOTIFIER_SERVER, then the settings."""
    for candidate in (override, environ.get("NOTIFIER_SERVER"), settings.server_url):
        if candidate:
            return validate_server_url(candidate)
    return ""


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
    try:
        config.ssl_context()
    except ValueError as error:
        log.warning("%s", error)
        return dataclasses.replace(config, ca_bundle=None), str(error)
    return config, None


def build_backend(server_url: str, token: str, config: TransportConfig) -> HelpdeskBackend:
    """The adapter for the helpdesk at ``server_url``: the one place that picks the kind of
    backend (only the reference helpdesk's today), for the engine and one-off calls alike."""
    return ReferenceBackend(server_url, token, config)


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
    :class:`SyncEngine` (``notifier tail``'s at-least-once output).
    """
    credentials = resolve_credentials(
        settings, environ, server_override=server_override, token_store=token_store
    )
    if not credentials.server_url or not credentials.token:
        log.info("signed out (%s)", credentials.token_source)
        return None
    config, notice = transport_config(settings, transport, environ)
    return SyncEngine(
        build_backend(credentials.server_url, credentials.token, config),
        cache,
        SystemClock(),
        on_status=on_status,
        on_change=on_change,
        notice=notice,
        account=credentials.server_url,
        publish_before_commit=publish_before_commit,
    )


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
