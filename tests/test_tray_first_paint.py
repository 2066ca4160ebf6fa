"""The first paint: counts peeked from the cache agree with the real cache, bad files are
harmless, and the app paints before importing the network stack, keyring, toast library,
asyncio or the controller (checked in a subprocess, offscreen)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tray_fakes import fill_cache, make_notification

from notifier.app.first_paint import (
    SITE_CONFIG_ENV,
    peek,
    peek_badge_dot,
    peek_counts,
    peek_site_file,
)
from notifier.core.settings import BadgeStyle
from notifier.store import site_settings
from notifier.store.cache import NotificationCache
from notifier.store.settings_file import load_settings

HEAVY = ("httpx", "websockets", "keyring", "desktop_notifier", "asyncio", "qasync")


def test_peeked_counts_match_the_cache(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    cache = NotificationCache.open(path)
    try:
        fill_cache(cache, [make_notification(s, read=s % 4 == 0) for s in range(1, 21)])
        cache.mark_seen()
        fill_cache(cache, [make_notification(s) for s in (21, 22)])
        cache.local_mark("n21", True)
        expected = (cache.unread_count(), cache.new_since_seen_count())
    finally:
        cache.close()
    assert expected == (16, 1)
    assert peek_counts(path) == expected


def test_missing_or_broken_files_peek_as_nothing(tmp_path: Path) -> None:
    assert peek_counts(tmp_path / "none.sqlite3") == (0, 0)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database at all" * 100)
    assert peek_counts(junk) == (0, 0)
    assert peek_badge_dot(tmp_path / "none.json") is False
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    assert peek_badge_dot(tmp_path / "bad.json") is False
    (tmp_path / "dot.json").write_text(json.dumps({"badge_style": "dot"}), encoding="utf-8")
    assert peek_badge_dot(tmp_path / "dot.json") is True
    first = peek(junk, tmp_path / "dot.json")
    assert (first.unread, first.new_since_seen, first.dot) == (0, 0, True)


@pytest.mark.parametrize(
    ("site", "user"),
    [
        ({"badge_style": "dot"}, {}),  # the site's default, the user never chose
        ({"badge_style": "dot"}, {"badge_style": "count"}),  # the user's choice wins
        ({"badge_style": "count"}, {"badge_style": "dot"}),
        ({"badge_style": "dot", "locked": ["badge_style"]}, {"badge_style": "count"}),
        ({"badge_style": "count", "locked": ["badge_style"]}, {"badge_style": "dot"}),
        ({"locked": ["badge_style"]}, {"badge_style": "dot"}),  # locked to the default
        ({"locked": ["proxy"]}, {"badge_style": "dot"}),
    ],
)
def test_the_peeked_badge_style_is_what_the_settings_load_as(
    tmp_path: Path, site: dict[str, object], user: dict[str, object]
) -> None:
    site_file, user_file = tmp_path / "site.json", tmp_path / "user.json"
    site_file.write_text(json.dumps({"version": 1, **site}), encoding="utf-8")
    user_file.write_text(json.dumps({"version": 1, **user}), encoding="utf-8")
    loaded = load_settings(user_file, site_settings.load_site_settings(site_file))
    assert peek_badge_dot(user_file, site_file) is (loaded.badge_style is BadgeStyle.DOT)


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the cheap lookup is XDG's")
@pytest.mark.parametrize("xdg_dirs", [None, "", "relative:{b}", "{a}:{b}", "{b}:{a}"])
def test_the_peeked_site_file_is_the_one_the_settings_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, xdg_dirs: str | None
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b / "notifier"):
        folder.mkdir(parents=True)
    (b / "notifier" / "settings.json").write_text("{}", encoding="utf-8")
    monkeypatch.delenv(SITE_CONFIG_ENV, raising=False)
    if xdg_dirs is None:
        monkeypatch.delenv("XDG_CONFIG_DIRS", raising=False)
    else:
        monkeypatch.setenv("XDG_CONFIG_DIRS", xdg_dirs.format(a=a, b=b))
    assert peek_site_file(os.environ) == site_settings.site_settings_file(os.environ)
    assert SITE_CONFIG_ENV == site_settings.SITE_CONFIG_ENV
    for named in (str(tmp_path / "named.json"), "", "  "):
        env = {SITE_CONFIG_ENV: named}
        assert peek_site_file(env) == site_settings.site_settings_file(env)


def test_first_paint_comes_before_the_heavy_imports(tmp_path: Path) -> None:
    home = tmp_path / "notifier"
    cache = NotificationCache.open(home / "cache" / "notifications.sqlite3")
    fill_cache(cache, [make_notification(s) for s in (1, 2, 3)])
    cache.close()
    marker = tmp_path / "marker"
    probe = (
        "import sys\n"
        "from notifier.main import main\n"
        "code = main(['run'])\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "print(code, heavy)\n"
    )
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        NOTIFIER_HOME=str(home),
        NOTIFIER_STARTUP_MARKER=str(marker),
        NOTIFIER_EXIT_AFTER_PAINT="1",
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0 []"
    assert float(marker.read_text()) > 0


def test_a_schema_1_cache_is_counted_by_rows(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE notifications (id TEXT PRIMARY KEY, seq INTEGER, read INTEGER);"
        "CREATE TABLE state (singleton INTEGER PRIMARY KEY, cursor INTEGER, seen_seq INTEGER);"
        "INSERT INTO state VALUES (1, 5, 2);"
        "INSERT INTO notifications VALUES ('a', 1, 0), ('b', 2, 1), ('c', 3, 0), ('d', 4, 0);"
        "PRAGMA user_version = 1;"
    )
    db.commit()
    db.close()
    assert peek_counts(path) == (3, 2)
