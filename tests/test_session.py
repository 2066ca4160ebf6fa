"""The sans-I/O sync session, driven without sockets or timers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine_support import make_notification
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.core.backoff import Backoff
from notifier.core.session import (
    AdvanceCursor,
    Apply,
    ClaimCache,
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
from notifier.core.status import ConnectionState, ConnectionStatus, DeliveryDelay
from notifier.core.wire import (
    AgentInfo,
    ErrorEvent,
    Hello,
    NotificationEvent,
    ReadStateEvent,
    ResetEvent,
    SkippedEvent,
    SyncedEvent,
    UnknownEvent,
    UnreadCountEvent,
)

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ALICE = AgentInfo("a-1", "alice", "Alice Adams")
BOB = AgentInfo("a-2", "bob", "Bob Brown")


def session() -> SyncSession:
    return SyncSession(Backoff(rand=lambda: 0.5))


def only(commands: list[Command], kind: type) -> list[Command]:
    return [c for c in commands if isinstance(c, kind)]


def statuses(commands: list[Command]) -> list[ConnectionState]:
    return [c.status.state for c in commands if isinstance(c, PublishStatus)]


def live_session(cursor: int = 5) -> SyncSession:
    s = session()
    s.start(cursor, NOW)
    s.connected(s.attempt, Hello(1, ALICE, cursor), NOW)
    s.event_received(s.attempt, SyncedEvent(cursor), NOW)
    assert s.state is ConnectionState.LIVE
    return s


def test_a_fresh_cache_pages_the_history_then_resumes_after_the_first_page() -> None:
    s = session()
    commands = s.start(0, NOW)
    assert statuses(commands) == [ConnectionState.CONNECTING]
    assert commands[-1] == PageHistory(s.attempt)
    commands = s.history_paged(s.attempt, 1200, ALICE)
    assert commands == [Connect(s.attempt, 1200)]


def test_a_known_cursor_resumes_directly_and_replay_is_flagged_until_synced() -> None:
    s = session()
    assert s.start(7, NOW)[-1] == Connect(s.attempt, 7)
    hello = s.connected(s.attempt, Hello(1, ALICE, 9), NOW)
    assert hello and hello[0].status.agent == ALICE  # type: ignore[union-attr]
    event = NotificationEvent(8, make_notification("n8", 8))
    assert s.event_received(s.attempt, event, NOW) == [Apply(event, replay=True)]
    commands = s.event_received(s.attempt, SyncedEvent(8), NOW)
    assert statuses(commands) == [ConnectionState.LIVE]
    assert only(commands, FlushPending)
    live = ReadStateEvent(9, ("n8",), True)
    assert s.event_received(s.attempt, live, NOW) == [Apply(live, replay=False)]
    assert s.cursor == 9


def test_ignored_events_change_nothing() -> None:
    s = live_session()
    for event in (UnreadCountEvent(5, 3), UnknownEvent("poll", 6), SyncedEvent(5)):
        assert s.event_received(s.attempt, event, NOW) == []
    assert s.cursor == 5


def test_an_error_event_is_shown_but_does_not_disconnect() -> None:
    s = live_session()
    commands = s.event_received(s.attempt, ErrorEvent("slow_down", "too many requests"), NOW)
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
    # reaching LIVE alone does not reset it (a server could close every connection then)...
    s.connected(s.attempt, Hello(1, ALICE, 5), NOW)
    s.event_received(s.attempt, SyncedEvent(5), NOW)
    s.tick(NOW, 100.0)
    wait = only(s.disconnected(s.attempt, "down", NOW), WaitRetry)[0]  # type: ignore[assignment]
    assert wait.delay == 16.0
    # ...staying LIVE for healthy_after seconds, from one tick to another, does
    s.retry_due(wait.attempt, NOW)
    s.connected(s.attempt, Hello(1, ALICE, 5), NOW)
    s.event_received(s.attempt, SyncedEvent(5), NOW)
    s.tick(NOW, 200.0)
    s.tick(NOW, 200.0 + s.healthy_after - 1)
    assert s.backoff.attempts == 6
    s.tick(NOW, 200.0 + s.healthy_after)
    wait = only(s.disconnected(s.attempt, "down", NOW), WaitRetry)[0]  # type: ignore[assignment]
    assert wait.delay == 0.5


def test_reports_for_an_old_attempt_are_ignored() -> None:
    s = live_session()
    old = s.attempt
    wait = only(s.disconnected(old, "down", NOW), WaitRetry)[0]
    s.retry_now(NOW)  # supersedes the wait
    assert s.retry_due(wait.attempt, NOW) == []  # type: ignore[union-attr]
    assert s.disconnected(old, "late error", NOW) == []
    assert s.event_received(old, SyncedEvent(5), NOW) == []
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
    commands = s.event_received(s.attempt, ResetEvent(10, "database restored"), NOW)
    assert isinstance(commands[0], Disconnect)
    assert isinstance(commands[1], ResetCache)
    assert commands[-1] == PageHistory(s.attempt)
    assert s.status.notice is not None
    assert s.history_paged(s.attempt, 10, ALICE) == [Connect(s.attempt, 10)]
    s.connected(s.attempt, Hello(1, ALICE, 10), NOW)
    live = s.event_received(s.attempt, SyncedEvent(10), NOW)
    assert live[0].status.notice is not None  # type: ignore[union-attr]
    assert s.status.notice is None  # one-off: gone after the first live status


def backs_off(commands: list[Command], s: SyncSession) -> str:
    """Assert ``commands`` end the attempt into the backoff; return the status's error."""
    assert only(commands, Disconnect)
    assert not only(commands, Connect) and not only(commands, PageHistory)
    assert only(commands, WaitRetry)
    assert s.state is ConnectionState.BACKING_OFF
    return s.status.last_error or ""


def test_one_reset_reloads_at_once_a_second_before_a_healthy_connection_backs_off() -> None:
    s = live_session(cursor=50)
    first = s.event_received(s.attempt, ResetEvent(10, "restored"), NOW)
    assert first[-1] == PageHistory(s.attempt)
    s.history_paged(s.attempt, 10, ALICE)
    s.connected(s.attempt, Hello(1, ALICE, 10), NOW)
    again = s.event_received(s.attempt, ResetEvent(10, "restored"), NOW)
    assert only(again, ResetCache)  # the server still says the cache is wrong: drop it
    assert "keeps asking for a full resync" in backs_off(again, s)
    assert s.cursor == 0  # the retry pages the history
    wait = only(again, WaitRetry)[0]
    assert s.retry_due(wait.attempt, NOW)[-1] == PageHistory(s.attempt)  # type: ignore[union-attr]


def test_a_healthy_connection_earns_a_new_reset_at_once() -> None:
    s = live_session(cursor=50)
    s.event_received(s.attempt, ResetEvent(10, "restored"), NOW)
    s.history_paged(s.attempt, 10, ALICE)
    s.connected(s.attempt, Hello(1, ALICE, 10), NOW)
    s.event_received(s.attempt, SyncedEvent(10), NOW)
    s.tick(NOW, 1.0)
    s.tick(NOW, 1.0 + s.healthy_after)
    commands = s.event_received(s.attempt, ResetEvent(10, "restored again"), NOW)
    assert commands[-1] == PageHistory(s.attempt)


def test_a_stream_that_does_not_start_with_a_hello_is_given_up() -> None:
    # Neither its agent nor its protocol was checked: nothing it sends may be applied.
    for first in (
        NotificationEvent(6, make_notification("n6", 6)),
        SkippedEvent(6, "bad"),
        SyncedEvent(5),
        ResetEvent(5, "restored"),
    ):
        s = session()
        s.start(5, NOW)
        for harmless in (UnknownEvent("poll", None), UnreadCountEvent(5, 1)):
            assert s.event_received(s.attempt, harmless, NOW) == []
        commands = s.event_received(s.attempt, first, NOW)
        assert not only(commands, Apply) and not only(commands, AdvanceCursor)
        assert not only(commands, ResetCache) and not only(commands, PageHistory)
        assert "no hello" in backs_off(commands, s)
        assert s.cursor == 5
        # the next attempt must say hello again
        s.retry_due(s.attempt, NOW)
        assert "no hello" in backs_off(s.event_received(s.attempt, first, NOW), s)


def test_a_message_too_large_to_read_reloads_once_then_backs_off() -> None:
    s = live_session(cursor=50)
    first = s.unreadable_stream(s.attempt, "a message too large", NOW)
    assert only(first, ResetCache) and first[-1] == PageHistory(s.attempt)
    assert "a message too large" in (s.status.notice or "")
    s.history_paged(s.attempt, 60, ALICE)
    s.connected(s.attempt, Hello(1, ALICE, 60), NOW)
    again = s.unreadable_stream(s.attempt, "a message too large", NOW)
    assert "a message too large, again" in backs_off(again, s)
    assert s.unreadable_stream(s.attempt - 1, "late", NOW) == []


def test_a_cache_of_another_account_reloads_once_then_backs_off() -> None:
    s = session()
    s.start(5, NOW)
    assert s.connected(s.attempt, Hello(1, BOB, 5), NOW)[-1] == ClaimCache(s.attempt, BOB)
    commands = s.agent_changed(s.attempt, NOW)
    assert not only(commands, ResetCache)  # the claim already dropped it
    assert commands[-1] == PageHistory(s.attempt)
    assert "another account" in (s.status.notice or "")
    s.history_paged(s.attempt, 9, BOB)
    s.connected(s.attempt, Hello(1, BOB, 9), NOW)
    assert "full resync" in backs_off(s.agent_changed(s.attempt, NOW), s)


def test_a_hello_for_another_agent_than_me_backs_off_without_touching_the_cache() -> None:
    s = session()
    s.start(0, NOW)
    s.history_paged(s.attempt, 9, ALICE)
    commands = s.connected(s.attempt, Hello(1, BOB, 9), NOW)
    assert not only(commands, ClaimCache)
    assert "another agent" in backs_off(commands, s)
    assert s.cursor == 9  # the history stays; the retry resumes the stream
    wait = only(commands, WaitRetry)[0]
    assert s.retry_due(wait.attempt, NOW)[-1] == Connect(s.attempt, 9)  # type: ignore[union-attr]


def test_a_protocol_version_the_client_does_not_speak_is_refused() -> None:
    s = session()
    s.start(5, NOW)
    commands = s.connected(s.attempt, Hello(2, ALICE, 5), NOW)
    assert not only(commands, ClaimCache)
    error = backs_off(commands, s)
    assert "protocol version 2" in error and "update" in error
    assert s.agent is None
    # the delay grows like any other failure's
    delays = [only(commands, WaitRetry)[0].delay]  # type: ignore[union-attr]
    for _ in range(3):
        s.retry_due(s.attempt, NOW)
        commands = s.event_received(s.attempt, Hello(2, ALICE, 5), NOW)
        delays.append(only(commands, WaitRetry)[0].delay)  # type: ignore[union-attr]
    assert delays == [0.5, 1.0, 2.0, 4.0]


def test_a_replay_that_does_not_end_within_the_deadline_backs_off() -> None:
    s = SyncSession(Backoff(rand=lambda: 0.5), replay_deadline=60.0)
    s.start(5, NOW)
    s.connected(s.attempt, Hello(1, ALICE, 9), NOW)
    assert s.tick(NOW, 100.0) == []  # the first tick that sees it replaying starts the count
    event = NotificationEvent(6, make_notification("n6", 6))
    s.event_received(s.attempt, event, NOW)
    assert s.tick(NOW, 159.0) == []
    commands = s.tick(NOW, 160.0)
    assert "within 60 s" in backs_off(commands, s)
    assert s.cursor == 6  # what arrived is kept: the next attempt resumes after it


def test_a_stream_without_a_hello_has_the_same_deadline() -> None:
    s = SyncSession(Backoff(rand=lambda: 0.5), replay_deadline=60.0)
    s.start(5, NOW)
    assert s.tick(NOW, 10.0) == []
    assert s.tick(NOW, 69.0) == []
    assert "within 60 s" in backs_off(s.tick(NOW, 70.0), s)


def test_each_attempt_gets_its_own_deadline() -> None:
    s = SyncSession(Backoff(rand=lambda: 0.5), replay_deadline=60.0)
    s.start(5, NOW)
    s.tick(NOW, 0.0)
    s.disconnected(s.attempt, "down", NOW)
    s.retry_due(s.attempt, NOW)
    assert s.tick(NOW, 100.0) == []  # a new count, not the old attempt's
    assert s.tick(NOW, 159.0) == []


def test_no_deadline_while_live_paging_or_backing_off() -> None:
    s = live_session()
    assert s.tick(NOW, 1_000.0) == []
    paging = session()
    paging.start(0, NOW)
    assert paging.tick(NOW, 0.0) == [] and paging.tick(NOW, 1_000.0) == []
    s.disconnected(s.attempt, "down", NOW)
    assert s.tick(NOW, 5_000.0) == []


def test_a_skipped_event_moves_the_cursor_past_it() -> None:
    s = live_session(cursor=5)
    assert s.event_received(s.attempt, SkippedEvent(7, "bad"), NOW) == [AdvanceCursor(7)]
    assert s.cursor == 7
    assert s.status.state is ConnectionState.LIVE


def test_status_is_published_only_when_it_changes() -> None:
    s = live_session()
    assert only(s.connected(s.attempt, Hello(1, ALICE, 5), NOW), PublishStatus) == []


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
        "hello",
        "bad_hello",
        "other_agent",
        "agent_changed",
        "skipped",
        "stall",
        "healthy",
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
    # Immediate reloads a server caused since the last tick that saw a LIVE connection (only
    # such a tick can prove a connection healthy).
    reloads_at_once = 0
    me_said_alice = False  # a page-through finished: GET /me named alice
    commands = s.start(cursor, now)
    for step in steps:
        now += timedelta(seconds=1)
        mono += 1.0
        attempt = s.attempt
        if s.state is ConnectionState.LIVE and step in ("tick", "sleep", "stall", "healthy"):
            reloads_at_once = 0
        if step == "synced":
            commands = s.event_received(attempt, SyncedEvent(seq), now)
        elif step == "event":
            seq += 1
            commands = s.event_received(
                attempt, NotificationEvent(seq, make_notification("x", seq)), now
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
            commands = s.event_received(attempt, ResetEvent(0, "restored"), now)
        elif step == "hello":
            commands = s.connected(attempt, Hello(1, ALICE, seq), now)
        elif step == "bad_hello":
            commands = s.connected(attempt, Hello(2, ALICE, seq), now)
            assert not only(commands, ClaimCache)
        elif step == "other_agent":
            commands = s.connected(attempt, Hello(1, BOB, seq), now)
            if me_said_alice:
                assert not only(commands, ClaimCache)
        elif step == "agent_changed":
            commands = s.agent_changed(attempt, now)
        elif step == "skipped":
            seq += 1
            commands = s.event_received(attempt, SkippedEvent(seq, "bad"), now)
        elif step == "stall":
            mono += s.replay_deadline
            commands = s.tick(now, mono)
        elif step == "healthy":
            mono += s.healthy_after
            commands = s.tick(now, mono)
        else:
            commands = s.history_paged(attempt, seq, ALICE)
            me_said_alice = me_said_alice or bool(commands)
        if step in ("reset", "agent_changed") and only(commands, PageHistory):
            reloads_at_once += 1
        assert reloads_at_once <= 1, "a server made the client reload twice without a pause"
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


def test_a_stream_without_live_delivery_shows_in_the_live_status_until_it_is_back() -> None:
    delay = DeliveryDelay("the socket.io server is unreachable", 60.0)
    s = session()
    s.start(5, NOW)
    # Said at open, before synced: not shown while connecting, shown once LIVE.
    assert not only(s.delivery_changed(s.attempt, delay), PublishStatus)
    assert s.status.delayed is None
    s.connected(s.attempt, Hello(1, ALICE, 5), NOW)
    [live] = only(s.event_received(s.attempt, SyncedEvent(5), NOW), PublishStatus)
    assert isinstance(live, PublishStatus)
    assert (live.status.state, live.status.delayed) == (ConnectionState.LIVE, delay)
    # Back: published without it; a report about an older attempt changes nothing.
    [back] = only(s.delivery_changed(s.attempt, None), PublishStatus)
    assert isinstance(back, PublishStatus) and back.status.delayed is None
    assert s.delivery_changed(s.attempt - 1, delay) == []
    s.delivery_changed(s.attempt, delay)
    # Another state never shows it, and the next attempt starts without it.
    s.disconnected(s.attempt, "server unreachable", NOW)
    assert s.status.delayed is None
    s.retry_now(NOW)
    s.connected(s.attempt, Hello(1, ALICE, 5), NOW)
    s.event_received(s.attempt, SyncedEvent(5), NOW)
    assert s.status == ConnectionStatus(ConnectionState.LIVE, agent=ALICE)
