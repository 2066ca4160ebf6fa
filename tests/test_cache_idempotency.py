"""Property: any duplication, reordering or batching of the event log ends in the same cache
as the clean in-order log, which equals the server's view (the model)."""

from __future__ import annotations

import random
from pathlib import Path

from engine_support import LogModel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.core.wire import NotificationPage
from notifier.store.cache import NotificationCache

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
