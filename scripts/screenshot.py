"""Make docs/images/tray-popup.png: the real tray app, offscreen, against the demo helpdesk.

Starts ``notifier-server demo`` (seeded history, simulator off so the picture is repeatable),
runs the real controller, engine and widgets signed in as the demo agent, waits until the
list is synced, opens the popup, and composes one image: the tray badge on a dark and on a
light panel (enlarged, to show it is readable on both) next to the popup as grabbed.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot.py [--out PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "docs" / "images" / "tray-popup.png"
DEADLINE_S = 30.0


def start_demo(work: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    credentials = work / "credentials.json"
    server = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [
            sys.executable,
            "-m",
            "notifier.server.cli",
            "demo",
            "--port",
            "0",
            "--rate",
            "0",
            "--seed",
            "7",
            "--db",
            str(work / "demo.db"),
            "--credentials-file",
            str(credentials),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + DEADLINE_S
    while not credentials.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise SystemExit("the demo helpdesk did not start")
        time.sleep(0.05)
    data: dict[str, str] = json.loads(credentials.read_text(encoding="utf-8"))
    return server, data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    import qasync
    from PySide6.QtCore import QPoint, QRect, Qt
    from PySide6.QtGui import QColor, QFont, QPainter, QPixmap
    from PySide6.QtWidgets import QApplication

    from notifier.app.clock import SystemClock
    from notifier.app.controller import AppController
    from notifier.app.scheduler import QtScheduler
    from notifier.core.settings import Settings
    from notifier.core.status import ConnectionState
    from notifier.main import LiveServices
    from notifier.store.cache import NotificationCache
    from notifier.store.paths import app_paths
    from notifier.ui.application import TrayApp
    from notifier.ui.badge import paint_badge
    from notifier.ui.toasts import NullSink

    with tempfile.TemporaryDirectory(prefix="notifier-screenshot-") as temp:
        work = Path(temp)
        server, credentials = start_demo(work)
        app = QApplication(sys.argv[:1])
        app.setFont(QFont("DejaVu Sans", 9))
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        paths = app_paths({"NOTIFIER_HOME": str(work / "app")}).ensure()
        cache = NotificationCache.open(paths.cache_file)
        clock = SystemClock()
        controller = AppController(
            settings=Settings(server_url=credentials["server"]),
            cache=cache,
            clock=clock,
            scheduler=QtScheduler(clock),
            url_opener=_NoBrowser(),
            services=LiveServices(paths, {"NOTIFIER_TOKEN": credentials["token"]}),
        )
        tray_app = TrayApp(controller, clock, use_tray=True, sink=NullSink())
        tray_app.show_first_paint()

        async def shoot() -> None:
            progressed = asyncio.Event()
            controller.statusChanged.connect(lambda _: progressed.set())
            controller.changeApplied.connect(lambda _: progressed.set())
            await tray_app.start()
            async with asyncio.timeout(DEADLINE_S):
                while not (controller.status.state is ConnectionState.LIVE and cache.count()):
                    await progressed.wait()
                    progressed.clear()
            # A realistic mix: the two oldest unread ones were read on the web.
            for notification in cache.page(limit=8)[-2:]:
                controller.mark_read(notification.id)
            await asyncio.sleep(0.3)
            before_looking = tray_app.badge_state()  # with the red "new" mark
            popup = tray_app.popup
            assert popup is not None
            popup.show_near(QRect(1800, 1040, 24, 24))
            popup.panel.list_view.setCurrentIndex(popup.panel.model.index(0))
            await asyncio.sleep(0.3)
            compose(popup.grab(), before_looking).save(str(args.out))
            await tray_app.shutdown()

        def compose(popup_image: QPixmap, state: object) -> QPixmap:
            badge = QPixmap.fromImage(paint_badge(state, 32, 4.0))  # type: ignore[arg-type]
            margin = 32
            tile = 160
            width = margin * 3 + tile + popup_image.width()
            height = max(popup_image.height(), 2 * tile + margin) + 2 * margin
            canvas = QPixmap(width, height)
            canvas.fill(QColor("#e6e9ee"))
            painter = QPainter(canvas)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            for index, panel in enumerate(("#1f2329", "#f7f7f7")):
                top = margin + index * (tile + margin)
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(QColor(panel))
                painter.drawRoundedRect(QRect(margin, top, tile, tile), 12, 12)
                painter.drawPixmap(
                    QRect(margin + (tile - 96) // 2, top + (tile - 96) // 2, 96, 96), badge
                )
            painter.drawPixmap(QPoint(margin * 2 + tile, margin), popup_image)
            painter.end()
            return canvas

        try:
            with loop:
                loop.run_until_complete(shoot())
        finally:
            cache.close()
            server.terminate()
            server.wait(timeout=10)
    print(f"wrote {args.out}")
    return 0


class _NoBrowser:
    def open_url(self, url: str) -> bool:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
