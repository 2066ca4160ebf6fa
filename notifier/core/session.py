"""The sync session: a sans-I/O state machine that decides what the engine does next.

It owns no socket, no timer and no database. The driver (:mod:`notifier.sync.engine`) feeds
it what happened (``connected``, ``event_received``, ``disconnected``, ``tick`` ...) with the
time passed in, and carries out the commands it returns, in order:

* :class:`Connect` open the stream, resuming after ``after_seq``;
* :class:`PageHistory` page the full history over REST (first sign-in, after a reset), then
  report :meth:`SyncSession.history_paged`;
* :class:`ClaimCache` make the cache this agent's; if it held another account's notifications
  (the claim drops them), report :meth:`SyncSession.agent_changed`;
* :class:`Apply` write stream events to the cache (idempotent there), ``replay`` until synced;
* :class:`AdvanceCursor` move the cache's cursor past a log event that was skipped;
* :class:`ResetCache` forget the cache's server state (the server cannot replay for us);
* :class:`Disconnect` drop the current connection or page-through, without reporting back;
* :class:`WaitRetry` call :meth:`SyncSession.retry_due` after ``delay`` seconds;
* :class:`FlushPending` send the queued offline actions, in order;
* :class:`PublishStatus` tell the UI.

Attempt, reply, back off: a server must not be able to make the client spin, so every loop a
server can drive ends in the backoff, and the status's ``last_error`` says why:

* the backoff is reset only by a connection that stayed LIVE ``healthy_after`` seconds, never
  by reaching LIVE: a server that closes every connection right after the replay gets ever
  longer waits;
* one ``reset`` (or a cache that held another account's notifications) reloads at once; a
  second before a healthy connection backs off ("the server keeps asking for a full resync");
* a hello whose agent is not the one ``GET /me`` named for the same token, or whose protocol
  version this client does not speak, ends the attempt into the backoff (the latter asks the
  agent to update; the backoff, not a stop, so a helpdesk that is rolled back is found again);
* a stream that has not finished its replay (``synced``) ``replay_deadline`` seconds after it
  opened is ended into the backoff;
* the history page-through's own bounds live in the engine, which reports a failure here.

A stream may report that it has no live delivery (:meth:`SyncSession.delivery_changed`: a
Frappe site whose socket.io server is missing, so new notifications come only by a periodic
check): the status is then LIVE with ``delayed`` set, until the stream reports delivery back or
the attempt ends (any other state shows no ``delayed``; a new attempt starts without it).

Every connection attempt has a number; inputs about an older attempt (a late error from a
connection already dropped) are ignored, so a dropped connection can never schedule a second
retry loop. Obligations of the driver: after a :class:`Disconnect` it must not report
anything more for that attempt; after :class:`WaitRetry` it must call ``retry_due`` with the
same attempt (or nothing, if a later command superseded it).

States (:class:`~notifier.core.status.ConnectionState`)::

    CONNECTING ──synced──► LIVE ──error──► BACKING_OFF ──retry_due / retry_now──► CONNECTING
        │                   │                                  ▲
        └──────error────────┼──────────────────────────────────┘
    any ──401──► AUTH_FAILED (no retry; retry_now tries once)
    any ──network down──► OFFLINE ──network up──► CONNECTING
    LIVE/CONNECTING ──clock jump (the machine slept)──► CONNECTING at once
    CONNECTING ──bad hello / replay deadline / repeated reset──► BACKING_OFF

Both durations are measured by :meth:`SyncSession.tick`, the session's only monotonic
reading: the first tick that sees the state (LIVE, or streaming before ``synced``) starts the
count and a later one ends it, so each is that precise (one keepalive period, ~20 s).

The watchdog: ``tick(wall, monotonic)`` is called at every keepalive ping of the open stream
(every ~20 s), or by the driver's own timer at the same cadence while no stream is open; it
needs no fixed period, only two readings of both clocks. Wall-clock time keeps
running while a laptop sleeps but the monotonic clock (on Linux) does not; a wall-clock jump
more than ``sleep_threshold`` seconds beyond the monotonic delta means the machine slept and
the connection is most likely dead without either side knowing, so reconnect at once.
(Where the monotonic clock keeps counting through sleep, as on Windows, the watchdog sees
nothing and the ping timeout catches the dead connection instead, within ~40 s.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier.core.backoff import Backoff
from notifier.core.status import ConnectionState, ConnectionStatus, DeliveryDelay
from notifier.core.text import server_words
from notifier.core.wire import (
    PROTOCOL_VERSION,
    AgentInfo,
    DeletedEvent,
    ErrorEvent,
    Hello,
    NotificationEvent,
    ReadStateEvent,
    ResetEvent,
    SkippedEvent,
    StreamEvent,
    SyncedEvent,
    UnknownEvent,
    UnreadCountEvent,
)

# A connection that stayed LIVE this long was healthy: the backoff and the reset allowance
# start over. Longer than a replay and a few keepalive rounds, short enough to matter.
HEALTHY_AFTER = 60.0
# A replay (hello to synced) that takes longer than this is a stalled or hostile server. A
# slow but honest replay is not lost: every applied event moved the cursor, so the next
# attempt resumes from there.
REPLAY_DEADLINE = 60.0
# Resets (or caches of another account) reloaded at once between two healthy connections.
RESETS_AT_ONCE = 1

CacheEvent = NotificationEvent | ReadStateEvent | DeletedEvent
# What a stream may send before its hello: nothing of it is applied (an error is shown).
_HARMLESS_BEFORE_HELLO = (ErrorEvent, UnknownEvent, UnreadCountEvent)


@dataclass(frozen=True, slots=True)
class Connect:
    attempt: int
    after_seq: int


@dataclass(frozen=True, slots=True)
class PageHistory:
    attempt: int


@dataclass(frozen=True, slots=True)
class ClaimCache:
    attempt: int
    agent: AgentInfo


@dataclass(frozen=True, slots=True)
class Apply:
    event: CacheEvent
    replay: bool


@dataclass(frozen=True, slots=True)
class AdvanceCursor:
    seq: int


@dataclass(frozen=True, slots=True)
class ResetCache:
    reason: str


@dataclass(frozen=True, slots=True)
class Disconnect:
    reason: str


@dataclass(frozen=True, slots=True)
class WaitRetry:
    attempt: int
    delay: float
    at: datetime


@dataclass(frozen=True, slots=True)
class FlushPending:
    pass


@dataclass(frozen=True, slots=True)
class PublishStatus:
    status: ConnectionStatus


Command = (
    Connect
    | PageHistory
    | ClaimCache
    | Apply
    | AdvanceCursor
    | ResetCache
    | Disconnect
    | WaitRetry
    | FlushPending
    | PublishStatus
)


class SyncSession:
    """One agent's sync state. Not thread-safe; the driver calls it from one task at a time."""

    def __init__(
        self,
        backoff: Backoff | None = None,
        *,
        sleep_threshold: float = 30.0,
        healthy_after: float = HEALTHY_AFTER,
        replay_deadline: float = REPLAY_DEADLINE,
    ) -> None:
        self.backoff = backoff if backoff is not None else Backoff()
        self.sleep_threshold = sleep_threshold
        self.healthy_after = healthy_after
        self.replay_deadline = replay_deadline
        self.state = ConnectionState.SIGNED_OUT
        self.cursor = 0
        self.attempt = 0
        self.synced = False
        self.stopped = False
        self.agent: AgentInfo | None = None
        self._last_error: str | None = None
        self._next_retry_at: datetime | None = None
        self._notice: str | None = None
        # What the current attempt's stream said about live delivery (None: live, or unknown).
        self._delayed: DeliveryDelay | None = None
        self._published: ConnectionStatus | None = None
        self._last_tick: tuple[datetime, float] | None = None
        # What the current attempt is doing: paging the history or streaming. Inputs that do
        # not fit (an event during a page-through) come from a confused driver: ignored.
        self._paging = False
        # Monotonic readings of the first tick that saw the current attempt streaming before
        # synced, and LIVE; None until then.
        self._replay_since: float | None = None
        self._live_since: float | None = None
        # Resets (or another account's caches) since the last healthy connection.
        self._resets = 0
        # The agent GET /me named for this token at the last page-through.
        self._paged_as: AgentInfo | None = None
        # Whether the current attempt's stream has said hello (who it is, which protocol).
        self._greeted = False

    @property
    def status(self) -> ConnectionStatus:
        return ConnectionStatus(
            state=self.state,
            last_error=self._last_error,
            next_retry_at=self._next_retry_at,
            agent=self.agent,
            notice=self._notice,
            delayed=self._delayed if self.state is ConnectionState.LIVE else None,
        )

    # ------------------------------------------------------------------ inputs

    def start(
        self, cursor: int, now: datetime, *, online: bool = True, notice: str | None = None
    ) -> list[Command]:
        """Begin syncing from the cache's ``cursor`` (0: page the full history first)."""
        self.cursor = cursor
        self.stopped = False
        self._notice = notice
        if not online:
            return self._go_offline()
        return self._connect()

    def stop(self) -> list[Command]:
        self.stopped = True
        self._paging = False
        self.attempt += 1  # whatever is still running reports for a dead attempt
        return [Disconnect("stopping")]

    def connected(self, attempt: int, hello: Hello, now: datetime) -> list[Command]:
        """The server greeted us (the stream's first message). Unless the hello is refused,
        the driver must then claim the cache for its agent (the last command returned)."""
        if not self._streaming(attempt):
            return []
        if hello.protocol != PROTOCOL_VERSION:
            return self._give_up(
                f"the helpdesk speaks protocol version {hello.protocol}",
                f"the helpdesk speaks protocol version {hello.protocol} and this app only"
                f" version {PROTOCOL_VERSION}: update notifier",
                now,
            )
        if self._paged_as is not None and hello.agent.id != self._paged_as.id:
            # GET /me and the stream disagree about who this token is: reloading cannot help.
            return self._give_up(
                "the stream is another agent's",
                "the helpdesk signed the stream in as another agent than the token's",
                now,
            )
        self.agent = hello.agent
        self._greeted = True
        return [*self._publish(), ClaimCache(attempt, hello.agent)]

    def agent_changed(self, attempt: int, now: datetime) -> list[Command]:
        """Claiming the cache found another account's notifications and dropped them: load
        this agent's history (at once, or after the backoff if it keeps happening)."""
        if not self._streaming(attempt):
            return []
        return self._reload(
            "the cache belonged to another account",
            "the saved notifications belonged to another account; reloaded from the server",
            now,
        )

    def event_received(self, attempt: int, event: StreamEvent, now: datetime) -> list[Command]:
        if not self._streaming(attempt):
            return []
        if isinstance(event, Hello):
            return self.connected(attempt, event, now)
        if not self._greeted and not isinstance(event, _HARMLESS_BEFORE_HELLO):
            # Neither the agent nor the protocol version was checked: applying what such a
            # stream sends could put another agent's notifications in this agent's tray.
            return self._give_up(
                "the stream did not start with a hello",
                "the helpdesk's live connection did not say who it is for (no hello message)",
                now,
            )
        if isinstance(event, NotificationEvent | ReadStateEvent | DeletedEvent):
            # Every event goes to the cache, which is idempotent by id and seq: filtering by
            # the cursor here would drop a legitimately late (reordered) event.
            self.cursor = max(self.cursor, event.seq)
            return [Apply(event, replay=not self.synced)]
        if isinstance(event, SkippedEvent):
            # Unreadable for good: waiting for it would replay it on every reconnect.
            self.cursor = max(self.cursor, event.seq)
            return [AdvanceCursor(event.seq)]
        if isinstance(event, SyncedEvent):
            if self.synced:
                return []
            self.synced = True
            self.state = ConnectionState.LIVE
            self._last_error = None
            self._next_retry_at = None
            went_live = [*self._publish(), FlushPending()]
            # A notice ("cache rebuilt") is one-off: shown up to and with the first LIVE.
            self._notice = None
            return went_live
        if isinstance(event, ResetEvent):
            return self._reload(
                "the server cannot replay from our cursor",
                "the server asked for a full resync; notifications reloaded",
                now,
                ResetCache(server_words(event.reason)),
            )
        if isinstance(event, ErrorEvent):
            words = server_words(event.message) or server_words(event.code)
            self._last_error = f"the server reported a problem: {words}"
            return self._publish()
        return []  # unread_count (the cache counts itself) and unknown types: ignored

    def unreadable_stream(self, attempt: int, error: str, now: datetime) -> list[Command]:
        """The stream of ``attempt`` sent a message too large to read (``error`` says so):
        its seq is unknown, so resuming from the cursor would get it again on every attempt,
        and nothing after it ever. Reload the history as for a reset, which resumes after
        the log's head (at once the first time, after the backoff when it keeps happening)."""
        if not self._streaming(attempt):
            return []
        return self._reload(
            "a message from the server was too large to read",
            f"{error}; notifications reloaded",
            now,
            ResetCache(error),
            again=f"{error}, again after reloading",
        )

    def delivery_changed(self, attempt: int, delayed: DeliveryDelay | None) -> list[Command]:
        """The stream of ``attempt`` lost live delivery (``delayed`` says why and how often it
        checks instead) or has it again (None). Shown in the status while LIVE."""
        if not self._streaming(attempt):
            return []
        self._delayed = delayed
        return self._publish()

    def history_paged(self, attempt: int, last_seq: int, agent: AgentInfo) -> list[Command]:
        """The full history of ``agent`` (whom GET /me named) was applied; the stream resumes
        after the first page's last_seq."""
        if not self._current(attempt) or not self._paging:
            return []
        self._paged_as = agent
        self.cursor = last_seq
        self.attempt += 1
        self._paging = False
        return [Connect(self.attempt, self.cursor)]

    def disconnected(
        self, attempt: int, error: str, now: datetime, retry_after: float | None = None
    ) -> list[Command]:
        """The connection (or page-through) for ``attempt`` failed or ended; ``retry_after``:
        the seconds the helpdesk asked to wait (429, 503), which the next attempt keeps to
        however short the backoff's own draw is (docs/protocol.md: never retry a 429 sooner)."""
        if not self._current(attempt):
            return []
        if self.state is ConnectionState.OFFLINE:
            self._last_error = error
            self.synced = False
            self._paging = False
            return self._publish()
        return self._back_off(error, now, at_least=retry_after or 0.0)

    def auth_failed(self, attempt: int | None, message: str) -> list[Command]:
        """401: the token is wrong or revoked. Stop until the agent signs in again."""
        if attempt is not None and not self._current(attempt):
            return []
        self.attempt += 1
        self.synced = False
        self._paging = False
        self.state = ConnectionState.AUTH_FAILED
        self._last_error = message
        self._next_retry_at = None
        return [Disconnect("authentication failed"), *self._publish()]

    def retry_due(self, attempt: int, now: datetime) -> list[Command]:
        if not self._current(attempt) or self.state is not ConnectionState.BACKING_OFF:
            return []
        return self._connect()

    def retry_now(self, now: datetime) -> list[Command]:
        """The agent asked to retry: skip the wait (also from offline or auth-failed)."""
        if self.stopped or self.state in (ConnectionState.LIVE, ConnectionState.CONNECTING):
            return []
        return self._connect()

    def network(self, online: bool, now: datetime) -> list[Command]:
        """The OS reported the network going down or coming back."""
        if self.stopped or self.state is ConnectionState.AUTH_FAILED:
            return []
        if not online:
            if self.state is ConnectionState.OFFLINE:
                return []
            self.attempt += 1
            return [Disconnect("the network is down"), *self._go_offline()]
        if self.state in (ConnectionState.OFFLINE, ConnectionState.BACKING_OFF):
            return self._connect()
        return []

    def tick(self, wall: datetime, monotonic: float) -> list[Command]:
        """The watchdog: reconnect at once if wall time jumped (the machine slept); start the
        backoff over once the connection has been healthy; end a replay past its deadline."""
        previous, self._last_tick = self._last_tick, (wall, monotonic)
        if self.stopped:
            return []
        if previous is not None and self._slept(previous, wall, monotonic):
            return self._woke_up()
        if self.state is ConnectionState.LIVE:
            if self._live_since is None:
                self._live_since = monotonic
            elif monotonic - self._live_since >= self.healthy_after:
                self.backoff.reset()  # the connection proved healthy: start over
                self._resets = 0
            return []
        if self._streaming(self.attempt):
            if self._replay_since is None:
                self._replay_since = monotonic
            elif monotonic - self._replay_since >= self.replay_deadline:
                return self._give_up(
                    "the replay took too long",
                    "the server did not finish sending the missed notifications within"
                    f" {self.replay_deadline:g} s",
                    wall,
                )
        return []

    def _slept(self, previous: tuple[datetime, float], wall: datetime, monotonic: float) -> bool:
        wall_delta = (wall - previous[0]).total_seconds()
        return wall_delta - (monotonic - previous[1]) > self.sleep_threshold

    def _woke_up(self) -> list[Command]:
        if self.state not in (ConnectionState.LIVE, ConnectionState.CONNECTING):
            if self.state is ConnectionState.BACKING_OFF:
                return self._connect()  # no point waiting out a delay from before the sleep
            return []
        self.backoff.reset()
        self.attempt += 1
        return [Disconnect("the computer was asleep"), *self._connect()]

    # ------------------------------------------------------------------ helpers

    def _current(self, attempt: int) -> bool:
        return not self.stopped and attempt == self.attempt

    def _streaming(self, attempt: int) -> bool:
        return (
            self._current(attempt)
            and not self._paging
            and self.state in (ConnectionState.CONNECTING, ConnectionState.LIVE)
        )

    def _connect(self) -> list[Command]:
        self.attempt += 1
        self.synced = False
        self.state = ConnectionState.CONNECTING
        self._next_retry_at = None
        self._delayed = None  # the new stream says again, if it has to
        self._replay_since = None
        self._live_since = None
        self._greeted = False
        self._paging = self.cursor == 0
        step: Command = (
            PageHistory(self.attempt) if self._paging else Connect(self.attempt, self.cursor)
        )
        return [*self._publish(), step]

    def _back_off(self, error: str, now: datetime, at_least: float = 0.0) -> list[Command]:
        """Wait before the next attempt (``at_least`` seconds); the delay grows until a
        connection stays healthy."""
        self._last_error = error
        self.synced = False
        self._paging = False
        delay = max(self.backoff.next_delay(), at_least)
        self.state = ConnectionState.BACKING_OFF
        self._next_retry_at = now + timedelta(seconds=delay)
        return [*self._publish(), WaitRetry(self.attempt, delay, self._next_retry_at)]

    def _give_up(self, reason: str, error: str, now: datetime) -> list[Command]:
        """End the current attempt (the server misbehaved) and back off."""
        self.attempt += 1  # whatever the dropped connection still reports is ignored
        return [Disconnect(reason), *self._back_off(error, now)]

    def _reload(
        self,
        reason: str,
        notice: str,
        now: datetime,
        *cleanup: ResetCache,
        again: str = "the server keeps asking for a full resync",
    ) -> list[Command]:
        """The server cannot replay for our cursor: page the history again, at once the first
        time, after the backoff when it keeps happening without a healthy connection."""
        self.cursor = 0
        self._resets += 1
        dropped: list[Command] = [Disconnect(reason), *cleanup]
        if self._resets > RESETS_AT_ONCE:
            self.attempt += 1  # whatever the dropped connection still reports is ignored
            return [*dropped, *self._back_off(again, now)]
        self._notice = notice
        return [*dropped, *self._connect()]

    def _go_offline(self) -> list[Command]:
        self.state = ConnectionState.OFFLINE
        self.synced = False
        self._paging = False
        self._next_retry_at = None
        self._last_error = "no network connection"
        return self._publish()

    def _publish(self) -> list[Command]:
        status = self.status
        if status == self._published:
            return []
        self._published = status
        return [PublishStatus(status)]
