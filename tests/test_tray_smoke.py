"""The tray icon builds offscreen, with the bell drawn from SVG at the device pixel ratio."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from notifier.ui.icons import render_svg
from notifier.ui.tray import TrayIcon


def test_tray_icon_builds_offscreen(qtbot: QtBot) -> None:
    tray = TrayIcon()
    assert not tray.icon().isNull()
    assert tray.contextMenu() is not None
    assert [a.text() for a in tray.contextMenu().actions()][-1] == "Quit"


def test_bell_renders_crisp_at_hidpi(qtbot: QtBot) -> None:
    image = render_svg("bell", 32, 2.0)
    assert (image.width(), image.height()) == (64, 64)
    assert image.devicePixelRatio() == 2.0
    # Something opaque was drawn in the middle and the corner stayed transparent.
    assert image.pixelColor(32, 32).alpha() == 255
    assert image.pixelColor(0, 0).alpha() == 0
