"""The toast policy with a fake clock: the leading edge, bursts, replays, quiet hours, pause,
choices, withdrawal."""

from __future__ import annotations

import itertools
import re
import tracemalloc
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.core.quiet_hours import QuietSchedule, QuietState
from notifier.core.settings import Settings
from notifier.core.status import CacheChange, ChangeKind
from notifier.core.toast_policy import (
    AWAY_TITLE,
    FULL_BURST,
    SUMMARY_TITLE,
    Toast,
    ToastPolicy,
)
from notifier.core.wire import (
    Actor,
    ActorKind,
    CommentRef,
    Notification,
    NotificationType,
    QuietRange,
    TicketRef,
)

A, M, R = NotificationType.ASSIGNMENT, NotificationType.MENTION, NotificationType.REACTION
WINDOW = timedelta(seconds=0.8)
MONDAY_NOON = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
NO_QUIET = QuietState(QuietSchedule([], UTC))
# Quiet every Monday 22:00 to Tuesday 07:00 UTC.
NIGHTS = QuietState(QuietSchedule([QuietRange(0, "22:00", "07:00")], UTC))
MONDAY_NIGHT = datetime(2026, 1, 5, 23, 0, tzinfo=UTC)
TUESDAY_MORNING = datetime(2026, 1, 6, 7, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


def note(
    nid: str,
    type_: NotificationType = M,
    *,
    read: bool = False,
    message: str = "can you look?",
    comment: bool = True,
) -> Notification:
    return Notification(
        id=nid,
        seq=int(re.sub(r"\D", "", nid) or "1"),
        type=type_,
        sender=Actor(ActorKind.AGENT, "a2", "Bea"),
        to="a1",
        ticket=TicketRef("123", "Printer on fire", "https://helpdesk.example.com/tickets/123"),
        comment=CommentRef("c1", "https://helpdesk.example.com/tickets/123#c1")
        if comment
        else None,
        message=message,
        read=read,
        created_at=MONDAY_NOON,
    )


def upserted(
    *notifications: Notification, replay: bool = False, local: bool = False
) -> CacheChange:
    return CacheChange(ChangeKind.UPSERTED, notifications, replay=replay, local=local)


def read_state(*ids: str, read: bool = True) -> CacheChange:
    return CacheChange(ChangeKind.READ_STATE, ids=ids, read=read)


def deleted(*ids: str) -> CacheChange:
    return CacheChange(ChangeKind.DELETED, ids=ids)


def policy(quiet: QuietState = NO_QUIET, **changes: object) -> ToastPolicy:
    return ToastPolicy(Settings().replace(**changes), quiet, window=WINDOW)


def fire(toasts: ToastPolicy, clock: FakeClock) -> list[Toast]:
    """Advance the fake clock to the policy's wake-up and collect what is due."""
    wakeup = toasts.next_wakeup()
    assert wakeup is not None, "the policy should have asked for a wake-up"
    assert wakeup >= clock.now
    clock.now = wakeup
    return toasts.due(clock.now)


def keys(toasts: Iterable[Toast]) -> list[str]:
    return [t.key for t in toasts]


def summary_total(toast: Toast) -> int:
    match = re.match(r"(\d+) new notifications?", toast.body)
    assert match, toast.body
    return int(match.group(1))


# --------------------------------------------------------------------------- single toasts


def test_one_live_notification_after_a_quiet_spell_toasts_at_once() -> None:
    clock = FakeClock(MONDAY_NOON)
    toasts = policy()
    assert toasts.next_wakeup() is None
    toasts.offer(upserted(note("n1", A, message="Paper <b>everywhere</b>")), clock.now)
    assert toasts.next_wakeup() == MONDAY_NOON  # no burst window to wait for
    shown = toasts.due(clock.now)
    assert shown == [
        Toast(
            key="n1",
            title="Ticket assigned to you",
            body="Bea assigned you #123 Printer on fire\nPaper <b>everywhere</b>",
            notification_id="n1",
            link="https://helpdesk.example.com/tickets/123#c1",
            sound=True,
        )
    ]
    assert toasts.next_wakeup() is None
    assert toasts.due(clock.advance(timedelta(minutes=5))) == []


def test_an_empty_message_gives_just_the_summary_line_and_the_ticket_link() -> None:
    clock = FakeClock(MONDAY_NOON)
    toasts = policy()
    toasts.offer(upserted(note("n1", M, message="  ", comment=False)), clock.now)
    (shown,) = fire(toasts, clock)
    assert shown.body == "Bea mentioned you on #123 Printer on fire"
    assert shown.link == "https://helpdesk.example.com/tickets/123"


@pytest.mark.parametrize(
    "change",
    [
        upserted(note("n1", read=True)),
        upserted(note("n1"), local=True),
        read_state("n1", read=False),
        read_state("n1"),
        deleted("n1"),
        CacheChange(ChangeKind.RESET),
    ],
    ids=["read", "local", "marked-unread", "marked-read", "deleted", "reset"],
)
def test_only_remote_unread_upserts_toast(change: CacheChange) -> None:
    toasts = policy()
    toasts.offer(change, MONDAY_NOON)
    assert toasts.next_wakeup() is None
    assert toasts.due(MONDAY_NOON + timedelta(seconds=10)) == []


def test_toasts_off_means_nothing() -> None:
    toasts = policy(toasts_enabled=False)
    toasts.offer(upserted(note("n1"), note("n2")), MONDAY_NOON)
    assert toasts.next_wakeup() is None
    assert toasts.due(MONDAY_NOON + timedelta(seconds=10)) == []


def test_types_the_agent_does_not_toast_are_skipped() -> None:
    clock = FakeClock(MONDAY_NOON)
    toasts = policy(toast_types=frozenset({A}))
    toasts.offer(upserted(note("n1", M), note("n2", A), note("n3", R)), clock.now)
    assert keys(fire(toasts, clock)) == ["n2"]


def test_sound_follows_the_setting() -> None:
    clock = FakeClock(MONDAY_NOON)
    toasts = policy(sound=False)
    toasts.offer(upserted(note("n1")), clock.now)
    assert [t.sound for t in fire(toasts, clock)] == [False]


def test_settings_changed_during_the_window_apply_when_it_closes() -> None:
    clock = FakeClock(MONDAY_NOON)
    toasts = policy()
    toasts.offer(upserted(note("n1")), clock.now)
    toasts.update(Settings(toasts_enabled=False), NO_QUIET)
    assert fire(toasts, clock) == []


# --------------------------------------------------------------------------- bursts


def test_what_follows_the_leading_toast_waits_for_the_window_one_toast_each() -> None:
    clock = FakeClock(MONDAY_NOON)
    toasts = policy(burst_threshold=3)
    toasts.offer(upserted(note("n1")), clock.now)
    assert keys(fire(toasts, clock)) == ["n1"]
    toasts.offer(upserted(note("n2")), clock.advance(timedelta(seconds=0.3)))
    toasts.offer(upserted(note("n3"), note("n4", A)), clock.advance(timedelta(seconds=0.3)))
    assert toasts.next_wakeup() == MONDAY_NOON + WINDOW  # the window does not slide
    assert toasts.due(clock.now) == []
    assert keys(fire(toasts, clock)) == ["n2", "n3", "n4"]


def test_what_arrives_before_the_leading_toast_is_shown_goes_with_it() -> None:
    clock = FakeClock(MONDAY_NOON)
    toasts = policy(burst_threshold=3)
    toasts.offer(upserted(note("n1")), clock.now)
    toasts.offer(upserted(note("n2"), note("n3", A)), clock.now)  # the timer has not fired
    assert toasts.next_wakeup() == MONDAY_NOON
    assert keys(toasts.due(clock.now)) == ["n1", "n2", "n3"]


def test_a_big_burst_gives_the_leading_toast_and_one_summary() -> None:
    clock = FakeClock(MONDAY_NOON)
    toasts = policy(burst_threshold=3)
    toasts.offer(upserted(note("n0", M)), clock.now)
    assert keys(fire(toasts, clock)) == ["n0"]
    toasts.offer(upserted(note("n1", A), note("n2", A)), clock.advance(timedelta(seconds=0.1)))
    toasts.offer(upserted(note("n3", M), note("n4", M)), clock.advance(timedelta(seconds=0.6)))
    (summary,) = fire(toasts, clock)
    assert clock.now == MONDAY_NOON + WINDOW
    assert summary == Toast(
        key="summary-1",
        title=SUMMARY_TITLE,
        body="4 new notifications: 2 assignments, 2 mentions",
        notification_id=None,
        link=None,
        sound=True,
    )


def test_a_big_change_after_a_quiet_spell_is_one_summary_at_once() -> None:
    clock = FakeClock(MONDAY_NOON)
    toasts = policy(burst_threshold=3)
    toasts.offer(upserted(*(note(f"n{i}") for i in range(1, 6))), clock.now)
    (summary,) = fire(toasts, clock)
    assert clock.now == MONDAY_NOON
    assert summary_total(summary) == 5


def test_a_notification_a_window_after_the_last_toast_toasts_at_once_again() -> None:
    clock = FakeClock(MONDAY_NOON)
    toasts = policy(burst_threshold=1)
    toasts.offer(upserted(note("n1")), clock.now)
    assert keys(fire(toasts, clock)) == ["n1"]
    toasts.offer(upserted(note("n2")), clock.advance(timedelta(seconds=0.5)))
    assert keys(fire(toasts, clock)) == ["n2"]  # held: at n1's toast + window
    assert clock.now == MONDAY_NOON + WINDOW
    toasts.offer(upserted(note("n3")), clock.advance(WINDOW))  # a window after n2's toast
    assert toasts.next_wakeup() == clock.now
    assert keys(toasts.due(clock.now)) == ["n3"]


def test_a_steady_flood_toasts_at_most_once_a_window_and_never_one_each() -> None:
    clock = FakeClock(MONDAY_NOON)
    toasts = policy(burst_threshold=3)
    batches: list[tuple[datetime, list[Toast]]] = []
    for i in range(1000):  # one every 10 ms for 10 s; the timer fires on time
        toasts.offer(upserted(note(f"n{i + 1}")), clock.now)
        clock.advance(timedelta(milliseconds=10))
        wakeup = toasts.next_wakeup()
        if wakeup is not None and wakeup <= clock.now:
            batches.append((wakeup, toasts.due(wakeup)))
    last = fire(toasts, clock)
    batches.append((clock.now, last))
    shown = [toast for _, batch in batches for toast in batch]
    assert [t.key for t in shown[:1]] == ["n1"]  # the first one at once, on its own
    assert all(t.notification_id is None for t in shown[1:])  # then summaries only
    assert len(shown) <= 1 + 10 / WINDOW.total_seconds() + 1
    assert 1 + sum(summary_total(t) for t in shown[1:]) == 1000
    times = [at for at, batch in batches if batch]
    assert all(later - earlier >= WINDOW for earlier, later in itertools.pairwise(times))


def test_a_reissued_notification_toasts_once_with_its_newest_content() -> None:
    clock = FakeClock(MONDAY_NOON)
    toasts = policy()
    toasts.offer(upserted(note("n1", R, message="Bea reacted")), clock.now)
    toasts.offer(upserted(note("n1", R, message="3 people reacted")), clock.now)
    (shown,) = fire(toasts, clock)
    assert shown.body.endswith("3 people reacted")


def test_a_notification_reissued_after_its_toast_updates_that_toast_silently() -> None:
    clock = FakeClock(MONDAY_NOON)
    toasts = policy()
    toasts.offer(upserted(note("n1", R, message="a reply")), clock.now)
    (first,) = fire(toasts, clock)
    assert first.sound
    # A folded burst re-issues the same id, window after window: the same key each time (the
    # sink replaces the toast shown under it), without sound; another notification still rings.
    for count in (1, 2, 3):
        clock.advance(timedelta(seconds=5))
        toasts.offer(upserted(note("n1", R, message=f"{count} more replies")), clock.now)
        (update,) = fire(toasts, clock)
        assert (update.key, update.sound) == ("n1", False)
        assert update.body.endswith(f"{count} more replies")
    toasts.offer(upserted(note("n2", M)), clock.advance(timedelta(seconds=5)))
    (other,) = fire(toasts, clock)
    assert (other.key, other.sound) == ("n2", True)
    # Once read (its toast withdrawn), a re-issue is news again: it rings.
    assert toasts.withdrawn(read_state("n1")) == ["n1"]
    toasts.offer(upserted(note("n1", R, message="1 more reply")), clock.advance(WINDOW))
    (again,) = fire(toasts, clock)
    assert (again.key, again.sound) == ("n1", True)


def test_read_or_deleted_meanwhile_drop_out_of_the_burst() -> None:
    clock = FakeClock(MONDAY_NOON)
    toasts = policy(burst_threshold=3)
    toasts.offer(upserted(note("n0")), clock.now)
    fire(toasts, clock)
    toasts.offer(upserted(*(note(f"n{i}") for i in range(1, 6))), clock.now)
    toasts.offer(read_state("n1"), clock.advance(timedelta(seconds=0.1)))
    toasts.offer(deleted("n2"), clock.now)
    assert keys(fire(toasts, clock)) == ["n3", "n4", "n5"]


def test_a_burst_read_entirely_needs_no_wakeup() -> None:
    toasts = policy()
    toasts.offer(upserted(note("n1")), MONDAY_NOON)
    toasts.offer(upserted(note("n1", read=True), local=True), MONDAY_NOON)
    assert toasts.next_wakeup() is None


# --------------------------------------------------------------------------- replays


def test_a_replay_batch_over_the_threshold_is_one_summary() -> None:
    clock = FakeClock(MONDAY_NOON)
    toasts = policy(burst_threshold=3)
    batch = [note(f"n{i}", A if i % 3 == 0 else M) for i in range(1, 13)]
    toasts.offer(upserted(*batch, replay=True), clock.now)
    (summary,) = fire(toasts, clock)
    assert summary.body == "12 new notifications: 4 assignments, 8 mentions"


def test_a_replay_of_ten_thousand_in_batches_is_one_toast() -> None:
    clock = FakeClock(MONDAY_NOON)
    toasts = policy()
    shown: list[Toast] = []
    for start in range(1, 10_001, 64):  # as the engine publishes a replay, 64 at a time
        batch = [note(f"n{i}") for i in range(start, min(start + 64, 10_001))]
        toasts.offer(upserted(*batch, replay=True), clock.advance(timedelta(milliseconds=5)))
        wakeup = toasts.next_wakeup()
        assert wakeup is not None and wakeup > clock.now  # no leading edge for a replay
    shown += fire(toasts, clock)
    shown += toasts.due(clock.advance(timedelta(minutes=1)))
    (summary,) = shown
    assert summary_total(summary) == 10_000


def test_a_big_burst_does_not_hold_its_notifications() -> None:
    # A first sign-in offers its whole history as one replayed burst: once past FULL_BURST
    # the policy keeps ids and types, not the notifications (~38 MB for 50,000).
    clock = FakeClock(MONDAY_NOON)
    toasts = policy()

    def offer_batch(start: int) -> None:  # the batch is gone once offered, as the engine's
        batch = [note(f"n{i}", message=f"message {i} " * 8) for i in range(start, start + 250)]
        toasts.offer(upserted(*batch, replay=True), clock.now)

    offer_batch(1)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for start in range(251, 5_251, 250):
            offer_batch(start)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # 5,000 notifications with their strings and datetimes are ~4 MB; ids and types ~0.7 MB.
    assert held < 1_500_000, held
    (summary,) = fire(toasts, clock)
    assert summary_total(summary) == 5_250


def test_a_thin_burst_read_back_under_the_threshold_is_still_one_summary() -> None:
    clock = FakeClock(MONDAY_NOON)
    toasts = policy(burst_threshold=3)
    batch = [note(f"n{i}", A if i % 2 else M) for i in range(1, FULL_BURST + 3)]
    toasts.offer(upserted(*batch, replay=True), clock.now)
    toasts.offer(read_state(*(n.id for n in batch[2:])), clock.now)
    (summary,) = fire(toasts, clock)
    assert summary.body == "2 new notifications: 1 assignment, 1 mention"
    assert summary.notification_id is None


def test_a_small_replay_toasts_each() -> None:
    clock = FakeClock(MONDAY_NOON)
    toasts = policy(burst_threshold=3)
    toasts.offer(upserted(note("n1"), note("n2"), replay=True), clock.now)
    assert keys(fire(toasts, clock)) == ["n1", "n2"]


def test_a_replay_in_several_batches_extends_the_window_up_to_a_cap() -> None:
    clock = FakeClock(MONDAY_NOON)
    toasts = ToastPolicy(
        Settings(burst_threshold=3), NO_QUIET, window=WINDOW, replay_wait=timedelta(seconds=2)
    )
    for i in range(1, 6):  # a batch every 0.5 s: each pushes the deadline on, up to 2 s
        toasts.offer(upserted(note(f"n{i}"), replay=True), clock.now)
        clock.advance(timedelta(seconds=0.5))
    assert toasts.next_wakeup() == MONDAY_NOON + timedelta(seconds=2)
    toasts.offer(upserted(note("n6"), replay=True), clock.now)  # 2.5 s: the cap holds
    assert toasts.next_wakeup() == MONDAY_NOON + timedelta(seconds=2)
    (summary,) = toasts.due(clock.now)
    assert summary_total(summary) == 6


# --------------------------------------------------------------------------- quiet hours


def test_quiet_hours_suppress_and_end_with_one_summary() -> None:
    clock = FakeClock(MONDAY_NIGHT)
    toasts = policy(NIGHTS)
    toasts.offer(upserted(note("n1", A)), clock.now)
    toasts.offer(upserted(note("n2", M), note("n3", M)), clock.advance(timedelta(hours=1)))
    toasts.offer(upserted(note("n4", M)), clock.advance(timedelta(hours=1)))
    toasts.offer(read_state("n2"), clock.advance(timedelta(hours=1)))
    toasts.offer(deleted("n4"), clock.now)
    assert toasts.due(clock.now) == []
    assert toasts.next_wakeup() == TUESDAY_MORNING
    (summary,) = fire(toasts, clock)
    assert summary.title == AWAY_TITLE
    assert summary.body == "2 new notifications: 1 assignment, 1 mention"
    assert summary.notification_id is None and summary.key.startswith("summary-")
    assert toasts.next_wakeup() is None
    assert toasts.due(clock.advance(timedelta(hours=1))) == []


def test_nothing_remembered_means_no_summary_and_no_wakeup() -> None:
    clock = FakeClock(MONDAY_NIGHT)
    toasts = policy(NIGHTS)
    toasts.offer(upserted(note("n1")), clock.now)
    toasts.offer(read_state("n1"), clock.now)
    assert toasts.next_wakeup() is None
    assert toasts.due(TUESDAY_MORNING) == []


def test_summary_after_quiet_can_be_turned_off() -> None:
    clock = FakeClock(MONDAY_NIGHT)
    toasts = policy(NIGHTS, summary_after_quiet=False)
    toasts.offer(upserted(note("n1")), clock.now)
    assert fire(toasts, clock) == []
    toasts.offer(upserted(note("n2")), clock.advance(timedelta(minutes=1)))
    assert keys(fire(toasts, clock)) == ["n2"]  # after quiet hours: toasts as usual


def test_a_burst_closing_inside_quiet_hours_joins_the_summary() -> None:
    clock = FakeClock(datetime(2026, 1, 5, 21, 59, 59, 500_000, tzinfo=UTC))
    toasts = policy(NIGHTS)
    toasts.offer(upserted(note("n0")), clock.now)  # not yet quiet
    assert keys(fire(toasts, clock)) == ["n0"]
    toasts.offer(upserted(note("n1")), clock.advance(timedelta(seconds=0.1)))
    assert fire(toasts, clock) == []  # the window closed at 22:00:00.3
    assert toasts.next_wakeup() == TUESDAY_MORNING
    (summary,) = fire(toasts, clock)
    assert summary.body == "1 new notification: 1 mention"


def test_pause_suppresses_and_a_resume_summarises_at_once() -> None:
    clock = FakeClock(MONDAY_NOON)
    paused = QuietState(QuietSchedule([], UTC), MONDAY_NOON + timedelta(hours=1))
    toasts = policy(paused)
    toasts.offer(upserted(note("n1", A), note("n2", R)), clock.advance(timedelta(minutes=5)))
    assert toasts.due(clock.now) == []
    assert toasts.next_wakeup() == MONDAY_NOON + timedelta(hours=1)
    toasts.update(Settings(), NO_QUIET)  # the agent chose "Resume"
    (summary,) = toasts.due(clock.advance(timedelta(minutes=1)))
    assert (summary.title, summary.body) == (
        AWAY_TITLE,
        "2 new notifications: 1 assignment, 1 ticket update",
    )


def test_a_pause_running_into_quiet_hours_waits_for_both() -> None:
    clock = FakeClock(datetime(2026, 1, 5, 21, 0, tzinfo=UTC))
    paused = QuietState(NIGHTS.schedule, datetime(2026, 1, 5, 23, 0, tzinfo=UTC))
    toasts = policy(paused)
    toasts.offer(upserted(note("n1")), clock.now)
    assert fire(toasts, clock) == []  # 22:00: quiet hours begin, still paused
    assert clock.now == datetime(2026, 1, 5, 22, 0, tzinfo=UTC)
    assert fire(toasts, clock) == []  # 23:00: the pause ends inside quiet hours
    (summary,) = fire(toasts, clock)
    assert clock.now == TUESDAY_MORNING
    assert summary_total(summary) == 1


def test_toasts_turned_off_during_quiet_hours_drop_the_summary() -> None:
    clock = FakeClock(MONDAY_NIGHT)
    toasts = policy(NIGHTS)
    toasts.offer(upserted(note("n1")), clock.now)
    toasts.update(Settings(toasts_enabled=False), NIGHTS)
    assert fire(toasts, clock) == []


# --------------------------------------------------------------------------- withdrawal


def test_reading_a_toasted_notification_withdraws_its_toast() -> None:
    clock = FakeClock(MONDAY_NOON)
    toasts = policy()
    toasts.offer(upserted(note("n1"), note("n2")), clock.now)
    fire(toasts, clock)
    assert toasts.withdrawn(read_state("n1", read=False)) == []
    assert toasts.withdrawn(read_state("n1")) == ["n1"]
    assert toasts.withdrawn(read_state("n1")) == []  # already closed
    assert toasts.withdrawn(deleted("n2", "n9")) == ["n2"]
    assert toasts.withdrawn(read_state("n9")) == []


def test_a_read_upsert_withdraws_too() -> None:
    clock = FakeClock(MONDAY_NOON)
    toasts = policy()
    toasts.offer(upserted(note("n1")), clock.now)
    fire(toasts, clock)
    assert toasts.withdrawn(upserted(note("n1", read=True), local=True)) == ["n1"]
    assert toasts.withdrawn(CacheChange(ChangeKind.RESET)) == []


def test_a_summary_is_withdrawn_when_everything_in_it_is_read() -> None:
    clock = FakeClock(MONDAY_NOON)
    toasts = policy(burst_threshold=1)
    toasts.offer(upserted(note("n1"), note("n2"), note("n3")), clock.now)
    (summary,) = fire(toasts, clock)
    assert toasts.withdrawn(read_state("n1", "n2")) == []
    assert toasts.withdrawn(deleted("n3")) == [summary.key]


def test_invalid_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        ToastPolicy(Settings(), NO_QUIET, window=timedelta(0))


# --------------------------------------------------------------------------- property


@st.composite
def scripts(draw: st.DrawFn) -> list[tuple[str, float, list[str]]]:
    """Steps of (action, seconds to wait first, ids): offer live/replay batches, read ids."""
    steps = []
    next_id = 1
    for _ in range(draw(st.integers(1, 25))):
        wait = draw(st.sampled_from([0.0, 0.1, 0.5, 0.79, 0.8, 1.0, 3.0]))
        action = draw(st.sampled_from(["live", "replay", "read", "due"]))
        if action in ("live", "replay"):
            size = draw(st.integers(1, 6))
            ids = [f"n{next_id + k}" for k in range(size)]
            next_id += size
        elif action == "read":
            ids = [f"n{draw(st.integers(1, max(1, next_id - 1)))}"]
        else:
            ids = []
        steps.append((action, wait, ids))
    return steps


@settings(max_examples=200, deadline=None)
@given(script=scripts(), threshold=st.integers(1, 5))
def test_every_unread_candidate_is_covered_by_exactly_one_toast(
    script: list[tuple[str, float, list[str]]], threshold: int
) -> None:
    clock = FakeClock(MONDAY_NOON)
    toasts = policy(burst_threshold=threshold)
    shown: list[Toast] = []
    read: set[str] = set()
    offered: set[str] = set()
    last_toast: datetime | None = None
    for action, wait, ids in script:
        clock.advance(timedelta(seconds=wait))
        wakeup = toasts.next_wakeup()
        if wakeup is not None and wakeup <= clock.now:
            clock_now = clock.now
            batch = toasts.due(wakeup)  # the timer fired on time
            assert sum(t.notification_id is not None for t in batch) <= threshold
            assert len([t for t in batch if t.notification_id is None]) <= 1
            if batch:
                # However fast they come, toasts come at most once a window.
                assert last_toast is None or wakeup - last_toast >= WINDOW
                last_toast = wakeup
            shown += batch
            clock.now = clock_now
        if action in ("live", "replay"):
            toasts.offer(upserted(*(note(i) for i in ids), replay=action == "replay"), clock.now)
            offered.update(ids)
        elif action == "read":
            change = read_state(*ids)
            toasts.offer(change, clock.now)
            toasts.withdrawn(change)
            read.update(ids)
    clock.advance(timedelta(seconds=10))
    shown += toasts.due(clock.now)
    individual = [t.notification_id for t in shown if t.notification_id is not None]
    assert len(individual) == len(set(individual))
    covered = len(individual) + sum(summary_total(t) for t in shown if t.notification_id is None)
    # Everything offered and not read before its window closed was covered once; nothing
    # read before its toast was due was shown.
    assert set(individual) <= offered
    assert covered <= len(offered)
    assert covered >= len(offered - read)
    assert toasts.next_wakeup() is None
