"""What the tray shows before anything heavy is loaded: the cached counts and the badge style.

Issue 5's budget wants the icon with the CACHED unread count up within 1.5x a bare PySide6
tray app's start-up. Importing the cache module, the wire models and the settings model costs
about 30 ms (dataclasses, enums, regexes), so the first paint reads the two numbers with one
read-only SQLite connection and the badge style from the settings JSON directly; the real
:class:`~notifier.store.cache.NotificationCache` and settings are loaded right after the
paint, and they win from then on (a stale or unreadable value here only costs a repaint).

The SQL below mirrors :meth:`NotificationCache.unread_count` and
:meth:`NotificationCache.new_since_seen_count` (the trigger-kept counters of schema 2, or
counting rows in schema 1); tests/test_tray_first_paint.py checks they agree on a cache
written through the real API.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

COUNTERS_SCHEMA = 2  # notifier/store/cache.py: the state row keeps unread/new_since_seen


@dataclass(frozen=True, slots=True)
class FirstPaint:
    unread: int = 0
    new_since_seen: int = 0
    dot: bool = False


def peek(cache_file: Path, settings_file: Path) -> FirstPaint:
    unread, new = peek_counts(cache_file)
    return FirstPaint(unread=unread, new_since_seen=new, dot=peek_badge_dot(settings_file))


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


def peek_badge_dot(settings_file: Path) -> bool:
    """True if the settings file asks for the dot badge; False on any doubt."""
    try:
        data = json.loads(settings_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("badge_style") == "dot"
