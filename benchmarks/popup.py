"""Opening the popup over 100,000 cached notifications, against the same with an empty cache.

Issue 5: "a Qt model over the cache that loads lazily, so 100,000 cached notifications scroll
smoothly and the popup opens in well under a tenth of a second". One "open" is what the tray
does on a click: the controller marks everything seen, the model resets and reads its first
page, the popup is positioned and shown, and Qt paints it (offscreen). Also measured: one
``fetchMore`` (the next page while scrolling) and a scroll to the end of the first 2,000 rows.

The first open of a running tray app is measured too, each in a fresh process (``--cold``
runs): with a tray, the list model, the popup and PySide6's ``Qt`` namespace are built on
that first click (idle memory), so it also pays their imports and the widgets' first paint.

Prints medians (ms) and the ratio to the empty-cache baseline. Run:
``QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/popup.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from tray_fakes import FakeClock, FakeScheduler, RecordingUrlOpener, fill_cache  # noqa: E402

from notifier.core.wire import (  # noqa: E402
    Actor,
    ActorKind,
    Notification,
    NotificationType,
    TicketRef,
)

TYPES = tuple(NotificationType)


def notifications(count: int) -> list[Notification]:
    created = datetime(2026, 3, 1, tzinfo=UTC)
    return [
        Notification(
            id=f"n{seq}",
            seq=seq,
            type=TYPES[seq % 3],
            sender=Actor(ActorKind.AGENT, "a-2", "Bea Baker"),
            to="alice",
            ticket=TicketRef(
                str(seq), f"Ticket {seq} about a printer", f"https://h.example/t/{seq}"
            ),
            comment=None,
            message="The printer on floor 3 is on fire again, can you have a look? " * 3,
            read=seq % 4 == 0,
            created_at=created,
        )
        for seq in range(1, count + 1)
    ]


# One cold first open: a fresh interpreter imports what the tray app has imported by the
# time it is idle (notifier.ui.application, not the popup), shows the tray icon, then times
# the first click. Prints the milliseconds.
COLD_OPEN = """
import sys, time
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
from notifier.app import pyside_imports
pyside_imports.install()
sys.path.insert(0, sys.argv[2])
from tray_fakes import FakeClock, FakeScheduler, RecordingUrlOpener
from notifier.app.account import AccountService
from notifier.app.controller import AppController
from notifier.core.settings import Settings
from notifier.store.cache import NotificationCache
from notifier.ui.application import TrayApp
from notifier.ui.toasts import NullSink
assert "notifier.app.list_model" not in sys.modules
from pathlib import Path
cache = NotificationCache.open(Path(sys.argv[1]))
clock = FakeClock()
controller = AppController(
    account=AccountService(Settings(server_url="https://h.example")), cache=cache,
    clock=clock, scheduler=FakeScheduler(clock), url_opener=RecordingUrlOpener(),
)
tray_app = TrayApp(controller, clock, use_tray=True, sink=NullSink())
tray_app.show_first_paint()
app.processEvents()
started = time.perf_counter()
tray_app.open_popup(QRect(1800, 1040, 24, 24))
app.processEvents()
print((time.perf_counter() - started) * 1000)
"""


def cold_open_ms(cache_file: Path, runs: int) -> float:
    samples = []
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-c", COLD_OPEN, str(cache_file), str(ROOT / "tests")],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        samples.append(float(result.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def median_ms(action: Callable[[], None], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--cold", type=int, default=5, help="fresh processes for a first open")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QRect
    from PySide6.QtWidgets import QApplication

    from notifier.app.account import AccountService
    from notifier.app.controller import AppController
    from notifier.core.settings import Settings
    from notifier.store.cache import NotificationCache
    from notifier.ui.application import TrayApp
    from notifier.ui.toasts import NullSink

    app = QApplication(sys.argv[:1])
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="notifier-popup-") as temp:
        for label, count in (("empty", 0), (f"{args.rows:,} rows", args.rows)):
            cache = NotificationCache.open(Path(temp) / f"cache-{count}.sqlite3")
            if count:
                fill_cache(cache, notifications(count))
            clock = FakeClock()
            controller = AppController(
                account=AccountService(Settings(server_url="https://h.example")),
                cache=cache,
                clock=clock,
                scheduler=FakeScheduler(clock),
                url_opener=RecordingUrlOpener(),
            )
            tray_app = TrayApp(controller, clock, use_tray=True, sink=NullSink())
            popup = tray_app.popup
            assert popup is not None

            def open_popup(tray_app: TrayApp = tray_app) -> None:
                tray_app.open_popup(QRect(1800, 1040, 24, 24))
                app.processEvents()  # layout and paint

            def close_popup(tray_app: TrayApp = tray_app) -> None:
                assert tray_app.popup is not None
                tray_app.popup.hide()
                app.processEvents()

            open_popup()  # warm-up: first paint of the widgets, font caches
            close_popup()
            samples = []
            for _ in range(args.runs):
                started = time.perf_counter()
                open_popup()
                samples.append((time.perf_counter() - started) * 1000)
                close_popup()
            opening = statistics.median(samples)
            open_popup()
            model = tray_app.model
            fetch = median_ms(model.fetchMore, min(args.runs, 10))

            def scroll(tray_app: TrayApp = tray_app) -> None:
                tray_app.panel.list_view.scrollToBottom()
                app.processEvents()

            scrolling = median_ms(scroll, 5)
            # Another process reads the same cache file (SQLite in WAL mode allows it).
            first = cold_open_ms(Path(temp) / f"cache-{count}.sqlite3", args.cold)
            results[label] = {
                "first": first,
                "open": opening,
                "fetch": fetch,
                "scroll": scrolling,
                "rows": float(model.rowCount()),
            }
            popup.hide()
            # Tear the widgets down while Qt and Python are both alive (top-level widgets
            # left for interpreter shutdown can crash PySide's finaliser).
            for widget in (popup, tray_app.tray):
                if widget is not None:
                    widget.deleteLater()
            tray_app.deleteLater()
            app.processEvents()
            cache.close()

    print(f"popup open over the cache, offscreen, medians of {args.runs} runs (ms)")
    print(
        f"{'cache':<16}{'first open':>12}{'open+paint':>12}{'fetchMore':>12}"
        f"{'scroll+paint':>14}{'rows loaded':>13}"
    )
    for label, row in results.items():
        print(
            f"{label:<16}{row['first']:>12.1f}{row['open']:>12.2f}{row['fetch']:>12.2f}"
            f"{row['scroll']:>14.2f}{row['rows']:>13.0f}"
        )
    empty, full = results["empty"], results[f"{args.rows:,} rows"]
    print(
        f"open ratio {full['open'] / empty['open']:.2f} to an empty cache"
        f" ({full['open']:.1f} ms; target: well under 100 ms)"
    )
    print(
        f"first open of a running app (fresh process, imports and first paint included):"
        f" {full['first']:.0f} ms over {args.rows:,} rows, {empty['first']:.0f} ms empty"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
