"""The popup at the text sizes of agents with low vision (14–18 pt, or text scaling): a row's
unread dot, type icon and hover buttons grow with its text, the buttons are hit where they are
painted, each filter's label keeps a gap to its box, and the rows follow the desktop's text
size when it changes while the app runs. At the default font everything keeps today's sizes.
Offscreen, measured on painted pixels, over a real SQLite cache and the real
controller (see popup_rig.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import pairwise

import pytest
from popup_rig import Rig
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter
from PySide6.QtWidgets import QApplication, QStyle, QWidget
from pytestqt.qtbot import QtBot
from tray_fakes import fill_cache, make_notification

from notifier.core.wire import NotificationType
from notifier.store.cache import NotificationCache
from notifier.ui.delegate import (
    MARGIN,
    PADDING,
    RowFonts,
    button_rects,
    line_height,
    paint_row_for_test,
    row_height,
    row_option,
)
from notifier.ui.icons import render_svg
from notifier.ui.popup import NotificationPanel, popup_size

DEFAULT = None  # the platform's font (9 pt DejaVu Sans offscreen: a line 14 px high)
LARGE = (14.0, 18.0)


def font_of(widget: QWidget, point_size: float | None) -> QFont:
    font = QFont(widget.font())
    if point_size is not None:
        font.setPointSizeF(point_size)
    return font


def box(image: QImage, area: QRect, is_ink: Callable[[QColor], bool]) -> QRect:
    """The bounding box of the pixels in ``area`` for which ``is_ink(colour)`` holds."""
    xs, ys = [], []
    for x in range(area.left(), area.right() + 1):
        for y in range(area.top(), area.bottom() + 1):
            if is_ink(image.pixelColor(x, y)):
                xs.append(x)
                ys.append(y)
    assert xs, f"nothing painted in {area}"
    return QRect(QPoint(min(xs), min(ys)), QPoint(max(xs), max(ys)))


def on_white(icon: QImage) -> QImage:
    """``icon`` as it shows painted on a white row."""
    image = QImage(icon.size(), QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.drawImage(0, 0, icon)
    painter.end()
    return image


def purple(colour: QColor) -> bool:
    """The mention icon's disc (hue ~270), not the blue unread dot nor grey text."""
    return colour.hsvSaturation() > 90 and 250 <= colour.hsvHue() <= 290


def blue(colour: QColor) -> bool:
    """The unread dot."""
    return colour.hsvSaturation() > 90 and 200 <= colour.hsvHue() <= 235


def dark(colour: QColor) -> bool:
    return colour.lightness() < 100


def test_the_dot_and_the_icon_grow_with_the_text(qtbot: QtBot, cache: NotificationCache) -> None:
    # At 18 pt the text doubled and the icon stayed 24 px, shorter than the name beside it,
    # and the unread dot stayed smaller than a lowercase letter.
    fill_cache(
        cache,
        [
            make_notification(1, type=NotificationType.MENTION, read=True),
            make_notification(2, type=NotificationType.MENTION),
        ],
    )
    rig = Rig(qtbot, cache)
    unread, read = rig.model.index(0), rig.model.index(1)
    delegate = rig.panel.delegate
    reference_disc = box(on_white(render_svg("mention", 24)), QRect(0, 0, 24, 24), purple)
    for point_size in (DEFAULT, *LARGE):
        widget = QWidget()
        qtbot.addWidget(widget)
        widget.setFont(font_of(rig.panel, point_size))
        fonts = RowFonts.of(widget.font(), read=False)
        name_line = fonts.headline_metrics.height()
        option = row_option(widget)
        row = option.rect
        image = paint_row_for_test(delegate, read, widget)
        disc = box(image, row, purple)
        layout = delegate.layout(option, read)
        text_left = min(rect.left() for rect, _ in (layout.headline, layout.ticket))
        assert disc.right() < text_left - 4, (point_size, disc, text_left)  # a gap to the text
        assert disc.top() >= PADDING - 1, (point_size, disc)
        dot = box(
            paint_row_for_test(delegate, unread, widget),
            QRect(0, row.top(), disc.left(), row.height()),
            blue,
        )
        if point_size is DEFAULT:  # today's sizes, where they were
            assert disc == reference_disc.translated(16, PADDING), disc
            assert dot == QRect(4, dot.top(), 8, 8), dot
        else:
            assert disc.height() >= name_line, (point_size, disc.height(), name_line)
            assert disc.width() > reference_disc.width(), (point_size, disc)
            # The dot as big as a lowercase letter, on the name's line.
            assert dot.height() >= fonts.body_metrics.xHeight(), (point_size, dot)
            name = layout.headline[0]
            assert name.top() <= dot.center().y() <= name.bottom(), (point_size, dot, name)


SetDesktopFont = Callable[[float | None], None]


@pytest.fixture
def desktop_font(qapp: QApplication) -> Iterator[SetDesktopFont]:
    """Set the application's font to a point size (None: the platform's), as a desktop does
    when its text size changes; the platform's again afterwards."""
    platform = QFont(QApplication.font())

    def set_size(point_size: float | None) -> None:
        font = QFont(platform)
        if point_size is not None:
            font.setPointSizeF(point_size)
        QApplication.setFont(font)
        QApplication.processEvents()  # Qt posts the change to each widget

    yield set_size
    QApplication.setFont(platform)
    QApplication.processEvents()


def show_at(rig: Rig, desktop_font: SetDesktopFont, point_size: float | None) -> NotificationPanel:
    """The rig's panel after the desktop's text changed to ``point_size``, at the size the
    popup opens at for that text."""
    desktop_font(point_size)
    panel = rig.panel
    panel.resize(popup_size(panel.fontMetrics()))
    layout = panel.layout()
    assert layout is not None
    layout.activate()
    return panel


def test_the_rows_follow_the_desktop_text_size(
    qtbot: QtBot, cache: NotificationCache, desktop_font: SetDesktopFont
) -> None:
    # The list kept the font its style sheet (the slim scroll bar) was polished with: after
    # the desktop's text grew, the header grew and the rows stayed small.
    fill_cache(cache, [make_notification(1)])
    rig = Rig(qtbot, cache)
    for point_size in (*LARGE, DEFAULT):
        panel = show_at(rig, desktop_font, point_size)
        metrics = QFontMetrics(QApplication.font())
        assert panel.list_view.fontMetrics().height() == metrics.height(), point_size
        assert rig.row_rect(0).height() == row_height(metrics), point_size


def painted_buttons(panel: NotificationPanel, row: QRect) -> tuple[QRect, QRect]:
    """The ink boxes of the two hover buttons painted on ``row`` (the current row): the dark
    ink in the right half of the row below its first line (which holds the time; the short
    ticket and message end in the left half)."""
    image = panel.list_view.viewport().grab().toImage()
    line = line_height(QFontMetrics(panel.list_view.font()))
    area = QRect(QPoint(row.center().x(), row.top() + PADDING + line), row.bottomRight())
    ink = box(image, area.adjusted(0, 0, 0, -2), dark)  # not the row's separator line
    inked = [
        x
        for x in range(ink.left(), ink.right() + 1)
        if any(dark(image.pixelColor(x, y)) for y in range(ink.top(), ink.bottom() + 1))
    ]
    split = next(x for x, after in pairwise(inked) if after > x + 1)  # the gap between them
    toggle = box(image, QRect(ink.topLeft(), QPoint(split, ink.bottom())), dark)
    delete = box(image, QRect(QPoint(split + 1, ink.top()), ink.bottomRight()), dark)
    return toggle, delete


def test_the_hover_buttons_grow_with_the_text_and_are_hit_where_painted(
    qtbot: QtBot, cache: NotificationCache, desktop_font: SetDesktopFont
) -> None:
    # At 18 pt the buttons stayed 22 px: small targets, shorter than the text beside them.
    fill_cache(cache, [make_notification(seq) for seq in (1, 2, 3)])
    rig = Rig(qtbot, cache)
    viewport = rig.panel.list_view.viewport()
    for point_size, newest in ((DEFAULT, "n3"), (14.0, "n2"), (18.0, "n1")):
        panel = show_at(rig, desktop_font, point_size)
        panel.list_view.setCurrentIndex(rig.model.index(0))  # the row with the buttons
        row = rig.row_rect(0)
        text_line = QFontMetrics(QApplication.font()).height()
        toggle, delete = painted_buttons(panel, row)
        hit_toggle, hit_delete = button_rects(row)
        for painted, hit in ((toggle, hit_toggle), (delete, hit_delete)):
            # Painted inside what a click hits, and filling it but for the frame's rounding.
            assert hit.contains(painted), (point_size, painted, hit)
            assert painted.adjusted(-2, -2, 2, 2).contains(hit), (point_size, painted, hit)
            if point_size is DEFAULT:  # today's size
                assert hit.size().width() == hit.size().height() == 22, hit
            else:
                assert painted.height() >= text_line, (point_size, painted, text_line)
                assert painted.width() >= text_line, (point_size, painted, text_line)
        assert delete.right() <= row.right() - MARGIN + 1
        # A click near a painted corner is on that button, not on the row.
        for corner in (toggle.topLeft() + QPoint(2, 2), toggle.bottomRight() - QPoint(2, 2)):
            before = rig.read(newest)
            qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=corner)
            assert rig.read(newest) is not before, (point_size, corner)
        qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=delete.topLeft() + QPoint(2, 2))
        assert rig.controller.cache.get(newest) is None, point_size
        assert rig.opener.opened == []  # no click landed on the row itself


def test_each_filter_label_keeps_a_gap_to_its_box(
    qtbot: QtBot, cache: NotificationCache, desktop_font: SetDesktopFont
) -> None:
    # At 18 pt "Type" touched its box: the gaps stayed the layout's 6 px as the text doubled.
    rig = Rig(qtbot, cache)
    spacing = rig.panel.style().pixelMetric(QStyle.PixelMetric.PM_LayoutHorizontalSpacing)
    for point_size in (DEFAULT, *LARGE):
        panel = show_at(rig, desktop_font, point_size)
        image = panel.grab().toImage()
        space = panel.fontMetrics().horizontalAdvance(" ")
        gaps = []
        for label, combo in (
            (panel.show_label, panel.show_filter),
            (panel.type_label, panel.type_filter),
        ):
            where = QRect(label.mapTo(panel, QPoint(0, 0)), label.size())
            ink = box(image, where, dark)
            # From the label's last letter to its box's frame: at least a space.
            ink_gap = combo.mapTo(panel, QPoint(0, 0)).x() - ink.right() - 1
            assert ink_gap >= space, (point_size, label.text(), ink_gap, space)
            gaps.append(combo.x() - label.geometry().right() - 1)
        assert gaps[0] == gaps[1], (point_size, gaps)  # the same for both labels
        if point_size is DEFAULT:
            assert gaps[0] == spacing, gaps  # today's: the style's spacing
