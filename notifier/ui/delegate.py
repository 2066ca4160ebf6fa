"""Paints one notification row, and turns clicks on its hover buttons into actions.

Row layout (fixed height, so the view can use uniform item sizes and scroll 100,000 rows)::

    ● [icon]  Bea assigned you #123 Printer on fire              [✓] [✕]
              The printer on floor 3 is on fire again, can you…
              Bea Lopez · 5 minutes ago

* the blue dot on the left marks unread rows (and the summary is bold);
* every piece of text is painted with ``QPainter.drawText`` after eliding: it is never handed
  to anything that interprets markup, so "<b>x</b>" in a message shows as those characters;
* on the hovered (or current) row two buttons appear on the right: toggle read and delete.
  :meth:`NotificationDelegate.editorEvent` hit-tests them and emits
  :attr:`~NotificationDelegate.toggleReadClicked` / :attr:`~NotificationDelegate.deleteClicked`
  with the notification id; a click anywhere else on the row emits
  :attr:`~NotificationDelegate.rowClicked`.
"""

from __future__ import annotations

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
from PySide6.QtGui import QColor, QFont, QImage, QMouseEvent, QPainter, QPalette, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from notifier.app.list_model import Role
from notifier.app.signals import emit
from notifier.ui.icons import render_svg

ROW_HEIGHT = 66
ICON_SIZE = 24
MARGIN = 8
BUTTON_SIZE = 22
UNREAD_DOT = QColor("#1a5fd6")

ModelIndex = QModelIndex | QPersistentModelIndex


@cache
def type_icon(type_name: str, ratio: float) -> QImage:
    """The row icon for a notification type (resources/<type>.svg), cached per ratio."""
    return render_svg(type_name, ICON_SIZE, ratio)


def button_rects(row: QRect) -> tuple[QRect, QRect]:
    """(toggle read, delete) button rectangles inside ``row``."""
    top = row.top() + MARGIN - 2
    delete = QRect(row.right() - MARGIN - BUTTON_SIZE, top, BUTTON_SIZE, BUTTON_SIZE)
    toggle = QRect(delete.left() - 4 - BUTTON_SIZE, top, BUTTON_SIZE, BUTTON_SIZE)
    return toggle, delete


class NotificationDelegate(QStyledItemDelegate):
    rowClicked = Signal(str)
    toggleReadClicked = Signal(str)
    deleteClicked = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hovered_row: int | None = None

    def sizeHint(self, option: QStyleOptionViewItem, index: ModelIndex) -> QSize:
        return QSize(320, ROW_HEIGHT)

    def text_lines(self, index: ModelIndex) -> tuple[str, str, str]:
        """(summary, message, "who · when") exactly as painted, before eliding."""
        summary = str(index.data(Role.SUMMARY) or "")
        message = " ".join(str(index.data(Role.MESSAGE) or "").split())
        meta = f"{index.data(Role.SENDER)} · {index.data(Role.RELATIVE_TIME)}"
        return summary, message, meta

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: ModelIndex) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect: QRect = option.rect
        state: QStyle.StateFlag = option.state
        palette: QPalette = option.palette
        selected = bool(state & QStyle.StateFlag.State_Selected)
        hovered = bool(state & QStyle.StateFlag.State_MouseOver) or index.row() == self.hovered_row
        if selected:
            painter.fillRect(rect, palette.color(QPalette.ColorRole.Highlight).lighter(170))
        elif hovered:
            painter.fillRect(rect, palette.color(QPalette.ColorRole.AlternateBase))
        read = bool(index.data(Role.READ))
        text_color = palette.color(QPalette.ColorRole.Text)
        muted = palette.color(QPalette.ColorRole.PlaceholderText)

        if not read:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(UNREAD_DOT)
            painter.drawEllipse(QPoint(rect.left() + 7, rect.top() + MARGIN + 9), 4, 4)

        ratio = painter.device().devicePixelRatioF() if painter.device() else 1.0
        icon = type_icon(str(index.data(Role.TYPE)), ratio)
        painter.drawImage(QPoint(rect.left() + 16, rect.top() + MARGIN), icon)

        left = rect.left() + 16 + ICON_SIZE + MARGIN
        show_buttons = hovered or selected
        right = button_rects(rect)[0].left() - 4 if show_buttons else rect.right() - MARGIN
        summary, message, meta = self.text_lines(index)
        base_font = QFont(option.font)
        line = painter.fontMetrics().height() + 2

        summary_font = QFont(base_font)
        summary_font.setBold(not read)
        painter.setFont(summary_font)
        painter.setPen(text_color)
        self._draw_line(painter, QRect(left, rect.top() + MARGIN - 2, right - left, line), summary)

        painter.setFont(base_font)
        painter.setPen(text_color if not read else muted)
        message_rect = QRect(
            left, rect.top() + MARGIN - 2 + line, rect.right() - MARGIN - left, line
        )
        self._draw_line(painter, message_rect, message)

        small = QFont(base_font)
        small.setPointSizeF(max(6.0, base_font.pointSizeF() * 0.9))
        painter.setFont(small)
        painter.setPen(muted)
        meta_rect = QRect(
            left, rect.top() + MARGIN - 2 + 2 * line, rect.right() - MARGIN - left, line
        )
        self._draw_line(painter, meta_rect, meta)

        if show_buttons:
            self._draw_buttons(painter, rect, read, text_color)
        painter.setPen(QPen(palette.color(QPalette.ColorRole.Mid), 1))
        painter.drawLine(rect.bottomLeft(), rect.bottomRight())
        painter.restore()

    @staticmethod
    def _draw_line(painter: QPainter, rect: QRect, text: str) -> None:
        elided = painter.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, rect.width())
        painter.drawText(
            rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), elided
        )

    @staticmethod
    def _draw_buttons(painter: QPainter, rect: QRect, read: bool, color: QColor) -> None:
        toggle, delete = button_rects(rect)
        painter.setPen(QPen(color, 1.6))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for button in (toggle, delete):
            painter.drawRoundedRect(button.adjusted(1, 1, -1, -1), 4, 4)
        centre = toggle.center()
        if read:
            # Mark unread: a hollow dot.
            painter.drawEllipse(centre, 4, 4)
        else:
            # Mark read: a check.
            painter.drawPolyline(
                [centre + QPoint(-5, 0), centre + QPoint(-1, 4), centre + QPoint(5, -4)]
            )
        d = delete.center()
        painter.drawLine(d + QPoint(-4, -4), d + QPoint(4, 4))
        painter.drawLine(d + QPoint(-4, 4), d + QPoint(4, -4))

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
            emit(self.toggleReadClicked, notification_id)
        elif delete.contains(point):
            emit(self.deleteClicked, notification_id)
        else:
            emit(self.rowClicked, notification_id)
        return True


def paint_row_for_test(
    delegate: NotificationDelegate, index: ModelIndex, widget: QWidget, width: int = 360
) -> QImage:
    """Render one row into an image (tests check its pixels)."""
    image = QImage(width, ROW_HEIGHT, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(QColor("white"))
    option = QStyleOptionViewItem()
    option.initFrom(widget)
    option.rect = QRect(0, 0, width, ROW_HEIGHT)
    option.state = QStyle.StateFlag.State_Enabled
    painter = QPainter(image)
    delegate.paint(painter, option, index)
    painter.end()
    return image
