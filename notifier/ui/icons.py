"""SVG icons rendered at the device pixel ratio, so they stay crisp on HiDPI screens.

The SVG files are read from the ``notifier.resources`` package folder directly (not through
``importlib.resources``, whose import alone costs start-up time: benchmarks/README.md,
"Figures behind the code").
"""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QRectF
from PySide6.QtGui import QImage, QPainter
from PySide6.QtSvg import QSvgRenderer


@cache
def svg_bytes(name: str) -> bytes:
    """The bytes of ``resources/<name>.svg``."""
    package = importlib.import_module("notifier.resources")
    assert package.__file__ is not None
    return (Path(package.__file__).parent / f"{name}.svg").read_bytes()


def render_svg(name: str, logical_size: int, device_pixel_ratio: float = 1.0) -> QImage:
    """Render an icon into a transparent image of ``logical_size`` points at the given ratio."""
    pixels = max(1, round(logical_size * device_pixel_ratio))
    # A zero-filled buffer is transparent; QImage.fill would make PySide6 build all of Qt's
    # namespace enums first (see notifier/ui/badge.py).
    image = QImage(
        bytes(pixels * pixels * 4), pixels, pixels, QImage.Format.Format_ARGB32_Premultiplied
    ).copy()
    renderer = QSvgRenderer(QByteArray(svg_bytes(name)))
    painter = QPainter(image)
    renderer.render(painter, QRectF(0, 0, pixels, pixels))
    painter.end()
    image.setDevicePixelRatio(device_pixel_ratio)
    return image
