"""System-wide defaults from IT, and the settings users may not change.

An admin who rolls the app out to a team writes one file, in the folder platformdirs calls the
site config folder::

    Linux    /etc/xdg/notifier/settings.json  (the first folder of $XDG_CONFIG_DIRS with one)
    macOS    /Library/Application Support/notifier/settings.json
    Windows  C:\\ProgramData\\notifier\\settings.json

``NOTIFIER_SITE_CONFIG=/path/to/file.json`` names the file instead (tests, a roll-out tool);
set to an empty value, no site file is read. The file has the keys of the user's
``settings.json`` (:mod:`notifier.core.settings`) plus ``"locked"``, a list of key names::

    {
      "version": 1,
      "server_url": "https://helpdesk.example.com",
      "ca_bundle": "/etc/ssl/certs/company-ca.pem",
      "proxy": "http://proxy.example.com:3128",
      "quiet_hours": [{"day": 4, "start": "18:00", "end": "08:00"}],
      "locked": ["server_url", "ca_bundle", "proxy"]
    }

How the two files combine, key by key (:meth:`SiteSettings.merge`):

* built-in default < the site's value < the user's own value;
* a locked key always has the site's value (or the built-in default, when the site file locks
  a key without setting it): the user's value for it is ignored, never written.

Saving (:meth:`SiteSettings.strip`) writes to the user's file only what differs from the
site's value, and no locked key, so that a later change of an unlocked default reaches every
user who had not chosen otherwise.

The site file belongs to the admin: the app never moves or rewrites it. One that cannot be used
(unreadable, not JSON, a value that is not valid, a version newer than the app) is ignored as a
whole, with an error in the log naming the file and the reason, and the app runs on the
built-in defaults and the user's own settings. Unknown keys and unknown names in ``locked`` are
ignored with a warning (a site file written for a newer app still works for this one);
``notifier doctor`` lists them, each with the setting it most resembles (a typo's fix).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from notifier.core.settings import Settings, SettingsError, from_json, migrate
from notifier.store.paths import APP_NAME

log = logging.getLogger(__name__)

SITE_CONFIG_ENV = "NOTIFIER_SITE_CONFIG"
SITE_FILE_NAME = "settings.json"
LOCKED_KEY = "locked"
# What a site file may set and lock: every setting ("extra" holds a newer app's unknown keys).
SETTING_NAMES: frozenset[str] = frozenset(
    f.name for f in dataclasses.fields(Settings) if f.name != "extra"
)


@dataclass(frozen=True, slots=True)
class SiteSettings:
    """The site file's values (as normalised JSON values) and its locked names."""

    values: Mapping[str, Any] = field(default_factory=dict)
    locked: frozenset[str] = frozenset()
    path: Path | None = None  # the file they came from; None when there is none
    # Names in the file this version does not know (a typo, or a newer app's setting), each
    # with the known name it most resembles: "sever_url (did you mean server_url?)".
    ignored: tuple[str, ...] = ()

    def _locked_value(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        return Settings().to_json()[name]

    def merge(self, user: Mapping[str, Any]) -> dict[str, Any]:
        """The effective settings' JSON: the user's (migrated) values over the site's, and the
        site's for every locked key."""
        merged = {**self.values, **user}
        for name in self.locked:
            merged[name] = self._locked_value(name)
        return merged

    def strip(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """What of ``data`` (a full settings JSON) belongs in the user's own file."""
        return {
            name: value
            for name, value in data.items()
            if name not in self.locked and (name not in self.values or self.values[name] != value)
        }


NO_SITE_SETTINGS = SiteSettings()


def site_settings_file(environ: Mapping[str, str] | None = None) -> Path | None:
    """Where the site file is, or None: ``NOTIFIER_SITE_CONFIG``, else the first site config
    folder holding a ``settings.json`` (None when none does)."""
    env = os.environ if environ is None else environ
    named = env.get(SITE_CONFIG_ENV)
    if named is not None:
        return Path(named).expanduser() if named.strip() else None
    # Imported here: a few ms that the start-up before the first paint does not need.
    from platformdirs import PlatformDirs

    folders = PlatformDirs(APP_NAME, appauthor=False, multipath=True).site_config_dir
    for folder in folders.split(os.pathsep):
        candidate = Path(folder) / SITE_FILE_NAME
        if folder and candidate.is_file():
            return candidate
    return None


def load_site_settings(path: Path | None) -> SiteSettings:
    """The site settings in ``path`` (None: no site file). Never raises: a file that cannot be
    used is logged as an error and ignored, as described in the module docstring."""
    site, problem = read_site_settings(path)
    if problem is not None:
        log.error("site settings %s; ignoring the whole file", problem)
    if site.ignored:
        log.warning(
            "site settings %s: ignoring unknown names %s; correct or remove them",
            site.path,
            ", ".join(site.ignored),
        )
    return site


def read_site_settings(path: Path | None) -> tuple[SiteSettings, str | None]:
    """The site settings in ``path``, and why the file cannot be used ("PATH is unusable
    (…)"; None when it can, or when there is none); an unusable file counts as none. Logs
    nothing (``notifier doctor`` reports the problem as one of its checks, under the name
    "site settings", so the words do not say it again)."""
    if path is None:
        return NO_SITE_SETTINGS, None
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return NO_SITE_SETTINGS, None
    except OSError as error:
        return NO_SITE_SETTINGS, f"{path} cannot be read ({error.strerror})"
    try:
        return _parse(path, raw), None
    except (UnicodeDecodeError, json.JSONDecodeError, SettingsError) as error:
        return NO_SITE_SETTINGS, f"{path} is unusable ({error})"


def _parse(path: Path, raw: bytes) -> SiteSettings:
    data = json.loads(raw.decode("utf-8"))
    if not isinstance(data, dict):
        raise SettingsError("settings", "the file does not hold a JSON object")
    locked_raw = data.pop(LOCKED_KEY, [])
    if not isinstance(locked_raw, list) or not all(isinstance(n, str) for n in locked_raw):
        raise SettingsError(LOCKED_KEY, "must be a list of setting names")
    written = set(data)
    migrated = migrate(data)
    # A default a migration fills in (e.g. version 2's "backend") is not the admin's choice.
    filled = set(migrate({"version": data.get("version", 0)})) - written
    data = {name: value for name, value in migrated.items() if name not in filled}
    data.pop("version", None)
    unknown = sorted(set(data) - SETTING_NAMES) + sorted(set(locked_raw) - SETTING_NAMES)
    given = {name: value for name, value in data.items() if name in SETTING_NAMES}
    # Validated and normalised as the user's file is (a trailing "/" dropped, and so on).
    normalised = from_json(given).to_json()
    return SiteSettings(
        values={name: normalised[name] for name in given},
        locked=frozenset(locked_raw) & SETTING_NAMES,
        path=path,
        ignored=tuple(_with_guess(name) for name in unknown),
    )


def _with_guess(name: str) -> str:
    """``name``, and the setting it is most likely a typo of, for the admin who wrote it."""
    import difflib  # only for a file with unknown names: the tray app does not load it

    guesses = difflib.get_close_matches(name, SETTING_NAMES | {LOCKED_KEY}, n=1)
    return f"{name} (did you mean {guesses[0]}?)" if guesses else name


def current_site_settings(environ: Mapping[str, str] | None = None) -> SiteSettings:
    """The site settings in force for this process (read from disk at each call)."""
    return load_site_settings(site_settings_file(environ))


def locked_settings(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The names of the settings the user may not change (for the settings dialog)."""
    return current_site_settings(environ).locked
