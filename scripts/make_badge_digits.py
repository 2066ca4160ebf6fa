"""Write notifier/ui/badge_digits.py: the outlines of "0"–"9" and "+" in DejaVu Sans Bold.

The tray badge draws its count from these paths instead of text, so painting the icon never
starts Qt's font machinery (fontconfig matching, FreeType, text shaping): about 3 MB of an
idle app's memory (benchmarks/README.md), and the badge looks the same whatever fonts the
desktop has. Run once with the dev venv (needs the DejaVu fonts: fonts-dejavu-core):

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/make_badge_digits.py

DejaVu fonts: Bitstream Vera license with DejaVu changes in the public domain; the outlines
may be used and modified in other works, with this notice kept.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QFont, QFontInfo, QFontMetricsF, QGuiApplication, QPainterPath

UNITS = 100  # glyphs are drawn at a pixel size of 100 units
GLYPHS = "0123456789+"
TARGET = Path(__file__).resolve().parent.parent / "notifier" / "ui" / "badge_digits.py"


def path_data(path: QPainterPath) -> str:
    parts: list[str] = []
    i = 0
    while i < path.elementCount():
        e = path.elementAt(i)
        if e.isMoveTo():
            parts.append(f"M{e.x:.1f} {e.y:.1f}")
            i += 1
        elif e.isLineTo():
            parts.append(f"L{e.x:.1f} {e.y:.1f}")
            i += 1
        else:  # a cubic: this element and the next two
            c2, end = path.elementAt(i + 1), path.elementAt(i + 2)
            parts.append(f"C{e.x:.1f} {e.y:.1f} {c2.x:.1f} {c2.y:.1f} {end.x:.1f} {end.y:.1f}")
            i += 3
    return "".join(parts)


def main() -> int:
    app = QGuiApplication(sys.argv[:1])
    font = QFont("DejaVu Sans")
    font.setBold(True)
    font.setPixelSize(UNITS)
    family = QFontInfo(font).family()
    if family != "DejaVu Sans":
        print(f"DejaVu Sans is not installed (got {family!r})", file=sys.stderr)
        return 1
    metrics = QFontMetricsF(font)
    centre_y = metrics.tightBoundingRect("0123456789").center().y()
    lines = [
        "# ruff: noqa: E501  (one glyph's path per line)",
        '"""Outlines of the badge\'s characters, made by scripts/make_badge_digits.py.',
        "",
        f"DejaVu Sans Bold at {UNITS} units, baseline at y = 0 (y grows downwards); each entry is",
        "(advance width, SVG path data). DejaVu fonts: Bitstream Vera license with DejaVu changes",
        "in the public domain; the outlines may be used and modified in other works.",
        '"""',
        "",
        "from typing import Final",
        "",
        f"UNITS: Final = {UNITS}",
        f"DIGIT_CENTER_Y: Final = {centre_y:.1f}  # middle of the digits' ink, from the baseline",
        "GLYPHS: Final[dict[str, tuple[float, str]]] = {",
    ]
    for ch in GLYPHS:
        path = QPainterPath()
        path.addText(0, 0, font, ch)
        advance = metrics.horizontalAdvance(ch)
        lines += [
            f'    "{ch}": (',
            f"        {advance:.1f},",
            f'        "{path_data(path)}",',
            "    ),",
        ]
    lines.append("}")
    TARGET.write_text("\n".join(lines) + "\n", encoding="utf-8")
    del app
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
