"""The real ``notifier`` app docks in a StatusNotifierItem tray while the rest of it loads.

An SNI host (KDE, GNOME's AppIndicator extension) fetches the icon with a D-Bus ``Get`` of
``IconPixmap`` right after the item registers; the app's GUI thread answers it, so the app
must run its event loop while it imports the rest of itself (notifier/main.py,
notifier/app/preload.py). To make "while it loads" observable, the app runs under a small
import hook that holds the import of :mod:`notifier.compose` (the network stack; the app
imports it only after the first paint) until the test releases it. Before the release the
host's request is answered and the tray shows the first paint's words; after it, the app
finishes starting. A second start meanwhile is not lost: it opens the list once the app is
built.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from desktop_session import (  # noqa: F401  (the fixture desktop_session)
    DesktopSession,
    desktop_session_fixture,
    wait_until,
)

from notifier.app.status_text import tooltip_text
from notifier.core.status import ConnectionState, ConnectionStatus

pytestmark = pytest.mark.desktop

TIMEOUT_S = 15.0
HELD_MODULE = "notifier.compose"
# Runs the app with the import of HELD_MODULE held until the file argv[1] exists.
HELD_APP = f"""
import sys, time
from pathlib import Path

release = Path(sys.argv[1])


class Hold:
    def find_spec(self, name, path=None, target=None):
        if name == {HELD_MODULE!r}:
            deadline = time.monotonic() + 60
            while not release.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        return None  # the usual finders import it


sys.meta_path.insert(0, Hold())
from notifier.main import main

sys.exit(main(["run"]))
"""


def test_the_sni_host_gets_the_icon_while_the_app_still_loads(
    desktop_session: DesktopSession, tmp_path: Path
) -> None:
    session = desktop_session
    home = tmp_path / "home"
    marker = tmp_path / "painted"
    release = tmp_path / "release"
    env = session.environment(NOTIFIER_HOME=str(home))
    log_file = home / "logs" / "notifier.log"
    with session.sni_tray_host():
        app = session.spawn(
            "app-held",
            [sys.executable, "-c", HELD_APP, str(release)],
            dict(env, NOTIFIER_STARTUP_MARKER=str(marker)),
        )
        try:
            wait_until(
                lambda: marker.exists() or app.poll() is not None, "the first paint", TIMEOUT_S
            )
            assert app.poll() is None, session.log_text("app-held")

            wait_until(
                lambda: bool(session.sni_items_of(app.pid)),
                "the app's StatusNotifierItem",
                TIMEOUT_S,
            )
            (item,) = session.sni_items_of(app.pid)

            def item_property(prop: str) -> Any:
                # Answered within 5 s or a TimeoutError: the app's event loop must be running.
                return session.sni_item_property(item, prop)

            pixmaps = item_property("IconPixmap")
            assert pixmaps and all(w > 0 and h > 0 for w, h, _data in pixmaps)
            _icon_name, _icon, title, _text = item_property("ToolTip")
            assert title == "0 unread · Connecting…"  # the first paint's words: still loading
            assert not log_file.exists()  # logging is set up once the held import is done

            # A second start now exits at once and is answered once the app is built.
            second = subprocess.run(
                [sys.executable, "-m", "notifier"],
                env=env,
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S * 2,
            )
            assert second.returncode == 0, second.stderr

            release.touch()
            signed_out = ConnectionStatus(ConnectionState.SIGNED_OUT)
            expected = tooltip_text(0, signed_out, datetime.now(UTC), None)
            wait_until(lambda: item_property("ToolTip")[2] == expected, "start-up", TIMEOUT_S)
            wait_until(
                lambda: "another start asked" in log_file.read_text(encoding="utf-8"),
                "the second start to open the list",
                TIMEOUT_S,
            )
        finally:
            release.touch()
            session.stop_process(app)
