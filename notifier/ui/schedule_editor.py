"""The weekly quiet-hours editor: one row per range (weekday, from, to), add and remove.

It edits a tuple of :class:`~notifier.core.wire.QuietRange` and nothing else; the meaning of
the ranges (crossing midnight, 24 hours, DST) is :mod:`notifier.core.quiet_hours`'s, and the
hint under the rows says it in words. The time pickers only produce valid ``HH:MM`` values,
so the editor cannot hold an invalid range; overlapping ranges are allowed (quiet is their
union). A plain-text preview line ("Quiet now, until 07:00" / "Next quiet hours: Mon 22:00")
lets the agent check the schedule against the clock without waiting for night.

The rows are widgets in a grid layout inside a scroll area, not cells of a table: a table's
columns do not grow with the widgets in them, and at the dialog's default size (with a
large font, or at 2× scaling) it cut its cells to "22", "(" and "emov". A layout never gives
a widget less than its minimum size, and the scroll area is made as wide as the rows need,
so every day, time and button stays readable; only the height scrolls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo
from itertools import pairwise

from PySide6.QtCore import QSize, Qt, QTime, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from notifier.core.quiet_hours import QuietSchedule, QuietState
from notifier.core.wire import QuietRange

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_TIME_FORMAT = "HH:mm"
MIN_VISIBLE_ROWS = 3  # the rows' area is never lower than this many rows (then it scrolls)


def _to_qtime(hhmm: str) -> QTime:
    hours, minutes = hhmm.split(":")
    return QTime(int(hours), int(minutes))


def _from_qtime(value: QTime) -> str:
    return f"{value.hour():02d}:{value.minute():02d}"


class RangeRow:
    """The widgets of one range: day, from, to, and its Remove button."""

    def __init__(self, parent: QWidget, quiet_range: QuietRange) -> None:
        self.day = QComboBox(parent)
        self.day.addItems(WEEKDAYS)
        self.day.setCurrentIndex(quiet_range.day)
        self.day.setAccessibleName("Day")
        self.start = _time_edit(parent, quiet_range.start)
        self.end = _time_edit(parent, quiet_range.end)
        self.remove = QPushButton("Remove", parent)
        self.name_widgets()

    def name_widgets(self, place: tuple[int, int] = (1, 1)) -> None:
        """Name the time fields and the Remove button after their range ("Monday quiet hours
        start", "Remove Monday 22:00–07:00"): a screen reader moving from field to field
        hears which range it is in, not one "From", "To" and "Remove" per row. ``place`` is
        (n, of) among the ranges on the same day: with two Monday ranges the fields say
        "Monday quiet hours start, range 2 of 2". The editor calls this again on every
        change, so the names follow the day and the times."""
        value = self.value()
        day = WEEKDAYS[value.day]
        number, of = place
        which = f", range {number} of {of}" if of > 1 else ""
        self.start.setAccessibleName(f"{day} quiet hours start{which}")
        self.end.setAccessibleName(f"{day} quiet hours end{which}")
        self.remove.setAccessibleName(f"Remove {day} {value.start}–{value.end}")

    def widgets(self) -> tuple[QComboBox, QTimeEdit, QTimeEdit, QPushButton]:
        return self.day, self.start, self.end, self.remove

    def value(self) -> QuietRange:
        return QuietRange(
            day=self.day.currentIndex(),
            start=_from_qtime(self.start.time()),
            end=_from_qtime(self.end.time()),
        )

    def delete(self) -> None:
        for widget in self.widgets():
            widget.hide()
            widget.deleteLater()


class RowsScroller(QScrollArea):
    """The scroll area around the rows. It asks for the rows' size as they are now: QScrollArea
    keeps the first size it computed, so when it was asked before the rows were added (the
    settings dialog's tab scroll area asks early) it kept asking for a heading's room."""

    def sizeHint(self) -> QSize:  # Qt override
        rows = self.widget()
        if rows is None:
            return super().sizeHint()
        frame = 2 * self.frameWidth()
        bar = self.verticalScrollBar().sizeHint().width()
        wanted = rows.sizeHint() + QSize(frame + bar, frame)
        # As high as QScrollArea asks at most (24 lines): more rows scroll.
        line = self.fontMetrics().height()
        return wanted.boundedTo(QSize(36 * line, 24 * line))


def _time_edit(parent: QWidget | None, hhmm: str) -> QTimeEdit:
    edit = QTimeEdit(_to_qtime(hhmm), parent)
    edit.setDisplayFormat(_TIME_FORMAT)
    return edit


class ScheduleEditor(QWidget):
    """Edits weekly quiet ranges. ``changed`` fires on every edit."""

    changed = Signal()

    def __init__(
        self,
        tz: tzinfo | None = None,
        *,
        now: Callable[[], datetime] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._tz = tz if tz is not None else UTC
        self._now = now if now is not None else (lambda: datetime.now(UTC))

        self._rows: list[RangeRow] = []
        self.rows_area = QWidget()
        self._grid = QGridLayout(self.rows_area)
        self._grid.setColumnStretch(0, 1)
        self._headings: list[QLabel] = []
        for column, title in enumerate(("Day", "From", "To")):
            heading = QLabel(title, self.rows_area)
            heading.setTextFormat(Qt.TextFormat.PlainText)
            self._grid.addWidget(heading, 0, column)
            self._headings.append(heading)
        # Without ranges the columns have nothing to size them ("From" and "To" ran into each
        # other at the box's right edge): the headings go, and this says what to do instead.
        self.empty_label = QLabel(
            "No quiet hours yet: add a range, or start from weeknights 22:00–07:00.",
            self.rows_area,
        )
        self.empty_label.setTextFormat(Qt.TextFormat.PlainText)
        self.empty_label.setWordWrap(True)
        self._grid.addWidget(self.empty_label, 1, 0, 1, 4)
        self.rows_scroll = RowsScroller(self)
        self.rows_scroll.setWidget(self.rows_area)
        self.rows_scroll.setWidgetResizable(True)
        self.rows_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.rows_scroll.setFrameShape(QFrame.Shape.StyledPanel)
        self.rows_scroll.setAccessibleName("Quiet hours ranges")

        self.add_button = QPushButton("Add range", self)
        self.add_button.setAccessibleName("Add a quiet hours range")
        self.add_button.clicked.connect(self._on_add_clicked)
        self.weeknights_button = QPushButton("Weeknights 22:00–07:00", self)
        self.weeknights_button.setToolTip("Replace the ranges with Monday to Friday nights")
        self.weeknights_button.clicked.connect(self._on_weeknights_clicked)
        self.clear_button = QPushButton("Remove all", self)
        self.clear_button.clicked.connect(self._on_clear_clicked)

        zone = getattr(self._tz, "key", None) or str(self._tz)
        self.hint = QLabel(
            "Times are local wall-clock times "
            f"({zone}). A range that ends at or before its start continues into the next "
            "day; the same start and end means 24 hours. During quiet hours there are no "
            "toasts or sounds; the badge and the list still update.",
            self,
        )
        self.hint.setWordWrap(True)
        self.preview = QLabel(self)  # its accessible name is its text: no fixed one
        for label in (self.hint, self.preview):
            label.setTextFormat(Qt.TextFormat.PlainText)

        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.weeknights_button)
        buttons.addStretch(1)
        buttons.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.rows_scroll, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.preview)
        layout.addWidget(self.hint)
        self.changed.connect(self._update_preview)
        self.changed.connect(self._name_rows)
        self._relayout()
        self._update_preview()

    # ----------------------------------------------------------------------- API

    def set_ranges(self, ranges: Sequence[QuietRange]) -> None:
        for row in self._rows:
            row.delete()
        self._rows = [self._new_row(quiet_range) for quiet_range in ranges]
        self._relayout()
        self.changed.emit()

    def ranges(self) -> tuple[QuietRange, ...]:
        return tuple(row.value() for row in self._rows)

    def row_count(self) -> int:
        return len(self._rows)

    def row_widgets(self, row: int) -> tuple[QComboBox, QTimeEdit, QTimeEdit, QPushButton]:
        """(day, from, to, remove) of the ``row``-th range."""
        return self._rows[row].widgets()

    def add_range(self, quiet_range: QuietRange | None = None) -> None:
        """Add ``quiet_range``, or a 22:00-07:00 night on the day after the last row."""
        if quiet_range is None:
            rows = self.ranges()
            day = (rows[-1].day + 1) % 7 if rows else 0
            quiet_range = QuietRange(day, "22:00", "07:00")
        self._rows.append(self._new_row(quiet_range))
        self._relayout()
        self.changed.emit()

    def remove_row(self, row: int) -> None:
        self._rows.pop(row).delete()
        self._relayout()
        self.changed.emit()

    # ----------------------------------------------------------------------- rows

    def _new_row(self, quiet_range: QuietRange) -> RangeRow:
        row = RangeRow(self.rows_area, quiet_range)
        row.day.currentIndexChanged.connect(self.changed)
        row.start.timeChanged.connect(self.changed)
        row.end.timeChanged.connect(self.changed)
        # The row's index changes when rows above it go; find it at click time.
        row.remove.clicked.connect(lambda: self.remove_row(self._rows.index(row)))
        return row

    def _relayout(self) -> None:
        """The rows in order under the headings (row 0), then a stretch; the scroll area as
        wide as they need and at least :data:`MIN_VISIBLE_ROWS` rows high. Without rows, the
        empty state in place of the headings, and nothing for "Remove all" to do."""
        empty = not self._rows
        for heading in self._headings:
            heading.setHidden(empty)
        self.empty_label.setVisible(empty)
        self.clear_button.setEnabled(not empty)
        for index, row in enumerate(self._rows, start=1):
            for column, widget in enumerate(row.widgets()):
                self._grid.addWidget(widget, index, column)
                widget.show()
        for index in range(self._grid.rowCount()):
            self._grid.setRowStretch(index, 0)
        self._grid.setRowStretch(len(self._rows) + 1, 1)
        self._grid.activate()
        # Tab goes through the rows as they read, then to the buttons under them: rows are
        # made after the buttons (and after the dialog's OK and Cancel), so Tab reached them
        # last, and a range added later only after every other field of the window.
        order: list[QWidget] = [self.rows_scroll]
        for row in self._rows:
            order.extend(row.widgets())
        order += [self.add_button, self.weeknights_button, self.clear_button]
        for before, after in pairwise(order):
            QWidget.setTabOrder(before, after)
        frame = 2 * self.rows_scroll.frameWidth()
        bar = self.rows_scroll.verticalScrollBar().sizeHint().width()
        self.rows_scroll.setMinimumWidth(self.rows_area.minimumSizeHint().width() + bar + frame)
        # A row's height, with or without rows (a widget never shown: no parent).
        probe = QTimeEdit()
        probe.setFont(self.font())
        line = probe.sizeHint().height() + max(0, self._grid.verticalSpacing())
        margins = self._grid.contentsMargins()
        self.rows_scroll.setMinimumHeight(
            (MIN_VISIBLE_ROWS + 1) * line + margins.top() + margins.bottom() + frame
        )
        # Their size hints changed with the rows: the layouts around them ask again.
        self.rows_scroll.updateGeometry()
        self.updateGeometry()

    # ----------------------------------------------------------------------- slots

    def _on_add_clicked(self) -> None:
        self.add_range()

    def _on_weeknights_clicked(self) -> None:
        self.set_ranges([QuietRange(day, "22:00", "07:00") for day in range(5)])

    def _on_clear_clicked(self) -> None:
        self.set_ranges([])

    def _name_rows(self) -> None:
        days = [row.value().day for row in self._rows]
        seen: Counter[int] = Counter()
        for row, day in zip(self._rows, days, strict=True):
            seen[day] += 1
            row.name_widgets((seen[day], days.count(day)))

    def _update_preview(self) -> None:
        now = self._now()
        schedule = QuietSchedule(self.ranges(), self._tz)
        state = QuietState(schedule)
        if not schedule.ranges:
            text = "No quiet hours."
        elif state.is_suppressed(now):
            reason = state.reason(now) or "Quiet hours"
            text = f"Quiet now: {reason[0].lower()}{reason[1:]}."
        else:
            start = schedule.next_change(now)
            if start is None:
                text = "These ranges never start (each one is empty)."
            else:
                local = start.astimezone(self._tz)
                text = (
                    f"Next quiet hours: {WEEKDAYS[local.weekday()]} "
                    f"{local.hour:02d}:{local.minute:02d}."
                )
        self.preview.setText(text)
