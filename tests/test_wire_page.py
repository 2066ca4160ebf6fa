"""The quick notification reader (``wire._quick_notification``) as a history page uses it,
with the page's shared senders and tickets, against the strict parser.

A page's rows are read in one pass each, sharing the senders and tickets a page repeats; it
must accept nothing the strict, field-by-field parser refuses and read what it accepts
exactly as that parser does, including when a row repeats a sender or ticket seen earlier on
the page with one field changed (the shared values are keyed by all their fields).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_wire import NOTIFICATION_PATHS, ODD_VALUES, Change, changed_notification

from notifier.core import wire
from notifier.core.wire import Notification, NotificationPage, WireError


def page_json(rows: list[Any]) -> dict[str, Any]:
    return {"notifications": rows, "unread_count": 1, "last_seq": 99, "has_more": False}


def strict_reading(rows: list[Any]) -> tuple[list[Notification], list[int | None]]:
    """What the page holds by the strict parser alone, row by row: the rows it accepts and
    the seqs (where readable) of those it refuses."""
    accepted: list[Notification] = []
    refused: list[int | None] = []
    for row in rows:
        try:
            accepted.append(Notification.parse_strictly(row))
        except WireError:
            refused.append(wire._readable_seq(row))
    return accepted, refused


def assert_page_reads_as_strict(rows: list[Any]) -> None:
    accepted, refused = strict_reading(rows)
    body = page_json(rows)
    page = NotificationPage.parse(json.dumps(body), skip_bad=True)
    assert list(page.notifications) == accepted, rows
    assert [seq for seq, _why in page.skipped] == refused, rows
    if refused:
        with pytest.raises(WireError, match=r"notifications\[\d+\]"):
            NotificationPage.parse(body)
    else:
        assert NotificationPage.parse(body).notifications == page.notifications
    # Row by row, what the page reader accepts is the strict reading; it may decline more
    # (the strict parser then decides), but never accept what the strict parser refuses.
    actors: dict[Any, Any] = {}
    tickets: dict[Any, Any] = {}
    for row in rows:
        quick = wire._quick_notification(row, actors, tickets)
        if quick is not None:
            assert quick == Notification.parse_strictly(row), row


def page_around(changed: dict[str, Any]) -> list[Any]:
    """A good row, the changed one with the same sender and ticket (so that those are shared
    from the first row when they are unchanged), and a good row after it."""
    first = changed_notification([])
    first["id"], first["seq"] = "n0", 1
    last = changed_notification([])
    last["id"], last["seq"] = "n2", 3
    changed = copy.deepcopy(changed)
    if isinstance(changed.get("seq"), int) and changed["seq"] == 7:
        changed["seq"] = 2
    return [first, changed, last]


def test_the_page_reader_agrees_with_the_strict_parser_field_by_field() -> None:
    for path in NOTIFICATION_PATHS:
        assert_page_reads_as_strict(page_around(changed_notification([(path, True, None)])))
        for value in ODD_VALUES:
            assert_page_reads_as_strict(page_around(changed_notification([(path, False, value)])))


@given(
    st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(NOTIFICATION_PATHS), st.booleans(), st.sampled_from(ODD_VALUES)
            ),
            min_size=0,
            max_size=3,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_the_page_reader_agrees_with_the_strict_parser_on_mixed_pages(
    rows_changes: list[list[Change]],
) -> None:
    # Several changed rows on one page: a row may repeat an earlier row's sender or ticket,
    # or differ from it in one field only.
    assert_page_reads_as_strict([changed_notification(changes) for changes in rows_changes])


def test_rows_not_objects_are_refused_by_the_strict_parser() -> None:
    assert_page_reads_as_strict([7, None, "row", [], changed_notification([])])


def test_the_common_rows_take_the_page_reader_and_share_senders_and_tickets() -> None:
    rows = []
    for seq in range(1, 7):
        row = changed_notification([])
        row["id"], row["seq"] = f"n{seq}", seq
        if seq % 2:
            row["from"] = row["comment"] = None
        rows.append(row)
    actors: dict[Any, Any] = {}
    tickets: dict[Any, Any] = {}
    read = [wire._quick_notification(row, actors, tickets) for row in rows]
    assert read == [Notification.parse_strictly(row) for row in rows]
    assert all(n is not None for n in read)
    assert len({id(n.ticket) for n in read if n is not None}) == 1
    assert len({id(n.sender) for n in read if n is not None and n.sender is not None}) == 1
    assert len(tickets) == len(actors) == 1


def test_a_shared_ticket_or_sender_does_not_stand_for_a_different_one() -> None:
    # The second row's ticket and sender differ from the first's in one field each: they are
    # checked and built on their own, not taken from the first row.
    good = changed_notification([])
    other = copy.deepcopy(good)
    other["id"], other["seq"] = "n2", 8
    other["ticket"]["subject"] = "Another subject"
    other["from"]["name"] = "Another name"
    bad = copy.deepcopy(good)
    bad["id"], bad["seq"] = "n3", 9
    bad["ticket"]["url"] = "javascript:alert(1)"
    page = NotificationPage.parse(page_json([good, other, bad]), skip_bad=True)
    assert [n.seq for n in page.notifications] == [7, 8]
    assert page.notifications[1].ticket.subject == "Another subject"
    assert page.notifications[1].sender is not None
    assert page.notifications[1].sender.name == "Another name"
    assert page.notifications[0].ticket.subject == good["ticket"]["subject"]
    assert [seq for seq, _why in page.skipped] == [9]
    assert "url" in page.skipped[0][1]


def test_the_page_reader_sets_every_field_and_skips_no_init_of_the_class() -> None:
    # It builds a Notification slot by slot: a field added to the class, or a __post_init__,
    # needs it changed too.
    assert tuple(field.name for field in dataclasses.fields(Notification)) == (
        wire._PAGE_ROW_FIELDS
    )
    assert not hasattr(Notification, "__post_init__")
