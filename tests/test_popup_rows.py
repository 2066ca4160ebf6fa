"""One popup row: who did what, which ticket and the message each fit their line at every
popup width and font size (the text's measured width against the rectangle it is drawn in),
nothing is said twice, the tooltip has the whole text, and each reason has its own icon.
Offscreen, rows of a real model over a real SQLite cache."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot
from tray_fakes import FakeClock, fill_cache, make_notification

from notifier.app.list_model import NotificationListModel, Role, icon_name
from notifier.core.wire import NotificationType, Reason
from notifier.store.cache import NotificationCache
from notifier.ui.delegate import (
    TEXT_LEFT,
    NotificationDelegate,
    RowFonts,
    RowLayout,
    paint_row_for_test,
    row_option,
)
from notifier.ui.icons import render_svg
from notifier.ui.popup import popup_size

A, M, R = NotificationType.ASSIGNMENT, NotificationType.MENTION, NotificationType.REACTION
RESOURCES = Path(__file__).resolve().parent.parent / "resources"
LONG_NAME = "Maximilian Alexander von Habsburg-Lothringen"
LONG_SUBJECT = "Invoice shows the wrong VAT rate for Austrian customers since the March update"
LONG_MESSAGE = "When I export last month's orders to CSV the file only has the header row. " * 4
# Each reason, as (type, reason, who, what the first line must say after the name).
REASONS = [
    (A, Reason.ASSIGNED, "Bea Baker", " assigned you"),
    (M, Reason.MENTIONED, "Bea Baker", " mentioned you on"),
    (R, Reason.CUSTOMER_REPLIED, "Maria Lopez", " replied on"),
    (R, Reason.CUSTOMER_REOPENED, "Maria Lopez", " reopened"),
    (R, Reason.COMMENT_REACTION, "Carl Diaz", " reacted to your comment on"),
]


def model_with(cache: NotificationCache, notifications: list) -> NotificationListModel:  # type: ignore[type-arg]
    fill_cache(cache, notifications)
    model = NotificationListModel(cache, FakeClock())
    model.reload()
    return model


def pieces(layout: RowLayout) -> list[tuple[str, QRect, str]]:
    return [
        ("headline", *layout.headline),
        ("time", *layout.time),
        ("ticket", *layout.ticket),
        ("message", *layout.message),
    ]


def assert_fits(layout: RowLayout, row: QRect, fonts: dict[str, QFont]) -> None:
    """Every piece lies inside the row, overlaps no other piece nor a button, is a full line
    high, and its text is no wider than its rectangle."""
    placed = pieces(layout)
    for name, rect, text in placed:
        metrics = QFontMetrics(fonts[name])
        assert row.contains(rect), (name, rect, row)
        assert rect.height() >= metrics.height(), (name, rect.height(), metrics.height())
        assert metrics.horizontalAdvance(text) <= rect.width(), (name, text, rect.width())
        for other, other_rect, _ in placed:
            if other != name:
                assert not rect.intersects(other_rect), (name, other)
        for button in layout.buttons or ():
            assert not rect.intersects(button), (name, button)


@pytest.mark.parametrize("point_size", [9.0, 11.0, 18.0])  # default, GNOME's, 2x text
@pytest.mark.parametrize("share", [0.75, 1.0])  # of the popup's width for that font
@pytest.mark.parametrize("hovered", [False, True])
def test_who_what_and_which_ticket_always_show_and_fit(
    qtbot: QtBot, cache: NotificationCache, point_size: float, share: float, hovered: bool
) -> None:
    model = model_with(
        cache,
        [
            make_notification(
                seq,
                type=kind,
                reason=reason,
                sender=LONG_NAME if seq % 2 else who,
                subject=LONG_SUBJECT,
                message=LONG_MESSAGE,
                ticket_id="4821",
            )
            for seq, (kind, reason, who, _) in enumerate(REASONS, start=1)
        ],
    )
    widget = QWidget()
    qtbot.addWidget(widget)
    font = QFont(widget.font())
    font.setPointSizeF(point_size)
    widget.setFont(font)
    # The list's width in a popup of the size it opens at for this font, less a scroll bar.
    width = round((popup_size(QFontMetrics(font)).width() - 12) * share)
    delegate = NotificationDelegate()
    for row in range(model.rowCount()):
        index = model.index(row)
        option = row_option(widget, width, selected=hovered)
        layout = delegate.layout(option, index)
        row_fonts = RowFonts.of(font, read=False)
        fonts = {
            "headline": row_fonts.headline,
            "time": row_fonts.small,
            "ticket": row_fonts.body,
            "message": row_fonts.body,
        }
        assert_fits(layout, option.rect, fonts)
        assert (layout.buttons is not None) is hovered
        action = next(r[3] for r in REASONS if r[1].value == reason_of(index))
        headline = layout.headline[1]
        # Who (maybe shortened) then what, in full; which ticket, from its number on.
        sender = str(index.data(Role.SENDER))
        assert headline.endswith(action), headline
        name = headline.removesuffix(action)
        assert name == sender or (name.endswith("…") and sender.startswith(name[:-1])), name
        assert layout.ticket[1].startswith("#4821 Invoice"), layout.ticket[1]
        assert layout.time[1] == "just now" or layout.time[1].endswith("ago")


def reason_of(index: object) -> str:
    notification = index.data(Role.NOTIFICATION)  # type: ignore[attr-defined]
    return str(notification.reason.value)


def test_a_short_row_is_not_shortened_and_the_sender_is_said_once(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    model = model_with(
        cache, [make_notification(1, type=A, reason=Reason.ASSIGNED, sender="Bea Baker")]
    )
    widget = QWidget()
    qtbot.addWidget(widget)
    layout = NotificationDelegate().layout(row_option(widget, 410), model.index(0))
    texts = [text for _, _, text in pieces(layout)]
    assert texts[0] == "Bea Baker assigned you"
    assert texts[2] == "#1 Ticket 1"
    assert texts[3] == "Can you look at this?"
    assert sum(text.count("Bea Baker") for text in texts) == 1  # no "who" line repeating it


def test_the_tooltip_has_the_whole_row(qtbot: QtBot, cache: NotificationCache) -> None:
    model = model_with(
        cache,
        [
            make_notification(
                1, type=M, reason=Reason.MENTIONED, sender=LONG_NAME, subject=LONG_SUBJECT
            )
        ],
    )
    tooltip = model.data(model.index(0), Qt.ItemDataRole.ToolTipRole)
    assert tooltip.splitlines() == [
        f"{LONG_NAME} mentioned you on #1 {LONG_SUBJECT}",
        "Can you look at this?",
        f"{LONG_NAME} · 1 hour ago",
    ]


def test_each_reason_has_its_own_icon(qtbot: QtBot) -> None:
    names = [
        icon_name(make_notification(1, type=kind, reason=reason)) for kind, reason, _, _ in REASONS
    ]
    assert names == ["assignment", "mention", "reply", "reopened", "reaction"]
    # A helpdesk that gives no reason: by type, and a neutral one for other ticket activity.
    assert icon_name(make_notification(1, type=A)) == "assignment"
    assert icon_name(make_notification(1, type=R)) == "update"
    images = {name: render_svg(name, 32) for name in [*names, "update"]}
    assert len({image.constBits().tobytes() for image in images.values()}) == len(images)


DISC_COLOUR = re.compile(r'<circle cx="16" cy="16" r="15" fill="(#[0-9a-f]{6})"/>')


@pytest.mark.parametrize(
    "name", ["assignment", "mention", "reply", "reopened", "reaction", "update"]
)
def test_the_icons_share_one_style(qtbot: QtBot, name: str) -> None:
    """A disc of radius 15 (of 32) in a colour of its own, with a white glyph; as SVG files in
    resources/ (the web pages will use the same files)."""
    svg = (RESOURCES / f"{name}.svg").read_text(encoding="utf-8")
    match = DISC_COLOUR.search(svg)
    assert match is not None, "the disc comes first, in the shared size"
    disc = QColor(match.group(1))
    image = render_svg(name, 32, 2.0)
    assert image.pixelColor(0, 0).alpha() == 0  # round: the corners are empty
    assert image.pixelColor(32, 3) == disc  # the disc's rim
    white = sum(
        1 for x in range(16, 48) for y in range(16, 48) if image.pixelColor(x, y).lightness() > 240
    )
    assert white > 150, "a white glyph in the middle"
    # White on the disc reads: WCAG contrast of at least 3:1 (large graphics).
    assert contrast(QColor("white"), disc) >= 3.0


def contrast(a: QColor, b: QColor) -> float:
    def luminance(colour: QColor) -> float:
        def channel(value: float) -> float:
            return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

        return (
            0.2126 * channel(colour.redF())
            + 0.7152 * channel(colour.greenF())
            + 0.0722 * channel(colour.blueF())
        )

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_rows_paint_their_reasons_icon(qtbot: QtBot, cache: NotificationCache) -> None:
    model = model_with(
        cache,
        [make_notification(s, type=k, reason=r) for s, (k, r, _, _) in enumerate(REASONS, 1)],
    )
    widget = QWidget()
    qtbot.addWidget(widget)
    delegate = NotificationDelegate()
    for row in range(model.rowCount()):
        index = model.index(row)
        image: QImage = paint_row_for_test(delegate, index, widget)
        icon = render_svg(str(index.data(Role.ICON)), 24)
        # The icon's disc colour is where the icon is painted (16 px in, the padding down).
        rim = icon.pixelColor(12, 1)
        painted = image.pixelColor(16 + 12, 7 + 1)
        assert abs(painted.hue() - rim.hue()) <= 2, (index.data(Role.ICON), painted, rim)
        assert TEXT_LEFT > 16 + 24
