"""The real ``notifier`` app on an X server: a tray icon where there is a tray, a window where
there is none.

The app runs as the agent starts it (``python -m notifier``, Qt on xcb, signed out so no
server is involved) and is inspected from outside, through X, with xdotool and xwininfo:

* with an XEmbed system tray (trayer) the app's tray icon window is embedded in the tray's
  panel and viewable, and no fallback window is shown;
* with a StatusNotifierItem tray (status-notifier-watcher + gtk-sni-tray-standalone, what
  KDE and GNOME's AppIndicator extension speak) the app registers an active item, with its
  badge as the icon and its words as the tooltip, on the session bus;
* a left click on the tray icon (a real pointer click on X) opens the popup next to the icon,
  inside the screen; Escape closes it; starting ``notifier`` again exits at once and brings
  the running app's popup up instead of a second icon;
* the same at 2× scaling (QT_SCALE_FACTOR=2: 640 × 400 logical pixels, less than the
  popup's height), and with a StatusNotifierItem tray, which tells the app nothing about
  where its icon is: the popup opens below the panel, never over it, inside the screen (it
  opened at y = 19 over the 30 px panel, and at y = -240 at 2×);
* without one, the app says so in its output and shows its fallback window
  (notifier/ui/fallback_window.py) instead of running invisibly.

``NOTIFIER_STARTUP_MARKER`` makes the app write a file at its first paint: the moment the
icon or the window has been shown.
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
    require,
    wait_until,
)

from notifier.app.status_text import tooltip_text
from notifier.core.status import ConnectionState, ConnectionStatus

pytestmark = pytest.mark.desktop

TIMEOUT_S = 15.0
FALLBACK_TITLE = "Helpdesk notifications"  # FallbackWindow's title (Qt appends the app name)


def windows_of(
    session: DesktopSession, pid: int, *, visible: bool = False, title: str | None = None
) -> list[int]:
    """X windows whose _NET_WM_PID is ``pid`` (and, if given, whose title matches the regular
    expression ``title``); xdotool exits 1 when there is none."""
    argv = ["xdotool", "search", "--all", "--pid", str(pid)]
    if visible:
        argv.append("--onlyvisible")
    if title is not None:
        argv += ["--name", title]  # the pattern must be the last argument
    result = session.run(argv, check=False)
    return [int(word) for word in result.stdout.split()]


def is_viewable(session: DesktopSession, window: int) -> bool:
    return "Map State: IsViewable" in session.run(["xwininfo", "-id", str(window)]).stdout


def embedded_in(session: DesktopSession, host_pid: int) -> set[int]:
    """Every window inside the windows of process ``host_pid`` (the tray's embedded icons)."""
    inside: set[int] = set()
    for window in windows_of(session, host_pid):
        tree = session.run(["xwininfo", "-tree", "-id", str(window)], check=False).stdout
        for line in tree.splitlines():
            word = line.strip().split(" ", 1)[0]
            if word.startswith("0x") and int(word, 16) != window:
                inside.add(int(word, 16))
    return inside


def geometry(session: DesktopSession, window: int) -> tuple[int, int, int, int]:
    """(x, y, width, height) of ``window`` on the screen."""
    fields: dict[str, int] = {}
    for line in session.run(["xwininfo", "-id", str(window)]).stdout.splitlines():
        key, _, value = line.strip().partition(":")
        if key in ("Absolute upper-left X", "Absolute upper-left Y", "Width", "Height"):
            fields[key] = int(value)
    return (
        fields["Absolute upper-left X"],
        fields["Absolute upper-left Y"],
        fields["Width"],
        fields["Height"],
    )


def start_app(session: DesktopSession, name: str, marker: Path) -> subprocess.Popen[bytes]:
    app = session.spawn(
        name,
        [sys.executable, "-m", "notifier"],
        session.environment(NOTIFIER_STARTUP_MARKER=str(marker)),
    )
    wait_until(lambda: marker.exists() or app.poll() is not None, "the first paint", TIMEOUT_S)
    assert app.poll() is None, session.log_text(name)
    return app


def test_with_a_tray_host_the_tray_icon_is_embedded_and_visible(
    desktop_session: DesktopSession, tmp_path: Path
) -> None:
    require("xdotool", "xwininfo")
    with desktop_session.tray_host() as trayer:
        app = start_app(desktop_session, "app-with-tray", tmp_path / "painted")
        try:
            wait_until(
                lambda: bool(
                    set(windows_of(desktop_session, app.pid))
                    & embedded_in(desktop_session, trayer.pid)
                ),
                "the tray icon to be embedded in the tray",
                TIMEOUT_S,
            )
            icons = set(windows_of(desktop_session, app.pid)) & embedded_in(
                desktop_session, trayer.pid
            )
            assert len(icons) == 1
            wait_until(
                lambda: is_viewable(desktop_session, next(iter(icons))),
                "the tray icon to be viewable",
                TIMEOUT_S,
            )
            fallback = windows_of(
                desktop_session, app.pid, visible=True, title=f"^{FALLBACK_TITLE}"
            )
            assert fallback == []
            assert "no system tray" not in desktop_session.log_text("app-with-tray")
        finally:
            desktop_session.stop_process(app)


def test_without_a_tray_host_the_fallback_window_is_shown(
    desktop_session: DesktopSession, tmp_path: Path
) -> None:
    require("xdotool", "xwininfo")
    assert not desktop_session.tray_selection_owned()
    app = start_app(desktop_session, "app-without-tray", tmp_path / "painted")
    try:
        wait_until(
            lambda: bool(
                windows_of(desktop_session, app.pid, visible=True, title=f"^{FALLBACK_TITLE}")
            ),
            "the fallback window",
            TIMEOUT_S,
        )
        (window,) = windows_of(desktop_session, app.pid, visible=True, title=f"^{FALLBACK_TITLE}")
        geometry = desktop_session.run(["xdotool", "getwindowgeometry", str(window)]).stdout
        assert "Geometry: 420x580" in geometry
        assert (
            "this desktop has no system tray; showing a small window instead of a tray icon"
            in desktop_session.log_text("app-without-tray")
        )
    finally:
        desktop_session.stop_process(app)


def test_with_a_status_notifier_tray_the_app_registers_an_active_item(
    desktop_session: DesktopSession, tmp_path: Path
) -> None:
    require("xdotool")
    with desktop_session.sni_tray_host():
        app = start_app(desktop_session, "app-with-sni", tmp_path / "painted")
        try:
            wait_until(
                lambda: bool(desktop_session.sni_items_of(app.pid)),
                "the app's StatusNotifierItem",
                TIMEOUT_S,
            )
            (item,) = desktop_session.sni_items_of(app.pid)

            def item_property(prop: str) -> Any:
                return desktop_session.sni_item_property(item, prop)

            assert item_property("Status") == "Active"
            pixmaps = item_property("IconPixmap")  # [(width, height, ARGB bytes)]: the badge
            assert pixmaps and all(
                w > 0 and h > 0 and len(data) == 4 * w * h for w, h, data in pixmaps
            )
            # The tray's words for a signed-out app with nothing cached, as the app words them,
            # once it is built (the item answers from the first paint on: "Connecting…").
            signed_out = ConnectionStatus(ConnectionState.SIGNED_OUT)
            expected = tooltip_text(0, signed_out, datetime.now(UTC), None)
            wait_until(lambda: item_property("ToolTip")[2] == expected, "the words", TIMEOUT_S)
            fallback = windows_of(
                desktop_session, app.pid, visible=True, title=f"^{FALLBACK_TITLE}"
            )
            assert fallback == []
            assert "no system tray" not in desktop_session.log_text("app-with-sni")
        finally:
            desktop_session.stop_process(app)


SCREEN = (1280, 800)  # desktop_session's Xvfb screen


def test_a_click_on_the_tray_icon_opens_the_popup_and_a_second_start_wakes_the_first(
    desktop_session: DesktopSession, tmp_path: Path
) -> None:
    require("xdotool", "xwininfo")
    session = desktop_session
    with session.tray_host() as trayer:
        app = start_app(session, "app-popup", tmp_path / "painted")
        try:

            def icons() -> set[int]:
                return set(windows_of(session, app.pid)) & embedded_in(session, trayer.pid)

            wait_until(lambda: bool(icons()), "the tray icon", TIMEOUT_S)
            (icon,) = icons()
            wait_until(lambda: is_viewable(session, icon), "the tray icon to show", TIMEOUT_S)
            shown = set(windows_of(session, app.pid, visible=True))

            def popups() -> set[int]:
                return set(windows_of(session, app.pid, visible=True)) - shown

            session.run(["xdotool", "mousemove", "--window", str(icon), "5", "5", "click", "1"])
            wait_until(lambda: bool(popups()), "the popup", TIMEOUT_S)
            (popup,) = popups()
            x, y, width, height = geometry(session, popup)
            icon_x, icon_y, icon_width, icon_height = geometry(session, icon)
            assert 0 <= x <= x + width <= SCREEN[0]  # inside the screen
            assert 0 <= y <= y + height <= SCREEN[1]
            assert x <= icon_x + icon_width // 2 <= x + width  # under the icon ...
            assert y >= icon_y + icon_height  # ... below the panel at the top

            session.run(["xdotool", "key", "Escape"])
            wait_until(lambda: not popups(), "Escape to close the popup", TIMEOUT_S)

            second = subprocess.run(
                [sys.executable, "-m", "notifier"],
                env=session.environment(),
                capture_output=True,
                timeout=TIMEOUT_S,
                check=False,
            )
            assert second.returncode == 0, second.stderr
            wait_until(lambda: bool(popups()), "the running app's popup", TIMEOUT_S)
            assert icons() == {icon}  # the running app keeps its one icon
        finally:
            session.stop_process(app)


def popup_after_click(
    session: DesktopSession, app: subprocess.Popen[bytes], x: int, y: int
) -> tuple[int, int, int, int]:
    """Click at (x, y) on the screen and return the geometry of the window that appears.

    The click is repeated every 2 s until it does: a tray host draws a new item a moment
    after it registered, and a click before that lands on the empty panel.
    """
    shown = set(windows_of(session, app.pid, visible=True))

    def popups() -> set[int]:
        return set(windows_of(session, app.pid, visible=True)) - shown

    def clicked() -> bool:
        session.run(["xdotool", "mousemove", str(x), str(y), "click", "1"])
        try:
            wait_until(lambda: bool(popups()), "the popup", 2.0)
        except AssertionError:
            return False
        return True

    wait_until(clicked, "a click on the icon to open the popup", TIMEOUT_S)
    (popup,) = popups()
    return geometry(session, popup)


@pytest.mark.parametrize("scale", ["1", "2"])
def test_with_a_status_notifier_tray_the_popup_opens_below_the_panel(
    desktop_session: DesktopSession, tmp_path: Path, scale: str
) -> None:
    require("xdotool", "xwininfo")
    session = desktop_session
    with session.sni_tray_host() as host:
        app = session.spawn(
            f"app-sni-{scale}x",
            [sys.executable, "-m", "notifier"],
            session.environment(
                NOTIFIER_STARTUP_MARKER=str(tmp_path / "painted"), QT_SCALE_FACTOR=scale
            ),
        )
        try:
            wait_until(lambda: (tmp_path / "painted").exists(), "the first paint", TIMEOUT_S)

            wait_until(
                lambda: bool(session.sni_items_of(app.pid)),
                "the app's StatusNotifierItem",
                TIMEOUT_S,
            )
            (panel,) = windows_of(session, host.pid, visible=True)
            panel_x, panel_y, _, panel_height = geometry(session, panel)
            wait_until(
                lambda: (
                    "Map State: IsViewable" in session.run(["xwininfo", "-id", str(panel)]).stdout
                ),
                "the panel",
                TIMEOUT_S,
            )
            # The app's item is the only one, at the panel's left end.
            click_x, click_y = panel_x + 12, panel_y + panel_height // 2
            x, y, width, height = popup_after_click(session, app, click_x, click_y)
            assert 0 <= x <= x + width <= SCREEN[0]  # inside the screen
            assert 0 <= y <= y + height <= SCREEN[1]
            assert y >= panel_y + panel_height  # below the panel, not over it
            assert x <= click_x <= x + width  # next to where the icon was clicked
        finally:
            session.stop_process(app)


def test_at_2x_the_popup_fits_below_the_icon(
    desktop_session: DesktopSession, tmp_path: Path
) -> None:
    """1280 × 800 at 2× is 640 × 400 logical pixels: the popup (520 high) is made to fit
    below the panel instead of running off the top of the screen."""
    require("xdotool", "xwininfo")
    session = desktop_session
    with session.tray_host() as trayer:
        app = session.spawn(
            "app-2x",
            [sys.executable, "-m", "notifier"],
            session.environment(
                NOTIFIER_STARTUP_MARKER=str(tmp_path / "painted"), QT_SCALE_FACTOR="2"
            ),
        )
        try:
            wait_until(lambda: (tmp_path / "painted").exists(), "the first paint", TIMEOUT_S)

            def icons() -> set[int]:
                return set(windows_of(session, app.pid)) & embedded_in(session, trayer.pid)

            wait_until(lambda: bool(icons()), "the tray icon", TIMEOUT_S)
            (icon,) = icons()
            wait_until(lambda: is_viewable(session, icon), "the tray icon to show", TIMEOUT_S)
            icon_x, icon_y, icon_width, icon_height = geometry(session, icon)
            x, y, width, height = popup_after_click(
                session, app, icon_x + icon_width // 2, icon_y + icon_height // 2
            )
            assert 0 <= x <= x + width <= SCREEN[0]
            assert 0 <= y <= y + height <= SCREEN[1]
            assert y >= icon_y + icon_height  # below the icon in the top panel
            assert x <= icon_x + icon_width // 2 <= x + width
        finally:
            session.stop_process(app)
