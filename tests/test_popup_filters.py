"""The popup's filters: each action does what its label says under the current filter, the
counts above the list agree with the list, rows that are read leave the "Unread" list at once,
and an empty list says why and offers the change of filter that shows something. Offscreen,
the real controller (signed out: actions apply to the real SQLite cache) and the real panel.
"""

from __future__ import annotations

import pytest
from popup_rig import SERVER, Rig
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from tray_fakes import fill_cache, make_notification

from notifier.app.list_model import ScopeCounts
from notifier.core.wire import NotificationType
from notifier.store.cache import ListFilter, NotificationCache
from notifier.ui.popup import TYPE_CHOICES, Widen, empty_state, header_text

A, M, R = NotificationType.ASSIGNMENT, NotificationType.MENTION, NotificationType.REACTION


def mixed(cache: NotificationCache) -> None:
    """Two unread and one read of each type (seq 1-9)."""
    fill_cache(
        cache,
        [
            make_notification(seq, type=kind, read=seq % 3 == 0, server=SERVER)
            for seq, kind in zip(range(1, 10), [A, A, A, M, M, M, R, R, R], strict=True)
        ],
    )


def unread_of(cache: NotificationCache, kind: NotificationType) -> int:
    return cache.count(ListFilter(unread_only=True, types=frozenset({kind})))


def of_type(cache: NotificationCache, kind: NotificationType) -> int:
    return cache.count(ListFilter(types=frozenset({kind})))


def choose(rig: Rig, show: str, types: str) -> None:
    rig.panel.show_filter.setCurrentText(show)
    rig.panel.type_filter.setCurrentText(types)


def everything_loaded(rig: Rig) -> int:
    while rig.model.canFetchMore():
        rig.model.fetchMore()
    return rig.model.rowCount()


def test_mark_all_read_under_mentions_marks_only_mentions(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    mixed(cache)
    rig = Rig(qtbot, cache)
    choose(rig, "All", "Mentions")
    button = rig.panel.mark_all_button
    assert button.text() == "Mark all mentions read"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert unread_of(cache, M) == 0
    assert unread_of(cache, A) == 2 and unread_of(cache, R) == 2  # the others untouched
    assert rig.panel.count_label.text() == "0 unread mentions"
    assert not button.isEnabled()
    # All types: the label says all, and it marks all.
    choose(rig, "All", "All types")
    assert rig.panel.count_label.text() == "4 unread"
    assert button.text() == "Mark all read" and button.isEnabled()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert cache.unread_count() == 0


def test_clear_read_under_a_type_clears_only_that_type(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    mixed(cache)
    rig = Rig(qtbot, cache)
    choose(rig, "All", "Assignments")
    button = rig.panel.clear_read_button
    assert button.text() == "Clear read assignments"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert of_type(cache, A) == 2  # the read one is gone, the two unread stay
    assert of_type(cache, M) == 3 and of_type(cache, R) == 3
    assert not button.isEnabled()  # nothing read of this type is left
    assert everything_loaded(rig) == 2


@pytest.mark.parametrize(("show", "types"), [("Unread", "Mentions"), ("Unread", "All types")])
def test_counts_agree_with_the_list_and_read_rows_leave_unread_at_once(
    qtbot: QtBot, cache: NotificationCache, show: str, types: str
) -> None:
    mixed(cache)
    rig = Rig(qtbot, cache)
    choose(rig, show, types)
    shown = everything_loaded(rig)
    assert rig.panel.count_label.text().startswith(f"{shown} unread")
    # Open the first row (a click marks it read): it leaves the Unread list there and then,
    # and the count above the list goes down with it.
    first = rig.ids()[0]
    qtbot.mouseClick(
        rig.panel.list_view.viewport(), Qt.MouseButton.LeftButton, pos=rig.row_rect(0).center()
    )
    assert rig.read(first)
    assert first not in rig.ids()
    assert rig.model.rowCount() == shown - 1
    assert rig.panel.count_label.text().startswith(f"{shown - 1} unread")
    # The hover button and the keyboard too.
    rig.panel.list_view.setCurrentIndex(rig.model.index(0))
    qtbot.keyClick(rig.panel.list_view, Qt.Key.Key_R)
    assert rig.model.rowCount() == shown - 2
    assert rig.panel.count_label.text().startswith(f"{shown - 2} unread")


def test_the_reported_case_says_why_the_list_is_empty_and_how_to_widen_it(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    """Mentions + Unread kept from an earlier opening, one unread assignment: the header said
    "1 unread" above an empty list whose footer said "No unread notifications"."""
    fill_cache(cache, [make_notification(1, type=A), make_notification(2, type=M, read=True)])
    rig = Rig(qtbot, cache)
    choose(rig, "Unread", "Mentions")
    rig.panel.hide()  # kept across openings
    rig.panel.show()
    panel = rig.panel
    assert rig.model.rowCount() == 0
    assert panel.count_label.text() == "0 unread mentions"
    assert panel.empty_state.isVisibleTo(panel)
    assert panel.empty_label.text() == "No unread mentions"
    assert panel.empty_detail.text() == "1 notification of other types is unread."
    assert panel.widen_button.text() == "Show all types"
    qtbot.mouseClick(panel.widen_button, Qt.MouseButton.LeftButton)
    assert panel.type_filter.currentText() == "All types"
    assert panel.show_filter.currentText() == "Unread"
    assert rig.ids() == ["n1"]
    assert panel.count_label.text() == "1 unread"
    assert not panel.empty_state.isVisibleTo(panel)


def test_all_caught_up_offers_the_read_ones(qtbot: QtBot, cache: NotificationCache) -> None:
    fill_cache(cache, [make_notification(1, type=M, read=True)])
    rig = Rig(qtbot, cache)
    choose(rig, "Unread", "All types")
    panel = rig.panel
    assert panel.empty_label.text() == "No unread notifications"
    assert panel.empty_detail.text() == "You are all caught up."
    assert panel.widen_button.text() == "Show read ones too"
    qtbot.mouseClick(panel.widen_button, Qt.MouseButton.LeftButton)
    assert panel.show_filter.currentText() == "All"
    assert rig.ids() == ["n1"]


def test_a_new_agent_is_told_what_will_show_up(qtbot: QtBot, cache: NotificationCache) -> None:
    rig = Rig(qtbot, cache)
    panel = rig.panel
    assert panel.empty_label.text() == "No notifications yet"
    assert "assigned to you" in panel.empty_detail.text()
    assert not panel.widen_button.isVisibleTo(panel)
    assert not panel.mark_all_button.isEnabled() and not panel.clear_read_button.isEnabled()


def counts(unread: int, read: int, unread_elsewhere: int, read_elsewhere: int) -> ScopeCounts:
    return ScopeCounts(unread, read, unread_elsewhere, read_elsewhere)


MENTIONS = next(c for c in TYPE_CHOICES if c.label == "Mentions")
ALL = TYPE_CHOICES[0]
CAUGHT_UP = "You are all caught up."
TWO_UNREAD = "2 notifications of other types are unread."
ONE_IN_LIST = "1 notification of other types is in the list."


@pytest.mark.parametrize(
    ("choice", "unread_only", "scope", "title", "detail", "widen"),
    [
        (ALL, False, counts(0, 0, 0, 0), "No notifications yet", None, None),
        (ALL, True, counts(0, 3, 0, 0), "No unread notifications", CAUGHT_UP, Widen.READ),
        (MENTIONS, True, counts(0, 0, 2, 1), "No unread mentions", TWO_UNREAD, Widen.TYPES),
        (MENTIONS, True, counts(0, 2, 0, 5), "No unread mentions", CAUGHT_UP, Widen.READ),
        (MENTIONS, True, counts(0, 0, 0, 5), "No unread mentions", CAUGHT_UP, Widen.EVERYTHING),
        (MENTIONS, False, counts(0, 0, 1, 0), "No mentions", ONE_IN_LIST, Widen.TYPES),
    ],
)
def test_empty_state_words(
    choice: object,
    unread_only: bool,
    scope: ScopeCounts,
    title: str,
    detail: str | None,
    widen: Widen | None,
) -> None:
    state = empty_state(choice, unread_only, scope)  # type: ignore[arg-type]
    assert state.title == title
    if detail is not None:
        assert state.detail == detail
    assert state.widen is widen


def test_header_words() -> None:
    assert header_text(ALL, counts(3, 0, 0, 0)) == "3 unread"
    assert header_text(MENTIONS, counts(1, 0, 4, 0)) == "1 unread mention"
    assert header_text(MENTIONS, counts(0, 0, 4, 0)) == "0 unread mentions"
