"""The SQLite cache on real files: schema, reads the UI uses, local actions, corruption."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_support import LogModel, make_notification

import notifier.store.cache as cache_module
from notifier.core.wire import (
    ClearScope,
    NotificationEvent,
    NotificationPage,
    NotificationType,
    ReadStateEvent,
)
from notifier.store.cache import (
    MIGRATIONS,
    SCHEMA_VERSION,
    ActionKind,
    ListFilter,
    NotificationCache,
)


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[NotificationCache]:
    opened = NotificationCache.open(tmp_path / "cache" / "notifications.sqlite3")
    yield opened
    opened.close()


def fill(cache: NotificationCache, count: int) -> LogModel:
    model = LogModel()
    for index in range(count):
        model.create(f"n{index}")
    cache.apply_events(model.events)
    return model


def test_a_fresh_cache_is_empty_versioned_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    cache = NotificationCache.open(path)
    try:
        assert cache.recovered_from is None
        assert (cache.cursor(), cache.unread_count(), cache.count(), cache.pending_count()) == (
            0,
            0,
            0,
            0,
        )
        assert cache.page() == []
    finally:
        cache.close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()
    assert path.stat().st_mode & 0o777 == 0o600


def test_notifications_round_trip_exactly(cache: NotificationCache) -> None:
    originals = [make_notification(f"n{seq}", seq) for seq in range(1, 7)]
    cache.apply_events(NotificationEvent(n.seq, n) for n in originals)
    for original in originals:
        assert cache.get(original.id) == original
    assert cache.get("missing") is None
    assert cache.cursor() == 6


def test_pages_are_newest_first_with_keyset_paging_and_filters(cache: NotificationCache) -> None:
    model = fill(cache, 25)
    cache.apply_events([model.mark(("n0", "n1", "n2", "n3", "n4"), True)])

    first = cache.page(limit=10)
    assert [n.seq for n in first] == list(range(25, 15, -1))
    second = cache.page(before_seq=first[-1].seq, limit=10)
    assert [n.seq for n in second] == list(range(15, 5, -1))
    assert [n.seq for n in cache.page(before_seq=second[-1].seq, limit=10)] == [5, 4, 3, 2, 1]

    unread = ListFilter(unread_only=True)
    assert cache.count(unread) == 20 == cache.unread_count()
    assert all(not n.read for n in cache.page(unread, limit=100))
    assert len(cache.page(unread, limit=100)) == 20

    mentions = ListFilter(types=frozenset({NotificationType.MENTION}))
    expected = [n for n in model.rows.values() if n.type is NotificationType.MENTION]
    assert cache.count(mentions) == len(expected)
    assert {n.id for n in cache.page(mentions)} == {n.id for n in expected}
    assert cache.count(ListFilter(types=frozenset())) == 0
    assert cache.page(limit=0) == []


def test_new_since_seen_counts_only_what_arrived_after_the_popup_opened(
    cache: NotificationCache,
) -> None:
    model = fill(cache, 3)
    assert cache.new_since_seen_count() == 3
    cache.mark_seen()
    assert cache.new_since_seen_count() == 0
    cache.apply_events([model.create("late")])
    assert cache.new_since_seen_count() == 1
    assert cache.unread_count() == 4
    cache.apply_events([model.mark(("late",), True)])
    assert cache.new_since_seen_count() == 0


def test_local_actions_apply_at_once_and_queue_in_order(cache: NotificationCache) -> None:
    fill(cache, 4)
    assert cache.local_mark("n0", True).read == ("n0",)
    assert cache.local_mark("n0", True).read == ()  # already read: nothing changes, still queued
    assert cache.local_mark("n0", False).unread == ("n0",)
    assert cache.local_delete("n3").deleted == ("n3",)
    applied, up_to = cache.local_mark_all_read()
    assert up_to == 3  # n3 (seq 4) is gone; the newest remaining is seq 3
    assert set(applied.read) == {"n0", "n1", "n2"}
    assert cache.unread_count() == 0
    assert cache.local_clear(ClearScope.READ).deleted
    assert cache.count() == 0

    actions = cache.pending_actions()
    assert [a.kind for a in actions] == [
        ActionKind.MARK_READ,
        ActionKind.MARK_READ,
        ActionKind.MARK_UNREAD,
        ActionKind.DELETE,
        ActionKind.MARK_ALL_READ,
        ActionKind.CLEAR,
    ]
    assert actions[4].up_to_seq == 3
    assert actions[5].scope is ClearScope.READ
    cache.remove_pending(actions[0].id)
    assert cache.pending_count() == 5


def test_the_queue_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    cache = NotificationCache.open(path)
    fill(cache, 2)
    cache.local_mark("n1", True)
    cache.close()
    again = NotificationCache.open(path)
    try:
        assert [(a.kind, a.notification_id) for a in again.pending_actions()] == [
            (ActionKind.MARK_READ, "n1")
        ]
        assert again.get("n1") is not None and again.get("n1").read  # type: ignore[union-attr]
        assert again.cursor() == 2
    finally:
        again.close()


def test_the_server_echo_of_a_local_action_changes_nothing(cache: NotificationCache) -> None:
    model = fill(cache, 2)
    cache.local_mark("n0", True)
    assert cache.apply_events([model.mark(("n0",), True)]).empty
    assert cache.get("n0").read  # type: ignore[union-attr]


def test_a_locally_deleted_notification_is_not_revived_by_a_replay(
    cache: NotificationCache,
) -> None:
    model = fill(cache, 2)
    cache.local_delete("n1")
    assert cache.apply_events([model.events[1]]).empty
    assert cache.get("n1") is None
    # a re-issue by the server (newer content) does bring it back
    assert [n.id for n in cache.apply_events([model.create("n1")]).upserted] == ["n1"]


def test_a_page_records_read_state_as_of_its_last_seq(cache: NotificationCache) -> None:
    model = LogModel()
    model.create("a")
    model.mark(("a",), True)  # seq 2
    model.mark(("a",), False)  # seq 3
    page = NotificationPage(
        notifications=(model.rows["a"],), unread_count=1, last_seq=model.head, has_more=False
    )
    cache.apply_page(page)
    assert cache.cursor() == 0  # pages never move the cursor; the engine does
    # replaying the log from before the page must not flip it back and forth
    cache.apply_events(model.events)
    assert not cache.get("a").read  # type: ignore[union-attr]
    assert cache.cursor() == 3


def test_reset_forgets_the_server_state_but_keeps_the_queue(cache: NotificationCache) -> None:
    fill(cache, 3)
    cache.local_mark("n0", True)
    cache.reset()
    assert (cache.cursor(), cache.count(), cache.pending_count()) == (0, 0, 1)


def test_the_cursor_only_moves_forward(cache: NotificationCache) -> None:
    cache.advance_cursor(10)
    cache.advance_cursor(4)
    cache.apply_events([ReadStateEvent(7, ("x",), True)])
    assert cache.cursor() == 10


@pytest.mark.parametrize(
    "content",
    [b"this is not a database at all" * 100, b"SQLite format 3\x00" + b"\xff" * 4000, b""],
)
def test_a_corrupt_file_is_moved_aside_and_rebuilt(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notifications.sqlite3"
    path.write_bytes(content)
    cache = NotificationCache.open(path)
    try:
        if content:
            assert cache.recovered_from is not None
            assert cache.recovered_from.name.startswith("notifications.sqlite3.corrupt-")
            assert cache.recovered_from.read_bytes() == content
        else:
            assert cache.recovered_from is None  # an empty file is a new database
        assert cache.cursor() == 0 and cache.count() == 0
        fill(cache, 2)
        assert cache.count() == 2
    finally:
        cache.close()


def test_a_damaged_page_inside_a_real_cache_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "notifications.sqlite3"
    cache = NotificationCache.open(path)
    fill(cache, 300)
    cache.close()
    raw = bytearray(path.read_bytes())
    for offset in range(4096 * 2, len(raw) - 4096, 4096):
        raw[offset + 10 : offset + 200] = b"\x07" * 190
    path.write_bytes(bytes(raw))
    rebuilt = NotificationCache.open(path)
    try:
        assert rebuilt.recovered_from is not None
        assert rebuilt.count() == 0
    finally:
        rebuilt.close()


def test_a_cache_from_a_newer_app_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "notifications.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    db.close()
    cache = NotificationCache.open(path)
    try:
        assert cache.recovered_from is not None
    finally:
        cache.close()


def test_a_version_1_cache_is_migrated_with_its_counts(tmp_path: Path) -> None:
    path = tmp_path / "notifications.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS[0](db)
    db.execute("PRAGMA user_version = 1")
    for seq, read in ((1, 0), (2, 1), (3, 0)):
        db.execute(
            "INSERT INTO notifications (id, seq, read_seq, type, read, recipient, ticket_id,"
            " ticket_subject, ticket_url, message, created_at) VALUES"
            " (?, ?, ?, 'mention', ?, 'a-1', 't', 's', 'https://h.test/t', 'm',"
            " '2026-01-05T09:00:00Z')",
            (f"n{seq}", seq, seq, read),
        )
    db.execute("UPDATE state SET seen_seq = 1, cursor = 3")
    db.close()
    cache = NotificationCache.open(path)
    try:
        assert cache.recovered_from is None
        assert (cache.cursor(), cache.unread_count(), cache.new_since_seen_count()) == (3, 2, 1)
        assert [n.id for n in cache.page()] == ["n3", "n2", "n1"]
    finally:
        cache.close()


def test_checkpoints_run_on_a_worker_thread_while_the_owner_keeps_writing(
    cache: NotificationCache,
) -> None:
    model = LogModel()
    while not cache.wants_checkpoint:
        cache.apply_events([model.create(f"n{model.head}")])
    worker = threading.Thread(target=cache.checkpoint)
    worker.start()
    for _ in range(50):
        cache.apply_events([model.create(f"n{model.head}")])
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert not cache.wants_checkpoint
    cache.checkpoint()
    probe = sqlite3.connect(cache.path)
    try:
        busy, log_frames, checkpointed = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert busy == 0 and log_frames == checkpointed  # everything reached the main file
    finally:
        probe.close()
    assert cache.count() == model.head == len(model.rows)


def test_without_a_worker_the_cache_checkpoints_by_itself(
    cache: NotificationCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "INLINE_CHECKPOINT_AFTER", 10)
    model = LogModel()
    for _ in range(10):
        cache.apply_events([model.create(f"n{model.head}")])
    assert cache._writes_since_checkpoint == 0  # the tenth write checkpointed inline


def test_a_cache_belongs_to_one_account(cache: NotificationCache) -> None:
    assert cache.owner() is None
    assert cache.claim("https://h.test a-1")  # a new, empty cache is simply claimed
    fill(cache, 2)
    cache.local_mark("n0", True)
    assert cache.claim("https://h.test a-1")  # same owner: nothing changes
    assert (cache.count(), cache.pending_count()) == (2, 1)
    assert not cache.claim("https://h.test a-2")  # someone else: everything dropped
    assert (cache.count(), cache.pending_count(), cache.cursor()) == (0, 0, 0)
    assert cache.owner() == "https://h.test a-2"
    fill(cache, 1)
    cache.local_mark("n0", True)
    cache.reset()  # a resync for the same owner keeps the queue
    assert (cache.pending_count(), cache.owner()) == (1, "https://h.test a-2")


def test_forget_leaves_a_new_empty_cache(cache: NotificationCache) -> None:
    cache.claim("https://h.test a-1")
    fill(cache, 3)
    cache.local_mark("n0", True)
    cache.forget()
    assert (cache.count(), cache.pending_count(), cache.cursor(), cache.owner()) == (0, 0, 0, None)
    assert cache.unread_count() == 0
