"""The tray icon painter: the bell plus marks for unread, new, quiet and offline.

The icon is drawn as one SVG document generated for the state and rendered with QSvgRenderer
into a QImage at the screen's device pixel ratio, so it is crisp on HiDPI panels and a test can
check the pixels. (Why generated SVG rather than QPainter calls: PySide6 materialises all ~100
enums of Qt's namespace on the first overloaded QPainter or QImage.fill call, 13 ms that the
first paint cannot afford; QSvgRenderer.render does not.) Layout in a 64-unit square:

* the bell (the paths of ``resources/bell.svg``) fills the square; its white outline keeps it
  readable on dark panels, its dark body on light ones;
* the unread count sits in a blue pill in the bottom-right corner ("1" … "99", then "99+");
  with ``dot`` (settings.badge_style DOT) it is a plain blue dot instead (no number);
* a red dot in the top-right corner means "something arrived since you last opened the popup";
* a purple crescent moon in the top-left corner means quiet hours or paused: toasts are held;
* offline or reconnecting: everything is drawn in greys at reduced opacity, so it reads as
  "not live".

Every mark has a white outline for the same light/dark reason as the bell. Colours are module
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
OFFLINE_OPACITY = 0.65
MAX_SHOWN_COUNT = 99
# Greys for the offline look, by role (pure greys: r == g == b).
_OFFLINE = {"body": "#838383", "unread": "#6e6e6e", "new": "#8c8c8c", "quiet": "#7a7a7a"}
_ONLINE = {
    "body": "#2b3a4a",
    "unread": UNREAD_COLOR.name(),
    "new": NEW_COLOR.name(),
    "quiet": QUIET_COLOR.name(),
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
    renderer = QSvgRenderer(QByteArray(badge_svg(state).encode()))
    painter = QPainter(image)
    renderer.render(painter, QRectF(0, 0, pixels, pixels))
    painter.end()
    image.setDevicePixelRatio(device_pixel_ratio)
    return image


def badge_svg(state: BadgeState) -> str:
    """The SVG document for ``state`` (64 × 64 units)."""
    colours = _ONLINE if state.online else _OFFLINE
    parts = [_bell(colours["body"])]
    if state.quiet:
        parts.append(
            f'<path d="{_crescent()}" fill="{colours["quiet"]}" stroke="#ffffff"'
            ' stroke-width="3" stroke-linejoin="round"/>'
        )
    if state.new_since_seen:
        parts.append(
            f'<circle cx="51" cy="13" r="11" fill="{colours["new"]}" stroke="#ffffff"'
            ' stroke-width="3"/>'
        )
    if state.unread > 0:
        if state.dot:
            parts.append(
                f'<circle cx="50" cy="50" r="12" fill="{colours["unread"]}" stroke="#ffffff"'
                ' stroke-width="3"/>'
            )
        else:
            parts.append(_pill(count_text(state.unread), colours["unread"]))
    opacity = "" if state.online else f' opacity="{OFFLINE_OPACITY}"'
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">'
        f"<g{opacity}>{''.join(parts)}</g></svg>"
    )


@cache
def _bell_paths() -> str:
    """The drawing elements of resources/bell.svg (its viewBox is 64 × 64 too)."""
    text = svg_bytes("bell").decode()
    text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    inner = text[text.index(">", text.index("<svg")) + 1 : text.rindex("</svg>")]
    return inner.strip()


def _bell(body: str) -> str:
    return _bell_paths().replace("#2b3a4a", body)


def _pill(text: str, fill: str) -> str:
    # The count is drawn from glyph outlines (badge_digits), not as SVG text: text would start
    # Qt's font machinery (fontconfig, FreeType, shaping), ~3 MB of an idle app's memory, and
    # its look would depend on the desktop's fonts. Outlines also give the exact width.
    height = 30.0
    scale = (24.0 if len(text) < 3 else 21.0) / UNITS
    text_width = sum(GLYPHS[ch][0] for ch in text) * scale
    width = max(height, text_width + 12.0)
    x, y = 63.0 - width, 63.0 - height
    pen_x = x + (width - text_width) / 2
    baseline = y + height / 2 - DIGIT_CENTER_Y * scale
    glyphs: list[str] = []
    for ch in text:
        advance, outline = GLYPHS[ch]
        glyphs.append(
            f'<path transform="translate({pen_x:.2f} {baseline:.2f}) scale({scale:.3f})"'
            f' d="{outline}"/>'
        )
        pen_x += advance * scale
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}"'
        f' rx="15" ry="15" fill="{fill}" stroke="#ffffff" stroke-width="3"/>'
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
