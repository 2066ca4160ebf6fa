"""SVG icons rendered at the device pixel ratio, so they stay crisp on HiDPI screens."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtSvg import QSvgRenderer


@cache
def svg_bytes(name: str) -> bytes:
    """The bytes of ``resources/<name>.svg``."""
    return files("notifier.resources").joinpath(f"{name}.svg").read_bytes()


def render_svg(name: str, logical_size: int, device_pixel_ratio: float = 1.0) -> QImage:
    """Render an icon into a transparent image of ``logical_size`` points at the given ratio."""
    pixels = max(1, round(logical_size * device_pixel_ratio))
    image = QImage(pixels, pixels, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    renderer = QSvgRenderer(QByteArray(svg_bytes(name)))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, pixels, pixels))
    painter.end()
    image.setDevicePixelRatio(device_pixel_ratio)
    return image
