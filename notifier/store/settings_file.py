"""Reads and atomically writes the settings file (JSON, versioned; see core.settings).

The user's file is combined with the system-wide defaults IT may set
(:mod:`notifier.store.site_settings`): read with them merged in, written without them.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from notifier.core.settings import Settings, SettingsError, from_json, migrate
from notifier.store.atomic_file import write_atomically
from notifier.store.site_settings import SiteSettings, current_site_settings

log = logging.getLogger(__name__)


def load_settings(path: Path, site: SiteSettings | None = None) -> Settings:
    """The settings in ``path`` merged with the site settings (``None``: those in force, see
    :func:`~notifier.store.site_settings.current_site_settings`); the site's and the built-in
    defaults when ``path`` does not exist.

    A file that cannot be read as settings (not UTF-8, not JSON, invalid values, or written
    by a newer version) is moved aside to ``<name>.broken`` (``.broken-2``... if that exists,
    so the user's values are never lost) and defaults are used; the reason is logged.
    """
    if site is None:
        site = current_site_settings()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return from_json(site.merge({}))
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict):
            raise SettingsError("settings", "the file does not hold a JSON object")
        return from_json(site.merge(migrate(data)))
    except (UnicodeDecodeError, json.JSONDecodeError, SettingsError) as error:
        aside = _aside_name(path)
        os.replace(path, aside)
        log.warning(
            "settings file %s is unusable (%s); moved to %s, using defaults", path, error, aside
        )
        return from_json(site.merge({}))


def _aside_name(path: Path) -> Path:
    """``<name>.broken``, or ``<name>.broken-2`` and so on: never overwrite an older one."""
    candidate = path.with_name(path.name + ".broken")
    number = 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}.broken-{number}")
    return candidate


def save_settings(path: Path, settings: Settings, site: SiteSettings | None = None) -> None:
    """Write atomically: a temp file in the same folder, fsync, then rename over the old one.

    What the site settings (``None``: those in force) lock or set to the same value is left
    out, so the site's later changes reach this user.
    """
    if site is None:
        site = current_site_settings()
    data = json.dumps(site.strip(settings.to_json()), indent=2, ensure_ascii=False) + "\n"
    write_atomically(path, data.encode("utf-8"), mode=0o600, prefix=".settings-")
