"""The popup's Qt list model over the SQLite cache: lazy, keyset-paged, updated in place.

Only loaded rows live in memory. A reset (opening the popup, changing the filter) reads the
first page, newest first; the view asks for more with ``canFetchMore``/``fetchMore`` as the
agent scrolls, and each page is one indexed query ``seq < last loaded seq``
(:meth:`NotificationCache.page`), so page 1,000 costs what page 1 costs. Opening over 100,000
cached notifications therefore reads 100 rows (benchmarks/popup.py measures it).

The engine's :class:`~notifier.core.status.CacheChange` arrives through
:meth:`NotificationListModel.apply_change` and is turned into the smallest model update:

* READ_STATE: the row stays where it is and emits ``dataChanged`` (even under the "Unread"
  filter: yanking a row from under the agent's pointer is worse than a read row lingering
  until the filter is re-applied);
* DELETED: ``beginRemoveRows`` for each loaded row;
* UPSERTED: a row already loaded is removed and the new version inserted in seq order (a fold
  such as "3 people reacted" moves it to the top); a new one is inserted in seq order when it
  matches the filter and falls within the loaded range (older ones arrive with paging); a
  batch of more than :data:`BULK_RELOAD` (a history page, a long replay) resets instead.
  The model never holds more rows than the agent has paged to: rows arriving on top push
  the oldest loaded ones out, and paging reads them again (see ``_drop_beyond_paged``);
* RESET: a full model reset.

Relative times ("5 minutes ago") depend on now: :meth:`refresh_times` re-reads the clock and
emits ``dataChanged`` for the time role only; the popup calls it from a timer that runs only
while it is open.
"""

from __future__ import annotations

import bisect
import dataclasses
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)

from notifier.app.signals import emit
from notifier.core.ports import Clock
from notifier.core.status import CacheChange, ChangeKind
from notifier.core.text import excerpt, one_line, relative_time, summary_line
from notifier.core.wire import Notification, NotificationType
from notifier.store.cache import ListFilter, NotificationCache

PAGE_SIZE = 100
BULK_RELOAD = 50  # an UPSERTED change with more notifications than this resets the model

ModelIndex = QModelIndex | QPersistentModelIndex


class Role(IntEnum):
    ID = Qt.ItemDataRole.UserRole + 1
    SEQ = Qt.ItemDataRole.UserRole + 2
    TYPE = Qt.ItemDataRole.UserRole + 3
    READ = Qt.ItemDataRole.UserRole + 4
    SUMMARY = Qt.ItemDataRole.UserRole + 5
    MESSAGE = Qt.ItemDataRole.UserRole + 6
    SENDER = Qt.ItemDataRole.UserRole + 7
    CREATED_AT = Qt.ItemDataRole.UserRole + 8
    RELATIVE_TIME = Qt.ItemDataRole.UserRole + 9
    LINK = Qt.ItemDataRole.UserRole + 10
    NOTIFICATION = Qt.ItemDataRole.UserRole + 11


def matches(notification: Notification, list_filter: ListFilter) -> bool:
    if list_filter.unread_only and notification.read:
        return False
    return list_filter.types is None or notification.type in list_filter.types


def sender_name(notification: Notification) -> str:
    if notification.sender is None:
        return "Helpdesk"
    return one_line(notification.sender.name) or "Someone"


def accessible_text(notification: Notification, when: str) -> str:
    """What a screen reader says for one row."""
    state = "Read" if notification.read else "Unread"
    message = excerpt(notification.message, 300)
    parts = [state, summary_line(notification)]
    if message:
        parts.append(message)
    parts.append(f"{sender_name(notification)}, {when}")
    return ". ".join(parts)


class NotificationListModel(QAbstractListModel):
    """Rows are :class:`Notification` values, newest (highest seq) first."""

    def __init__(
        self,
        cache: NotificationCache,
        clock: Clock,
        *,
        page_size: int = PAGE_SIZE,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._cache = cache
        self._clock = clock
        self._page_size = page_size
        self._filter = ListFilter()
        self._rows: list[Notification] = []
        self._ids: set[str] = set()
        self._exhausted = True
        # How many rows the agent has paged to (the first page, plus one per fetchMore): the
        # most rows the model holds (see _drop_beyond_paged).
        self._paged = page_size
        self._now = clock.now()

    # ------------------------------------------------------------------ filter and loading

    @property
    def list_filter(self) -> ListFilter:
        return self._filter

    def set_filter(self, list_filter: ListFilter) -> None:
        self._filter = list_filter
        self.reload()

    def set_unread_only(self, unread_only: bool) -> None:
        self.set_filter(dataclasses.replace(self._filter, unread_only=unread_only))

    def set_types(self, types: frozenset[NotificationType] | None) -> None:
        self.set_filter(dataclasses.replace(self._filter, types=types))

    def set_view(self, *, unread_only: bool, types: frozenset[NotificationType] | None) -> None:
        """Set both filter parts at once (one reload)."""
        self.set_filter(ListFilter(unread_only=unread_only, types=types))

    def reload(self) -> None:
        """Drop the loaded rows and read the first page again."""
        self.beginResetModel()
        self._now = self._clock.now()
        self._rows = self._cache.page(self._filter, limit=self._page_size)
        self._ids = {n.id for n in self._rows}
        self._exhausted = len(self._rows) < self._page_size
        self._paged = self._page_size
        self.endResetModel()

    def canFetchMore(self, parent: ModelIndex = QModelIndex()) -> bool:  # noqa: B008 (Qt's own default)
        return not parent.isValid() and not self._exhausted

    def fetchMore(self, parent: ModelIndex = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid() or self._exhausted:
            return
        before = self._rows[-1].seq if self._rows else None
        page = self._cache.page(self._filter, before_seq=before, limit=self._page_size)
        page = [n for n in page if n.id not in self._ids]
        self._exhausted = len(page) < self._page_size
        self._paged = max(self._paged, len(self._rows)) + self._page_size
        if not page:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
        self._rows.extend(page)
        self._ids.update(n.id for n in page)
        self.endInsertRows()

    # ------------------------------------------------------------------ reading

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def notification_at(self, row: int) -> Notification | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, notification_id: str) -> int | None:
        if notification_id not in self._ids:
            return None
        for row, notification in enumerate(self._rows):
            if notification.id == notification_id:
                return row
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        names = dict(super().roleNames())
        names.update({int(role): QByteArray(role.name.lower().encode()) for role in Role})
        return names

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        n = self._rows[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Role.SUMMARY):
            return summary_line(n)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return accessible_text(n, relative_time(n.created_at, self._now))
        if role == Qt.ItemDataRole.ToolTipRole:
            return excerpt(n.message, 500)
        if role == Role.ID:
            return n.id
        if role == Role.SEQ:
            return n.seq
        if role == Role.TYPE:
            return n.type.value
        if role == Role.READ:
            return n.read
        if role == Role.MESSAGE:
            return n.message
        if role == Role.SENDER:
            return sender_name(n)
        if role == Role.CREATED_AT:
            return n.created_at
        if role == Role.RELATIVE_TIME:
            return relative_time(n.created_at, self._now)
        if role == Role.LINK:
            return n.link
        if role == Role.NOTIFICATION:
            return n
        return None

    # ------------------------------------------------------------------ updates

    def refresh_times(self) -> None:
        """Re-read the clock and repaint the relative times (and accessible text)."""
        self._now = self._clock.now()
        if self._rows:
            emit(
                self.dataChanged,
                self.index(0),
                self.index(len(self._rows) - 1),
                [int(Role.RELATIVE_TIME), int(Qt.ItemDataRole.AccessibleTextRole)],
            )

    def apply_change(self, change: CacheChange) -> None:
        if change.kind is ChangeKind.RESET:
            self.reload()
        elif change.kind is ChangeKind.READ_STATE and change.read is not None:
            self._apply_read_state(change.ids, change.read)
        elif change.kind is ChangeKind.DELETED:
            for notification_id in change.ids:
                self._remove(notification_id)
        elif change.kind is ChangeKind.UPSERTED:
            if len(change.notifications) > BULK_RELOAD:
                # A history page or a long replay: re-reading the first page is cheaper than
                # placing hundreds of rows one by one (each a search of the loaded rows).
                self.reload()
                return
            for notification in change.notifications:
                self._upsert(notification)
            self._drop_beyond_paged()

    def _apply_read_state(self, ids: tuple[str, ...], read: bool) -> None:
        wanted = self._ids.intersection(ids)
        if not wanted:
            return
        for row, notification in enumerate(self._rows):
            if notification.id in wanted and notification.read != read:
                self._rows[row] = dataclasses.replace(notification, read=read)
                index = self.index(row)
                emit(
                    self.dataChanged,
                    index,
                    index,
                    [
                        int(Role.READ),
                        int(Role.NOTIFICATION),
                        int(Qt.ItemDataRole.AccessibleTextRole),
                    ],
                )

    def _remove(self, notification_id: str) -> None:
        row = self.row_of(notification_id)
        if row is None:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._rows[row]
        self._ids.discard(notification_id)
        self.endRemoveRows()

    def _upsert(self, notification: Notification) -> None:
        self._remove(notification.id)
        if not matches(notification, self._filter):
            return
        # Rows are in descending seq order; find the slot by the negated seq.
        row = bisect.bisect_left(self._rows, -notification.seq, key=_newest_first)
        if row == len(self._rows) and not self._exhausted:
            return  # older than everything loaded: it comes with the next page
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.insert(row, notification)
        self._ids.add(notification.id)
        self.endInsertRows()

    def _drop_beyond_paged(self) -> None:
        """Hold no more rows than the agent has paged to; drop the oldest loaded ones (paging
        reads them again). Without this, an open list (the fallback window, where there is no
        tray) grew by every row a sync wrote, and the view's layout of all loaded rows after
        each change made a first sync of 100,000 take 267 s instead of under 10 s."""
        first = self._paged
        if len(self._rows) <= first:
            return
        self.beginRemoveRows(QModelIndex(), first, len(self._rows) - 1)
        self._ids.difference_update(n.id for n in self._rows[first:])
        del self._rows[first:]
        self._exhausted = False
        self.endRemoveRows()


def _newest_first(notification: Notification) -> int:
    return -notification.seq
