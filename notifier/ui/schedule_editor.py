"""The weekly quiet-hours editor: one row per range (weekday, from, to), add and remove.

It edits a tuple of :class:`~notifier.core.wire.QuietRange` and nothing else; the meaning of
the ranges (crossing midnight, 24 hours, DST) is :mod:`notifier.core.quiet_hours`'s, and the
hint under the table says it in words. The time pickers only produce valid ``HH:MM`` values,
so the editor cannot hold an invalid range; overlapping ranges are allowed (quiet is their
union). A plain-text preview line ("Quiet now, until 07:00" / "Next quiet hours: Mon 22:00")
lets the agent check the schedule against the clock without waiting for night.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo

from PySide6.QtCore import Qt, QTime, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from notifier.app.signals import emit
from notifier.core.quiet_hours import QuietSchedule, QuietState
from notifier.core.wire import QuietRange

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_COLUMN_DAY, _COLUMN_START, _COLUMN_END, _COLUMN_REMOVE = range(4)
_TIME_FORMAT = "HH:mm"


def _to_qtime(hhmm: str) -> QTime:
    hours, minutes = hhmm.split(":")
    return QTime(int(hours), int(minutes))


def _from_qtime(value: QTime) -> str:
    return f"{value.hour():02d}:{value.minute():02d}"


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

        self.table = QTableWidget(0, 4, self)
        self.table.setHorizontalHeaderLabels(["Day", "From", "To", ""])
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(_COLUMN_DAY, QHeaderView.ResizeMode.Stretch)
        for column in (_COLUMN_START, _COLUMN_END, _COLUMN_REMOVE):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setAccessibleName("Quiet hours ranges")

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
        self.preview = QLabel(self)
        self.preview.setAccessibleName("Quiet hours preview")
        for label in (self.hint, self.preview):
            label.setTextFormat(Qt.TextFormat.PlainText)

        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.weeknights_button)
        buttons.addStretch(1)
        buttons.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.preview)
        layout.addWidget(self.hint)
        self.changed.connect(self._update_preview)
        self._update_preview()

    # ----------------------------------------------------------------------- API

    def set_ranges(self, ranges: Sequence[QuietRange]) -> None:
        self.table.setRowCount(0)
        for quiet_range in ranges:
            self._append_row(quiet_range)
        emit(self.changed)

    def ranges(self) -> tuple[QuietRange, ...]:
        found = []
        for row in range(self.table.rowCount()):
            day, start, end = self._row_widgets(row)
            found.append(
                QuietRange(
                    day=day.currentIndex(),
                    start=_from_qtime(start.time()),
                    end=_from_qtime(end.time()),
                )
            )
        return tuple(found)

    def add_range(self, quiet_range: QuietRange | None = None) -> None:
        """Add ``quiet_range``, or a 22:00-07:00 night on the day after the last row."""
        if quiet_range is None:
            rows = self.ranges()
            day = (rows[-1].day + 1) % 7 if rows else 0
            quiet_range = QuietRange(day, "22:00", "07:00")
        self._append_row(quiet_range)
        emit(self.changed)

    def remove_row(self, row: int) -> None:
        self.table.removeRow(row)
        emit(self.changed)

    # ----------------------------------------------------------------------- rows

    def _append_row(self, quiet_range: QuietRange) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        day = QComboBox(self.table)
        day.addItems(WEEKDAYS)
        day.setCurrentIndex(quiet_range.day)
        day.setAccessibleName("Day")
        start = self._time_edit(quiet_range.start, "From")
        end = self._time_edit(quiet_range.end, "To")
        remove = QPushButton("Remove", self.table)
        remove.setAccessibleName("Remove this range")
        day.currentIndexChanged.connect(self.changed)
        start.timeChanged.connect(self.changed)
        end.timeChanged.connect(self.changed)
        # The row of a button changes when rows above it go; find it at click time.
        remove.clicked.connect(lambda: self.remove_row(self._row_of(remove)))
        self.table.setCellWidget(row, _COLUMN_DAY, day)
        self.table.setCellWidget(row, _COLUMN_START, start)
        self.table.setCellWidget(row, _COLUMN_END, end)
        self.table.setCellWidget(row, _COLUMN_REMOVE, remove)

    def _time_edit(self, hhmm: str, name: str) -> QTimeEdit:
        edit = QTimeEdit(_to_qtime(hhmm), self.table)
        edit.setDisplayFormat(_TIME_FORMAT)
        edit.setAccessibleName(name)
        return edit

    def _row_widgets(self, row: int) -> tuple[QComboBox, QTimeEdit, QTimeEdit]:
        day = self.table.cellWidget(row, _COLUMN_DAY)
        start = self.table.cellWidget(row, _COLUMN_START)
        end = self.table.cellWidget(row, _COLUMN_END)
        assert isinstance(day, QComboBox)
        assert isinstance(start, QTimeEdit) and isinstance(end, QTimeEdit)
        return day, start, end

    def _row_of(self, widget: QWidget) -> int:
        for row in range(self.table.rowCount()):
            if self.table.cellWidget(row, _COLUMN_REMOVE) is widget:
                return row
        raise LookupError("the button's row is gone")

    # ----------------------------------------------------------------------- slots

    def _on_add_clicked(self) -> None:
        self.add_range()

    def _on_weeknights_clicked(self) -> None:
        self.set_ranges([QuietRange(day, "22:00", "07:00") for day in range(5)])

    def _on_clear_clicked(self) -> None:
        self.set_ranges([])

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
