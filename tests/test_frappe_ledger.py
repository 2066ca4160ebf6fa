"""The Frappe adapter's ledger (notifier/client/frappe_ledger.py) on real SQLite files: its
numbers, its replay, and when it refuses a cursor."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.client.frappe_ledger import Ledger, SiteRow
from notifier.core.wire import DeletedEvent, Notification, NotificationType, TicketRef
from notifier.store.cache import NotificationCache

OWNER = "https://hd.example hd.example bea@example.com"


def row(name: str, version: int = 0, *, read: bool = False) -> SiteRow:
    notification = Notification(
        id=name,
        seq=1,
        type=NotificationType.ASSIGNMENT,
        sender=None,
        to="bea@example.com",
        ticket=TicketRef("7", f"v{version}", "https://hd.example/helpdesk/tickets/7"),
        comment=None,
        message=f"version {version}",
        read=read,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    return SiteRow(name, read, f"2026-01-01 00:00:0{version}", f"fp{version}", notification)


def test_numbers_grow_and_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger.open(path, OWNER)
    start = ledger.head
    assert ledger.floor == start > 1_700_000_000_000  # milliseconds: never an old number
    [created] = ledger.apply([row("a")])
    [read] = ledger.apply([row("a", read=True)])
    assert ledger.apply([row("a", read=True)]) == []  # unchanged: nothing
    assert created.seq == start + 1 and read.seq == start + 2
    ledger.close()
    reopened = Ledger.open(path, OWNER)
    assert reopened.head == start + 2
    [deleted] = reopened.remove(["a"])
    assert deleted.seq == start + 3
    reopened.close()


def test_another_owner_or_a_broken_file_starts_a_fresh_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger.open(path, OWNER)
    ledger.apply([row("a"), row("b")])
    head = ledger.head
    ledger.close()
    other = Ledger.open(path, OWNER.replace("bea@", "cat@"))
    assert other.row_count() == 0 and not other.knows_cursor(head)
    other.close()
    path.write_bytes(b"not a database at all" * 100)
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    broken = Ledger.open(path, OWNER)
    assert broken.row_count() == 0
    broken.close()


def test_cursors_outside_floor_and_head_are_refused(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "ledger.sqlite3", OWNER)
    ledger.apply([row("a")])
    assert ledger.knows_cursor(0)
    assert ledger.knows_cursor(ledger.floor) and ledger.knows_cursor(ledger.head)
    assert not ledger.knows_cursor(ledger.floor - 1)
    assert not ledger.knows_cursor(ledger.head + 1)
    ledger.close()


def test_hidden_rows_stay_hidden_and_their_changes_are_silent(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "ledger.sqlite3", OWNER)
    created, _b = ledger.apply([row("a"), row("b")])
    [hidden] = ledger.hide(["a"])
    assert hidden.ids == ("a",)
    assert ledger.apply([row("a", read=True)]) == []
    assert ledger.apply([row("a", 1)]) == []  # new content: still dismissed
    # ... and a cache that saw only the creation still learns it is gone (found by the
    # replay property below: the edit used to drop the tombstone).
    assert [e.ids for e in ledger.replay(created.seq) if isinstance(e, DeletedEvent)] == [("a",)]
    assert ledger.remove(["a"]) == []  # gone from the site: already gone from the tray
    assert [n.id for n in ledger.page(0, 10)[0]] == ["b"]
    ledger.close()


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["create", "edit", "read", "unread", "delete", "hide"]),
        st.integers(min_value=0, max_value=4),
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=OPERATIONS, split=st.floats(min_value=0, max_value=1))
def test_a_replay_after_any_cursor_gives_the_same_cache_as_the_whole_log(
    tmp_path_factory: object, operations: list[tuple[str, int]], split: float
) -> None:
    folder: Path = tmp_path_factory.mktemp("ledger")  # type: ignore[attr-defined]
    ledger = Ledger.open(folder / "ledger.sqlite3", OWNER)
    site: dict[str, tuple[int, bool]] = {}  # name → (content version, read)
    hidden: set[str] = set()
    log = []
    for operation, index in operations:
        name = f"n{index}"
        if operation == "create" and name not in site:
            site[name] = (0, False)
            log += ledger.apply([row(name)])
        elif name not in site:
            continue
        elif operation == "edit":
            version, read = site[name]
            site[name] = (version + 1, read)
            log += ledger.apply([row(name, version + 1, read=read)])
        elif operation in ("read", "unread"):
            version, _read = site[name]
            site[name] = (version, operation == "read")
            log += ledger.apply([row(name, version, read=operation == "read")])
        elif operation == "delete":
            del site[name]
            hidden.discard(name)
            log += ledger.remove([name])
        elif operation == "hide":
            hidden.add(name)
            log += ledger.hide([name])
    expected = sorted((name, read) for name, (_v, read) in site.items() if name not in hidden)
    whole = NotificationCache.open(folder / "whole.sqlite3")
    whole.apply_events(log)
    assert sorted((n.id, n.read) for n in whole.all_notifications()) == expected
    assert whole.cursor() == (ledger.head if log else 0)
    # A cache that stopped part-way, then resumed with the ledger's replay.
    partial = NotificationCache.open(folder / "partial.sqlite3")
    partial.apply_events(log[: int(len(log) * split)])
    partial.apply_events(ledger.replay(partial.cursor()))
    assert sorted((n.id, n.read) for n in partial.all_notifications()) == expected
    # And one that starts from nothing with a page-through.
    paged, _more = ledger.page(0, 100)
    assert sorted((n.id, n.read) for n in paged) == expected
    for cache in (whole, partial):
        cache.close()
    ledger.close()
