"""The popup's Qt list model over the SQLite cache: lazy, keyset-paged, updated in place.

Only loaded rows live in memory. A reset (opening the popup, changing the filter) reads the
first page, newest first; the view asks for more with ``canFetchMore``/``fetchMore`` as the
agent scrolls, and each page is one indexed query ``seq < last loaded seq``
(:meth:`NotificationCache.page`), so page 1,000 costs what page 1 costs. Opening over 100,000
cached notifications therefore reads 100 rows (benchmarks/popup.py measures it).

The engine's :class:`~notifier.core.status.CacheChange` arrives through
:meth:`NotificationListModel.apply_change` and is turned into the smallest model update:

* READ_STATE: the row stays where it is and emits ``dataChanged``; under the "Unread" filter
  a row that became read leaves at once and one that became unread comes in (the list always
  shows what its filter says, so the counts above it agree with it);
* DELETED: ``beginRemoveRows`` for each loaded row;
* UPSERTED: a row already loaded is removed and the new version inserted in seq order (a fold
  such as "3 people reacted" moves it to the top); a new one is inserted in seq order when it
  matches the filter and falls within the loaded range (older ones arrive with paging); a
  batch of more than :data:`BULK_RELOAD` (a history page, a long replay) resets instead,
  or while the engine catches up, marks the rows stale for the app's next catch-up tick
  (:meth:`NotificationListModel.defer_bulk_reloads`).
  The model never holds more rows than the agent has paged to: rows arriving on top push
  the oldest loaded ones out, and paging reads them again (see ``_drop_beyond_paged``);
* RESET: a full model reset.

While the agent's pointer is over the list, :meth:`hold_arrivals` holds rows that would be
inserted (a new arrival, a fold moving a row to the top): a row must not move under the
pointer. They wait, counted by ``heldChanged`` (the popup shows "N new"), and go in when the
hold is released; a held row that is deleted or read meanwhile is dropped or updated.

``arrived`` tells the popup what is news, for a screen reader (held or not): unread rows of
the filter, from the helpdesk (not the agent's own actions), newer than every notification
the model has seen (so a fold moving a row to the top is news, an older history page is not).

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
    Signal,
)

from notifier.core.ports import Clock
from notifier.core.status import CacheChange, ChangeKind
from notifier.core.text import (
    excerpt,
    headline,
    icon_name,
    one_line,
    relative_time,
    summary_line,
    ticket_label,
)
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
    HEADLINE = Qt.ItemDataRole.UserRole + 12  # who did what: "Bea assigned you"
    TICKET = Qt.ItemDataRole.UserRole + 13  # which ticket: "#2 Invoice shows the wrong VAT"
    ICON = Qt.ItemDataRole.UserRole + 14  # the icon's name in resources/ (see icon_name)


@dataclasses.dataclass(frozen=True, slots=True)
class ScopeCounts:
    """Counts for the list's type filter (all types when it has none), whatever "Unread" says:
    what the popup's header, its actions and its empty state talk about."""

    unread: int  # unread notifications of the filtered types
    read: int  # read ones of those types
    unread_elsewhere: int  # unread notifications of the other types
    read_elsewhere: int  # read ones of the other types

    @property
    def nothing_at_all(self) -> bool:
        return not (self.unread or self.read or self.unread_elsewhere or self.read_elsewhere)


def matches(notification: Notification, list_filter: ListFilter) -> bool:
    if list_filter.unread_only and notification.read:
        return False
    return list_filter.types is None or notification.type in list_filter.types


def sender_name(notification: Notification) -> str:
    if notification.sender is None:
        return "Helpdesk"
    return one_line(notification.sender.name) or "Someone"


def tooltip_text(notification: Notification, when: str) -> str:
    """The whole row in words, for the hover tooltip (the painted row elides)."""
    lines = [summary_line(notification)]
    message = excerpt(notification.message, 500)
    if message:
        lines.append(message)
    lines.append(f"{sender_name(notification)} · {when}")
    return "\n".join(lines)


def accessible_text(notification: Notification, when: str) -> str:
    """What a screen reader says for one row, in the order the row shows it: "Unread. Bea
    Baker assigned you #2 Invoice shows the wrong VAT rate. 3 minutes ago. Can you look?"
    (who did it is in the headline already, and the time comes before a long message)."""
    state = "Read" if notification.read else "Unread"
    parts = [state, summary_line(notification), when[:1].upper() + when[1:]]
    parts.append(excerpt(notification.message, 300))
    return " ".join(_sentence(part) for part in parts if part)


def _sentence(text: str) -> str:
    """``text`` ending as a sentence: a full stop unless it has its own ("Can you look?")."""
    return text if text.endswith((".", "?", "!", "…", ":")) else f"{text}."


class NotificationListModel(QAbstractListModel):
    """Rows are :class:`Notification` values, newest (highest seq) first."""

    heldChanged = Signal(int)  # how many new rows wait for the hold to end (see hold_arrivals)
    # How many new unread rows of the filter arrived in one change, and the row when there is
    # only one (a Notification, else None); see spoken_text.
    arrived = Signal(int, object)

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
        self._holding = False
        self._held: dict[str, Notification] = {}  # id -> the version to insert on release
        self._held_batch = 0  # how many new rows a held big batch brought (for "N new")
        # A batch too big to place row by row is not shown yet: it arrived during the hold
        # (reloaded on release) or while the engine catches up (see defer_bulk_reloads).
        self._stale = False
        self._defer_bulk = False
        self._newest_seq = 0  # the newest notification seen, for what is news (``arrived``)

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
        """Drop the loaded rows and read the first page again (held arrivals included)."""
        self.beginResetModel()
        self._now = self._clock.now()
        self._rows = self._cache.page(self._filter, limit=self._page_size)
        self._ids = {n.id for n in self._rows}
        self._exhausted = len(self._rows) < self._page_size
        self._paged = self._page_size
        if self._rows:
            self._newest_seq = max(self._newest_seq, self._rows[0].seq)
        self.endResetModel()
        self._stale = False
        self._set_held({}, batch=0)

    def defer_bulk_reloads(self, defer: bool) -> None:
        """While the engine catches up (a first sign-in, a replay), a batch too big to place
        row by row only marks the rows stale instead of re-reading them: every slice of a
        history page re-read and repainted the list (benchmarks/README.md, "First sign-in").
        The app calls :meth:`reload_if_stale` a few times a second meanwhile; turning the
        deferral off (the engine is live) reloads at once when the rows are stale."""
        self._defer_bulk = defer
        if not defer:
            self.reload_if_stale()

    @property
    def stale(self) -> bool:
        """A big batch is not shown yet: held, or deferred (see :meth:`defer_bulk_reloads`)."""
        return self._stale

    def reload_if_stale(self) -> None:
        """Re-read the rows if a deferred batch is not shown yet, unless the pointer holds
        the list (the hold's release reloads then)."""
        if self._stale and not self._holding:
            self.reload()

    def scope_counts(self) -> ScopeCounts:
        """Unread and read counts for the current type filter, from the cache."""
        types = self._filter.types
        unread_all, total_all = self._cache.unread_count(), self._cache.count()
        if types is None:
            unread, total = unread_all, total_all
        else:
            unread = self._cache.count(ListFilter(unread_only=True, types=types))
            total = self._cache.count(ListFilter(types=types))
        return ScopeCounts(
            unread=unread,
            read=total - unread,
            unread_elsewhere=unread_all - unread,
            read_elsewhere=(total_all - total) - (unread_all - unread),
        )

    # ------------------------------------------------------------------ holding arrivals

    @property
    def held_count(self) -> int:
        """New rows waiting for the hold to end (folds of loaded rows are not new)."""
        return self._held_batch + sum(1 for i in self._held if i not in self._ids)

    def hold_arrivals(self, hold: bool) -> None:
        """Hold (True) or insert (False) the rows that would be inserted."""
        self._holding = hold
        if hold:
            return
        if self._stale:
            self.reload()  # also forgets what was held
            return
        if not self._held:
            return
        waiting = sorted(self._held.values(), key=lambda n: n.seq)
        self._set_held({})
        for notification in waiting:
            self._upsert(notification)

    def _set_held(self, held: dict[str, Notification], batch: int | None = None) -> None:
        before = self.held_count
        self._held = held
        if batch is not None:
            self._held_batch = batch
        if self.held_count != before:
            self.heldChanged.emit(self.held_count)

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
            return tooltip_text(n, relative_time(n.created_at, self._now))
        if role == Role.HEADLINE:
            return headline(n)
        if role == Role.TICKET:
            return ticket_label(n)
        if role == Role.ICON:
            return icon_name(n)
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
            self.dataChanged.emit(
                self.index(0),
                self.index(len(self._rows) - 1),
                [int(Role.RELATIVE_TIME), int(Qt.ItemDataRole.AccessibleTextRole)],
            )

    def spoken_text(self, notification: Notification) -> str:
        """What a screen reader says for ``notification``'s row (``AccessibleTextRole``)."""
        return accessible_text(notification, relative_time(notification.created_at, self._now))

    def apply_change(self, change: CacheChange) -> None:
        if change.kind is ChangeKind.RESET:
            self._newest_seq = 0  # a new cache (another account): its seqs start anew
            self.reload()
        elif change.kind is ChangeKind.READ_STATE and change.read is not None:
            self._apply_read_state(change.ids, change.read)
        elif change.kind is ChangeKind.DELETED:
            self._set_held({i: n for i, n in self._held.items() if i not in change.ids})
            for notification_id in change.ids:
                self._remove(notification_id)
        elif change.kind is ChangeKind.UPSERTED:
            news = self._news(change)
            self._apply_upserts(change)
            if news:
                count, first = news
                self.arrived.emit(count, first if count == 1 else None)

    def _news(self, change: CacheChange) -> tuple[int, Notification] | None:
        """(how many, the first) of ``change``'s notifications that are news (``arrived``)."""
        newest = self._newest_seq
        self._newest_seq = max(newest, max((n.seq for n in change.notifications), default=0))
        if change.local:
            return None
        count, first = 0, None
        for n in change.notifications:
            if n.seq > newest and not n.read and matches(n, self._filter):
                count += 1
                first = first or n
        return (count, first) if first is not None else None

    def _apply_upserts(self, change: CacheChange) -> None:
        if len(change.notifications) > BULK_RELOAD:
            # A history page or a long replay: re-reading the first page is cheaper than
            # placing hundreds of rows one by one (each a search of the loaded rows).
            if self._holding:
                arrived = sum(
                    1
                    for n in change.notifications
                    if n.id not in self._ids and matches(n, self._filter)
                )
                self._stale = True
                self._set_held(self._held, batch=self._held_batch + arrived)
                return
            if self._defer_bulk:
                self._stale = True
                return
            self.reload()
            return
        for notification in change.notifications:
            self._upsert(notification)
        self._drop_beyond_paged()

    def _apply_read_state(self, ids: tuple[str, ...], read: bool) -> None:
        held = {
            i: dataclasses.replace(n, read=read) if i in ids else n for i, n in self._held.items()
        }
        self._set_held(
            {i: n for i, n in held.items() if matches(n, self._filter) or i in self._ids}
        )
        if self._filter.unread_only:
            self._apply_read_state_unread_only(ids, read)
            return
        wanted = self._ids.intersection(ids)
        if not wanted:
            return
        for row, notification in enumerate(self._rows):
            if notification.id in wanted and notification.read != read:
                self._rows[row] = dataclasses.replace(notification, read=read)
                index = self.index(row)
                self.dataChanged.emit(
                    index,
                    index,
                    [
                        int(Role.READ),
                        int(Role.NOTIFICATION),
                        int(Qt.ItemDataRole.AccessibleTextRole),
                    ],
                )

    def _apply_read_state_unread_only(self, ids: tuple[str, ...], read: bool) -> None:
        """Under "Unread": rows that became read leave, rows that became unread come in."""
        if len(ids) > BULK_RELOAD:  # mark all read: one reset, not a removal per row
            self.reload()
            return
        for notification_id in ids:
            if read:
                self._remove(notification_id)
            elif notification_id not in self._ids:
                notification = self._cache.get(notification_id)
                if notification is not None:
                    self._upsert(notification)

    def _remove(self, notification_id: str) -> None:
        row = self.row_of(notification_id)
        if row is None:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._rows[row]
        self._ids.discard(notification_id)
        self.endRemoveRows()

    def _hold(self, notification: Notification) -> None:
        """Keep every row where it is: update a loaded one in place, and hold the move (or
        the arrival) until the pointer leaves the list."""
        held = dict(self._held)
        held.pop(notification.id, None)
        if not matches(notification, self._filter):
            self._remove(notification.id)
        else:
            row = self.row_of(notification.id)
            if row is not None:
                # New content, old place: the old seq keeps the loaded rows in seq order
                # (paging continues from the last row's seq) until the release moves it.
                self._rows[row] = dataclasses.replace(notification, seq=self._rows[row].seq)
                self.dataChanged.emit(self.index(row), self.index(row), [])
            held[notification.id] = notification
        self._set_held(held)

    def _upsert(self, notification: Notification) -> None:
        if self._holding:
            self._hold(notification)
            return
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
        tray) grew by every row a sync wrote, and the view laid out all loaded rows after each
        change: a first sync's cost grew with the rows it had written (benchmarks/README.md,
        "First sign-in")."""
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
