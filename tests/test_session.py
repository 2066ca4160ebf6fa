"""The sans-I/O sync session, driven without sockets or timers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine_support import make_notification
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.core.backoff import Backoff
from notifier.core.session import (
    Apply,
    Command,
    Connect,
    Disconnect,
    FlushPending,
    PageHistory,
    PublishStatus,
    ResetCache,
    SyncSession,
    WaitRetry,
)
from notifier.core.status import ConnectionState
from notifier.core.wire import (
    AgentInfo,
    ErrorEvent,
    Hello,
    NotificationEvent,
    ReadStateEvent,
    ResetEvent,
    SyncedEvent,
    UnknownEvent,
    UnreadCountEvent,
)

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ALICE = AgentInfo("a-1", "alice", "Alice Adams")


def session() -> SyncSession:
    return SyncSession(Backoff(rand=lambda: 0.5))


def only(commands: list[Command], kind: type) -> list[Command]:
    return [c for c in commands if isinstance(c, kind)]


def statuses(commands: list[Command]) -> list[ConnectionState]:
    return [c.status.state for c in commands if isinstance(c, PublishStatus)]


def live_session(cursor: int = 5) -> SyncSession:
    s = session()
    s.start(cursor, NOW)
    s.connected(s.attempt, Hello(1, ALICE, cursor))
    s.event_received(s.attempt, SyncedEvent(cursor))
    assert s.state is ConnectionState.LIVE
    return s


def test_a_fresh_cache_pages_the_history_then_resumes_after_the_first_page() -> None:
    s = session()
    commands = s.start(0, NOW)
    assert statuses(commands) == [ConnectionState.CONNECTING]
    assert commands[-1] == PageHistory(s.attempt)
    commands = s.history_paged(s.attempt, 1200)
    assert commands == [Connect(s.attempt, 1200)]


def test_a_known_cursor_resumes_directly_and_replay_is_flagged_until_synced() -> None:
    s = session()
    assert s.start(7, NOW)[-1] == Connect(s.attempt, 7)
    hello = s.connected(s.attempt, Hello(1, ALICE, 9))
    assert hello and hello[0].status.agent == ALICE  # type: ignore[union-attr]
    event = NotificationEvent(8, make_notification("n8", 8))
    assert s.event_received(s.attempt, event) == [Apply(event, replay=True)]
    commands = s.event_received(s.attempt, SyncedEvent(8))
    assert statuses(commands) == [ConnectionState.LIVE]
    assert only(commands, FlushPending)
    live = ReadStateEvent(9, ("n8",), True)
    assert s.event_received(s.attempt, live) == [Apply(live, replay=False)]
    assert s.cursor == 9


def test_ignored_events_change_nothing() -> None:
    s = live_session()
    for event in (UnreadCountEvent(5, 3), UnknownEvent("poll", 6), SyncedEvent(5)):
        assert s.event_received(s.attempt, event) == []
    assert s.cursor == 5


def test_an_error_event_is_shown_but_does_not_disconnect() -> None:
    s = live_session()
    commands = s.event_received(s.attempt, ErrorEvent("slow_down", "too many requests"))
    assert not only(commands, Disconnect)
    assert "too many requests" in (s.status.last_error or "")


def test_a_lost_connection_backs_off_with_the_retry_time_then_reconnects() -> None:
    s = live_session()
    commands = s.disconnected(s.attempt, "server unreachable", NOW)
    wait = only(commands, WaitRetry)[0]
    assert isinstance(wait, WaitRetry) and wait.delay == 0.5
    status = s.status
    assert status.state is ConnectionState.BACKING_OFF
    assert status.last_error == "server unreachable"
    assert status.next_retry_at == NOW + timedelta(seconds=0.5)
    commands = s.retry_due(wait.attempt, NOW + timedelta(seconds=1))
    assert commands[-1] == Connect(s.attempt, 5)
    # repeated failures grow the delay (ceiling 1, 2, 4 ... times the 0.5 draw)
    delays = []
    for _ in range(4):
        wait = only(s.disconnected(s.attempt, "down", NOW), WaitRetry)[0]  # type: ignore[assignment]
        delays.append(wait.delay)
        s.retry_due(wait.attempt, NOW)
    assert delays == [1.0, 2.0, 4.0, 8.0]
    # success resets the backoff
    s.event_received(s.attempt, SyncedEvent(5))
    wait = only(s.disconnected(s.attempt, "down", NOW), WaitRetry)[0]  # type: ignore[assignment]
    assert wait.delay == 0.5


def test_reports_for_an_old_attempt_are_ignored() -> None:
    s = live_session()
    old = s.attempt
    wait = only(s.disconnected(old, "down", NOW), WaitRetry)[0]
    s.retry_now(NOW)  # supersedes the wait
    assert s.retry_due(wait.attempt, NOW) == []  # type: ignore[union-attr]
    assert s.disconnected(old, "late error", NOW) == []
    assert s.event_received(old, SyncedEvent(5)) == []
    assert s.state is ConnectionState.CONNECTING


def test_auth_failure_stops_retrying_until_asked() -> None:
    s = live_session()
    commands = s.auth_failed(s.attempt, "the token was rejected; sign in again")
    assert only(commands, Disconnect)
    assert not only(commands, WaitRetry)
    assert s.state is ConnectionState.AUTH_FAILED
    assert s.disconnected(s.attempt - 1, "closed", NOW) == []
    assert s.network(True, NOW) == []
    assert s.tick(NOW, 0.0) == [] and s.tick(NOW + timedelta(hours=2), 1.0) == []
    assert only(s.retry_now(NOW), Connect)


def test_network_down_goes_offline_without_retry_and_up_reconnects_at_once() -> None:
    s = live_session()
    commands = s.network(False, NOW)
    assert only(commands, Disconnect)
    assert s.state is ConnectionState.OFFLINE
    assert s.disconnected(s.attempt, "closed", NOW) == [] or s.state is ConnectionState.OFFLINE
    assert s.network(False, NOW) == []
    assert only(s.network(True, NOW), Connect)
    assert s.state is ConnectionState.CONNECTING


def test_starting_offline_waits_for_the_network() -> None:
    s = session()
    assert statuses(s.start(3, NOW, online=False)) == [ConnectionState.OFFLINE]
    assert only(s.network(True, NOW), Connect)


def test_a_clock_jump_means_the_machine_slept_and_reconnects_at_once() -> None:
    s = live_session()
    assert s.tick(NOW, 100.0) == []
    assert s.tick(NOW + timedelta(seconds=5), 105.0) == []  # normal
    assert s.tick(NOW + timedelta(seconds=40), 110.0) == []  # 30 s of drift: not yet
    commands = s.tick(NOW + timedelta(hours=1), 115.0)
    assert isinstance(commands[0], Disconnect)
    assert commands[-1] == Connect(s.attempt, 5)


def test_a_clock_jump_while_backing_off_skips_the_wait() -> None:
    s = live_session()
    s.disconnected(s.attempt, "down", NOW)
    s.tick(NOW, 0.0)
    assert only(s.tick(NOW + timedelta(minutes=10), 1.0), Connect)


def test_a_reset_event_drops_the_cache_and_pages_the_history_again() -> None:
    s = live_session(cursor=50)
    commands = s.event_received(s.attempt, ResetEvent(10, "database restored"))
    assert isinstance(commands[0], Disconnect)
    assert isinstance(commands[1], ResetCache)
    assert commands[-1] == PageHistory(s.attempt)
    assert s.status.notice is not None
    assert s.history_paged(s.attempt, 10) == [Connect(s.attempt, 10)]
    live = s.event_received(s.attempt, SyncedEvent(10))
    assert live[0].status.notice is not None  # type: ignore[union-attr]
    assert s.status.notice is None  # one-off: gone after the first live status


def test_status_is_published_only_when_it_changes() -> None:
    s = live_session()
    assert s.connected(s.attempt, Hello(1, ALICE, 5)) == []


def test_stop_silences_everything() -> None:
    s = live_session()
    attempt = s.attempt
    assert only(s.stop(), Disconnect)
    assert s.disconnected(attempt, "closed", NOW) == []
    assert s.retry_now(NOW) == []
    assert s.network(True, NOW) == []


INPUTS = st.sampled_from(
    [
        "synced",
        "event",
        "disconnected",
        "stale",
        "auth",
        "retry_due",
        "retry_now",
        "down",
        "up",
        "tick",
        "sleep",
        "reset",
        "paged",
    ]
)


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(INPUTS, max_size=40), cursor=st.integers(0, 3))
def test_any_input_sequence_keeps_the_invariants(steps: list[str], cursor: int) -> None:
    s = session()
    now = NOW
    mono = 0.0
    seq = cursor
    outstanding_waits: list[WaitRetry] = []
    commands = s.start(cursor, now)
    for step in steps:
        now += timedelta(seconds=1)
        mono += 1.0
        attempt = s.attempt
        if step == "synced":
            commands = s.event_received(attempt, SyncedEvent(seq))
        elif step == "event":
            seq += 1
            commands = s.event_received(
                attempt, NotificationEvent(seq, make_notification("x", seq))
            )
        elif step == "disconnected":
            commands = s.disconnected(attempt, "down", now)
        elif step == "stale":
            commands = s.disconnected(attempt - 1, "late", now)
            assert commands == []
        elif step == "auth":
            commands = s.auth_failed(attempt, "rejected")
        elif step == "retry_due":
            commands = []
            if outstanding_waits:
                commands = s.retry_due(outstanding_waits.pop().attempt, now)
        elif step == "retry_now":
            commands = s.retry_now(now)
        elif step in ("down", "up"):
            commands = s.network(step == "up", now)
        elif step == "tick":
            commands = s.tick(now, mono)
        elif step == "sleep":
            now += timedelta(hours=1)
            commands = s.tick(now, mono)
        elif step == "reset":
            commands = s.event_received(attempt, ResetEvent(0, "restored"))
        else:
            commands = s.history_paged(attempt, seq)
        waits = [c for c in commands if isinstance(c, WaitRetry)]
        outstanding_waits.extend(waits)
        # invariants
        assert len(waits) <= 1
        assert len([c for c in commands if isinstance(c, Connect | PageHistory)]) <= 1
        if s.state is ConnectionState.AUTH_FAILED:
            assert not waits and not any(isinstance(c, Connect | PageHistory) for c in commands)
        if waits:
            assert s.state is ConnectionState.BACKING_OFF
            assert s.status.next_retry_at == waits[0].at
        if s.state is ConnectionState.LIVE:
            assert s.synced
        for command in commands:
            if isinstance(command, Connect | PageHistory):
                assert command.attempt == s.attempt
                assert s.state is ConnectionState.CONNECTING
            if isinstance(command, Connect):
                assert command.after_seq == s.cursor
                # cursor 0 pages the history first; only the page-through may resume after 0
                assert s.cursor > 0 or step == "paged"
            if isinstance(command, Apply):
                assert command.replay == (s.state is not ConnectionState.LIVE)
