"""Property: any duplication, reordering or batching of the event log ends in the same cache
as the clean in-order log, which equals the server's view (the model)."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from engine_support import LogModel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.core.wire import ClearScope, NotificationPage
from notifier.store.cache import MIGRATIONS, NotificationCache

IDS = ["a", "b", "c", "d"]
operation = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(IDS)),
    st.tuples(
        st.just("mark"), st.lists(st.sampled_from(IDS), min_size=1, max_size=3), st.booleans()
    ),
    st.tuples(st.just("delete"), st.lists(st.sampled_from(IDS), min_size=1, max_size=2)),
)


def build_log(operations: list[tuple[object, ...]]) -> LogModel:
    model = LogModel()
    for op in operations:
        if op[0] == "create":
            model.create(str(op[1]))
        elif op[0] == "mark":
            model.mark(tuple(op[1]), bool(op[2]))  # type: ignore[arg-type]
        else:
            model.delete(tuple(op[1]))  # type: ignore[arg-type]
    return model


def view(cache: NotificationCache) -> list[tuple[str, int, bool]]:
    return sorted((n.id, n.seq, n.read) for n in cache.all_notifications())


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    operations=st.lists(operation, min_size=1, max_size=25),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_shuffled_duplicated_batches_converge_to_the_server_view(
    tmp_path_factory: object, operations: list[tuple[object, ...]], seed: int
) -> None:
    model = build_log(operations)
    rng = random.Random(seed)
    frames = list(model.events) + rng.choices(model.events, k=len(model.events) // 2 + 1)
    rng.shuffle(frames)
    folder: Path = tmp_path_factory.mktemp("prop")  # type: ignore[attr-defined]
    cache = NotificationCache.open(folder / "c.sqlite3")
    try:
        while frames:
            size = rng.randint(1, 4)
            batch, frames = frames[:size], frames[size:]
            cache.apply_events(batch)
        assert view(cache) == model.view()
        assert cache.unread_count() == sum(1 for _, _, read in model.view() if not read)
        # the trigger-kept counters agree with a plain count
        assert cache.new_since_seen_count() == cache.unread_count()
        cache.mark_seen()
        assert cache.new_since_seen_count() == 0
        assert cache.cursor() == model.head
        # one more full replay changes nothing at all
        assert cache.apply_events(model.events).empty
    finally:
        cache.close()


@settings(max_examples=100, deadline=None)
@given(
    operations=st.lists(operation, min_size=1, max_size=25),
    cut=st.integers(min_value=0, max_value=25),
    extra=st.lists(operation, max_size=10),
)
def test_a_page_through_then_a_replay_from_the_first_page_converges(
    tmp_path_factory: object,
    operations: list[tuple[object, ...]],
    cut: int,
    extra: list[tuple[object, ...]],
) -> None:
    # The first sign-in: page 1 is read at head L, more events happen while paging, later
    # pages show newer state, then the stream replays everything after L.
    model = build_log(operations)
    first_page_head = model.head
    first_page_rows = sorted(model.rows.values(), key=lambda n: n.seq)[: max(cut, 1)]
    for op in extra:
        build_more(model, op)
    later_rows = [
        n
        for n in sorted(model.rows.values(), key=lambda n: n.seq)
        if n.seq > (first_page_rows[-1].seq if first_page_rows else 0)
    ]
    folder: Path = tmp_path_factory.mktemp("page")  # type: ignore[attr-defined]
    cache = NotificationCache.open(folder / "c.sqlite3")
    try:
        cache.apply_page(NotificationPage(tuple(first_page_rows), 0, first_page_head, True))
        cache.apply_page(NotificationPage(tuple(later_rows), 0, model.head, False))
        cache.advance_cursor(first_page_head)
        cache.apply_events(model.events[first_page_head:])
        assert view(cache) == model.view()
    finally:
        cache.close()


def build_more(model: LogModel, op: tuple[object, ...]) -> None:
    if op[0] == "create":
        model.create(str(op[1]))
    elif op[0] == "mark":
        model.mark(tuple(op[1]), bool(op[2]))  # type: ignore[arg-type]
    else:
        model.delete(tuple(op[1]))  # type: ignore[arg-type]


def assert_counts_are_plain_counts(cache: NotificationCache) -> None:
    # The badge's counts are kept by every write (no trigger since schema v4): they must
    # always equal counting the rows themselves.
    db = sqlite3.connect(cache.path)
    try:
        unread, new = db.execute(
            "SELECT count(*), coalesce(sum(n.seq > s.seen_seq), 0)"
            " FROM notifications n, state s WHERE n.read = 0"
        ).fetchone()
    finally:
        db.close()
    assert (cache.unread_count(), cache.new_since_seen_count()) == (unread, new)


step = st.one_of(
    st.tuples(st.just("events"), st.integers(min_value=1, max_value=8)),
    st.tuples(st.just("page"), st.integers(min_value=1, max_value=4)),
    st.tuples(st.just("seen")),
    st.tuples(st.just("local_mark"), st.sampled_from(IDS), st.booleans()),
    st.tuples(st.just("local_all_read")),
    st.tuples(st.just("local_delete"), st.sampled_from(IDS)),
    st.tuples(st.just("local_clear"), st.sampled_from(list(ClearScope))),
    st.tuples(st.just("reset")),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    operations=st.lists(operation, min_size=1, max_size=20),
    steps=st.lists(step, min_size=1, max_size=20),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_the_badge_counts_equal_plain_counts_after_any_write(
    tmp_path_factory: object,
    operations: list[tuple[object, ...]],
    steps: list[tuple[object, ...]],
    seed: int,
) -> None:
    model = build_log(operations)
    rng = random.Random(seed)
    frames = list(model.events) + rng.choices(model.events, k=len(model.events) // 2 + 1)
    if rng.random() < 0.5:  # else in order: read states then find their rows to flip
        rng.shuffle(frames)
    rows = sorted(model.rows.values(), key=lambda n: n.seq)
    folder: Path = tmp_path_factory.mktemp("counts")  # type: ignore[attr-defined]
    cache = NotificationCache.open(folder / "c.sqlite3")
    try:
        for kind, *args in steps:
            if kind == "events":
                batch, frames = frames[: int(args[0])], frames[int(args[0]) :]  # type: ignore[call-overload]
                cache.apply_events(batch)
            elif kind == "page":
                page = tuple(rng.sample(rows, min(len(rows), int(args[0]))))  # type: ignore[call-overload]
                cache.apply_page(NotificationPage(page, 0, rng.randint(0, model.head), True))
            elif kind == "seen":
                cache.mark_seen()
            elif kind == "local_mark":
                cache.local_mark(str(args[0]), bool(args[1]))
            elif kind == "local_all_read":
                cache.local_mark_all_read()
            elif kind == "local_delete":
                cache.local_delete(str(args[0]))
            elif kind == "local_clear":
                cache.local_clear(ClearScope(args[0]))
            else:
                cache.reset()
            assert_counts_are_plain_counts(cache)
    finally:
        cache.close()


def test_an_older_cache_keeps_its_counts_when_the_triggers_go(tmp_path: Path) -> None:
    # Schema v4 drops the count triggers: a cache written by v3 opens with the same counts.
    path = tmp_path / "c.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    for migrate in MIGRATIONS[:3]:
        migrate(db)
    db.execute("PRAGMA user_version = 3")
    model = build_log([("create", "a"), ("create", "b"), ("create", "c"), ("mark", ["a"], True)])
    db.close()
    cache = NotificationCache.open(path)  # v4, then written with the counts kept by code
    cache.apply_events(model.events)
    cache.close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("UPDATE state SET unread = 99, new_since_seen = 99")  # what v4 must recount
    db.execute("PRAGMA user_version = 3")
    for trigger in ("insert", "delete", "update"):  # as a v3 cache has them
        db.execute(
            f"CREATE TRIGGER notifications_counts_{trigger} AFTER"
            f" {trigger.upper()} ON notifications BEGIN SELECT 1; END"
        )
    db.close()
    cache = NotificationCache.open(path)
    try:
        assert (cache.unread_count(), cache.new_since_seen_count()) == (2, 2)
        assert_counts_are_plain_counts(cache)
    finally:
        cache.close()
