"""The tray icon painter: the SVG bell plus marks for unread, new, quiet and offline.

Everything is drawn with QPainter onto a QImage at the screen's device pixel ratio, so the
icon is crisp on HiDPI panels and a test can check the pixels. The layout, in a square of
``logical_size`` points:

* the bell (``resources/bell.svg``) fills the square; its white outline keeps it readable on
  dark panels, its dark body on light ones;
* the unread count sits in a blue pill in the bottom-right corner ("1" … "99", then "99+");
  with ``dot`` (settings.badge_style DOT) it is a plain blue dot instead (no number);
* a red dot in the top-right corner means "something arrived since you last opened the popup";
* a purple crescent moon in the top-left corner means quiet hours or paused: toasts are held;
* offline or reconnecting: the whole icon is desaturated and faded, so it reads as "not live".

Every mark has a white outline for the same light/dark reason as the bell. Colours are module
constants so tests can look for them. This module is on the first-paint path (see
notifier/main.py): it imports nothing of the app's core, and not PySide6's ``Qt`` namespace.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPen

from notifier.ui.icons import render_svg

UNREAD_COLOR = QColor("#1a5fd6")
NEW_COLOR = QColor("#e0261b")
QUIET_COLOR = QColor("#7a3ed8")
OUTLINE_COLOR = QColor("#ffffff")
OFFLINE_OPACITY = 0.65
MAX_SHOWN_COUNT = 99
# Qt.AlignmentFlag.AlignCenter and a transparent ARGB pixel as plain ints: importing PySide6's
# ``Qt`` namespace creates all of its ~100 enums at once (13 ms), too much for the first
# paint. tests/test_badge.py checks the values against Qt's.
ALIGN_CENTER = 0x0084
TRANSPARENT = 0


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
    image = render_svg("bell", logical_size, device_pixel_ratio)
    pixels = image.width()
    # Paint in physical pixels with a unit of "one 32nd of the icon", so the marks keep their
    # proportions at every size and ratio.
    unit = pixels / 32.0
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    # QPainter on an image with a device pixel ratio works in logical units; undo that so the
    # geometry below is in physical pixels.
    painter.scale(1.0 / device_pixel_ratio, 1.0 / device_pixel_ratio)
    outline = QPen(OUTLINE_COLOR, max(1.0, 1.5 * unit))
    if state.quiet:
        _paint_moon(painter, unit, outline)
    if state.new_since_seen:
        painter.setPen(outline)
        painter.setBrush(NEW_COLOR)
        painter.drawEllipse(QPointF(25.5 * unit, 6.5 * unit), 5.5 * unit, 5.5 * unit)
    if state.unread > 0:
        if state.dot:
            painter.setPen(outline)
            painter.setBrush(UNREAD_COLOR)
            painter.drawEllipse(QPointF(25 * unit, 25 * unit), 6 * unit, 6 * unit)
        else:
            _paint_count(painter, unit, outline, count_text(state.unread))
    painter.end()
    if not state.online:
        image = desaturate(image, OFFLINE_OPACITY)
    return image


def _paint_count(painter: QPainter, unit: float, outline: QPen, text: str) -> None:
    font = QFont()
    font.setBold(True)
    font.setPixelSize(max(6, round(12 * unit)))
    painter.setFont(font)
    text_width = painter.fontMetrics().horizontalAdvance(text)
    height = 15 * unit
    width = max(height, text_width + 6 * unit)
    rect = QRectF(32 * unit - width - 0.5 * unit, 32 * unit - height - 0.5 * unit, width, height)
    path = QPainterPath()
    path.addRoundedRect(rect, height / 2, height / 2)
    painter.setPen(outline)
    painter.setBrush(UNREAD_COLOR)
    painter.drawPath(path)
    painter.setPen(OUTLINE_COLOR)
    painter.drawText(rect, ALIGN_CENTER, text)


def _paint_moon(painter: QPainter, unit: float, outline: QPen) -> None:
    # A crescent: a disc minus a smaller disc offset to the upper right.
    disc = QPainterPath()
    disc.addEllipse(QPointF(7 * unit, 7 * unit), 6.5 * unit, 6.5 * unit)
    bite = QPainterPath()
    bite.addEllipse(QPointF(10.5 * unit, 4.5 * unit), 5 * unit, 5 * unit)
    painter.setPen(outline)
    painter.setBrush(QUIET_COLOR)
    painter.drawPath(disc.subtracted(bite))


def desaturate(image: QImage, opacity: float) -> QImage:
    """A grey, faded copy of ``image`` (alpha kept, scaled by ``opacity``)."""
    source = image.convertToFormat(QImage.Format.Format_ARGB32)
    alpha = source.convertToFormat(QImage.Format.Format_Alpha8)
    grey = source.convertToFormat(QImage.Format.Format_Grayscale8).convertToFormat(
        QImage.Format.Format_ARGB32
    )
    grey.setAlphaChannel(alpha)
    grey.setDevicePixelRatio(1.0)
    faded = QImage(grey.size(), QImage.Format.Format_ARGB32_Premultiplied)
    faded.fill(TRANSPARENT)
    painter = QPainter(faded)
    painter.setOpacity(opacity)
    painter.drawImage(0, 0, grey)
    painter.end()
    faded.setDevicePixelRatio(image.devicePixelRatio())
    return faded
