"""The cache gives back SQLite's page cache after reading much of a big cache: at open (the
integrity check reads every page) and on request (after a sync, after the popup's counts).

Measured with ``sqlite3_memory_used()`` of the SQLite library the ``sqlite3`` module uses:
the heap SQLite holds in this process, whatever the tests around left open.
"""

from __future__ import annotations

import _sqlite3
import ctypes
from collections.abc import Callable
from pathlib import Path

import pytest
from tray_fakes import fill_cache, make_notification

from notifier.store.cache import ListFilter, NotificationCache

ROWS = 24_000  # a cache file of about 6 MB: more than SQLite's default page cache (2 MB)
MB = 1 << 20


@pytest.fixture
def sqlite_heap() -> Callable[[], int]:
    try:
        function = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    except (OSError, AttributeError):
        pytest.skip("the sqlite3 module's SQLite library is not reachable through ctypes")
    function.restype = ctypes.c_int64
    return lambda: int(function())


@pytest.fixture
def big_cache_file(tmp_path: Path) -> Path:
    path = tmp_path / "cache.sqlite3"
    cache = NotificationCache.open(path)
    fill_cache(cache, [make_notification(seq) for seq in range(1, ROWS + 1)])
    cache.close()
    assert path.stat().st_size > 4 * MB
    return path


def test_opening_a_big_cache_leaves_no_page_cache_behind(
    big_cache_file: Path, sqlite_heap: Callable[[], int]
) -> None:
    before = sqlite_heap()
    cache = NotificationCache.open(big_cache_file)
    try:
        assert sqlite_heap() - before < MB // 2  # the integrity check read all of it
        assert cache.count(ListFilter()) == ROWS  # and it works
    finally:
        cache.close()


def test_release_memory_gives_back_what_reads_took(
    big_cache_file: Path, sqlite_heap: Callable[[], int]
) -> None:
    cache = NotificationCache.open(big_cache_file)
    try:
        opened = sqlite_heap()
        assert opened < 2 * MB  # the integrity check's pages are gone already
        before_seq = None
        while rows := cache.page(ListFilter(), before_seq):  # every page, as scrolling would
            before_seq = rows[-1].seq
        assert sqlite_heap() > opened + MB
        cache.release_memory()
        assert sqlite_heap() < opened + MB // 2
        assert cache.count(ListFilter()) == ROWS  # and it still works
    finally:
        cache.close()
