"""An open list must not make a sync's cost grow with the rows it holds.

Without a tray the fallback window shows the list all the time, so a first sign-in writes its
whole history into an open list: measured on the old code, 100,000 notifications took 267 s
(the rate falling from 2,600 to 430 rows a second) against under 10 s with a tray, because
every applied page added its rows to the model and the view then laid out all of them. The
work is counted here (rows held, the view's calls into the model per page), never timed.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex
from PySide6.QtWidgets import QApplication, QListView
from pytestqt.qtbot import QtBot
from tray_fakes import FakeClock, make_notification

from notifier.app.list_model import BULK_RELOAD, NotificationListModel, Role
from notifier.core.wire import NotificationPage
from notifier.store.cache import NotificationCache
from notifier.sync.engine import changes_for

PAGE = 20  # the model's page size here: small, so that the pages below are many times it
PAGES = 40  # slices applied, as the engine applies a first sign-in's history
# Rows per slice: the most the model still places row by row (a bigger change reloads the
# first page instead), the path where the list grew.
SLICE = BULK_RELOAD


class CountingModel(NotificationListModel):
    """The real model, counting the view's calls into it (its work per change)."""

    calls = 0

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        self.calls += 1
        return super().rowCount(parent)


def apply_history_slice(
    cache: NotificationCache, model: NotificationListModel, first_seq: int
) -> None:
    """A slice of a REST history page, written and published the way the engine does."""
    rows = tuple(make_notification(seq) for seq in range(first_seq, first_seq + SLICE))
    page = NotificationPage(notifications=rows, unread_count=0, last_seq=10**6, has_more=True)
    for change in changes_for(cache.apply_page(page), replay=True):
        model.apply_change(change)


def seqs(model: NotificationListModel) -> list[int]:
    return [model.data(model.index(row), Role.SEQ) for row in range(model.rowCount())]


def test_an_open_list_holds_what_was_paged_to_while_a_sync_writes(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    model = CountingModel(cache, FakeClock(), page_size=PAGE)
    model.reload()
    view = QListView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(400, 300)
    view.show()
    held: list[int] = []
    work: list[int] = []
    for index in range(PAGES):
        model.calls = 0
        apply_history_slice(cache, model, 1 + index * SLICE)
        QApplication.processEvents()  # the view lays out and paints, as the event loop would
        held.append(model.rowCount())
        work.append(model.calls)
    # The model holds what the view paged to (its first page, and one more to fill the
    # viewport), however many rows the sync wrote: on the old code, every row written.
    assert set(held) == {held[0]} and held[0] < 3 * PAGE, held
    # So the view's work per page stays what it was on the first pages instead of growing
    # with the rows written so far (on the old code ~40x from the first page to the last).
    assert max(work[-5:]) <= 2 * max(work[:5]), work
    total = PAGES * SLICE
    assert seqs(model) == list(range(total, total - held[0], -1))  # the newest, in order

    # Scrolling down reads the rows pushed out again: every one, once, in order.
    while model.canFetchMore():
        model.fetchMore()
    assert seqs(model) == list(range(total, 0, -1))


def test_rows_paged_to_stay_loaded_as_new_ones_arrive(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    cache.apply_page(
        NotificationPage(
            notifications=tuple(make_notification(seq) for seq in range(1, 101)),
            unread_count=0,
            last_seq=100,
            has_more=False,
        )
    )
    model = NotificationListModel(cache, FakeClock(), page_size=PAGE)
    model.reload()
    model.fetchMore()
    model.fetchMore()  # the agent scrolled down three pages
    assert model.rowCount() == 3 * PAGE
    apply_history_slice(cache, model, 101)
    # As many rows as the agent paged to, the newest first; the older ones come on scrolling.
    assert seqs(model) == list(range(100 + SLICE, 100 + SLICE - 3 * PAGE, -1))
    assert model.canFetchMore()
