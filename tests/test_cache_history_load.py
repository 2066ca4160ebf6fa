"""A first sign-in into an empty cache builds its secondary indexes once, at the end
(``begin_history_load`` / ``end_history_load``): queries stay right meanwhile, a load that
dies leaves a cache whose next open has them, a cache that already holds rows keeps them.
Real SQLite files; the crash is a real process killed with SIGKILL."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_support import make_notification

from notifier.core.wire import NotificationPage, NotificationType
from notifier.store.cache import (
    LIST_ORDER_INDEX,
    SECONDARY_INDEXES,
    ListFilter,
    NotificationCache,
)

TESTS = Path(__file__).parent


def index_names(path: Path) -> set[str]:
    """The cache's own indexes as another connection sees them (what is committed)."""
    db = sqlite3.connect(path)
    try:
        rows = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'"
        )
        return {row[0] for row in rows}
    finally:
        db.close()


def history_page(first_seq: int, count: int, last_seq: int) -> NotificationPage:
    return NotificationPage(
        notifications=tuple(
            make_notification(f"n{seq}", seq, read=seq % 3 == 0)
            for seq in range(first_seq, first_seq + count)
        ),
        unread_count=0,
        last_seq=last_seq,
        has_more=True,
    )


def answers(cache: NotificationCache) -> list[object]:
    """What the popup and the badge ask, under every filter."""
    filters = [
        ListFilter(),
        ListFilter(unread_only=True),
        ListFilter(types=frozenset({NotificationType.MENTION})),
        ListFilter(unread_only=True, types=frozenset({NotificationType.ASSIGNMENT})),
    ]
    result: list[object] = [cache.unread_count(), cache.new_since_seen_count(), cache.max_seq()]
    for list_filter in filters:
        result.append(cache.count(list_filter))
        result.append([n.id for n in cache.page(list_filter, limit=7)])
        result.append([n.id for n in cache.page(list_filter, before_seq=150, limit=7)])
    return result


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "cache.sqlite3"


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[NotificationCache]:
    """The same rows written with the indexes in place all along."""
    cache = NotificationCache.open(tmp_path / "reference.sqlite3")
    yield cache
    cache.close()


def test_queries_are_right_during_the_load_and_the_indexes_come_back(
    path: Path, reference: NotificationCache
) -> None:
    cache = NotificationCache.open(path)
    try:
        assert cache.begin_history_load()
        assert index_names(path) == {LIST_ORDER_INDEX}
        for first in range(1, 400, 100):
            page = history_page(first, 100, 400)
            cache.apply_page(page)
            reference.apply_page(page)
            assert answers(cache) == answers(reference)
        cache.local_mark("n5", True)  # the popup used meanwhile
        reference.local_mark("n5", True)
        assert answers(cache) == answers(reference)
        cache.end_history_load()
        assert index_names(path) == set(SECONDARY_INDEXES)
        assert answers(cache) == answers(reference)
    finally:
        cache.close()


def test_the_lists_newest_rows_are_read_from_an_index_during_the_load(path: Path) -> None:
    # An open list re-reads its newest rows after every page of a first sign-in: a scan and
    # a sort of all rows written so far each time made the sign-in's cost grow with the
    # history (12 s of CPU for 50,000 with the list open, against 2.3 s without it).
    cache = NotificationCache.open(path)
    try:
        assert cache.begin_history_load()
        cache.apply_page(history_page(1, 100, 400))
        for query in (
            "SELECT id FROM notifications ORDER BY seq DESC LIMIT 100",
            "SELECT id FROM notifications WHERE read = 0 ORDER BY seq DESC LIMIT 100",
            "SELECT id FROM notifications WHERE type = 'mention' ORDER BY seq DESC LIMIT 100",
        ):
            plan = str([tuple(row) for row in cache._db.execute("EXPLAIN QUERY PLAN " + query)])
            assert LIST_ORDER_INDEX in plan and "TEMP B-TREE" not in plan, (query, plan)
    finally:
        cache.close()


def test_a_cache_with_rows_keeps_its_indexes(path: Path) -> None:
    cache = NotificationCache.open(path)
    try:
        cache.apply_page(history_page(1, 3, 3))
        assert not cache.begin_history_load()
        assert index_names(path) == set(SECONDARY_INDEXES)
    finally:
        cache.close()


def test_a_load_killed_midway_leaves_a_cache_the_next_open_indexes(
    path: Path, reference: NotificationCache
) -> None:
    script = f"""
import os, signal, sys
sys.path.insert(0, {str(TESTS)!r})
from pathlib import Path
from test_cache_history_load import history_page
from notifier.store.cache import NotificationCache
cache = NotificationCache.open(Path({str(path)!r}))
assert cache.begin_history_load()
for first in (1, 101, 201):
    cache.apply_page(history_page(first, 100, 400))
os.kill(os.getpid(), signal.SIGKILL)
"""
    died = subprocess.run([sys.executable, "-c", script], timeout=30, check=False)
    assert died.returncode == -signal.SIGKILL
    assert index_names(path) == {LIST_ORDER_INDEX}  # what the killed load left
    for first in (1, 101, 201):
        reference.apply_page(history_page(first, 100, 400))
    cache = NotificationCache.open(path)
    try:
        assert cache.recovered_from is None  # not taken for a broken file
        assert index_names(path) == set(SECONDARY_INDEXES)
        assert answers(cache) == answers(reference)
        plan = cache._db.execute(  # the popup's newest-first page seeks the index again
            "EXPLAIN QUERY PLAN SELECT id FROM notifications WHERE read = 0 ORDER BY seq DESC"
        ).fetchall()
        assert "notifications_unread_by_seq" in str([tuple(row) for row in plan])
    finally:
        cache.close()
