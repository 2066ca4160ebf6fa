"""What the tray shows before anything heavy is loaded: the cached counts and the badge style.

Issue 5's budget wants the icon with the CACHED unread count up within 1.5x a bare PySide6
tray app's start-up. Importing the cache module, the wire models and the settings model costs
a good part of that budget (dataclasses, enums, regexes; figures in benchmarks/README.md,
"Figures behind the code"), so the first paint reads the two numbers with one
read-only SQLite connection and the badge style from the settings JSON directly; the real
:class:`~notifier.store.cache.NotificationCache` and settings are loaded right after the
paint, and they win from then on (a stale or unreadable value here only costs a repaint).

IT's site settings file (:mod:`notifier.store.site_settings`) may set or lock the badge style
too. Importing that module means the settings model, and finding the file means platformdirs
(another import the budget feels), so :func:`peek_site_file` finds it the way platformdirs
does on Linux and BSD (``$XDG_CONFIG_DIRS``, else ``/etc/xdg``); elsewhere only a file named by
``NOTIFIER_SITE_CONFIG`` is read here. tests/test_tray_first_paint.py checks both lookups agree.

The SQL below mirrors :meth:`NotificationCache.unread_count` and
:meth:`NotificationCache.new_since_seen_count` (the trigger-kept counters of schema 2, or
counting rows in schema 1); tests/test_tray_first_paint.py checks they agree on a cache
written through the real API.
"""

from __future__ import annotations

import json
import os
import posixpath
import sqlite3
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

COUNTERS_SCHEMA = 2  # notifier/store/cache.py: the state row keeps unread/new_since_seen
SITE_CONFIG_ENV = "NOTIFIER_SITE_CONFIG"  # as in notifier/store/site_settings.py
SITE_FILE = Path("notifier", "settings.json")  # in a site config folder


@dataclass(frozen=True, slots=True)
class FirstPaint:
    unread: int = 0
    new_since_seen: int = 0
    dot: bool = False


def peek(cache_file: Path, settings_file: Path, site_file: Path | None = None) -> FirstPaint:
    unread, new = peek_counts(cache_file)
    return FirstPaint(
        unread=unread, new_since_seen=new, dot=peek_badge_dot(settings_file, site_file)
    )


def peek_site_file(environ: Mapping[str, str]) -> Path | None:
    """The site settings file, as ``site_settings_file`` finds it, where that is cheap: the
    file ``NOTIFIER_SITE_CONFIG`` names, else on Linux and BSD the first XDG config folder
    with one; None otherwise (the real settings, loaded after the paint, still have it)."""
    named = environ.get(SITE_CONFIG_ENV)
    if named is not None:
        return Path(named).expanduser() if named.strip() else None
    if sys.platform in ("win32", "darwin"):
        return None
    folders = [
        f for f in environ.get("XDG_CONFIG_DIRS", "").split(os.pathsep) if posixpath.isabs(f)
    ]
    for folder in folders or ["/etc/xdg"]:
        candidate = Path(folder) / SITE_FILE
        if candidate.is_file():
            return candidate
    return None


def peek_counts(cache_file: Path) -> tuple[int, int]:
    """(unread, new since seen) from the cache file; (0, 0) if it is missing or unreadable."""
    if not cache_file.is_file():
        return 0, 0
    try:
        db = sqlite3.connect(f"{cache_file.resolve().as_uri()}?mode=ro", uri=True, timeout=0.2)
    except sqlite3.Error:
        return 0, 0
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version >= COUNTERS_SCHEMA:
            # Counters kept by triggers in the state row: O(1) however many are unread.
            unread, new = db.execute("SELECT unread, new_since_seen FROM state").fetchone()
        else:
            unread = db.execute("SELECT count(*) FROM notifications WHERE read = 0").fetchone()[0]
            new = db.execute(
                "SELECT count(*) FROM notifications WHERE read = 0"
                " AND seq > (SELECT seen_seq FROM state)"
            ).fetchone()[0]
        return int(unread), int(new)
    except sqlite3.Error:  # an old, new or corrupt schema: the real open sorts it out
        return 0, 0
    finally:
        db.close()


def peek_badge_dot(settings_file: Path, site_file: Path | None = None) -> bool:
    """True if the settings ask for the dot badge: the site file's value when it locks it,
    else the user's, else the site file's; False on any doubt."""
    user = _json_object(settings_file)
    site = _json_object(site_file) if site_file is not None else {}
    locked = site.get("locked")
    if isinstance(locked, list) and "badge_style" in locked:
        style = site.get("badge_style")
    else:
        style = user.get("badge_style", site.get("badge_style"))
    return style == "dot"


def _json_object(path: Path) -> dict[str, object]:
    """The JSON object in ``path``; empty when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
