"""Make the README's pictures: the real tray app, offscreen, against the demo helpdesk.

Starts ``notifier-server demo`` (seeded history, simulator off so the picture is repeatable),
runs the real controller, engine and widgets signed in as the demo agent, waits until the
list is synced, and composes one picture per desktop: a light one and a dark one. Each shows
a panel of that colour with the tray badge at the size a tray shows it (24 px) next to the
popup as it opens below the panel (grabbed, in that desktop's palette), and, enlarged, the
badge live with unread and new notifications, offline, and in quiet hours, on that panel.

Writes ``docs/images/tray-popup-light.png`` and ``docs/images/tray-popup-dark.png``.
Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot.py [--out-dir DIR]``.
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
DEFAULT_OUT_DIR = ROOT / "docs" / "images"
DEADLINE_S = 30.0
# (name, panel colour, palette colours by role name) per desktop.
DESKTOPS = {
    "light": ("#e9ebee", {}),
    "dark": (
        "#1f2329",
        {
            "Window": "#2b2e33",
            "WindowText": "#e6e6e6",
            "Base": "#1f2125",
            "AlternateBase": "#292c31",
            "Text": "#e6e6e6",
            "Button": "#35383e",
            "ButtonText": "#e6e6e6",
            "PlaceholderText": "#9ba1a8",
            "Highlight": "#3d7ee0",
            "HighlightedText": "#ffffff",
            "Mid": "#4a4e55",
            "Midlight": "#34373c",
            "Light": "#45494f",
            "Dark": "#141517",
        },
    ),
}


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
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR)
    args = parser.parse_args()
    if not args.out_dir.is_dir():
        parser.error(f"--out-dir {args.out_dir}: no such folder")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    import qasync
    from PySide6.QtCore import QPoint, QRect, Qt
    from PySide6.QtGui import QColor, QFont, QPainter, QPalette, QPixmap
    from PySide6.QtWidgets import QApplication

    from notifier.app.account import AccountService
    from notifier.app.clock import SystemClock
    from notifier.app.controller import AppController
    from notifier.app.scheduler import QtScheduler
    from notifier.compose import LiveServices
    from notifier.core.settings import Settings
    from notifier.core.status import ConnectionState
    from notifier.store.cache import NotificationCache
    from notifier.store.paths import app_paths
    from notifier.ui.application import TrayApp
    from notifier.ui.badge import BadgeState, paint_badge
    from notifier.ui.toasts import NullSink

    with tempfile.TemporaryDirectory(prefix="notifier-screenshot-") as temp:
        work = Path(temp)
        server, credentials = start_demo(work)
        app = QApplication(sys.argv[:1])
        app.setFont(QFont("DejaVu Sans", 9))
        light_palette = QPalette(app.palette())
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        paths = app_paths({"NOTIFIER_HOME": str(work / "app")}).ensure()
        cache = NotificationCache.open(paths.cache_file)
        clock = SystemClock()
        services = LiveServices(paths, {"NOTIFIER_TOKEN": credentials["token"]})
        controller = AppController(
            account=AccountService(
                Settings(server_url=credentials["server"]), services, url_opener=_NoBrowser()
            ),
            cache=cache,
            clock=clock,
            scheduler=QtScheduler(clock),
            url_opener=_NoBrowser(),
            engines=services,
        )
        tray_app = TrayApp(controller, clock, use_tray=True, sink=NullSink())
        tray_app.show_first_paint()

        def palette_for(colours: dict[str, str]) -> QPalette:
            palette = QPalette(light_palette)
            for role, colour in colours.items():
                for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
                    palette.setColor(group, getattr(QPalette.ColorRole, role), QColor(colour))
            return palette

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
            for name, (panel, colours) in DESKTOPS.items():
                app.setPalette(palette_for(colours))
                popup.show_near(QRect(1800, 8, 24, 24))  # an icon in a top panel
                popup.panel.list_view.setCurrentIndex(popup.panel.model.index(0))
                await asyncio.sleep(0.3)
                picture = compose(popup.grab(), before_looking, QColor(panel), name == "dark")
                target = args.out_dir / f"tray-popup-{name}.png"
                if not picture.save(str(target)):  # a folder that is not there, say
                    raise SystemExit(f"could not write {target}")
                print(f"wrote {target}")
                popup.hide()
            await tray_app.shutdown()

        def compose(popup_image: QPixmap, state: BadgeState, panel: QColor, dark: bool) -> QPixmap:
            margin, panel_height, icon = 16, 32, 24
            zoom, tile = 3, 32 * 3 + 24
            states = [
                ("live", state),
                ("offline", BadgeState(unread=state.unread, online=False)),
                ("quiet hours", BadgeState(unread=state.unread, quiet=True)),
            ]
            column = tile + 2 * margin
            width = column + popup_image.width() + margin
            height = panel_height + 8 + popup_image.height() + margin
            canvas = QPixmap(width, height)
            canvas.fill(QColor("#c9ced6") if not dark else QColor("#101215"))  # the desktop
            painter = QPainter(canvas)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.fillRect(QRect(0, 0, width, panel_height), panel)
            # The tray icon at its size, at the panel's right end, above the popup's corner.
            icon_x = width - margin - icon
            badge = QPixmap.fromImage(paint_badge(state, icon, 1.0))
            painter.drawPixmap(QPoint(icon_x, (panel_height - icon) // 2), badge)
            painter.drawPixmap(QPoint(column, panel_height + 8), popup_image)
            # Enlarged, on the panel's colour: the badge in three states.
            top = panel_height + 8
            caption = QColor("#1c1f24") if not dark else QColor("#c8ccd2")
            for index, (label, shown) in enumerate(states):
                area = QRect(margin, top + index * (tile + 28), tile, tile)
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(panel)
                painter.drawRoundedRect(area, 10, 10)
                big = QPixmap.fromImage(paint_badge(shown, 32, zoom))
                big.setDevicePixelRatio(1.0)
                painter.drawPixmap(
                    QPoint(
                        area.center().x() - big.width() // 2, area.center().y() - big.height() // 2
                    ),
                    big,
                )
                painter.setPen(caption)
                painter.drawText(
                    QRect(area.left(), area.bottom() + 4, tile, 20),
                    int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop),
                    label,
                )
            painter.end()
            return canvas

        try:
            with loop:
                loop.run_until_complete(shoot())
        finally:
            cache.close()
            server.terminate()
            server.wait(timeout=10)
    return 0


class _NoBrowser:
    def open_url(self, url: str) -> bool:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
