"""The sync engine: the asyncio driver that carries out the sync session's commands.

:class:`~notifier.core.session.SyncSession` decides; this module does. It owns the tasks
(the current connection or history page-through, the retry timer, the watchdog, the flush of
offline actions), feeds their results back into the session, writes to the cache and calls
``on_status`` / ``on_change``. All of it runs on one event loop (qasync's in the app, a plain
asyncio loop in ``notifier tail``), so session and cache are never touched concurrently.

Obligations kept here (see the session's docstring for the state machine):

* a task started for attempt N reports only for N; a :class:`~notifier.core.session.Disconnect`
  cancels the current task, whose cancellation is never reported;
* ``on_change`` is called after the cache commit, once per applied change that changed
  something (a duplicate or the server's echo of a local action publishes nothing); stream
  events that arrive together (a replay) are written in one transaction and published as one
  change, up to ``STREAM_SLICE`` at a time; a live event is written as soon as the event loop
  gets control, and before anything else the session commands;
* offline actions are removed from the queue only after the server acknowledged them (a 404
  means the notification is already gone: dropped too); a network failure stops the flush and
  the next LIVE state starts it again, so the order is kept;
* one event never blocks the ones after it: an event the cache refuses to store is logged
  (its seq and the error, never its content) and skipped, and the cursor moves past it; only
  a failing database (disk full, locked, I/O) drops the connection, to retry after the backoff;
* the history page-through ends (into the backoff) when a page does not advance past the
  previous one, or after ``max_history_pages`` pages.

The sleep watchdog (``SyncSession.tick``) runs no timer of its own while the stream is open:
a stream that offers :class:`KeepaliveAware` (the WebSocket one) calls it back at every
keepalive ping, so the only periodic wake-up of an idle, connected app is the keepalive.
Without such a stream (connecting, paging the history, backing off, or a backend whose stream
cannot tell) the engine ticks itself every ``watchdog_interval`` seconds, by default the
keepalive's 20 s; while offline or signed out nothing can come of a tick, so none runs.

A stream may also offer :class:`DeliveryAware` (the Frappe one, whose socket.io server can be
missing while its REST API works): it reports when live delivery is missing (a
:class:`~notifier.core.status.DeliveryDelay`: notifications come only by periodic checks) or
back (None), and the session shows that in the LIVE status's ``delayed`` so the tray does not
claim live updates it does not get. A stream that cannot tell is taken to deliver live.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sqlite3
import time
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from notifier.core.backoff import Backoff
from notifier.core.errors import (
    AuthFailed,
    BackendError,
    ConnectionLost,
    NotFound,
    ProtocolViolation,
    UnreadableStream,
)
from notifier.core.ports import Clock, EventStream, HelpdeskBackend
from notifier.core.session import (
    HEALTHY_AFTER,
    REPLAY_DEADLINE,
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
from notifier.core.status import (
    CacheChange,
    ChangeKind,
    ConnectionState,
    ConnectionStatus,
    DeliveryDelay,
)
from notifier.core.wire import MAX_PAGE_LIMIT, AgentInfo, ClearScope, NotificationPage
from notifier.store.cache import ActionKind, Applied, NotificationCache, PendingAction

log = logging.getLogger(__name__)

# The largest page the protocol allows: every request costs the app and the server a round of
# their own (benchmarks/README.md, "First sign-in"). An older server gets pages of 500
# (RestClient.list_notifications).
PAGE_LIMIT = MAX_PAGE_LIMIT
# A million notifications or more: beyond any real history, a server that never says
# has_more=false.
MAX_HISTORY_PAGES = 2_000
# What the cache raises for one event it cannot store (a constraint, a value SQLite cannot
# hold). Anything else from SQLite (disk full, locked, I/O) is the database's, not the event's.
UNSTORABLE = (sqlite3.IntegrityError, sqlite3.DataError, ValueError, OverflowError)
# Work between two yields to the event loop, one transaction and one published change each
# (figures in benchmarks/README.md: engine_loop_lag.py, replay_burst.py):
APPLY_SLICE = 250  # rows of a REST page
STREAM_SLICE = 64  # stream events of a replay
# The client's default keepalive ping interval (notifier/client/transport.py): the watchdog's
# own cadence when no keepalive carries it, so a wake from sleep is noticed as soon either way.
WATCHDOG_INTERVAL = 20.0
# States in which a clock jump changes something (see SyncSession.tick).
WATCHED_STATES = (ConnectionState.LIVE, ConnectionState.CONNECTING, ConnectionState.BACKING_OFF)


@runtime_checkable
class KeepaliveAware(Protocol):
    """A stream that calls ``listener`` at each keepalive ping (``None`` unregisters)."""

    def on_keepalive(self, listener: Callable[[], None] | None) -> None: ...


@runtime_checkable
class DeliveryAware(Protocol):
    """A stream that tells ``listener`` when live delivery is missing (a
    :class:`~notifier.core.status.DeliveryDelay`; at once on registering if it is missing
    then) and when it is back (None). ``None`` as the listener unregisters."""

    def on_delivery_change(
        self, listener: Callable[[DeliveryDelay | None], None] | None
    ) -> None: ...


class SystemClock:
    """The real clock: aware UTC wall time and ``time.monotonic``."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


def changes_for(
    applied: Applied, *, replay: bool = False, local: bool = False
) -> list[CacheChange]:
    """The :class:`CacheChange` values that describe one apply (none for a no-op)."""
    changes: list[CacheChange] = []
    if applied.upserted:
        changes.append(
            CacheChange(
                ChangeKind.UPSERTED, notifications=applied.upserted, replay=replay, local=local
            )
        )
    for ids, read in ((applied.read, True), (applied.unread, False)):
        if ids:
            changes.append(
                CacheChange(ChangeKind.READ_STATE, ids=ids, read=read, replay=replay, local=local)
            )
    if applied.deleted:
        changes.append(
            CacheChange(ChangeKind.DELETED, ids=applied.deleted, replay=replay, local=local)
        )
    return changes


@dataclasses.dataclass(frozen=True, slots=True)
class EngineOptions:
    """How a :class:`SyncEngine` syncs, beyond what it syncs (every field has a default).

    ``backoff`` makes the reconnect delays (a factory: a :class:`Backoff` counts attempts, so
    each engine gets its own). ``watchdog_interval`` is how often the sleep watchdog looks at
    the clocks when no keepalive does (see the module docstring); ``sleep_threshold``,
    ``healthy_after`` and ``replay_deadline`` are the session's
    (:class:`~notifier.core.session.SyncSession`). ``page_limit`` is the size of a history
    page, ``max_history_pages`` where a history that does not end is given up. ``online`` is
    the network state :meth:`SyncEngine.run` starts in; ``notice`` a remark for the first
    status; ``account`` the server URL that, with the agent id, says whose the cache is.

    ``publish_before_commit`` (``notifier tail``): ``on_change`` is called for the server's
    changes inside the cache transaction, before it commits, instead of after. A process
    killed in between has not committed the change, so it is applied and published again on
    the next start: at-least-once output, where the default (the app) is at-most-once.
    """

    backoff: Callable[[], Backoff] = Backoff
    watchdog_interval: float = WATCHDOG_INTERVAL
    sleep_threshold: float = 30.0
    healthy_after: float = HEALTHY_AFTER
    replay_deadline: float = REPLAY_DEADLINE
    page_limit: int = PAGE_LIMIT
    max_history_pages: int = MAX_HISTORY_PAGES
    online: bool = True
    notice: str | None = None
    account: str = ""
    publish_before_commit: bool = False


class SyncEngine:
    """Keeps ``cache`` equal to the helpdesk's view through ``backend``.

    The engine owns ``backend`` (it closes it when :meth:`run` returns); the caller owns
    ``cache``. ``options`` tune it (:class:`EngineOptions`).
    """

    def __init__(
        self,
        backend: HelpdeskBackend,
        cache: NotificationCache,
        clock: Clock,
        *,
        on_status: Callable[[ConnectionStatus], None],
        on_change: Callable[[CacheChange], None],
        options: EngineOptions = EngineOptions(),  # frozen: one default for all engines
    ) -> None:
        self._backend = backend
        self._cache = cache
        self._clock = clock
        self._on_status = on_status
        self._on_change = on_change
        self._session = SyncSession(
            options.backoff(),
            sleep_threshold=options.sleep_threshold,
            healthy_after=options.healthy_after,
            replay_deadline=options.replay_deadline,
        )
        self._watchdog_interval = options.watchdog_interval
        self._page_limit = options.page_limit
        self._max_history_pages = options.max_history_pages
        self._online = options.online
        self._account = options.account  # the server URL: with the agent id, who owns the cache
        notice = options.notice
        if notice is None and cache.recovered_from is not None:
            notice = (
                f"the local cache was unreadable; it was moved to {cache.recovered_from.name}"
                " and rebuilt from the server"
            )
        self._notice = notice
        self._publish_before_commit = options.publish_before_commit
        self._connection_task: asyncio.Task[None] | None = None
        self._retry_task: asyncio.Task[None] | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self._checkpoint_task: asyncio.Task[bool] | None = None
        # Stream events received and not written yet: see _flush_applies.
        self._applying: list[Apply] = []
        self._flush_scheduled = False
        self._helpers: set[asyncio.Task[None]] = set()
        self._stopped = asyncio.Event()
        # Set while the engine's own watchdog timer must tick (no keepalive carries the check).
        self._watchdog_wanted = asyncio.Event()
        self._keepalive_streams = 0
        self._running = False
        self._finished = False

    # ------------------------------------------------------------------ public API

    @property
    def status(self) -> ConnectionStatus:
        return self._session.status

    @property
    def cache(self) -> NotificationCache:
        return self._cache

    async def run(self) -> None:
        """Connect, resume and reconnect with backoff until :meth:`stop`; then close the
        backend. Runs once per engine (sign-in again = a new engine from compose)."""
        if self._running or self._finished:
            # The backend is closed when run() returns: build a new engine to sync again.
            raise RuntimeError("SyncEngine.run() can run once")
        self._running = True  # a stop() that came before run() is kept: run() returns at once
        watchdog = asyncio.create_task(self._watchdog(), name="sync-watchdog")
        try:
            self._execute(
                self._session.start(
                    self._cache.cursor(),
                    self._clock.now(),
                    online=self._online,
                    notice=self._notice,
                )
            )
            await self._stopped.wait()
        finally:
            watchdog.cancel()
            self._execute(self._session.stop())
            tasks = [t for t in (watchdog, self._retry_task, self._flush_task, *self._helpers) if t]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._checkpoint_task is not None:
                # A thread cannot be cancelled; let it finish before the caller closes the cache.
                await asyncio.gather(self._checkpoint_task, return_exceptions=True)
            if self._connection_task is not None:
                with contextlib.suppress(BaseException):
                    await self._connection_task
            await self._backend.aclose()
            self._running = False
            self._finished = True

    async def stop(self) -> None:
        """Close the connection cleanly; :meth:`run` returns."""
        self._stopped.set()

    def retry_now(self) -> None:
        if self._running:
            self._execute(self._session.retry_now(self._clock.now()))

    def network_changed(self, online: bool) -> None:
        self._online = online  # before run(): where run() starts
        if self._running:
            self._execute(self._session.network(online, self._clock.now()))

    async def mark_read(self, notification_id: str) -> None:
        self._local(self._cache.local_mark(notification_id, True))

    async def mark_unread(self, notification_id: str) -> None:
        self._local(self._cache.local_mark(notification_id, False))

    async def mark_all_read(self) -> None:
        applied, _up_to_seq = self._cache.local_mark_all_read()
        self._local(applied)

    async def delete(self, notification_id: str) -> None:
        self._local(self._cache.local_delete(notification_id))

    async def clear_read(self) -> None:
        self._local(self._cache.local_clear(ClearScope.READ))

    # ------------------------------------------------------------------ command execution

    def _execute(self, commands: list[Command]) -> None:
        for command in commands:
            if isinstance(command, Apply):
                self._queue_apply(command)
                continue
            self._flush_applies()  # whatever comes next comes after those events
            if isinstance(command, PublishStatus):
                self._publish_status(command.status)
            elif isinstance(command, AdvanceCursor):
                self._cache.advance_cursor(command.seq)
            elif isinstance(command, ClaimCache):
                if not self._claim_cache(command.agent):
                    self._execute(self._session.agent_changed(command.attempt, self._clock.now()))
            elif isinstance(command, Disconnect):
                log.info("dropping the connection: %s", command.reason)
                self._cancel_connection()
            elif isinstance(command, Connect):
                self._start_connection(self._stream(command.attempt, command.after_seq))
            elif isinstance(command, PageHistory):
                self._start_connection(self._page_history(command.attempt))
            elif isinstance(command, WaitRetry):
                self._cancel(self._retry_task)
                log.info("reconnecting in %.1f s", command.delay)
                self._retry_task = asyncio.create_task(
                    self._wait_retry(command.attempt, command.delay), name="sync-retry"
                )
            elif isinstance(command, ResetCache):
                log.warning("resetting the cache: %s", command.reason)
                self._cache.reset()
                self._publish_changes([CacheChange(ChangeKind.RESET, replay=True)])
            elif isinstance(command, FlushPending):
                self._start_flush()

    def _queue_apply(self, command: Apply) -> None:
        if self._applying and self._applying[-1].replay != command.replay:
            self._flush_applies()  # each published change is a replay or not, never both
        self._applying.append(command)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            try:
                asyncio.get_running_loop().call_soon(self._flush_applies)
            except RuntimeError:  # no loop (never in the app): nothing to wait for
                self._flush_applies()

    def _flush_applies(self) -> None:
        """Write the stream events received so far in one transaction; publish one change.

        A replay's buffered frames are read without the event loop getting control, so they
        gather here and are written together at the end of each slice (a commit and a repaint
        of the badge per event made a long replay take many times longer: benchmarks/README.md,
        "Figures behind the code"). A live event
        waits for nothing: this runs as soon as the loop gets control, before the next
        frame is awaited, and before any other command of the session.
        """
        self._flush_scheduled = False
        batch, self._applying = self._applying, []
        if not batch:
            return
        try:
            with self._commit_after_publishing():
                applied = self._cache.apply_events([command.event for command in batch])
                self._publish_changes(changes_for(applied, replay=batch[0].replay))
        except UNSTORABLE:
            # One of them cannot be stored: one at a time, so that only that one is skipped.
            for command in batch:
                self._apply(command)
            return
        self._maybe_checkpoint()

    def _apply(self, command: Apply) -> None:
        event = command.event
        try:
            # (A failed apply inside the publishing transaction rolls all of it back.)
            with self._commit_after_publishing():
                applied = self._cache.apply_events([event])
                self._publish_changes(changes_for(applied, replay=command.replay))
        except UNSTORABLE as error:
            # Dropping the connection would replay it, and fail, on every reconnect.
            log.warning(
                "skipped event seq %d: the cache could not store it (%s: %s)",
                event.seq,
                type(error).__name__,
                error,
            )
            self._cache.advance_cursor(event.seq)
            return
        self._maybe_checkpoint()

    def _publish_status(self, status: ConnectionStatus) -> None:
        self._update_watchdog(status.state)
        log.info(
            "status: %s%s%s",
            status.state.value,
            f" ({status.last_error})" if status.last_error else "",
            f" (no live updates: {status.delayed.reason})" if status.delayed else "",
        )
        try:
            self._on_status(status)
        except Exception:
            log.exception("the status listener failed")

    def _publish_changes(self, changes: list[CacheChange]) -> None:
        for change in changes:
            try:
                self._on_change(change)
            except Exception:
                log.exception("a change listener failed")

    def _local(self, applied: Applied) -> None:
        self._publish_changes(changes_for(applied, local=True))
        self._maybe_checkpoint()
        if self._session.state is ConnectionState.LIVE:
            self._start_flush()

    def _start_connection(self, work: Coroutine[Any, Any, None]) -> None:
        self._cancel_connection()
        self._connection_task = asyncio.create_task(work, name="sync-connection")

    def _cancel_connection(self) -> None:
        task, self._connection_task = self._connection_task, None
        if task is not None and not task.done():
            task.cancel()
            # keep a reference until it has finished closing its socket
            self._helpers.add(task)
            task.add_done_callback(self._helpers.discard)

    @staticmethod
    def _cancel(task: asyncio.Task[None] | None) -> None:
        if task is not None and not task.done():
            task.cancel()

    # ------------------------------------------------------------------ tasks

    async def _stream(self, attempt: int, after_seq: int) -> None:
        session = self._session
        try:
            stream = await self._backend.open_stream(after_seq)
            try:
                with self._keepalive_ticks(stream), self._delivery_reports(attempt, stream):
                    await self._receive(attempt, stream)
            finally:
                # Runs after a cancellation too (the cancel was delivered at the receive).
                with contextlib.suppress(Exception):
                    await stream.close()
            raise ConnectionLost("the server ended the live connection")
        except AuthFailed as error:
            self._execute(session.auth_failed(attempt, str(error)))
        except UnreadableStream as error:
            log.warning("the live connection was closed: %s", error)
            self._execute(session.unreadable_stream(attempt, str(error), self._clock.now()))
        except (ConnectionLost, BackendError) as error:
            log.info("connection lost: %s", error)
            self._execute(
                session.disconnected(attempt, str(error), self._clock.now(), error.retry_after)
            )
        except asyncio.CancelledError:
            raise
        except Exception as error:  # never let a bug kill the engine: log and retry
            log.exception("unexpected error on the live connection")
            self._execute(
                session.disconnected(attempt, f"unexpected error: {error}", self._clock.now())
            )

    async def _receive(self, attempt: int, stream: EventStream) -> None:
        session = self._session
        handled = 0
        async for event in stream:
            self._execute(session.event_received(attempt, event, self._clock.now()))
            handled += 1
            if handled % STREAM_SLICE == 0:
                # Buffered frames are read without yielding: during a long replay, write
                # the slice and give the GUI's event loop a turn.
                self._flush_applies()
                await asyncio.sleep(0)
                await self._bound_wal()

    async def _page_history(self, attempt: int) -> None:
        session = self._session
        try:
            # Whose history is this? Never mix two agents' notifications in one cache.
            agent = await self._backend.me()
            self._claim_cache(agent)
            # Into an empty cache: its secondary indexes are built once at the end.
            history_load = self._cache.begin_history_load()
            after_seq = 0
            upcoming: asyncio.Task[NotificationPage] | None = None
            try:
                page = first = await self._backend.list_notifications(after_seq, self._page_limit)
                pages, total = 1, 0
                while True:
                    # Ask for the next page before writing this one: the server reads and
                    # encodes it on its own core meanwhile (a page-through otherwise waits
                    # for the two in turn; benchmarks/README.md, first_sign_in.py).
                    more = page.has_more and page.end_seq != 0
                    if more and page.end_seq > after_seq and pages < self._max_history_pages:
                        upcoming = asyncio.create_task(
                            self._backend.list_notifications(page.end_seq, self._page_limit),
                            name="sync-next-page",
                        )
                    await self._apply_page_in_slices(page)
                    total += len(page.notifications)
                    if not more:
                        break
                    if page.end_seq <= after_seq:
                        raise ProtocolViolation(
                            "loading the notifications did not advance (the server sent the"
                            " same page again)"
                        )
                    if pages >= self._max_history_pages:
                        raise ProtocolViolation(
                            "the server's list of notifications did not end after"
                            f" {self._max_history_pages} pages"
                        )
                    assert upcoming is not None  # started above: the page advanced
                    after_seq = page.end_seq
                    page, upcoming = await upcoming, None
                    pages += 1
            finally:
                if upcoming is not None:  # cancelled or failed while writing a page
                    upcoming.cancel()
                    await asyncio.gather(upcoming, return_exceptions=True)
                if history_load:
                    self._end_history_load()
            log.info("loaded the full history: %d notifications", total)
            self._cache.advance_cursor(first.last_seq)
            self._execute(session.history_paged(attempt, first.last_seq, agent))
        except AuthFailed as error:
            self._execute(session.auth_failed(attempt, str(error)))
        except (ConnectionLost, BackendError) as error:
            log.info("loading the history failed: %s", error)
            self._execute(
                session.disconnected(attempt, str(error), self._clock.now(), error.retry_after)
            )
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.exception("unexpected error while loading the history")
            self._execute(
                session.disconnected(attempt, f"unexpected error: {error}", self._clock.now())
            )

    def _end_history_load(self) -> None:
        try:
            self._cache.end_history_load()
        except sqlite3.Error as error:  # the next open builds them (NotificationCache.open)
            log.warning("could not index the cache after loading the history: %s", error)

    def _claim_cache(self, agent: AgentInfo) -> bool:
        """Make the cache this agent's; False (and a RESET change) when it was someone else's."""
        if self._cache.claim(f"{self._account} {agent.id}"):
            return True
        self._publish_changes([CacheChange(ChangeKind.RESET, replay=True)])
        return False

    async def _apply_page_in_slices(self, page: NotificationPage) -> None:
        # A whole page in one go would stall the GUI's event loop (benchmarks/README.md,
        # "Figures behind the code"), so apply it in slices and let the loop breathe between.
        rows = page.notifications
        for start in range(0, len(rows), APPLY_SLICE):
            part = dataclasses.replace(page, notifications=rows[start : start + APPLY_SLICE])
            with self._commit_after_publishing():
                self._publish_changes(changes_for(self._cache.apply_page(part), replay=True))
            self._maybe_checkpoint()
            await asyncio.sleep(0)
            await self._bound_wal()

    def _commit_after_publishing(self) -> contextlib.AbstractContextManager[None]:
        """With ``publish_before_commit``: one transaction around an apply and the
        publishing of its changes, so ``on_change`` runs before the commit (EngineOptions)."""
        if self._publish_before_commit:
            return self._cache.transaction()
        return contextlib.nullcontext()

    def _maybe_checkpoint(self) -> None:
        # The cache's checkpoint fsyncs: run it on a worker thread, one at a time.
        if self._cache.wants_checkpoint and (
            self._checkpoint_task is None or self._checkpoint_task.done()
        ):
            self._checkpoint_task = asyncio.create_task(
                asyncio.to_thread(self._cache.checkpoint), name="cache-checkpoint"
            )

    async def _bound_wal(self) -> None:
        # A checkpoint beside a busy writer never copies the whole log, and only a whole copy
        # lets the log start over: past its limit, wait for one with no write beside it (on
        # the worker thread; the event loop runs on). See notifier/store/cache.py.
        if not self._cache.wal_over_limit:
            return
        for _attempt in range(2):  # a running one had writes beside it: then one more
            task = self._checkpoint_task
            if task is None or task.done():
                task = self._checkpoint_task = asyncio.create_task(
                    asyncio.to_thread(self._cache.checkpoint), name="cache-checkpoint"
                )
            # shield: a cancelled sync must not leave a thread on the cache unawaited (run()
            # waits for the checkpoint task before it returns)
            if await asyncio.shield(task):
                return

    async def _wait_retry(self, attempt: int, delay: float) -> None:
        await asyncio.sleep(delay)
        self._execute(self._session.retry_due(attempt, self._clock.now()))

    async def _watchdog(self) -> None:
        while True:
            await self._watchdog_wanted.wait()  # no timer at all while a keepalive ticks
            self._check_clocks()
            await asyncio.sleep(self._watchdog_interval)

    def _check_clocks(self) -> None:
        self._execute(self._session.tick(self._clock.now(), self._clock.monotonic()))

    def _update_watchdog(self, state: ConnectionState) -> None:
        if state in WATCHED_STATES and self._keepalive_streams == 0:
            self._watchdog_wanted.set()
        else:
            self._watchdog_wanted.clear()

    @contextlib.contextmanager
    def _keepalive_ticks(self, stream: object) -> Iterator[None]:
        """While ``stream`` is open, its keepalive pings drive the watchdog (if it can)."""
        if not isinstance(stream, KeepaliveAware):
            yield
            return
        stream.on_keepalive(self._check_clocks)
        self._keepalive_streams += 1
        self._update_watchdog(self._session.state)
        try:
            yield
        finally:
            stream.on_keepalive(None)
            self._keepalive_streams -= 1
            self._update_watchdog(self._session.state)

    @contextlib.contextmanager
    def _delivery_reports(self, attempt: int, stream: object) -> Iterator[None]:
        """While ``stream`` is open, what it says about live delivery goes to the session."""
        if not isinstance(stream, DeliveryAware):
            yield
            return

        def changed(delayed: DeliveryDelay | None) -> None:
            self._execute(self._session.delivery_changed(attempt, delayed))

        stream.on_delivery_change(changed)
        try:
            yield
        finally:
            stream.on_delivery_change(None)

    def _start_flush(self) -> None:
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.create_task(self._flush(), name="sync-flush")

    async def _flush(self) -> None:
        while self._session.state is ConnectionState.LIVE:
            actions = self._cache.pending_actions()
            if not actions:
                return
            for action in actions:
                try:
                    await self._send(action)
                except NotFound:
                    log.info("queued %s: the notification is already gone", action.kind.value)
                except AuthFailed as error:
                    self._execute(self._session.auth_failed(None, str(error)))
                    return
                except ConnectionLost as error:
                    log.info("sending queued actions stopped: %s", error)
                    return  # the stream notices too; the next LIVE flushes again
                except ProtocolViolation as error:
                    # The server did it but answered oddly; sending again would repeat it.
                    log.warning("queued %s: odd answer, dropped: %s", action.kind.value, error)
                except BackendError as error:
                    if error.status is not None and 400 <= error.status < 500:
                        log.warning("queued %s refused, dropped: %s", action.kind.value, error)
                    else:
                        log.info("queued %s failed (%s); will retry", action.kind.value, error)
                        return
                self._cache.remove_pending(action.id)

    async def _send(self, action: PendingAction) -> None:
        backend = self._backend
        if action.kind is ActionKind.MARK_READ and action.notification_id is not None:
            await backend.mark_read(action.notification_id)
        elif action.kind is ActionKind.MARK_UNREAD and action.notification_id is not None:
            await backend.mark_unread(action.notification_id)
        elif action.kind is ActionKind.MARK_ALL_READ and action.up_to_seq is not None:
            await backend.mark_all_read(action.up_to_seq)
        elif action.kind is ActionKind.DELETE and action.notification_id is not None:
            await backend.delete(action.notification_id)
        elif action.kind is ActionKind.CLEAR and action.scope is not None:
            await backend.clear(action.scope)
        else:
            log.warning("dropping an incomplete queued action: %r", action)
