"""New arrivals while the pointer is over the list: the row under the pointer stays where it
is, a "N new" button at the top says how many wait, and they go in when the pointer leaves,
when the list is scrolled back to the top, or on a click on the button. Offscreen, the real
model and panel over a real SQLite cache, changes published as the engine publishes them."""

from __future__ import annotations

import dataclasses

from popup_rig import SERVER, Rig
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from tray_fakes import fill_cache, make_notification

from notifier.app.list_model import BULK_RELOAD, Role
from notifier.core.status import CacheChange, ChangeKind
from notifier.store.cache import NotificationCache


def arrive(rig: Rig, *seqs: int, **fields: object) -> None:
    notifications = [make_notification(seq, server=SERVER, **fields) for seq in seqs]  # type: ignore[arg-type]
    fill_cache(rig.controller.cache, notifications)
    rig.controller.on_change(CacheChange(ChangeKind.UPSERTED, notifications=tuple(notifications)))


def point_at_row(qtbot: QtBot, rig: Rig, row: int) -> QPoint:
    """Move the pointer onto ``row`` (the view gets its Enter, as from the window system)."""
    position = rig.row_rect(row).center()
    QApplication.sendEvent(rig.panel.list_view, QEvent(QEvent.Type.Enter))
    qtbot.mouseMove(rig.panel.list_view.viewport(), position)
    return position


def id_at(rig: Rig, position: QPoint) -> str:
    return str(rig.model.data(rig.panel.list_view.indexAt(position), Role.ID))


def leave(rig: Rig) -> None:
    QApplication.sendEvent(rig.panel.list_view, QEvent(QEvent.Type.Leave))


def test_an_arrival_under_the_pointer_waits_behind_n_new(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    fill_cache(cache, [make_notification(s, server=SERVER) for s in (1, 2, 3)])
    rig = Rig(qtbot, cache)
    panel = rig.panel
    position = point_at_row(qtbot, rig, 1)
    under = id_at(rig, position)
    assert under == "n2"
    arrive(rig, 4)
    arrive(rig, 5)
    assert id_at(rig, position) == under  # nothing moved under the pointer
    assert rig.ids() == ["n3", "n2", "n1"]
    assert panel.new_button.isVisibleTo(panel)
    assert panel.new_button.text() == "↑ 2 new"
    assert panel.new_button.geometry().top() < rig.row_rect(0).center().y()  # at the top
    # The pointer leaves the list: they go in, newest first, and the button goes.
    leave(rig)
    assert rig.ids() == ["n5", "n4", "n3", "n2", "n1"]
    assert not panel.new_button.isVisibleTo(panel)


def test_a_click_on_n_new_lets_them_in_and_holding_goes_on(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    fill_cache(cache, [make_notification(s, server=SERVER) for s in (1, 2)])
    rig = Rig(qtbot, cache)
    panel = rig.panel
    point_at_row(qtbot, rig, 0)
    arrive(rig, 3)
    qtbot.mouseClick(panel.new_button, Qt.MouseButton.LeftButton)
    assert rig.ids() == ["n3", "n2", "n1"]
    assert not panel.new_button.isVisibleTo(panel)
    # The pointer is still over the list: the next one waits again.
    arrive(rig, 4)
    assert rig.ids() == ["n3", "n2", "n1"]
    assert panel.new_button.text() == "↑ 1 new"


def test_scrolling_back_to_the_top_lets_them_in(qtbot: QtBot, cache: NotificationCache) -> None:
    fill_cache(cache, [make_notification(s, server=SERVER) for s in range(1, 31)])
    rig = Rig(qtbot, cache)
    view = rig.panel.list_view
    point_at_row(qtbot, rig, 0)
    view.verticalScrollBar().setValue(200)
    arrive(rig, 31)
    assert rig.ids()[0] == "n30"
    view.verticalScrollBar().setValue(0)
    assert rig.ids()[0] == "n31"


def test_held_rows_follow_deletes_reads_and_folds(qtbot: QtBot, cache: NotificationCache) -> None:
    fill_cache(cache, [make_notification(s, server=SERVER) for s in (1, 2, 3)])
    rig = Rig(qtbot, cache)
    panel = rig.panel
    panel.show_filter.setCurrentText("Unread")
    position = point_at_row(qtbot, rig, 2)
    arrive(rig, 4, 5, 6)
    assert panel.new_button.text() == "↑ 3 new"
    rig.controller.delete("n4")  # deleted meanwhile (the web UI, another device)
    assert panel.new_button.text() == "↑ 2 new"
    rig.controller.mark_read("n5")  # read meanwhile: not for the Unread list any more
    assert panel.new_button.text() == "↑ 1 new"
    # A fold re-issues a loaded row with a higher seq: new words in place, the move waits.
    folded = dataclasses.replace(
        make_notification(3, server=SERVER, message="3 people reacted"), seq=7
    )
    fill_cache(cache, [folded])
    rig.controller.on_change(CacheChange(ChangeKind.UPSERTED, notifications=(folded,)))
    assert rig.ids() == ["n3", "n2", "n1"]
    assert id_at(rig, position) == "n1"
    assert panel.new_button.text() == "↑ 1 new"  # a fold is not new
    leave(rig)
    assert rig.ids() == ["n3", "n6", "n2", "n1"]


def test_a_big_replay_waits_too_and_comes_as_one_reload(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    fill_cache(cache, [make_notification(s, server=SERVER) for s in (1, 2)])
    rig = Rig(qtbot, cache)
    panel = rig.panel
    position = point_at_row(qtbot, rig, 1)
    arrive(rig, *range(10, 10 + BULK_RELOAD + 1))
    assert id_at(rig, position) == "n1"
    assert panel.new_button.text() == f"↑ {BULK_RELOAD + 1} new"
    with qtbot.waitSignal(rig.model.modelReset, timeout=1000):
        leave(rig)
    assert rig.ids()[0] == f"n{10 + BULK_RELOAD}"
    assert rig.model.rowCount() == BULK_RELOAD + 3


def test_without_the_pointer_arrivals_go_straight_in(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    fill_cache(cache, [make_notification(1, server=SERVER)])
    rig = Rig(qtbot, cache)
    arrive(rig, 2)
    assert rig.ids() == ["n2", "n1"]
    assert not rig.panel.new_button.isVisibleTo(rig.panel)
