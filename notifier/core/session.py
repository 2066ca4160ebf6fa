"""The sync session: a sans-I/O state machine that decides what the engine does next.

It owns no socket, no timer and no database. The driver (:mod:`notifier.sync.engine`) feeds
it what happened (``connected``, ``event_received``, ``disconnected``, ``tick`` ...) with the
time passed in, and carries out the commands it returns, in order:

* :class:`Connect` open the stream, resuming after ``after_seq``;
* :class:`PageHistory` page the full history over REST (first sign-in, after a reset), then
  report :meth:`SyncSession.history_paged`;
* :class:`Apply` write stream events to the cache (idempotent there), ``replay`` until synced;
* :class:`ResetCache` forget the cache's server state (the server cannot replay for us);
* :class:`Disconnect` drop the current connection or page-through, without reporting back;
* :class:`WaitRetry` call :meth:`SyncSession.retry_due` after ``delay`` seconds;
* :class:`FlushPending` send the queued offline actions, in order;
* :class:`PublishStatus` tell the UI.

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
from notifier.core.status import ConnectionState, ConnectionStatus
from notifier.core.wire import (
    AgentInfo,
    DeletedEvent,
    ErrorEvent,
    Hello,
    NotificationEvent,
    ReadStateEvent,
    ResetEvent,
    ServerEvent,
    SyncedEvent,
)

CacheEvent = NotificationEvent | ReadStateEvent | DeletedEvent


@dataclass(frozen=True, slots=True)
class Connect:
    attempt: int
    after_seq: int


@dataclass(frozen=True, slots=True)
class PageHistory:
    attempt: int


@dataclass(frozen=True, slots=True)
class Apply:
    event: CacheEvent
    replay: bool


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
    | Apply
    | ResetCache
    | Disconnect
    | WaitRetry
    | FlushPending
    | PublishStatus
)


class SyncSession:
    """One agent's sync state. Not thread-safe; the driver calls it from one task at a time."""

    def __init__(self, backoff: Backoff | None = None, *, sleep_threshold: float = 30.0) -> None:
        self.backoff = backoff if backoff is not None else Backoff()
        self.sleep_threshold = sleep_threshold
        self.state = ConnectionState.SIGNED_OUT
        self.cursor = 0
        self.attempt = 0
        self.synced = False
        self.stopped = False
        self.agent: AgentInfo | None = None
        self._last_error: str | None = None
        self._next_retry_at: datetime | None = None
        self._notice: str | None = None
        self._published: ConnectionStatus | None = None
        self._last_tick: tuple[datetime, float] | None = None
        # What the current attempt is doing: paging the history or streaming. Inputs that do
        # not fit (an event during a page-through) come from a confused driver: ignored.
        self._paging = False

    @property
    def status(self) -> ConnectionStatus:
        return ConnectionStatus(
            state=self.state,
            last_error=self._last_error,
            next_retry_at=self._next_retry_at,
            agent=self.agent,
            notice=self._notice,
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

    def connected(self, attempt: int, hello: Hello) -> list[Command]:
        """The server greeted us (the stream's first message)."""
        if not self._streaming(attempt):
            return []
        self.agent = hello.agent
        return self._publish()

    def event_received(self, attempt: int, event: ServerEvent) -> list[Command]:
        if not self._streaming(attempt):
            return []
        if isinstance(event, Hello):
            return self.connected(attempt, event)
        if isinstance(event, NotificationEvent | ReadStateEvent | DeletedEvent):
            # Every event goes to the cache, which is idempotent by id and seq: filtering by
            # the cursor here would drop a legitimately late (reordered) event.
            self.cursor = max(self.cursor, event.seq)
            return [Apply(event, replay=not self.synced)]
        if isinstance(event, SyncedEvent):
            if self.synced:
                return []
            self.synced = True
            self.state = ConnectionState.LIVE
            self._last_error = None
            self._next_retry_at = None
            self.backoff.reset()
            went_live = [*self._publish(), FlushPending()]
            # A notice ("cache rebuilt") is one-off: shown up to and with the first LIVE.
            self._notice = None
            return went_live
        if isinstance(event, ResetEvent):
            self.cursor = 0
            self.synced = False
            self._notice = "the server asked for a full resync; notifications reloaded"
            return [
                Disconnect("the server cannot replay from our cursor"),
                ResetCache(event.reason),
                *self._connect(),
            ]
        if isinstance(event, ErrorEvent):
            self._last_error = f"the server reported a problem: {event.message or event.code}"
            return self._publish()
        return []  # unread_count (the cache counts itself) and unknown types: ignored

    def history_paged(self, attempt: int, last_seq: int) -> list[Command]:
        """The full history was applied; the stream resumes after the first page's last_seq."""
        if not self._current(attempt) or not self._paging:
            return []
        self.cursor = last_seq
        self.attempt += 1
        self._paging = False
        return [Connect(self.attempt, self.cursor)]

    def disconnected(self, attempt: int, error: str, now: datetime) -> list[Command]:
        """The connection (or page-through) for ``attempt`` failed or ended."""
        if not self._current(attempt):
            return []
        self._last_error = error
        self.synced = False
        self._paging = False
        if self.state is ConnectionState.OFFLINE:
            return self._publish()
        delay = self.backoff.next_delay()
        self.state = ConnectionState.BACKING_OFF
        self._next_retry_at = now + timedelta(seconds=delay)
        return [*self._publish(), WaitRetry(self.attempt, delay, self._next_retry_at)]

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
        """The watchdog: reconnect at once if wall time jumped (the machine slept)."""
        previous, self._last_tick = self._last_tick, (wall, monotonic)
        if previous is None or self.stopped:
            return []
        wall_delta = (wall - previous[0]).total_seconds()
        mono_delta = monotonic - previous[1]
        if wall_delta - mono_delta <= self.sleep_threshold:
            return []
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
        self._paging = self.cursor == 0
        step: Command = (
            PageHistory(self.attempt) if self._paging else Connect(self.attempt, self.cursor)
        )
        return [*self._publish(), step]

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
