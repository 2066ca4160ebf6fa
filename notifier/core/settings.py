"""The client's own settings: one typed value, validated, versioned, with ordered migrations.

Server-side preferences (email, which types the helpdesk creates) are not here: they live on
the helpdesk behind ``/me/preferences`` (:class:`notifier.core.wire.Preferences`). The file
format is JSON; reading and atomic writing are in :mod:`notifier.store.settings_file`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final
from urllib.parse import SplitResult, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notifier.core.wire import (
    NotificationType,
    QuietRange,
    WireError,
    format_timestamp,
    parse_timestamp,
)

SETTINGS_VERSION: Final = 2


class SettingsError(ValueError):
    """An invalid settings value; the message names the field and the reason, for the dialog."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field_name = field_name
        self.reason = reason


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class BackendKind(StrEnum):
    """Which helpdesk ``server_url`` is, so which adapter talks to it."""

    REFERENCE = "reference"  # this project's protocol (docs/protocol.md), e.g. notifier-server
    FRAPPE = "frappe"  # a Frappe Helpdesk site (docs/frappe.md)

    @property
    def keeps_preferences(self) -> bool:
        """Does this helpdesk keep per-agent notification preferences the tray edits (e-mail,
        the types it creates, a copy of the quiet hours)? Frappe Helpdesk has none."""
        return self is BackendKind.REFERENCE


class BadgeStyle(StrEnum):
    COUNT = "count"  # the unread number
    DOT = "dot"  # a dot only, for agents who find numbers stressful


@dataclass(frozen=True, slots=True)
class Settings:
    server_url: str = ""
    backend: BackendKind = BackendKind.REFERENCE
    # Frappe Helpdesk only (docs/frappe.md). The site name is the socket.io namespace (None:
    # the URL's host name); the socket.io URL is where Frappe's realtime server answers (None:
    # the site itself, as behind Frappe's nginx); the time zone is the site's (None: this
    # computer's), since Frappe sends naive local times.
    frappe_site_name: str | None = None
    frappe_socketio_url: str | None = None
    frappe_time_zone: str | None = None
    ca_bundle: str | None = None  # path to a PEM file of extra trusted CAs
    proxy: str | None = None  # http://, https://, socks5:// URL; None: use the environment
    log_level: LogLevel = LogLevel.INFO
    start_at_login: bool = False
    toasts_enabled: bool = True
    toast_types: frozenset[NotificationType] = frozenset(NotificationType)
    sound: bool = True
    summary_after_quiet: bool = True
    badge_style: BadgeStyle = BadgeStyle.COUNT
    quiet_hours: tuple[QuietRange, ...] = ()
    paused_until: datetime | None = None
    # Bursts larger than this become one summary toast.
    burst_threshold: int = 3
    extra: Mapping[str, Any] = field(default_factory=dict)  # unknown keys kept for newer apps

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied and validated."""
        return validate(dataclasses.replace(self, **changes))

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.extra)
        data.update(
            {
                "version": SETTINGS_VERSION,
                "server_url": self.server_url,
                "backend": self.backend.value,
                "frappe_site_name": self.frappe_site_name,
                "frappe_socketio_url": self.frappe_socketio_url,
                "frappe_time_zone": self.frappe_time_zone,
                "ca_bundle": self.ca_bundle,
                "proxy": self.proxy,
                "log_level": self.log_level.value,
                "start_at_login": self.start_at_login,
                "toasts_enabled": self.toasts_enabled,
                "toast_types": [t.value for t in NotificationType if t in self.toast_types],
                "sound": self.sound,
                "summary_after_quiet": self.summary_after_quiet,
                "badge_style": self.badge_style.value,
                "quiet_hours": [r.to_json() for r in self.quiet_hours],
                "paused_until": format_timestamp(self.paused_until)
                if self.paused_until is not None
                else None,
                "burst_threshold": self.burst_threshold,
            }
        )
        return data


@dataclass(frozen=True, slots=True)
class HelpdeskChoice:
    """Which kind of helpdesk ``server_url`` is, with a Frappe site's own fields: what the
    settings dialog's Account tab and ``notifier login`` choose besides the URL. None means
    the default (see :class:`Settings`)."""

    backend: BackendKind = BackendKind.REFERENCE
    frappe_site_name: str | None = None
    frappe_socketio_url: str | None = None
    frappe_time_zone: str | None = None

    @classmethod
    def of(cls, settings: Settings) -> HelpdeskChoice:
        return cls(
            settings.backend,
            settings.frappe_site_name,
            settings.frappe_socketio_url,
            settings.frappe_time_zone,
        )

    def applied_to(self, settings: Settings) -> Settings:
        """``settings`` with this choice, validated (``SettingsError`` names a bad field)."""
        return settings.replace(
            backend=self.backend,
            frappe_site_name=self.frappe_site_name,
            frappe_socketio_url=self.frappe_socketio_url,
            frappe_time_zone=self.frappe_time_zone,
        )


def _check_no_spaces(field_name: str, value: str) -> None:
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise SettingsError(field_name, "must not contain spaces or control characters")


def _check_port(field_name: str, parts: SplitResult) -> int | None:
    # urlsplit accepts any port text; .port raises ValueError for a bad one, so ask here
    # and turn it into a reason instead of letting a bare ValueError escape later.
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise SettingsError(field_name, "has an invalid port (use a number 1-65535)")
    return port


def chosen_server_url(override: str | None, environ: Mapping[str, str], saved: str = "") -> str:
    """The helpdesk URL in force: a command-line override, then NOTIFIER_SERVER, then the
    saved setting ("" when none is given). An invalid one is refused under the name it was
    given by (``--server``, ``NOTIFIER_SERVER``, ``server_url``), so the message says which to
    correct."""
    given = (
        ("--server", override),
        ("NOTIFIER_SERVER", environ.get("NOTIFIER_SERVER")),
        ("server_url", saved),
    )
    for source, candidate in given:
        if candidate:
            return validate_server_url(candidate, source)
    return ""


def validate_server_url(url: str, field_name: str = "server_url") -> str:
    """Normalise and check a helpdesk URL: http(s), a host, no credentials, no query."""
    url = url.strip().rstrip("/")
    if not url:
        return ""
    _check_no_spaces(field_name, url)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise SettingsError(field_name, "must start with https:// (or http:// for a local one)")
    if not parts.hostname:
        raise SettingsError(field_name, "must name a host, like https://helpdesk.example.com")
    _check_port(field_name, parts)
    if parts.username or parts.password:
        raise SettingsError(field_name, "must not contain a user name or password")
    if parts.query or parts.fragment:
        raise SettingsError(field_name, "must not contain ? or #")
    return url


_SITE_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


def validate_frappe_site_name(name: str | None) -> str | None:
    """A Frappe site name (the socket.io namespace without its slash), like hd.example.com."""
    if name is None or not name.strip():
        return None
    name = name.strip().lstrip("/")
    if not _SITE_NAME.match(name):
        raise SettingsError(
            "frappe_site_name",
            "must be a site name like helpdesk.example.com (letters, digits, dots and dashes)",
        )
    return name


def validate_time_zone(name: str | None, field_name: str = "frappe_time_zone") -> str | None:
    if name is None or not name.strip():
        return None
    name = name.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            field_name, f"{name!r} is not a time zone name like Europe/Berlin"
        ) from None
    return name


def validate_proxy(proxy: str | None) -> str | None:
    if proxy is None or not proxy.strip():
        return None
    proxy = proxy.strip()
    _check_no_spaces("proxy", proxy)
    parts = urlsplit(proxy)
    if parts.scheme not in ("http", "https", "socks5", "socks5h", "socks4"):
        raise SettingsError(
            "proxy",
            "must be an http://, https://, socks5://, socks5h:// or socks4:// URL,"
            " like http://proxy.example.com:3128",
        )
    if not parts.hostname or _check_port("proxy", parts) is None:
        raise SettingsError("proxy", "must name a host and a port, like http://proxy:3128")
    return proxy


def validate(settings: Settings) -> Settings:
    """Check every field; return a normalised copy or raise :class:`SettingsError`."""
    threshold = settings.burst_threshold
    if not isinstance(threshold, int) or isinstance(threshold, bool) or not 1 <= threshold <= 100:
        raise SettingsError("burst_threshold", "must be between 1 and 100")
    if not all(isinstance(t, NotificationType) for t in settings.toast_types):
        raise SettingsError("toast_types", "must hold notification types only")
    for index, quiet_range in enumerate(settings.quiet_hours):
        try:
            # The wire parser holds the rules (weekday 0-6, HH:MM); reuse it.
            QuietRange.parse(quiet_range.to_json(), f"range {index + 1}")
        except WireError as error:
            raise SettingsError("quiet_hours", str(error)) from None
    if settings.paused_until is not None and settings.paused_until.utcoffset() is None:
        raise SettingsError("paused_until", "must carry a time zone")
    if settings.ca_bundle is not None and not settings.ca_bundle.strip():
        settings = dataclasses.replace(settings, ca_bundle=None)
    if not isinstance(settings.backend, BackendKind):
        raise SettingsError("backend", "must be one of " + ", ".join(k.value for k in BackendKind))
    socketio_url = settings.frappe_socketio_url
    if socketio_url is not None:
        socketio_url = validate_server_url(socketio_url, "frappe_socketio_url") or None
    return dataclasses.replace(
        settings,
        server_url=validate_server_url(settings.server_url),
        proxy=validate_proxy(settings.proxy),
        frappe_site_name=validate_frappe_site_name(settings.frappe_site_name),
        frappe_socketio_url=socketio_url,
        frappe_time_zone=validate_time_zone(settings.frappe_time_zone),
    )


# Migrations: MIGRATIONS[n] turns a version-n dict into a version-(n+1) dict. Add one per
# format change, never edit an old one; each is tested in tests/test_settings.py.
Migration = Callable[[dict[str, Any]], dict[str, Any]]


def _from_v0(data: dict[str, Any]) -> dict[str, Any]:
    # Version 0 (pre-release builds) called the helpdesk URL "server" and had no version key.
    data = dict(data)
    if "server" in data and "server_url" not in data:
        data["server_url"] = data.pop("server")
    data["version"] = 1
    return data


def _from_v1(data: dict[str, Any]) -> dict[str, Any]:
    # Version 2 added the backend kind; every version-1 file was written for the project's
    # own protocol (the Frappe adapter came with version 2), which is what a missing
    # "backend" reads as. Nothing is added: a sparse file (a site file of IT defaults) must
    # stay sparse, or the migration would turn a default into a site value.
    data = dict(data)
    data["version"] = 2
    return data


MIGRATIONS: dict[int, Migration] = {0: _from_v0, 1: _from_v1}


def migrate(data: Mapping[str, Any]) -> dict[str, Any]:
    current = dict(data)
    version = current.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise SettingsError("version", f"is {version!r}, expected a whole number")
    if version > SETTINGS_VERSION:
        raise SettingsError(
            "version", f"{version} is newer than this app understands ({SETTINGS_VERSION})"
        )
    while version < SETTINGS_VERSION:
        current = MIGRATIONS[version](current)
        version = current["version"]
    return current


_KNOWN_KEYS = {f.name for f in dataclasses.fields(Settings)} | {"version"}


def _typed(data: Mapping[str, Any], key: str, kind: type, default: Any) -> Any:
    if key not in data or data[key] is None:
        return default
    value = data[key]
    if kind is int and isinstance(value, bool):
        raise SettingsError(key, "must be a whole number")
    if not isinstance(value, kind):
        raise SettingsError(key, f"must be of type {kind.__name__}")
    return value


@contextmanager
def _field(name: str) -> Iterator[None]:
    try:
        yield
    except SettingsError:
        raise
    except ValueError as error:  # WireError and enum lookups
        raise SettingsError(name, str(error)) from None


def from_json(raw: Mapping[str, Any]) -> Settings:
    """Build settings from a decoded file, migrating old versions; raise SettingsError."""
    data = migrate(raw)
    defaults = Settings()
    # Each field is converted on its own so that an error names the field it is about.
    with _field("toast_types"):
        toast_types = frozenset(
            NotificationType(t)
            for t in _typed(data, "toast_types", list, list(defaults.toast_types))
        )
    with _field("quiet_hours"):
        quiet_hours = tuple(
            QuietRange.parse(item, f"quiet_hours[{i}]")
            for i, item in enumerate(_typed(data, "quiet_hours", list, []))
        )
    with _field("paused_until"):
        paused_raw = data.get("paused_until")
        paused_until = None if paused_raw is None else parse_timestamp(paused_raw, "paused_until")
    with _field("log_level"):
        log_level = LogLevel(_typed(data, "log_level", str, defaults.log_level.value))
    with _field("badge_style"):
        badge_style = BadgeStyle(_typed(data, "badge_style", str, defaults.badge_style.value))
    with _field("backend"):
        backend = BackendKind(_typed(data, "backend", str, defaults.backend.value))
    settings = Settings(
        server_url=_typed(data, "server_url", str, ""),
        backend=backend,
        frappe_site_name=_typed(data, "frappe_site_name", str, None),
        frappe_socketio_url=_typed(data, "frappe_socketio_url", str, None),
        frappe_time_zone=_typed(data, "frappe_time_zone", str, None),
        ca_bundle=_typed(data, "ca_bundle", str, None),
        proxy=_typed(data, "proxy", str, None),
        log_level=log_level,
        start_at_login=_typed(data, "start_at_login", bool, defaults.start_at_login),
        toasts_enabled=_typed(data, "toasts_enabled", bool, defaults.toasts_enabled),
        toast_types=toast_types,
        sound=_typed(data, "sound", bool, defaults.sound),
        summary_after_quiet=_typed(data, "summary_after_quiet", bool, defaults.summary_after_quiet),
        badge_style=badge_style,
        quiet_hours=quiet_hours,
        paused_until=paused_until,
        burst_threshold=_typed(data, "burst_threshold", int, defaults.burst_threshold),
        extra={k: v for k, v in data.items() if k not in _KNOWN_KEYS},
    )
    return validate(settings)
