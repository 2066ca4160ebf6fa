"""The popup's list model over a real SQLite cache: paging, order, filters, live changes."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QAbstractItemModelTester
from pytestqt.qtbot import QtBot
from tray_fakes import FakeClock, fill_cache, make_notification

from notifier.app.list_model import BULK_RELOAD, PAGE_SIZE, NotificationListModel, Role
from notifier.core.status import CacheChange, ChangeKind
from notifier.core.wire import NotificationType
from notifier.store.cache import ListFilter, NotificationCache

TYPES = (NotificationType.ASSIGNMENT, NotificationType.MENTION, NotificationType.REACTION)


@pytest.fixture(scope="module")
def big_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotificationCache]:
    """100,000 notifications: every third read, types in rotation (built once per module)."""
    cache = NotificationCache.open(tmp_path_factory.mktemp("big") / "cache.sqlite3")
    fill_cache(
        cache,
        [
            make_notification(seq, type=TYPES[seq % 3], read=seq % 3 == 0)
            for seq in range(1, 100_001)
        ],
    )
    yield cache
    cache.close()


def seqs(model: NotificationListModel) -> list[int]:
    return [model.data(model.index(row), Role.SEQ) for row in range(model.rowCount())]


def test_model_passes_qts_own_consistency_checks(qtbot: QtBot, cache: NotificationCache) -> None:
    fill_cache(cache, [make_notification(s) for s in range(1, 251)])
    model = NotificationListModel(cache, FakeClock())
    QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Fatal)
    model.reload()
    while model.canFetchMore():
        model.fetchMore()
    model.apply_change(CacheChange(ChangeKind.READ_STATE, ids=("n5", "n6"), read=True))
    model.apply_change(CacheChange(ChangeKind.DELETED, ids=("n7",)))
    model.apply_change(CacheChange(ChangeKind.UPSERTED, notifications=(make_notification(300),)))
    assert model.rowCount() == 250


def test_100000_rows_page_lazily_in_order(qtbot: QtBot, big_cache: NotificationCache) -> None:
    model = NotificationListModel(big_cache, FakeClock())
    model.reload()
    assert model.rowCount() == PAGE_SIZE
    assert seqs(model) == list(range(100_000, 100_000 - PAGE_SIZE, -1))
    for _ in range(9):
        assert model.canFetchMore()
        model.fetchMore()
    assert model.rowCount() == 10 * PAGE_SIZE
    assert seqs(model) == list(range(100_000, 100_000 - 10 * PAGE_SIZE, -1))


def test_100000_rows_all_reachable_and_filters(qtbot: QtBot, big_cache: NotificationCache) -> None:
    model = NotificationListModel(big_cache, FakeClock(), page_size=5_000)
    model.set_filter(ListFilter(unread_only=True, types=frozenset({NotificationType.MENTION})))
    while model.canFetchMore():
        model.fetchMore()
    # Mentions are seq % 3 == 1, all of them unread (read ones are seq % 3 == 0).
    expected = [s for s in range(100_000, 0, -1) if s % 3 == 1]
    assert seqs(model) == expected
    assert model.rowCount() == big_cache.count(model.list_filter)
    model.set_unread_only(False)
    model.set_types(None)
    while model.canFetchMore():
        model.fetchMore()
    assert model.rowCount() == 100_000
    assert seqs(model)[:3] == [100_000, 99_999, 99_998]
    assert seqs(model)[-1] == 1


def test_roles_and_accessible_text(qtbot: QtBot, cache: NotificationCache) -> None:
    n = make_notification(
        1, type=NotificationType.ASSIGNMENT, message="<b>x</b>", sender="Bea Lopez"
    )
    fill_cache(cache, [n])
    clock = FakeClock(n.created_at)
    model = NotificationListModel(cache, clock)
    model.reload()
    index = model.index(0)
    assert model.data(index, Role.SUMMARY) == "Bea Lopez assigned you #1 Ticket 1"
    assert model.data(index, Qt.ItemDataRole.DisplayRole) == model.data(index, Role.SUMMARY)
    assert model.data(index, Role.MESSAGE) == "<b>x</b>"
    assert model.data(index, Role.SENDER) == "Bea Lopez"
    assert model.data(index, Role.READ) is False
    assert model.data(index, Role.LINK) == n.link
    assert model.data(index, Role.TYPE) == "assignment"
    assert model.data(index, Role.RELATIVE_TIME) == "just now"
    assert model.data(index, Qt.ItemDataRole.AccessibleTextRole) == (
        "Unread. Bea Lopez assigned you #1 Ticket 1. Just now. <b>x</b>."
    )
    assert model.data(model.index(5), Role.SEQ) is None
    assert model.roleNames()[Role.SUMMARY].data() == b"summary"


def test_relative_times_refresh_on_request(qtbot: QtBot, cache: NotificationCache) -> None:
    n = make_notification(1)
    fill_cache(cache, [n])
    clock = FakeClock(n.created_at)
    model = NotificationListModel(cache, clock)
    model.reload()
    clock.set(n.created_at + timedelta(minutes=5))
    assert model.data(model.index(0), Role.RELATIVE_TIME) == "just now"  # not until refreshed
    with qtbot.waitSignal(model.dataChanged, timeout=1000) as signal:
        model.refresh_times()
    assert Role.RELATIVE_TIME in signal.args[2]
    assert model.data(model.index(0), Role.RELATIVE_TIME) == "5 minutes ago"


def test_read_state_change_is_in_place(qtbot: QtBot, cache: NotificationCache) -> None:
    fill_cache(cache, [make_notification(s) for s in range(1, 6)])
    model = NotificationListModel(cache, FakeClock())
    model.reload()
    with qtbot.waitSignal(model.dataChanged, timeout=1000) as signal:
        model.apply_change(CacheChange(ChangeKind.READ_STATE, ids=("n4", "zz"), read=True))
    assert signal.args[0].row() == signal.args[1].row() == 1
    # Under "All" the row stays and reads as read now.
    assert seqs(model) == [5, 4, 3, 2, 1]
    assert model.data(model.index(1), Role.READ) is True
    assert model.data(model.index(1), Qt.ItemDataRole.AccessibleTextRole).startswith("Read.")


def test_under_unread_read_rows_leave_at_once_and_unread_ones_come_back(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    fill_cache(cache, [make_notification(s) for s in range(1, 6)])
    model = NotificationListModel(cache, FakeClock())
    model.set_unread_only(True)
    applied = cache.local_mark("n4", True)
    with qtbot.waitSignal(model.rowsRemoved, timeout=1000):
        model.apply_change(CacheChange(ChangeKind.READ_STATE, ids=applied.read, read=True))
    assert seqs(model) == [5, 3, 2, 1]
    assert model.rowCount() == cache.count(model.list_filter)
    # Marked unread again (here, or on the web): back in its place.
    applied = cache.local_mark("n4", False)
    model.apply_change(CacheChange(ChangeKind.READ_STATE, ids=applied.unread, read=False))
    assert seqs(model) == [5, 4, 3, 2, 1]
    # Mark all read: one reset rather than a removal per row, and an empty list.
    fill_cache(cache, [make_notification(s) for s in range(10, 10 + BULK_RELOAD + 1)])
    model.reload()
    applied, _ = cache.local_mark_all_read()
    with qtbot.waitSignal(model.modelReset, timeout=1000):
        model.apply_change(CacheChange(ChangeKind.READ_STATE, ids=applied.read, read=True))
    assert model.rowCount() == 0


def test_deletes_remove_rows_and_new_ones_go_on_top(qtbot: QtBot, cache: NotificationCache) -> None:
    fill_cache(cache, [make_notification(s) for s in range(1, 6)])
    model = NotificationListModel(cache, FakeClock())
    model.reload()
    with qtbot.waitSignal(model.rowsRemoved, timeout=1000):
        model.apply_change(CacheChange(ChangeKind.DELETED, ids=("n2", "n3", "unknown")))
    assert seqs(model) == [5, 4, 1]
    with qtbot.waitSignal(model.rowsInserted, timeout=1000) as signal:
        model.apply_change(CacheChange(ChangeKind.UPSERTED, notifications=(make_notification(9),)))
    assert signal.args[1] == 0
    assert seqs(model) == [9, 5, 4, 1]
    # A fold re-issues n1 with a higher seq: it moves to the top, not duplicated.
    folded = make_notification(1, message="3 people reacted")
    folded = dataclasses.replace(folded, seq=12)
    model.apply_change(CacheChange(ChangeKind.UPSERTED, notifications=(folded,)))
    assert seqs(model) == [12, 9, 5, 4]
    assert model.data(model.index(0), Role.ID) == "n1"
    # A read notification under the Unread filter is not inserted.
    model.set_unread_only(True)
    model.apply_change(
        CacheChange(ChangeKind.UPSERTED, notifications=(make_notification(20, read=True),))
    )
    assert 20 not in seqs(model)


def test_older_upsert_beyond_loaded_rows_waits_for_paging(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    fill_cache(cache, [make_notification(s) for s in range(10, 30)])
    model = NotificationListModel(cache, FakeClock(), page_size=5)
    model.reload()
    old = make_notification(3)
    fill_cache(cache, [old])
    model.apply_change(CacheChange(ChangeKind.UPSERTED, notifications=(old,)))
    assert 3 not in seqs(model)
    while model.canFetchMore():
        model.fetchMore()
    assert seqs(model) == [*range(29, 9, -1), 3]


def test_reset_reloads(qtbot: QtBot, cache: NotificationCache) -> None:
    fill_cache(cache, [make_notification(s) for s in range(1, 4)])
    model = NotificationListModel(cache, FakeClock())
    model.reload()
    cache.reset()
    with qtbot.waitSignal(model.modelReset, timeout=1000):
        model.apply_change(CacheChange(ChangeKind.RESET))
    assert model.rowCount() == 0
    assert not model.canFetchMore()


def test_a_big_batch_resets_instead_of_inserting_row_by_row(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    fill_cache(cache, [make_notification(s) for s in range(1, 4)])
    model = NotificationListModel(cache, FakeClock())
    model.reload()
    batch = [make_notification(s) for s in range(10, 10 + BULK_RELOAD + 1)]
    fill_cache(cache, batch)
    with qtbot.waitSignal(model.modelReset, timeout=1000):
        model.apply_change(CacheChange(ChangeKind.UPSERTED, notifications=tuple(batch)))
    assert seqs(model) == [*range(10 + BULK_RELOAD, 9, -1), 3, 2, 1]


def big_batch(cache: NotificationCache, model: NotificationListModel, start: int) -> None:
    """More than BULK_RELOAD new rows from ``start`` on: written, then announced."""
    batch = [make_notification(s) for s in range(start, start + BULK_RELOAD + 1)]
    fill_cache(cache, batch)
    model.apply_change(CacheChange(ChangeKind.UPSERTED, notifications=tuple(batch)))


def catching_up_model(cache: NotificationCache) -> NotificationListModel:
    """A model showing seqs 3, 2, 1, its big batches deferred (the engine catches up)."""
    fill_cache(cache, [make_notification(s) for s in range(1, 4)])
    model = NotificationListModel(cache, FakeClock())
    model.reload()
    model.defer_bulk_reloads(True)
    return model


def test_while_catching_up_big_batches_are_read_once_per_tick(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    # Every slice of a history page re-read and repainted an open list; while the engine
    # catches up, a big batch only marks the rows stale until the app's next tick.
    model = catching_up_model(cache)
    resets: list[None] = []
    model.modelReset.connect(lambda: resets.append(None))
    for start in (10, 100, 200):
        big_batch(cache, model, start)
    assert resets == [] and model.stale
    assert seqs(model) == [3, 2, 1]  # as shown before the batches
    model.reload_if_stale()
    assert len(resets) == 1 and not model.stale
    assert seqs(model) == [n.seq for n in cache.page(limit=PAGE_SIZE)]
    model.reload_if_stale()  # nothing new: not read again
    assert len(resets) == 1


def test_a_stale_list_is_read_when_the_engine_is_live_or_the_hold_ends(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    model = catching_up_model(cache)
    big_batch(cache, model, 10)
    model.hold_arrivals(True)  # the pointer over the list: no row moves under it
    model.reload_if_stale()
    assert seqs(model) == [3, 2, 1]
    model.hold_arrivals(False)
    assert seqs(model)[:2] == [10 + BULK_RELOAD, 9 + BULK_RELOAD] and not model.stale

    big_batch(cache, model, 100)
    assert model.stale
    with qtbot.waitSignal(model.modelReset, timeout=1000):
        model.defer_bulk_reloads(False)  # live: read at once
    assert seqs(model)[0] == 100 + BULK_RELOAD and not model.stale
    with qtbot.waitSignal(model.modelReset, timeout=1000):  # not deferred any more
        big_batch(cache, model, 200)
    assert seqs(model)[0] == 200 + BULK_RELOAD
