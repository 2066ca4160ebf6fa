"""Cache write (and read) latency: is applying events fast enough for the GUI thread?

The engine applies each stream event in its own transaction on the event loop (the GUI thread
under qasync), so the number that matters is the latency of one apply, and of a batch during
a replay. Reported as median and p99 in microseconds, and as ratios against a baseline: a bare
``INSERT`` of the same row into a plain table in one transaction on the same kind of file
(WAL, synchronous=NORMAL). Ratios, not absolute limits: machines differ.

    .venv/bin/python benchmarks/cache_writes.py [--rows 10000] [--batch 50] [--repeat 300]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from engine_support import make_notification

from notifier.core.wire import NotificationEvent, ReadStateEvent
from notifier.store.cache import ListFilter, NotificationCache


def timed(action: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1e6)
    return samples


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000, help="rows already in the cache")
    parser.add_argument("--batch", type=int, default=50, help="events per batch")
    parser.add_argument("--repeat", type=int, default=300)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        cache = NotificationCache.open(Path(folder) / "cache.sqlite3")
        seq = 0

        def events(count: int) -> list[NotificationEvent]:
            nonlocal seq
            batch = []
            for _ in range(count):
                seq += 1
                batch.append(NotificationEvent(seq, make_notification(f"n{seq}", seq)))
            return batch

        for start in range(0, options.rows, 1000):
            cache.apply_events(events(min(1000, options.rows - start)))

        baseline_db = sqlite3.connect(Path(folder) / "baseline.sqlite3", isolation_level=None)
        baseline_db.execute("PRAGMA journal_mode = WAL")
        baseline_db.execute("PRAGMA synchronous = NORMAL")
        baseline_db.execute("CREATE TABLE t (id TEXT PRIMARY KEY, seq INTEGER, body TEXT)")
        counter = 0

        def bare_insert(count: int) -> None:
            nonlocal counter
            baseline_db.execute("BEGIN")
            for _ in range(count):
                counter += 1
                baseline_db.execute(
                    "INSERT INTO t VALUES (?, ?, ?)", (f"b{counter}", counter, "x" * 200)
                )
            baseline_db.execute("COMMIT")

        results: dict[str, tuple[float, float]] = {}
        results["baseline: bare INSERT, 1 row"] = summary(
            timed(lambda: bare_insert(1), options.repeat)
        )
        results[f"baseline: bare INSERT, {options.batch} rows"] = summary(
            timed(lambda: bare_insert(options.batch), options.repeat)
        )
        results["apply 1 new notification"] = summary(
            timed(lambda: cache.apply_events(events(1)), options.repeat)
        )
        results[f"apply {options.batch} new notifications"] = summary(
            timed(lambda: cache.apply_events(events(options.batch)), options.repeat)
        )
        duplicates = [
            NotificationEvent(s, make_notification(f"n{s}", s)) for s in range(1, options.batch + 1)
        ]
        results[f"apply {options.batch} duplicates"] = summary(
            timed(lambda: cache.apply_events(duplicates), options.repeat)
        )
        flips = [0]

        def read_state() -> None:
            # A real flip each time (a newer seq, alternating read/unread) on one row.
            nonlocal seq
            seq += 1
            flips[0] += 1
            cache.apply_events([ReadStateEvent(seq, ("n1",), flips[0] % 2 == 1)])

        results["apply 1 read-state change"] = summary(timed(read_state, options.repeat))
        results["local mark read (+ queue)"] = summary(
            timed(lambda: cache.local_mark(f"n{seq // 2}", True), options.repeat)
        )
        results["read: unread_count()"] = summary(timed(cache.unread_count, options.repeat))
        results["read: new_since_seen_count()"] = summary(
            timed(cache.new_since_seen_count, options.repeat)
        )
        results["read: page(limit=100)"] = summary(
            timed(lambda: cache.page(limit=100), options.repeat)
        )
        results["read: page(unread only, limit=100)"] = summary(
            timed(lambda: cache.page(ListFilter(unread_only=True), limit=100), options.repeat)
        )
        cache.close()
        baseline_db.close()

    base_one = results["baseline: bare INSERT, 1 row"][0]
    base_batch = results[f"baseline: bare INSERT, {options.batch} rows"][0]
    print(f"cache with {options.rows} rows, {options.repeat} samples each (microseconds)")
    print(f"{'operation':42} {'median':>9} {'p99':>9} {'× baseline':>11}")
    for name, (median, p99) in results.items():
        base = base_batch if f" {options.batch} " in f" {name} " else base_one
        print(f"{name:42} {median:9.1f} {p99:9.1f} {median / base:11.1f}")


if __name__ == "__main__":
    main()
