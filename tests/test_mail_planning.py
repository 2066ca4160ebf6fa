"""The pure half of server mail: digest slots across DST, the per-agent plan, the outbox's
time ordering. (End to end with SMTP: tests/test_server_mail.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.core import wire
from notifier.server import outbox
from notifier.server.db import connect, transaction
from notifier.server.digest import (
    DropReason,
    MailKind,
    next_daily_slot,
    next_hourly_slot,
    plan,
)
from notifier.server.outbox import ItemStatus, OutboxItem

BERLIN = ZoneInfo("Europe/Berlin")
KOLKATA = ZoneInfo("Asia/Kolkata")
GRACE = timedelta(minutes=2)
NIGHTS = tuple(wire.QuietRange(day=d, start="22:00", end="07:00") for d in range(7))


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)  # type: ignore[misc]


# --------------------------------------------------------------------------- slots


def test_the_daily_slot_follows_the_local_clock_across_both_dst_changes() -> None:
    # Fall back (27 Oct 2024): 08:00 is 06:00 UTC on Saturday, 07:00 UTC on Sunday.
    assert next_daily_slot(utc(2024, 10, 26, 5, 0), "08:00", BERLIN) == utc(2024, 10, 26, 6, 0)
    assert next_daily_slot(utc(2024, 10, 26, 6, 0), "08:00", BERLIN) == utc(2024, 10, 27, 7, 0)
    assert next_daily_slot(utc(2024, 10, 27, 7, 0), "08:00", BERLIN) == utc(2024, 10, 28, 7, 0)
    # Spring forward (31 Mar 2024): 02:30 does not exist; the slot is the transition, 03:00.
    assert next_daily_slot(utc(2024, 3, 29, 12, 0), "02:30", BERLIN) == utc(2024, 3, 30, 1, 30)
    assert next_daily_slot(utc(2024, 3, 30, 12, 0), "02:30", BERLIN) == utc(2024, 3, 31, 1, 0)
    assert next_daily_slot(utc(2024, 3, 31, 1, 0), "02:30", BERLIN) == utc(2024, 4, 1, 0, 30)


def test_the_hourly_slot_is_the_next_local_hour_even_in_the_repeated_hour() -> None:
    assert next_hourly_slot(utc(2024, 10, 27, 0, 30), BERLIN) == utc(2024, 10, 27, 1, 0)
    assert next_hourly_slot(utc(2024, 10, 27, 1, 0), BERLIN) == utc(2024, 10, 27, 2, 0)
    assert next_hourly_slot(utc(2024, 3, 31, 0, 30), BERLIN) == utc(2024, 3, 31, 1, 0)
    # A half-hour zone: local hours start at :30 UTC.
    assert next_hourly_slot(utc(2024, 5, 1, 10, 0), KOLKATA) == utc(2024, 5, 1, 10, 30)


@given(
    after=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"]),
    hour=st.integers(min_value=4, max_value=23),  # no zone here has a gap at these hours
    minute=st.sampled_from([0, 15, 30, 59]),
)
def test_the_daily_slot_is_the_first_later_instant_reading_that_time(
    after: datetime, zone: str, hour: int, minute: int
) -> None:
    tz = ZoneInfo(zone)
    at = f"{hour:02d}:{minute:02d}"
    slot = next_daily_slot(after, at, tz)
    local = slot.astimezone(tz)
    assert slot > after and slot - after <= timedelta(hours=25)
    assert (local.hour, local.minute) == (hour, minute)
    assert next_daily_slot(after, at, tz) <= next_daily_slot(slot - timedelta(hours=23), at, tz)


# --------------------------------------------------------------------------- the plan


def item(
    item_id: int,
    created_at: datetime,
    *,
    notification_id: int | None = None,
    status: ItemStatus = ItemStatus.UNREAD,
    connected: bool = False,
    type: wire.NotificationType = wire.NotificationType.MENTION,
) -> OutboxItem:
    snapshot: dict[str, Any] = {"type": type.value, "ticket": {"id": "1", "subject": "s"}}
    return OutboxItem(
        id=item_id,
        notification_id=item_id if notification_id is None else notification_id,
        snapshot=snapshot,
        created_at=created_at,
        connected=connected,
        status=status,
    )


def prefs(**email: Any) -> wire.Preferences:
    quiet = email.pop("quiet_hours", ())
    return wire.Preferences(
        email=wire.EmailPreferences(enabled=True, **email), quiet_hours=quiet, timezone="x"
    )


def test_rows_are_dropped_with_the_reason_and_only_the_newest_of_a_notification_counts() -> None:
    now = utc(2024, 10, 21, 12, 0)
    items = [
        item(1, now - GRACE, notification_id=7),  # superseded by row 2
        item(2, now - GRACE, notification_id=7),
        item(3, now - GRACE, status=ItemStatus.READ),
        item(4, now - GRACE, status=ItemStatus.DELETED),
        item(5, now - GRACE, connected=True),
        item(6, now - GRACE, type=wire.NotificationType.REACTION),
    ]
    mention_only = frozenset({wire.NotificationType.MENTION})
    result = plan(now, prefs(types=mention_only), BERLIN, items, GRACE)
    assert result.drops == (
        (1, DropReason.SUPERSEDED),
        (3, DropReason.READ),
        (4, DropReason.DELETED),
        (6, DropReason.TYPE_OFF),
        (5, DropReason.CONNECTED),
    )
    assert [(m.kind, [i.id for i in m.items]) for m in result.mails] == [(MailKind.INSTANT, [2])]
    everyone = plan(now, prefs(only_when_disconnected=False), BERLIN, items[4:5], GRACE)
    assert [m.kind for m in everyone.mails] == [MailKind.INSTANT]
    off = plan(now, wire.Preferences(), BERLIN, items, GRACE)
    assert {reason for _, reason in off.drops} == {DropReason.EMAIL_OFF} and not off.mails


def test_instant_rows_wait_for_the_grace_period_and_say_when_to_look_again() -> None:
    now = utc(2024, 10, 21, 12, 0)
    waiting = [item(1, now - timedelta(seconds=30)), item(2, now - timedelta(seconds=90))]
    result = plan(now, prefs(), BERLIN, waiting, GRACE)
    assert result.mails == () and result.drops == ()
    assert result.next_check == now + timedelta(seconds=30)
    assert plan(now, prefs(), BERLIN, [], GRACE).next_check is None


def test_quiet_hours_hold_instant_rows_and_release_them_as_one_digest() -> None:
    quiet_night = prefs(quiet_hours=NIGHTS)
    evening = utc(2024, 10, 22, 19, 0)  # 21:00 CEST, before the quiet hours
    rows = [item(1, evening), item(2, evening + timedelta(hours=2))]
    during = plan(utc(2024, 10, 23, 1, 0), quiet_night, BERLIN, rows, GRACE)
    assert during.mails == () and during.next_check == utc(2024, 10, 23, 5, 0)
    # Row 1 fell due at 21:02, before quiet hours: had the server been down until the
    # morning, it was still held through the night, so both go in the one digest.
    morning = plan(utc(2024, 10, 23, 5, 0), quiet_night, BERLIN, rows, GRACE)
    assert [(m.kind, [i.id for i in m.items]) for m in morning.mails] == [
        (MailKind.QUIET_HOURS_DIGEST, [1, 2])
    ]
    on_time = plan(evening + GRACE, quiet_night, BERLIN, rows[:1], GRACE)
    assert [m.kind for m in on_time.mails] == [MailKind.INSTANT]


def test_a_digest_slot_in_quiet_hours_moves_to_their_end_and_endless_quiet_holds() -> None:
    daily_at_six = prefs(
        frequency=wire.EmailFrequency.DAILY_DIGEST, digest_time="06:00", quiet_hours=NIGHTS
    )
    rows = [item(1, utc(2024, 10, 22, 12, 0))]
    early = plan(utc(2024, 10, 23, 4, 0), daily_at_six, BERLIN, rows, GRACE)  # 06:00 CEST
    assert early.mails == () and early.next_check == utc(2024, 10, 23, 5, 0)
    later = plan(utc(2024, 10, 23, 5, 0), daily_at_six, BERLIN, rows, GRACE)
    assert [m.kind for m in later.mails] == [MailKind.DAILY_DIGEST]
    always = tuple(wire.QuietRange(day=d, start="00:00", end="00:00") for d in range(7))
    held = plan(
        utc(2024, 10, 25, 5, 0),
        prefs(frequency=wire.EmailFrequency.HOURLY_DIGEST, quiet_hours=always),
        BERLIN,
        rows,
        GRACE,
    )
    assert held.mails == () and held.next_check is None


def test_an_empty_digest_is_never_planned() -> None:
    hourly = prefs(frequency=wire.EmailFrequency.HOURLY_DIGEST)
    read = [item(1, utc(2024, 10, 22, 12, 0), status=ItemStatus.READ)]
    result = plan(utc(2024, 10, 22, 14, 0), hourly, BERLIN, read, GRACE)
    assert result.mails == () and result.next_check is None
    assert result.drops == ((1, DropReason.READ),)


# --------------------------------------------------------------------------- the outbox


def test_retry_times_within_one_second_are_ordered_as_times(tmp_path: Path) -> None:
    # Regression: "12:00:00Z" sorts after "12:00:00.5Z" as text; a retry due half a second
    # later was taken as due at once.
    connection = connect(tmp_path / "helpdesk.db")
    now = utc(2024, 10, 21, 12, 0)
    with transaction(connection):
        connection.execute(
            "INSERT INTO users(kind, username, name, created_at) VALUES ('agent', 'a', 'A', '')"
        )
        message = outbox.NewMessage(1, "instant", "a@example.com", "id@x", "s", b"mail")
        row = outbox.store_message(connection, message, [], now)
    outbox.mark_retry(connection, [(row, now + timedelta(milliseconds=500))], "451 later")
    assert outbox.due_messages(connection, now, 10) == []
    assert [m.id for m in outbox.due_messages(connection, now + timedelta(seconds=1), 10)] == [row]
    assert outbox.next_attempt_at(connection) == now + timedelta(milliseconds=500)
    connection.close()


@pytest.mark.parametrize("streams", [1, 2])
def test_presence_counts_streams_until_the_last_one_closes(tmp_path: Path, streams: int) -> None:
    connection = connect(tmp_path / "helpdesk.db")
    for _ in range(streams):
        outbox.stream_opened(connection, 5)
    for remaining in range(streams - 1, -1, -1):
        outbox.stream_closed(connection, 5)
        rows = connection.execute("SELECT streams FROM agent_presence").fetchall()
        assert rows == ([(remaining,)] if remaining else [])
    connection.close()
