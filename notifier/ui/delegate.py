"""Paints one notification row, and turns clicks on its hover buttons into actions.

Row layout (fixed height, so the view can use uniform item sizes and scroll 100,000 rows)::

    ● [icon]  Bea Baker assigned you                            5 minutes ago
              #123 Printer on fire on the third floor, ag…         [✓] [✕]
              The printer on floor 3 is on fire again, can…

* who did what, which ticket, and the message each get a line of their own, so a long
  subject never hides who did it, and a long name never hides the ticket: the first line
  shortens the name (never the action) when it must, and gives the time's place to the
  action when that is not enough (the time then ends the last line); the other two lines
  elide at their end; the whole text is the row's tooltip (escaped: :func:`tooltip_markup`);
* the blue dot on the left marks unread rows (and the first line is bold); the icon says
  why the agent is told (``resources/<name>.svg``, see :func:`~notifier.app.list_model.icon_name`);
* every piece of text is painted with ``QPainter.drawText`` after eliding: it is never handed
  to anything that interprets markup, so "<b>x</b>" in a message shows as those characters;
* the current row (the one the keys act on) is tinted, and framed in the highlight colour
  while the list has the keyboard focus; secondary text is grey, at least 4.5:1 on every row
  background (:func:`secondary_text_color`);
* on the hovered (or current) row two buttons appear on the right: toggle read and delete.
  :meth:`NotificationDelegate.editorEvent` hit-tests them and emits
  :attr:`~NotificationDelegate.toggleReadClicked` / :attr:`~NotificationDelegate.deleteClicked`
  with the notification id; a click anywhere else on the row emits
  :attr:`~NotificationDelegate.rowClicked`. Each button's tooltip says what it does ("Mark
  read", "Mark unread", "Delete").

The geometry lives in :func:`row_layout`, a pure function of the row's rectangle, fonts and
texts, so tests can check that every piece fits where it is drawn.

Large text (desktops at 14–18 pt, text scaling for low vision): the dot, the icon, the hover
buttons and the room they take grow with the font, as the popup does (:func:`text_scale`), so
the row keeps its proportions and the buttons stay targets as big as the text beside them. At
the reference font and smaller they are the sizes of the constants below. The sizes follow
from the row's height (:func:`row_sizes`), which is its font's (:func:`row_height`), so the
buttons are hit-tested where they are painted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from PySide6.QtCore import (
    QAbstractItemModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QHelpEvent,
    QImage,
    QMouseEvent,
    QPainter,
    QPalette,
    QPen,
)
from PySide6.QtGui import Qt as QtGuiNamespace
from PySide6.QtWidgets import (
    QAbstractItemView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolTip,
    QWidget,
)

from notifier.app.list_model import Role
from notifier.ui.icons import render_svg

# Sizes at the reference font (a line of text REFERENCE_LINE px high); larger text scales
# the dot, icon and buttons (row_sizes).
REFERENCE_LINE = 14
ICON_SIZE = 24
ICON_LEFT = 16  # from the row's left edge; the unread dot is left of it
DOT_CENTRE = 8  # from the row's left edge
DOT_RADIUS = 4
MARGIN = 8  # left and right padding, and the gap between columns
PADDING = 7  # above the first line and below the last
LINE_GAP = 2
BUTTON_SIZE = 22
BUTTON_GAP = 4
TEXT_LEFT = ICON_LEFT + ICON_SIZE + MARGIN  # from the row's left edge
MIN_NAME_WIDTH = 48  # a shortened name keeps at least this much (then the action shortens)
UNREAD_DOT = QColor("#1a5fd6")
UNREAD_DOT_ON_DARK = QColor("#5b9bf5")  # the same blue, light enough for a dark list
SELECTED_TINT_ALPHA = 56  # of the highlight colour, over the list's base, on the current row
MIN_TEXT_CONTRAST = 4.5  # WCAG AA for text of normal size
FOCUS_FRAME = 2  # px: the frame of the current row while the list has the focus

ModelIndex = QModelIndex | QPersistentModelIndex


def text_scale(text_height: int) -> float:
    """How much larger than the reference font (a line :data:`REFERENCE_LINE` px high) text
    of ``text_height`` px is; never below 1, so smaller text keeps today's sizes."""
    return max(1.0, text_height / REFERENCE_LINE)


@dataclass(frozen=True, slots=True)
class RowSizes:
    """The sizes in a row that follow its font (px; lefts from the row's left edge)."""

    dot_centre: int
    dot_radius: int
    icon_left: int
    icon: int
    text_left: int
    button: int
    button_gap: int
    scale: float  # of the buttons' glyphs: the check, the cross, the pen

    def scaled(self, length: float) -> int:
        return round(length * self.scale)


@cache
def sizes_for_text(text_height: int) -> RowSizes:
    """:class:`RowSizes` for a font whose lines are ``text_height`` px high: the constants at
    the reference font, all of them times :func:`text_scale` for larger text."""
    scale = text_scale(text_height)

    def scaled(length: int) -> int:
        return round(length * scale)

    return RowSizes(
        dot_centre=scaled(DOT_CENTRE),
        dot_radius=scaled(DOT_RADIUS),
        icon_left=scaled(ICON_LEFT),
        icon=scaled(ICON_SIZE),
        text_left=scaled(TEXT_LEFT),
        button=scaled(BUTTON_SIZE),
        button_gap=scaled(BUTTON_GAP),
        scale=scale,
    )


def row_sizes(row: QRect) -> RowSizes:
    """:class:`RowSizes` of a row: its height is its font's (:func:`row_height`), so painting
    and hit-testing, which both have the row's rectangle, agree on them."""
    text_height = (row.height() - 2 * PADDING) // 3 - LINE_GAP
    return sizes_for_text(text_height)


@cache
def type_icon(name: str, size: int, ratio: float) -> QImage:
    """The row icon ``resources/<name>.svg``, ``size`` px square, rendered at the device
    pixel ratio; cached per name, size and ratio."""
    return render_svg(name, size, ratio)


def _luminance(color: QColor) -> float:
    """WCAG relative luminance of an opaque colour."""

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    return (
        0.2126 * linear(color.redF())
        + 0.7152 * linear(color.greenF())
        + 0.0722 * linear(color.blueF())
    )


def contrast_ratio(one: QColor, other: QColor) -> float:
    """WCAG contrast ratio of two opaque colours, from 1 to 21."""
    lighter, darker = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def over(color: QColor, background: QColor) -> QColor:
    """``color`` (maybe translucent) as it shows painted over the opaque ``background``."""
    alpha = color.alphaF()
    return QColor.fromRgbF(
        color.redF() * alpha + background.redF() * (1 - alpha),
        color.greenF() * alpha + background.greenF() * (1 - alpha),
        color.blueF() * alpha + background.blueF() * (1 - alpha),
    )


def current_row_tint(palette: QPalette) -> QColor:
    """The current row's background: a tint of the highlight, not the highlight itself, so
    the row's text keeps the Text colour, readable on light and dark palettes alike."""
    tint = QColor(palette.color(QPalette.ColorRole.Highlight))
    tint.setAlpha(SELECTED_TINT_ALPHA)
    return tint


def row_backgrounds(palette: QPalette) -> tuple[QColor, QColor, QColor]:
    """What a row's text can stand on: the list's base, the hovered row's, the current row's."""
    base = over(palette.color(QPalette.ColorRole.Base), QColor("white"))
    hovered = over(palette.color(QPalette.ColorRole.AlternateBase), base)
    return base, hovered, over(current_row_tint(palette), base)


@cache
def _secondary_text(text: int, placeholder: int, backgrounds: tuple[int, ...]) -> QColor:
    """See :func:`secondary_text_color` (cached by the colours' ARGB values)."""
    grounds = [QColor.fromRgba(rgba) for rgba in backgrounds]
    base = grounds[0]
    muted, strong = over(QColor.fromRgba(placeholder), base), over(QColor.fromRgba(text), base)
    for step in range(21):  # from the palette's grey, 5 % at a time towards the text colour
        share = step / 20
        candidate = QColor.fromRgbF(
            muted.redF() + (strong.redF() - muted.redF()) * share,
            muted.greenF() + (strong.greenF() - muted.greenF()) * share,
            muted.blueF() + (strong.blueF() - muted.blueF()) * share,
        )
        if all(contrast_ratio(candidate, ground) >= MIN_TEXT_CONTRAST for ground in grounds):
            return candidate
    return strong


def secondary_text_color(palette: QPalette) -> QColor:
    """The grey of a row's secondary text (the time, the message, a read row's ticket): the
    palette's placeholder colour where it is readable (contrast of at least 4.5:1 on every row
    background), else the nearest mix of it and the text colour that is. Qt's own placeholder
    colour, the text colour at half strength, is 4:1 on white and 3.1:1 on the tinted current
    row."""
    return _secondary_text(
        palette.color(QPalette.ColorRole.Text).rgba(),
        palette.color(QPalette.ColorRole.PlaceholderText).rgba(),
        tuple(color.rgba() for color in row_backgrounds(palette)),
    )


def draw_focus_frame(painter: QPainter, rect: QRect, color: QColor) -> None:
    """A frame :data:`FOCUS_FRAME` px wide inside ``rect``: the row the keys act on while the
    list has the keyboard focus. The current row's tint alone is too faint to find (about 1.2:1
    on white); the highlight colour is the palette's own colour for focus."""
    width = FOCUS_FRAME
    for side in (
        QRect(rect.left(), rect.top(), rect.width(), width),
        QRect(rect.left(), rect.bottom() - width + 1, rect.width(), width),
        QRect(rect.left(), rect.top(), width, rect.height()),
        QRect(rect.right() - width + 1, rect.top(), width, rect.height()),
    ):
        painter.fillRect(side, color)


def line_height(metrics: QFontMetrics) -> int:
    return metrics.height() + LINE_GAP


def row_height(metrics: QFontMetrics) -> int:
    """Three lines of text in ``metrics``' font, the padding above and below."""
    return 2 * PADDING + 3 * line_height(metrics)


def tooltip_markup(text: str) -> str:
    """``text`` as a tooltip shows it: as those characters, whatever they are. Qt renders a
    tooltip as HTML when it merely looks like HTML ("<b>Maria</b> replied on …", a name the
    customer chose), so the text goes out escaped, as rich text (which also wraps a long
    message instead of stretching the tooltip across the screen)."""
    return QtGuiNamespace.convertFromPlainText(text, Qt.WhiteSpaceMode.WhiteSpaceNormal)


def button_tooltip(row: QRect, point: QPoint, read: bool) -> str | None:
    """What the hover button under ``point`` does, or None when ``point`` is on no button."""
    toggle, delete = button_rects(row)
    if toggle.contains(point):
        return "Mark unread" if read else "Mark read"
    if delete.contains(point):
        return "Delete"
    return None


def button_rects(row: QRect) -> tuple[QRect, QRect]:
    """(toggle read, delete) button rectangles inside ``row``: at the right, centred on the
    second and third lines (the first holds the time), as big as the row's font asks
    (:func:`row_sizes`)."""
    sizes = row_sizes(row)
    size = sizes.button
    line = (row.height() - 2 * PADDING) // 3  # the row is three lines high (row_height)
    lower_centre = row.top() + PADDING + line + line  # between the 2nd and 3rd line
    top = lower_centre - size // 2
    delete = QRect(row.right() - MARGIN - size + 1, top, size, size)
    toggle = QRect(delete.left() - sizes.button_gap - size, top, size, size)
    return toggle, delete


@dataclass(frozen=True, slots=True)
class RowTexts:
    headline: str  # who did what: "Bea Baker assigned you"
    who: str  # the name that headline starts with ("" when it starts with none)
    ticket: str  # "#2 Invoice shows the wrong VAT"
    message: str  # one line
    when: str  # "5 minutes ago"


@dataclass(frozen=True, slots=True)
class RowLayout:
    """Where each piece of a row goes, and the text painted there (elided to fit)."""

    headline: tuple[QRect, str]
    time: tuple[QRect, str]
    ticket: tuple[QRect, str]
    message: tuple[QRect, str]
    buttons: tuple[QRect, QRect] | None


def fit_headline(metrics: QFontMetrics, text: str, who: str, width: int) -> str | None:
    """``text`` in ``width`` with its action whole: the name it starts with shortened if
    need be (to :data:`MIN_NAME_WIDTH` at the least); None if even that does not fit."""
    if metrics.horizontalAdvance(text) <= width:
        return text
    if not who or not text.startswith(who):
        return None
    action = text[len(who) :]
    room = width - metrics.horizontalAdvance(action)
    if room < MIN_NAME_WIDTH:
        return None
    name = metrics.elidedText(who, Qt.TextElideMode.ElideRight, room)
    return name + action if metrics.horizontalAdvance(name + action) <= width else None


@dataclass(frozen=True, slots=True)
class RowFonts:
    """The fonts of a row and their metrics (made once per base font and read state: a
    QFontMetrics per piece per paint would cost more than the painting)."""

    headline: QFont  # bold while unread
    body: QFont  # the ticket and the message
    small: QFont  # the time
    headline_metrics: QFontMetrics
    body_metrics: QFontMetrics
    small_metrics: QFontMetrics

    @classmethod
    def of(cls, base: QFont, read: bool) -> RowFonts:
        headline = QFont(base)
        headline.setBold(not read)
        small = QFont(base)
        small.setPointSizeF(max(6.0, base.pointSizeF() * 0.9))
        body = QFont(base)
        return cls(
            headline, body, small, QFontMetrics(headline), QFontMetrics(body), QFontMetrics(small)
        )


def row_layout(rect: QRect, texts: RowTexts, fonts: RowFonts, *, show_buttons: bool) -> RowLayout:
    """The geometry of one row (see the module docstring).

    The time goes at the end of the first line; when who-did-what needs that room (a long
    name and action, a narrow popup, large text), it moves to the end of the last line.
    """
    base, bold, small = fonts.body_metrics, fonts.headline_metrics, fonts.small_metrics
    line = line_height(base)
    left = rect.left() + row_sizes(rect).text_left
    right = rect.right() - MARGIN + 1  # exclusive
    top = rect.top() + PADDING
    buttons = button_rects(rect) if show_buttons else None
    lower_right = buttons[0].left() - MARGIN if buttons is not None else right

    when_width = small.horizontalAdvance(texts.when)
    beside_time = max(0, right - when_width - MARGIN - left)
    headline = fit_headline(bold, texts.headline, texts.who, beside_time)
    if headline is not None:
        headline_rect = QRect(left, top, beside_time, line)
        time_rect = QRect(right - when_width, top, when_width, line)
        message_right = lower_right
    else:
        headline_rect = QRect(left, top, max(0, right - left), line)
        headline = fit_headline(bold, texts.headline, texts.who, headline_rect.width())
        if headline is None:  # too narrow for the action itself: the end goes
            headline = bold.elidedText(
                texts.headline, Qt.TextElideMode.ElideRight, headline_rect.width()
            )
        time_rect = QRect(lower_right - when_width, top + 2 * line, when_width, line)
        message_right = time_rect.left() - MARGIN

    ticket_rect = QRect(left, top + line, max(0, lower_right - left), line)
    message_rect = QRect(left, top + 2 * line, max(0, message_right - left), line)
    elide = Qt.TextElideMode.ElideRight
    return RowLayout(
        headline=(headline_rect, headline),
        time=(time_rect, texts.when),
        ticket=(ticket_rect, base.elidedText(texts.ticket, elide, ticket_rect.width())),
        message=(message_rect, base.elidedText(texts.message, elide, message_rect.width())),
        buttons=buttons,
    )


class NotificationDelegate(QStyledItemDelegate):
    rowClicked = Signal(str)
    toggleReadClicked = Signal(str)
    deleteClicked = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hovered_row: int | None = None
        self._fonts: dict[tuple[str, bool], RowFonts] = {}

    def fonts(self, base: QFont, read: bool) -> RowFonts:
        key = (base.key(), read)
        fonts = self._fonts.get(key)
        if fonts is None:
            fonts = self._fonts[key] = RowFonts.of(base, read)
        return fonts

    def sizeHint(self, option: QStyleOptionViewItem, index: ModelIndex) -> QSize:
        return QSize(320, row_height(option.fontMetrics))

    def texts(self, index: ModelIndex) -> RowTexts:
        """The row's texts as painted, before eliding."""
        headline = str(index.data(Role.HEADLINE) or "")
        sender = str(index.data(Role.SENDER) or "")
        return RowTexts(
            headline=headline,
            who=sender if sender and headline.startswith(sender) else "",
            ticket=str(index.data(Role.TICKET) or ""),
            message=" ".join(str(index.data(Role.MESSAGE) or "").split()),
            when=str(index.data(Role.RELATIVE_TIME) or ""),
        )

    def layout(
        self, option: QStyleOptionViewItem, index: ModelIndex, fonts: RowFonts | None = None
    ) -> RowLayout:
        state: QStyle.StateFlag = option.state
        hovered = bool(state & QStyle.StateFlag.State_MouseOver) or index.row() == self.hovered_row
        show_buttons = hovered or bool(state & QStyle.StateFlag.State_Selected)
        if fonts is None:
            fonts = self.fonts(option.font, bool(index.data(Role.READ)))
        return row_layout(option.rect, self.texts(index), fonts, show_buttons=show_buttons)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: ModelIndex) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect: QRect = option.rect
        state: QStyle.StateFlag = option.state
        palette: QPalette = option.palette
        selected = bool(state & QStyle.StateFlag.State_Selected)
        hovered = bool(state & QStyle.StateFlag.State_MouseOver) or index.row() == self.hovered_row
        if selected:
            painter.fillRect(rect, current_row_tint(palette))
        elif hovered:
            painter.fillRect(rect, palette.color(QPalette.ColorRole.AlternateBase))
        read = bool(index.data(Role.READ))
        text_color = palette.color(QPalette.ColorRole.Text)
        muted = secondary_text_color(palette)
        fonts = self.fonts(option.font, read)
        layout = self.layout(option, index, fonts)
        sizes = row_sizes(rect)

        if not read:
            painter.setPen(Qt.PenStyle.NoPen)
            dark = palette.color(QPalette.ColorRole.Base).lightness() < 128
            painter.setBrush(UNREAD_DOT_ON_DARK if dark else UNREAD_DOT)
            dot_y = layout.headline[0].center().y()
            radius = sizes.dot_radius
            painter.drawEllipse(QPoint(rect.left() + sizes.dot_centre, dot_y), radius, radius)

        ratio = painter.device().devicePixelRatioF() if painter.device() else 1.0
        icon = type_icon(str(index.data(Role.ICON)), sizes.icon, ratio)
        painter.drawImage(QPoint(rect.left() + sizes.icon_left, rect.top() + PADDING), icon)

        self._draw(painter, layout.headline, fonts.headline, text_color)
        self._draw(painter, layout.time, fonts.small, muted)
        self._draw(painter, layout.ticket, fonts.body, muted if read else text_color)
        self._draw(painter, layout.message, fonts.body, muted)

        if layout.buttons is not None:
            self._draw_buttons(painter, layout.buttons, sizes, read, text_color)
        painter.setPen(QPen(palette.color(QPalette.ColorRole.Midlight), 1))
        painter.drawLine(rect.bottomLeft(), rect.bottomRight())
        if state & QStyle.StateFlag.State_HasFocus:
            draw_focus_frame(painter, rect, palette.color(QPalette.ColorRole.Highlight))
        painter.restore()

    @staticmethod
    def _draw(painter: QPainter, piece: tuple[QRect, str], font: QFont, color: QColor) -> None:
        rect, text = piece
        painter.setFont(font)
        painter.setPen(color)
        painter.drawText(
            rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), text
        )

    @staticmethod
    def _draw_buttons(
        painter: QPainter,
        buttons: tuple[QRect, QRect],
        sizes: RowSizes,
        read: bool,
        color: QColor,
    ) -> None:
        toggle, delete = buttons
        s = sizes.scaled  # the glyphs grow with the buttons (whole pixels, as at 1x)

        def at(centre: QPoint, x: int, y: int) -> QPoint:
            return centre + QPoint(s(x), s(y))

        pen_width = 1.6 * sizes.scale
        painter.setPen(QPen(color, pen_width))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        inset = math.ceil(pen_width / 2)  # the frame's ink inside the rectangle a click hits
        for button in (toggle, delete):
            painter.drawRoundedRect(button.adjusted(inset, inset, -inset, -inset), s(4), s(4))
        centre = toggle.center()
        if read:
            # Mark unread: a hollow dot.
            painter.drawEllipse(centre, s(4), s(4))
        else:
            # Mark read: a check.
            painter.drawPolyline([at(centre, -5, 0), at(centre, -1, 4), at(centre, 5, -4)])
        d = delete.center()
        painter.drawLine(at(d, -4, -4), at(d, 4, 4))
        painter.drawLine(at(d, -4, 4), at(d, 4, -4))

    def helpEvent(
        self,
        event: QHelpEvent,
        view: QAbstractItemView,
        option: QStyleOptionViewItem,
        index: ModelIndex,
    ) -> bool:
        """The tooltip: what a hover button does over one, else the whole row, as plain text
        (:func:`tooltip_markup`)."""
        if event.type() != QEvent.Type.ToolTip or not index.isValid():
            return super().helpEvent(event, view, option, index)
        read = bool(index.data(Role.READ))
        text = button_tooltip(option.rect, event.pos(), read)
        if text is None:
            text = str(index.data(Qt.ItemDataRole.ToolTipRole) or "")
        if not text:
            QToolTip.hideText()
            return False
        QToolTip.showText(event.globalPos(), tooltip_markup(text), view.viewport())
        return True

    def editorEvent(
        self,
        event: QEvent,
        model: QAbstractItemModel,
        option: QStyleOptionViewItem,
        index: ModelIndex,
    ) -> bool:
        if event.type() != QEvent.Type.MouseButtonRelease or not isinstance(event, QMouseEvent):
            return super().editorEvent(event, model, option, index)
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        notification_id = str(index.data(Role.ID))
        toggle, delete = button_rects(option.rect)
        point = event.position().toPoint()
        if toggle.contains(point):
            self.toggleReadClicked.emit(notification_id)
        elif delete.contains(point):
            self.deleteClicked.emit(notification_id)
        else:
            self.rowClicked.emit(notification_id)
        return True


def row_option(
    widget: QWidget, width: int = 360, *, selected: bool = False
) -> QStyleOptionViewItem:
    """The style option of one row at (0, 0), ``width`` wide, in ``widget``'s font and palette
    (what tests lay out and paint rows with)."""
    option = QStyleOptionViewItem()
    option.initFrom(widget)
    option.font = widget.font()  # as a view sets it (initFrom leaves the item font alone)
    option.rect = QRect(0, 0, width, row_height(widget.fontMetrics()))
    option.state = QStyle.StateFlag.State_Enabled
    if selected:
        option.state |= QStyle.StateFlag.State_Selected
    return option


def paint_row_for_test(
    delegate: NotificationDelegate,
    index: ModelIndex,
    widget: QWidget,
    width: int = 360,
    *,
    selected: bool = False,
) -> QImage:
    """Render one row into an image (tests check its pixels)."""
    option = row_option(widget, width, selected=selected)
    image = QImage(option.rect.size(), QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(QColor("white"))
    painter = QPainter(image)
    delegate.paint(painter, option, index)
    painter.end()
    return image
