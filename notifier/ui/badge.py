"""The tray icon painter: the bell plus marks for unread, new, quiet and offline.

The icon is drawn as one SVG document generated for the state and its size, and rendered
with QSvgRenderer into a QImage at the screen's device pixel ratio, so it is crisp on HiDPI
panels and a test can check the pixels. (Why generated SVG rather than QPainter calls:
PySide6 materialises all ~100 enums of Qt's namespace on the first overloaded QPainter or
QImage.fill call, time the first paint cannot afford (benchmarks/README.md, "Figures behind
the code"); QSvgRenderer.render does not.)
Layout in a 64-unit square:

* the bell (the paths of ``resources/bell.svg``) fills the square: a slate body of mid
  lightness (3:1 or more against light and dark panels) inside a white halo that sets it off
  on a dark panel. The halo is :data:`HALO_PX` logical pixels wide at every size (in units it
  is wider at 16 px than at 32), so it stays visible at 16 and 22 px;
* the unread count sits in a blue pill over the bottom of the bell ("1" … "99", then "99+"):
  the pill is 44 of the 64 units high and the digits 29 (10 px at 22 px, 7 at 16), because
  a count is what the agent reads off the panel; with ``dot`` (settings.badge_style DOT) it
  is a plain blue dot instead (no number);
* a red dot in the top-right corner means "something arrived since you last opened the popup";
* a purple crescent moon in the top-left corner means quiet hours or paused: toasts are held;
* offline or reconnecting: everything in greys (no colour at all) and the bell without its
  halo, at full opacity (a faded bell vanished on light panels): a mid-grey that contrasts
  at least 3:1 with light and dark panels alike, dimmer than the live bell on a dark panel
  and paler on a light one. The live bell's slate body is a mid tone for the same reason.

Every mark has a halo for the same light/dark reason as the bell. Colours are module
constants so tests can look for them. This module is on the first-paint path (see
notifier/main.py): it imports nothing of the app's core, and not PySide6's ``Qt`` namespace.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache

from PySide6.QtCore import QByteArray, QRectF
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

from notifier.ui.badge_digits import DIGIT_CENTER_Y, GLYPHS, UNITS
from notifier.ui.icons import svg_bytes

UNREAD_COLOR = QColor("#1a5fd6")
NEW_COLOR = QColor("#e0261b")
QUIET_COLOR = QColor("#7a3ed8")
OUTLINE_COLOR = QColor("#ffffff")
MAX_SHOWN_COUNT = 99
HALO_PX = 1.25  # the light edge around every shape, in logical pixels at any icon size
BOX = 64.0  # the SVG's units
PILL_HEIGHT = 44.0
DIGIT_HEIGHT = 29.0  # the digits' ink, in units (DejaVu Sans Bold digits are 0.73 em high)
PILL_PADDING = 4.0
NEW_RADIUS = 10.0
DOT_RADIUS = 14.0
CONDENSED = 0.84  # two or three characters are narrowed to this, to stay tall in the pill
_DIGIT_EM = DIGIT_HEIGHT / 0.729
# Colours by role; offline is pure greys (r == g == b).
_ONLINE = {
    "body": "#56708f",
    "halo": "#ffffff",
    "unread": UNREAD_COLOR.name(),
    "new": NEW_COLOR.name(),
    "quiet": QUIET_COLOR.name(),
}
_OFFLINE = {
    "body": "#8c8c8c",
    "halo": "#d9d9d9",  # the marks' rings only: the offline bell has no halo (see above)
    "unread": "#6e6e6e",
    "new": "#8c8c8c",
    "quiet": "#7a7a7a",
}


@dataclass(frozen=True, slots=True)
class BadgeState:
    """What the icon shows. Equal states paint equal images (the tray skips repaints)."""

    unread: int = 0
    new_since_seen: bool = False
    online: bool = True
    quiet: bool = False
    dot: bool = False  # settings.badge_style DOT: a dot instead of the number


def count_text(unread: int) -> str:
    """The text in the pill: "" for none, "1" … "99", then "99+"."""
    if unread <= 0:
        return ""
    return str(unread) if unread <= MAX_SHOWN_COUNT else f"{MAX_SHOWN_COUNT}+"


def paint_badge(
    state: BadgeState, logical_size: int = 32, device_pixel_ratio: float = 1.0
) -> QImage:
    """Paint the tray icon for ``state``: ``logical_size`` points at ``device_pixel_ratio``."""
    pixels = max(1, round(logical_size * device_pixel_ratio))
    # A zero-filled buffer is a transparent image (QImage.fill would cost the enum set-up).
    image = QImage(
        bytes(pixels * pixels * 4), pixels, pixels, QImage.Format.Format_ARGB32_Premultiplied
    ).copy()
    renderer = QSvgRenderer(QByteArray(badge_svg(state, logical_size).encode()))
    painter = QPainter(image)
    renderer.render(painter, QRectF(0, 0, pixels, pixels))
    painter.end()
    image.setDevicePixelRatio(device_pixel_ratio)
    return image


def badge_svg(state: BadgeState, logical_size: int = 32) -> str:
    """The SVG document for ``state`` (64 × 64 units) shown at ``logical_size`` pixels."""
    colours = _ONLINE if state.online else _OFFLINE
    halo = HALO_PX * BOX / logical_size  # in units
    # Offline, the bell has no light halo: on a dark panel it is dimmer than the live one,
    # yet its grey body alone contrasts 3.1:1 with a light panel and 4.7:1 with a dark one.
    parts = [_bell(colours["body"], colours["halo"] if state.online else None, halo)]
    ring = colours["halo"], halo
    # The marks sit in the corners with their halo inside the icon (a clipped halo reads as
    # a dent in the mark).
    if state.quiet:
        inset = max(0.0, halo - 1.0)  # the moon's disc starts 1 unit in
        moon = f'd="{_crescent()}" transform="translate({inset:.2f} {inset:.2f})"'
        parts.append(_haloed("path", moon, colours["quiet"], *ring))
    if state.new_since_seen:
        r = NEW_RADIUS
        mark = f'cx="{BOX - halo - r:.2f}" cy="{halo + r:.2f}" r="{r}"'
        parts.append(_haloed("circle", mark, colours["new"], *ring))
    if state.unread > 0:
        if state.dot:
            r = DOT_RADIUS
            dot = f'cx="{BOX - halo - r:.2f}" cy="{BOX - halo - r:.2f}" r="{r}"'
            parts.append(_haloed("circle", dot, colours["unread"], *ring))
        else:
            parts.append(_pill(count_text(state.unread), colours["unread"], *ring))
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">'
        f"{''.join(parts)}</svg>"
    )


@cache
def _bell_shapes() -> tuple[str, ...]:
    """The path data of resources/bell.svg (its viewBox is 64 × 64 too)."""
    text = re.sub(r"<!--.*?-->", "", svg_bytes("bell").decode(), flags=re.DOTALL)
    return tuple(re.findall(r'\sd="([^"]+)"', text))


def _haloed(element: str, geometry: str, fill: str, halo_colour: str, halo: float) -> str:
    """A shape with a halo of ``halo`` units around it: the shape drawn first with a wide
    stroke in the halo's colour, then filled over it, so the halo grows the shape outwards
    and never eats into it (SVG Tiny, which QtSvg renders, has no paint-order)."""
    return (
        f'<{element} {geometry} fill="{halo_colour}" stroke="{halo_colour}"'
        f' stroke-width="{2 * halo:.2f}" stroke-linejoin="round"/>'
        f'<{element} {geometry} fill="{fill}"/>'
    )


def _bell(body: str, halo_colour: str | None, halo: float) -> str:
    shapes = _bell_shapes()
    if halo_colour is None:
        return "".join(f'<path d="{d}" fill="{body}"/>' for d in shapes)
    return "".join(_haloed("path", f'd="{d}"', body, halo_colour, halo) for d in shapes)


def _pill(text: str, fill: str, halo_colour: str, halo: float) -> str:
    # The count is drawn from glyph outlines (badge_digits), not as SVG text: text would start
    # Qt's font machinery (fontconfig, FreeType, shaping), memory an idle app can do without
    # (benchmarks/README.md, "Where the idle-memory budget goes"), and
    # its look would depend on the desktop's fonts. Outlines also give the exact width.
    # Two digits in DejaVu Sans Bold at the full height would be wider than the icon: they
    # are condensed (narrowed, as badge fonts are) before they are made smaller, which only
    # "99+" needs.
    height = PILL_HEIGHT
    widest = BOX - 2 * halo  # the pill and its halo stay inside the icon
    scale = _DIGIT_EM / UNITS
    narrow = 1.0 if len(text) == 1 else CONDENSED
    raw_width = sum(GLYPHS[ch][0] for ch in text) * narrow
    if raw_width * scale + 2 * PILL_PADDING > widest:  # "99+": smaller digits, not wider
        scale = (widest - 2 * PILL_PADDING) / raw_width
    text_width = raw_width * scale
    width = max(height, text_width + 2 * PILL_PADDING)
    x, y = BOX - halo - width, BOX - halo - height
    pen_x = x + (width - text_width) / 2
    baseline = y + height / 2 - DIGIT_CENTER_Y * scale
    glyphs: list[str] = []
    for ch in text:
        advance, outline = GLYPHS[ch]
        glyphs.append(
            f'<path transform="translate({pen_x:.2f} {baseline:.2f})'
            f' scale({scale * narrow:.3f} {scale:.3f})" d="{outline}"/>'
        )
        pen_x += advance * scale * narrow
    radius = height / 2
    geometry = (
        f'x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}"'
        f' rx="{radius}" ry="{radius}"'
    )
    return _haloed("rect", geometry, fill, halo_colour, halo) + (
        f'<g fill="#ffffff">{"".join(glyphs)}</g>'
    )


@cache
def _crescent() -> str:
    """A crescent moon: the disc (14, 14) r 13 minus the disc (21, 9) r 10, as one path."""
    (x1, y1, r1), (x2, y2, r2) = (14.0, 14.0, 13.0), (21.0, 9.0, 10.0)
    d = math.hypot(x2 - x1, y2 - y1)
    a = (r1 * r1 - r2 * r2 + d * d) / (2 * d)
    h = math.sqrt(r1 * r1 - a * a)
    mx, my = x1 + a * (x2 - x1) / d, y1 + a * (y2 - y1) / d
    px, py = -(y2 - y1) / d * h, (x2 - x1) / d * h
    (ax, ay), (bx, by) = (mx + px, my + py), (mx - px, my - py)
    # Outer circle the long way round from A to B, then the bite's arc back inside it.
    return (
        f"M{ax:.2f} {ay:.2f} A{r1} {r1} 0 1 1 {bx:.2f} {by:.2f}"
        f" A{r2} {r2} 0 0 0 {ax:.2f} {ay:.2f} Z"
    )
