"""The tray badge painter, checked by its pixels in each state and at HiDPI ratios."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QColor, QImage, QPainter
from pytestqt.qtbot import QtBot

from notifier.ui.badge import (
    NEW_COLOR,
    QUIET_COLOR,
    UNREAD_COLOR,
    BadgeState,
    badge_svg,
    count_text,
    paint_badge,
)
from notifier.ui.badge_digits import GLYPHS

# Regions in 32nds of the icon (x0, y0, x1, y1), as laid out in notifier/ui/badge.py.
PILL = (17, 18, 32, 32)
NEW_MARK = (21, 2, 31, 12)
MOON = (0, 0, 10, 14)


def close_to(expected: QColor, tolerance: int = 40) -> Callable[[QColor], bool]:
    def match(colour: QColor) -> bool:
        return colour.alpha() > 200 and all(
            abs(a - b) <= tolerance
            for a, b in (
                (colour.red(), expected.red()),
                (colour.green(), expected.green()),
                (colour.blue(), expected.blue()),
            )
        )

    return match


def count_in(
    image: QImage, region: tuple[int, int, int, int], match: Callable[[QColor], bool]
) -> int:
    scale = image.width() / 32
    x0, y0, x1, y1 = (round(v * scale) for v in region)
    return sum(1 for x in range(x0, x1) for y in range(y0, y1) if match(image.pixelColor(x, y)))


def is_colourful(colour: QColor) -> bool:
    return (
        colour.alpha() > 0
        and max(colour.red(), colour.green(), colour.blue())
        - min(colour.red(), colour.green(), colour.blue())
        > 12
    )


def test_count_text() -> None:
    assert [count_text(n) for n in (0, 1, 9, 99, 100, 12345)] == ["", "1", "9", "99", "99+", "99+"]


def test_connected_without_unread_is_the_plain_bell(qtbot: QtBot) -> None:
    image = paint_badge(BadgeState(), 32, 1.0)
    assert count_in(image, PILL, close_to(UNREAD_COLOR)) == 0
    assert count_in(image, NEW_MARK, close_to(NEW_COLOR)) == 0
    assert count_in(image, MOON, close_to(QUIET_COLOR)) == 0
    # The bell itself is there: opaque dark body in the middle.
    assert image.pixelColor(16, 20).alpha() == 255


@pytest.mark.parametrize("ratio", [1.0, 2.0])
def test_unread_count_pill(qtbot: QtBot, ratio: float) -> None:
    image = paint_badge(BadgeState(unread=7), 32, ratio)
    blue = count_in(image, PILL, close_to(UNREAD_COLOR))
    # A solid pill covers a good part of its corner (more than 1/4 of the region).
    assert blue > (15 * 14 * ratio * ratio) / 4
    # The white digit is drawn inside the pill.
    assert count_in(image, PILL, close_to(QColor("white"), 30)) > 0
    assert count_in(image, NEW_MARK, close_to(NEW_COLOR)) == 0


def test_more_than_99_shows_a_wider_pill(qtbot: QtBot) -> None:
    narrow = paint_badge(BadgeState(unread=5), 32, 2.0)
    wide = paint_badge(BadgeState(unread=250), 32, 2.0)
    everywhere = (0, 0, 32, 32)
    assert count_in(wide, everywhere, close_to(UNREAD_COLOR)) > count_in(
        narrow, everywhere, close_to(UNREAD_COLOR)
    )
    # 250 and 100 both read "99+": the same image.
    assert wide == paint_badge(BadgeState(unread=100), 32, 2.0)


def test_dot_style_draws_no_digits(qtbot: QtBot) -> None:
    image = paint_badge(BadgeState(unread=42, dot=True), 32, 2.0)
    assert count_in(image, PILL, close_to(UNREAD_COLOR)) > 0
    # Only the outline ring is white; no glyph in the dot's centre.
    centre = (23, 23, 27, 27)
    assert count_in(image, centre, close_to(QColor("white"), 30)) == 0
    assert count_in(image, centre, close_to(UNREAD_COLOR)) == 16 * 4


def test_new_since_seen_mark_is_red(qtbot: QtBot) -> None:
    image = paint_badge(BadgeState(unread=3, new_since_seen=True), 32, 1.0)
    assert count_in(image, NEW_MARK, close_to(NEW_COLOR)) > 30
    seen = paint_badge(BadgeState(unread=3, new_since_seen=False), 32, 1.0)
    assert count_in(seen, NEW_MARK, close_to(NEW_COLOR)) == 0


def test_quiet_mark(qtbot: QtBot) -> None:
    image = paint_badge(BadgeState(quiet=True), 32, 2.0)
    assert count_in(image, MOON, close_to(QUIET_COLOR)) > 50
    assert count_in(paint_badge(BadgeState(), 32, 2.0), MOON, close_to(QUIET_COLOR)) == 0


@pytest.mark.parametrize("ratio", [1.0, 2.0])
def test_offline_is_grey_and_opaque(qtbot: QtBot, ratio: float) -> None:
    """Offline is drawn in greys only, and not faded: a faded grey bell vanished on a light
    panel (how visible it is, is measured in test_visible_on_light_and_dark_panels)."""
    state = BadgeState(unread=7, new_since_seen=True, quiet=True, online=False)
    image = paint_badge(state, 32, ratio)
    everywhere = (0, 0, 32, 32)
    assert count_in(image, everywhere, is_colourful) == 0
    assert count_in(image, everywhere, lambda c: c.alpha() == 255) > 400 * ratio * ratio
    online = paint_badge(BadgeState(unread=7, new_since_seen=True, quiet=True), 32, ratio)
    assert count_in(online, everywhere, is_colourful) > 100 * ratio * ratio


@pytest.mark.parametrize(("ratio", "pixels"), [(1.0, 32), (1.5, 48), (2.0, 64), (3.0, 96)])
def test_hidpi_size(qtbot: QtBot, ratio: float, pixels: int) -> None:
    image = paint_badge(BadgeState(unread=1), 32, ratio)
    assert (image.width(), image.height()) == (pixels, pixels)
    assert image.devicePixelRatio() == ratio
    # Marks scale with the image: the pill covers the same share of the icon.
    share = count_in(image, PILL, close_to(UNREAD_COLOR)) / (pixels * pixels)
    reference = count_in(paint_badge(BadgeState(unread=1), 32, 1.0), PILL, close_to(UNREAD_COLOR))
    assert abs(share - reference / 1024) < 0.03


@pytest.mark.parametrize("panel", ["#1f2329", "#f7f7f7"])
def test_readable_on_dark_and_light_panels(qtbot: QtBot, panel: str) -> None:
    """Composited on a dark or a light panel, the bell still stands out: the white outline on
    the dark one, the dark body on the light one (enough strongly contrasting pixels)."""
    badge = paint_badge(BadgeState(unread=3), 32, 2.0)
    badge.setDevicePixelRatio(1.0)
    background = QColor(panel)
    image = QImage(badge.size(), QImage.Format.Format_ARGB32)
    image.fill(background)
    painter = QPainter(image)
    painter.drawImage(0, 0, badge)
    painter.end()
    contrasting = count_in(
        image, (0, 0, 32, 32), lambda c: abs(c.lightness() - background.lightness()) > 120
    )
    assert contrasting > 0.15 * image.width() * image.height()


def white_columns(image: QImage, region: tuple[int, int, int, int]) -> list[int]:
    """x of the pixels in ``region`` whose colour is the digits' white."""
    scale = image.width() / 32
    x0, y0, x1, y1 = (round(v * scale) for v in region)
    white = close_to(QColor("white"), 30)
    return [x for x in range(x0, x1) for y in range(y0, y1) if white(image.pixelColor(x, y))]


def test_the_count_is_drawn_from_outlines_centred_in_the_pill(qtbot: QtBot) -> None:
    # No SVG text: painting the badge never starts Qt's font machinery (idle memory), and
    # every character the count can show has an outline.
    for unread in range(1, 120):
        assert "<text" not in badge_svg(BadgeState(unread=unread))
        assert set(count_text(unread)) <= set(GLYPHS)
    # Different counts are different pictures (the digits are really drawn) …
    images = {n: paint_badge(BadgeState(unread=n), 32, 4.0) for n in (1, 4, 8, 42)}
    assert len({img.constBits().tobytes() for img in images.values()}) == 4
    # … and the ink sits in the middle of the pill, across and down.
    for image in images.values():
        pill, ink = pill_and_ink(image)
        assert abs(ink.center().x() - pill.center().x()) <= 2, (pill, ink)
        assert abs(ink.center().y() - pill.center().y()) <= 2, (pill, ink)


PANELS = {"light": QColor("#f7f7f7"), "dark": QColor("#1f2329")}
TRAY_SIZES = (16, 22, 24, 32)


def pill_and_ink(image: QImage) -> tuple[QRect, QRect]:
    """The bounding boxes of the count's blue pill and of the white digits inside it (the
    white outside the pill's fill, its halo, does not count)."""
    blue = close_to(UNREAD_COLOR, 50)
    size = image.width()
    points = [(x, y) for x in range(size) for y in range(size) if blue(image.pixelColor(x, y))]
    xs, ys = [x for x, _ in points], [y for _, y in points]
    pill = QRect(QPoint(min(xs), min(ys)), QPoint(max(xs), max(ys)))
    # Inside the pill's straight middle (the round ends curve the halo inwards).
    band = pill.adjusted(pill.width() // 6, 1, -(pill.width() // 6), -1)
    ink = [
        (x, y)
        for x in range(band.left(), band.right() + 1)
        for y in range(band.top(), band.bottom() + 1)
        if image.pixelColor(x, y).lightness() > 190 and not blue(image.pixelColor(x, y))
    ]
    ink_xs, ink_ys = [x for x, _ in ink], [y for _, y in ink]
    return pill, QRect(QPoint(min(ink_xs), min(ink_ys)), QPoint(max(ink_xs), max(ink_ys)))


@pytest.mark.parametrize("size", TRAY_SIZES)
@pytest.mark.parametrize(("unread", "share"), [(7, 0.42), (42, 0.42), (250, 0.28)])
def test_the_count_is_legible_at_tray_sizes(
    qtbot: QtBot, size: int, unread: int, share: float
) -> None:
    """The reported case: a two-digit count was about 7 px tall at 22 px (6 measured). Now
    one or two digits are at least 42 % of the icon (7 px at 16, 10 px at 22), "99+" 28 %,
    white on the blue pill (WCAG contrast 5.2:1)."""
    image = paint_badge(BadgeState(unread=unread), size, 1.0)
    _pill, ink = pill_and_ink(image)
    assert ink.height() >= share * size, (ink.height(), size)
    assert contrast(QColor("white"), UNREAD_COLOR) >= 4.5


@pytest.mark.parametrize("size", TRAY_SIZES)
def test_every_count_looks_different_at_tray_sizes(qtbot: QtBot, size: int) -> None:
    pictures = {
        paint_badge(BadgeState(unread=n), size, 1.0).constBits().tobytes() for n in range(1, 100)
    }
    assert len(pictures) == 99


def luminance(colour: QColor) -> float:
    def channel(value: float) -> float:
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(v) for v in (colour.redF(), colour.greenF(), colour.blueF()))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(a: QColor, b: QColor) -> float:
    """The WCAG contrast ratio of two colours (1 to 21)."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def on_panel(badge: QImage, panel: QColor) -> QImage:
    """``badge`` composited on a panel of colour ``panel``, as the tray shows it."""
    image = QImage(badge.size(), QImage.Format.Format_ARGB32)
    image.fill(panel)
    painter = QPainter(image)
    painter.drawImage(0, 0, badge)
    painter.end()
    return image


def visible_share(state: BadgeState, size: int, panel: QColor) -> float:
    """The share of the icon's pixels that stand out from the panel: a WCAG contrast of at
    least 3:1 (the minimum for graphics that must be seen)."""
    badge = paint_badge(state, size, 1.0)
    image = on_panel(badge, panel)
    standing_out = sum(
        1
        for x in range(size)
        for y in range(size)
        if contrast(image.pixelColor(x, y), panel) >= 3.0
    )
    return standing_out / (size * size)


STATES = {
    "live": BadgeState(),
    "live, 3 unread": BadgeState(unread=3),
    "offline": BadgeState(online=False),
    "offline, 42 unread": BadgeState(unread=42, online=False),
}


@pytest.mark.parametrize("panel", list(PANELS))
@pytest.mark.parametrize("size", TRAY_SIZES)
@pytest.mark.parametrize("state", list(STATES))
def test_visible_on_light_and_dark_panels(qtbot: QtBot, panel: str, size: int, state: str) -> None:
    """The reported cases: the offline (greyed) bell almost vanished on a light panel (no
    pixel at 3:1 then), the dark live bell on a dark one (12-19 %). A fifth of the icon
    stands out now, live and offline, on either panel, at every tray size."""
    assert visible_share(STATES[state], size, PANELS[panel]) >= 0.2


def test_offline_looks_different_from_live(qtbot: QtBot) -> None:
    """Visible is not enough: offline must read as not live. The bell's body is a neutral
    grey instead of the slate blue, and paler; on a dark panel it has no white halo."""
    for size in TRAY_SIZES:
        live = on_panel(paint_badge(BadgeState(), size, 1.0), PANELS["dark"])
        offline = on_panel(paint_badge(BadgeState(online=False), size, 1.0), PANELS["dark"])
        white = close_to(QColor("white"), 30)
        everywhere = (0, 0, 32, 32)
        assert count_in(live, everywhere, white) > 0
        assert count_in(offline, everywhere, white) == 0
