"""``FrappeBackend``: the :class:`~notifier.core.ports.HelpdeskBackend` for Frappe Helpdesk.

Frappe Helpdesk keeps an agent's notifications as ``HD Notification`` rows (type Assignment,
Mention or Reaction; from, to, ticket, comment, message, read). It has no event log and no
cursor, and its realtime channel only hints that *some* row changed. This adapter maps that
onto docs/protocol.md (details and limits in docs/frappe.md):

* **Cursor.** :class:`~notifier.client.frappe_ledger.Ledger` numbers every change it finds
  (new row, changed row, read flag, vanished row) and persists the numbers beside the cache,
  so the engine's seq-based resume and the cache's idempotency work unchanged. A cursor the
  ledger cannot serve (another site or agent, a lost or older ledger) gets a ``reset``.
* **Live.** Socket.IO (:mod:`.frappe_realtime`) on the site's namespace, subscribed to the
  ``HD Notification`` doctype. ``list_update {doctype, name, user}`` arrives for everyone's
  rows (``user`` is whoever made the change); it is only a hint: the adapter fetches rows of
  those names *addressed to the agent* and ignores the rest, so other agents' rows are never
  read into the tray nor written.
* **Reconciliation.** ``clear`` (how the web app marks read) sends nothing and does not bump
  ``modified``; deletions send nothing reliable either. So on every connection (which is also
  how a wake from sleep is handled: the engine reconnects), and every ``reconcile_interval``
  seconds while connected, the adapter compares the site with the ledger: rows modified since
  its ``modified`` cursor (minus an overlap, for late commits), the set of unread names (reads
  done with ``clear``), and the row count (a full name listing only when the counts differ).
* **Actions.** Mark read/unread: ``PUT`` ``{"read": 0|1}`` on the row, after checking it is
  the agent's. Mark all read: one ``PUT`` per row the tray had shown unread up to
  ``up_to_seq`` (not helpdesk's ``clear``, which would also read a notification arriving
  while the agent clicks, unseen). Delete and clear: agents may not delete
  ``HD Notification`` rows, so these *hide* the rows in the tray (kept hidden in the ledger;
  the web app still lists them). Preferences: Frappe Helpdesk has none per agent:
  ``BackendError`` 501.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx

from notifier.client.frappe_ledger import Ledger, LedgerEvent, SiteRow
from notifier.client.frappe_realtime import (
    DEFAULT_PING_INTERVAL,
    NamespaceRefused,
    SocketIOClient,
    SocketIOUnreachable,
)
from notifier.client.frappe_rest import (
    NOTIFICATION_DOCTYPE,
    FrappeCredentials,
    FrappeRest,
    FrappeSite,
    FrappeUser,
)
from notifier.client.transport import TransportConfig
from notifier.core.errors import AuthFailed, BackendError, ConnectionLost, NotFound
from notifier.core.html_text import html_to_text
from notifier.core.status import DeliveryDelay
from notifier.core.wire import (
    LEGACY_PAGE_LIMIT,
    MAX_ID_CHARS,
    MAX_MESSAGE_CHARS,
    MAX_NAME_CHARS,
    MAX_SUBJECT_CHARS,
    PROTOCOL_VERSION,
    ActionResult,
    Actor,
    ActorKind,
    AgentInfo,
    ClearScope,
    CommentRef,
    Hello,
    Notification,
    NotificationPage,
    NotificationType,
    Preferences,
    ReadStateEvent,
    Reason,
    ResetEvent,
    ServerEvent,
    SyncedEvent,
    TicketRef,
    UnreadCountEvent,
)

log = logging.getLogger(__name__)

RECONCILE_INTERVAL: Final = 60.0
# Rows modified this long before the cursor are read again: a transaction that committed
# after a later one (its ``modified`` is older than rows already seen) is not missed.
MODIFIED_OVERLAP: Final = timedelta(minutes=2)
# list_update hints that arrive together are fetched in one request.
HINT_BATCH_DELAY: Final = 0.05
# Without socket.io (unreachable, or the namespace refused) the stream runs on
# reconciliation alone and tries socket.io again after these delays (doubling).
SOCKETIO_RETRY_FIRST: Final = 2.0
SOCKETIO_RETRY_MAX: Final = 60.0

_TYPES: Final = {
    "Assignment": (NotificationType.ASSIGNMENT, Reason.ASSIGNED),
    "Mention": (NotificationType.MENTION, Reason.MENTIONED),
    "Reaction": (NotificationType.REACTION, Reason.COMMENT_REACTION),
}
_CONTENT_FIELDS: Final = (
    "notification_type",
    "user_from",
    "user_to",
    "reference_ticket",
    "reference_comment",
    "message",
    "creation",
)
_FRAPPE_TIME = "%Y-%m-%d %H:%M:%S.%f"

Sink = asyncio.Queue[LedgerEvent | BaseException]


class FrappeBackend:
    """Frappe Helpdesk behind :class:`~notifier.core.ports.HelpdeskBackend`.

    ``ledger_path`` is the adapter's own state file (put it beside the cache; one path per
    installation is enough: the ledger starts afresh for another site or agent).
    ``time_zone`` is the site's time zone (Frappe stores naive local times); None reads them
    as this computer's local time. The engine owns the backend and calls :meth:`aclose`.
    """

    def __init__(
        self,
        site: FrappeSite,
        credentials: FrappeCredentials,
        ledger_path: Path,
        config: TransportConfig | None = None,
        *,
        time_zone: str | None = None,
        reconcile_interval: float = RECONCILE_INTERVAL,
        modified_overlap: timedelta = MODIFIED_OVERLAP,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.site = site
        self.config = config if config is not None else TransportConfig()
        self.reconcile_interval = reconcile_interval
        self.modified_overlap = modified_overlap
        self._zone = ZoneInfo(time_zone) if time_zone else None
        self._rest = FrappeRest(site, credentials, self.config, transport=http_transport)
        self._ledger_path = ledger_path
        self._ledger: Ledger | None = None
        self._user: FrappeUser | None = None
        self._lock = asyncio.Lock()
        self._sink: Sink | None = None
        self._subjects: dict[str, str] = {}
        self._agent_names: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"FrappeBackend({self.site.url!r})"

    # ------------------------------------------------------------------ HelpdeskBackend

    async def me(self) -> AgentInfo:
        """Who the credentials belong to (``AuthFailed`` ``not_an_agent`` for a user who is
        not an agent). A check only: the ledger is not opened, so it may run beside an engine
        that uses the same ledger file."""
        return _agent_info(await self._agent())

    async def open_stream(self, after_seq: int) -> FrappeEventStream:
        """The stream; without socket.io (no server answers, or it refuses the namespace) it
        still opens, on reconciliation alone, with ``realtime_error`` saying why, and tries
        socket.io again meanwhile: the site's REST API is all delivery needs."""
        user = await self._identify()
        socket: SocketIOClient | None = None
        missing: ConnectionLost | None = None
        try:
            socket = await self._connect_socket()
        except (SocketIOUnreachable, NamespaceRefused) as error:
            log.warning(
                "no live updates from the site's socket.io server (%s): notifications arrive"
                " every %.0f s until it connects",
                error,
                self.reconcile_interval,
            )
            missing = error
        return FrappeEventStream(self, socket, _agent_info(user), after_seq, missing)

    async def _connect_socket(self) -> SocketIOClient:
        socket = await SocketIOClient.connect(
            self.site.socketio_url,
            f"/{self.site.name}",
            origin=self.site.origin,
            headers=self._rest.realtime_headers(),
            config=self.config,
        )
        try:
            await socket.emit("doctype_subscribe", NOTIFICATION_DOCTYPE)
        except BaseException:
            await socket.close()
            raise
        return socket

    async def list_notifications(self, after_seq: int, limit: int) -> NotificationPage:
        if after_seq == 0 or self._ledger is None:
            # The first page of a page-through: bring the ledger up to date with the site.
            await self._identify()
            await self._locked(self._reconcile)
        ledger = self._opened_ledger()
        # Built here on the event loop from the local ledger, row by row: no bigger than a
        # page of the protocol's first version, so that one page never holds the loop long.
        rows, has_more = ledger.page(after_seq, max(1, min(limit, LEGACY_PAGE_LIMIT)))
        return NotificationPage(
            notifications=tuple(rows),
            unread_count=ledger.unread_count(),
            last_seq=ledger.head,
            has_more=has_more,
        )

    async def mark_read(self, notification_id: str) -> ActionResult:
        return await self._set_read(notification_id, True)

    async def mark_unread(self, notification_id: str) -> ActionResult:
        return await self._set_read(notification_id, False)

    async def mark_all_read(self, up_to_seq: int) -> ActionResult:
        """Mark read exactly the rows the tray had shown unread up to ``up_to_seq`` (and the
        dismissed unread ones), one ``PUT`` each. Never helpdesk's ``clear``: it reads every
        unread row of the agent, also one that arrived after the unread rows were listed,
        which the agent would then never see unread (no cutoff can be given to it)."""
        user = await self._identify()
        async with self._lock:
            ledger = self._opened_ledger()
            wanted = ledger.unread_names(up_to_seq=up_to_seq) | ledger.unread_names(hidden=True)
            site_unread = await self._names([["user_to", "=", user.user_id], ["read", "=", 0]])
            events: list[LedgerEvent] = []
            try:
                # Read (or gone) on the site already, e.g. in the web app: the ledger learns so.
                events += await self._refresh(wanted - site_unread)
                for name in sorted(wanted & site_unread):
                    try:
                        updated = self._own([await self._rest.set_read(name, True)])
                    except NotFound:  # deleted on the site meanwhile: nothing to mark
                        events += ledger.remove([name])
                        continue
                    events += ledger.apply(await self._site_rows(updated))
            finally:
                self._publish(events)  # what was marked before a failure is sent too
            changed = sum(len(e.ids) for e in events if isinstance(e, ReadStateEvent))
            return self._result(events, changed)

    async def delete(self, notification_id: str) -> ActionResult:
        await self._identify()
        async with self._lock:
            ledger = self._opened_ledger()
            known = ledger.get(notification_id)
            if known is None or known.hidden:
                raise NotFound(f"no notification {notification_id} for this agent", status=404)
            events = ledger.hide([notification_id])
            self._publish(events)
            return self._result(events, 1)

    async def clear(self, scope: ClearScope) -> ActionResult:
        await self._identify()
        async with self._lock:
            ledger = self._opened_ledger()
            names = ledger.visible_names(read=True if scope is ClearScope.READ else None)
            events = ledger.hide(names)
            self._publish(events)
            return self._result(events, len(names))

    async def get_preferences(self) -> Preferences:
        raise _no_preferences()

    async def put_preferences(self, preferences: Preferences) -> Preferences:
        raise _no_preferences()

    async def aclose(self) -> None:
        await self._rest.aclose()
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    # ------------------------------------------------------------------ identity

    async def _agent(self) -> FrappeUser:
        """Who the credentials are: an agent, or AuthFailed."""
        user = await self._rest.whoami()
        if not user.is_agent:
            raise AuthFailed(
                f"{user.user_id} is not an agent on {self.site.url}: the API key (or user) needs"
                " the Agent role in Frappe Helpdesk (Helpdesk admin → Agents), ask an"
                " administrator",
                status=403,
                code="not_an_agent",
            )
        return user

    async def _identify(self) -> FrappeUser:
        """Who the credentials are (checked on every connection), with their ledger open."""
        user = await self._agent()
        if self._user is None or self._user.user_id != user.user_id or self._ledger is None:
            if self._ledger is not None:
                self._ledger.close()
            owner = f"{self.site.url} {self.site.name} {user.user_id}"
            self._ledger = Ledger.open(self._ledger_path, owner)
        self._user = user
        return user

    def _opened_ledger(self) -> Ledger:
        if self._ledger is None:
            raise ConnectionLost("not signed in to the Frappe site yet")
        return self._ledger

    # ------------------------------------------------------------------ reconciliation

    async def _reconcile(self) -> list[LedgerEvent]:
        """Bring the ledger up to the site's state; the lock must be held."""
        ledger = self._opened_ledger()
        me = self._me()
        events: list[LedgerEvent] = []
        filters: list[list[Any]] = [["user_to", "=", me]]
        cursor = ledger.modified_cursor
        if cursor is not None:
            filters.append(["modified", ">=", _earlier(cursor, self.modified_overlap)])
        changed = self._own(await self._rest.list_rows(filters))
        events += ledger.apply(await self._site_rows(changed))
        fetched = {row["name"] for row in changed}
        # Reads done with helpdesk's clear() change neither modified nor anything else we see.
        site_unread = await self._names([["user_to", "=", me], ["read", "=", 0]])
        known_unread = ledger.unread_names() | ledger.unread_names(hidden=True)
        known_here = ledger.known(site_unread)
        newly_unread = {n for n in site_unread if n not in known_here or known_here[n].read}
        events += await self._refresh(((known_unread - site_unread) | newly_unread) - fetched)
        # Deleted rows: only the count tells, unless a hint came. List names only on a mismatch.
        if await self._rest.count({"user_to": me}) != ledger.row_count():
            listed = await self._names([["user_to", "=", me]])
            known = ledger.all_names()
            events += await self._refresh((known - listed) | (listed - known))
        newest = max((str(row["modified"]) for row in changed), default=None)
        if newest is not None:
            ledger.set_modified_cursor(newest)
        return events

    async def _refresh(self, names: Iterable[str]) -> list[LedgerEvent]:
        """Fetch the agent's rows of these names; known ones that are missing are gone."""
        wanted = set(names)
        if not wanted:
            return []
        ledger = self._opened_ledger()
        rows = await self._fetch(wanted)
        events = ledger.apply(rows)
        found = {row.name for row in rows}
        events += ledger.remove(set(ledger.known(wanted)) - found)
        return events

    async def _fetch(self, names: Iterable[str]) -> list[SiteRow]:
        rows: list[dict[str, Any]] = []
        ordered = sorted(names)
        for start in range(0, len(ordered), 100):
            chunk = ordered[start : start + 100]
            rows += await self._rest.list_rows(
                [["name", "in", chunk], ["user_to", "=", self._me()]]
            )
        return await self._site_rows(self._own(rows))

    async def _names(self, filters: Sequence[Sequence[Any]]) -> set[str]:
        rows = await self._rest.list_rows(filters, fields=("name",))
        return {row["name"] for row in rows if isinstance(row.get("name"), str)}

    def _own(self, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Only the agent's rows, with a usable name and modified time: the site lets agents
        read everyone's, and the filter is only a request."""
        me = self._me()
        return [
            row
            for row in rows
            if row.get("user_to") == me
            and isinstance(row.get("name"), str)
            and 0 < len(row["name"]) <= MAX_ID_CHARS
            and isinstance(row.get("modified"), str)
        ]

    async def _site_rows(self, rows: Sequence[dict[str, Any]]) -> list[SiteRow]:
        ledger = self._opened_ledger()
        known = ledger.known(row["name"] for row in rows)
        fingerprints = {row["name"]: _fingerprint(row) for row in rows}
        new = [
            row
            for row in rows
            if row["name"] not in known
            or known[row["name"]].fingerprint != fingerprints[row["name"]]
        ]
        await self._look_up_names(new)
        site_rows = []
        for row in rows:
            name = row["name"]
            is_new = name not in known or known[name].fingerprint != fingerprints[name]
            site_rows.append(
                SiteRow(
                    name=name,
                    read=bool(row.get("read")),
                    modified=row["modified"],
                    fingerprint=fingerprints[name],
                    notification=self._notification(row) if is_new else None,
                )
            )
        return site_rows

    async def _look_up_names(self, rows: Sequence[dict[str, Any]]) -> None:
        """Ticket subjects and agent names for new rows (best effort: a lookup the site
        refuses leaves the subject empty and shows the user id's local part).

        Only an answer is remembered (a name it lacks, e.g. a ticket the agent may not read,
        as empty); a failed lookup (network, 5xx, refused) is not, so the next row that needs
        it asks again instead of showing no subject for that ticket for good."""
        tickets = sorted(
            {str(t) for row in rows if (t := row.get("reference_ticket"))} - set(self._subjects)
        )
        senders = sorted(
            {s for row in rows if isinstance(s := row.get("user_from"), str) and s}
            - set(self._agent_names)
        )
        for wanted, lookup, found in (
            (tickets, self._rest.ticket_subjects, self._subjects),
            (senders, self._rest.agent_names, self._agent_names),
        ):
            if not wanted:
                continue
            try:
                answer = await lookup(wanted)
            except BackendError as error:
                log.info("looking up %d names on the site failed: %s", len(wanted), error)
                continue
            found.update(answer)
            for key in wanted:
                found.setdefault(key, "")

    def _notification(self, row: Mapping[str, Any]) -> Notification | None:
        """The protocol's notification for a Frappe row; None when it cannot be shown."""
        kind = _TYPES.get(str(row.get("notification_type")))
        ticket = row.get("reference_ticket")
        if kind is None or not isinstance(ticket, str | int) or not str(ticket):
            log.info("a notification the tray cannot show (type or ticket missing); hidden")
            return None
        ticket_id = str(ticket)[:MAX_ID_CHARS]
        ticket_url = f"{self.site.url}/helpdesk/tickets/{quote(ticket_id, safe='')}"
        comment = row.get("reference_comment")
        comment_ref = (
            CommentRef(comment[:MAX_ID_CHARS], f"{ticket_url}#{quote(comment, safe='')}")
            if isinstance(comment, str) and comment
            else None
        )
        sender = row.get("user_from")
        actor = None
        if isinstance(sender, str) and sender:
            name = self._agent_names.get(sender) or sender.partition("@")[0] or sender
            actor = Actor(ActorKind.AGENT, sender[:MAX_ID_CHARS], name[:MAX_NAME_CHARS])
        message = row.get("message")
        try:
            created = self._parse_time(row.get("creation"))
        except ValueError:
            log.info("a notification with an unreadable creation time; hidden")
            return None
        return Notification(
            id=str(row["name"]),
            seq=1,  # numbered by the ledger
            type=kind[0],
            sender=actor,
            to=self._me()[:MAX_ID_CHARS],
            ticket=TicketRef(
                ticket_id, self._subjects.get(ticket_id, "")[:MAX_SUBJECT_CHARS], ticket_url
            ),
            comment=comment_ref,
            message=html_to_text(message)[:MAX_MESSAGE_CHARS] if isinstance(message, str) else "",
            read=bool(row.get("read")),
            created_at=created,
            reason=kind[1],
        )

    def _parse_time(self, value: object) -> datetime:
        if not isinstance(value, str):
            raise ValueError("not a time")
        naive = datetime.fromisoformat(value)
        if naive.tzinfo is not None:
            return naive.astimezone(UTC)
        if self._zone is None:
            return naive.astimezone(UTC)  # a naive time read as this computer's local time
        return naive.replace(tzinfo=self._zone).astimezone(UTC)

    # ------------------------------------------------------------------ actions

    async def _set_read(self, notification_id: str, read: bool) -> ActionResult:
        await self._identify()
        async with self._lock:
            ledger = self._opened_ledger()
            known = ledger.get(notification_id)
            if known is None or known.hidden:
                raise NotFound(f"no notification {notification_id} for this agent", status=404)
            # Fetched with user_to = me first: the site would let us write anyone's row.
            current = await self._fetch([notification_id])
            if not current:
                self._publish(ledger.remove([notification_id]))
                raise NotFound(f"notification {notification_id} is gone from the site", status=404)
            events = ledger.apply(current)
            changed = 0
            if current[0].read != read:
                updated = self._own([await self._rest.set_read(notification_id, read)])
                events += ledger.apply(await self._site_rows(updated))
                changed = 1
            self._publish(events)
            return self._result(events, changed)

    def _result(self, events: Sequence[LedgerEvent], changed: int) -> ActionResult:
        ledger = self._opened_ledger()
        seq = events[-1].seq if events else ledger.head
        return ActionResult(seq=seq, changed=changed, unread_count=ledger.unread_count())

    # ------------------------------------------------------------------ live

    async def _locked(self, work: Callable[[], Awaitable[list[LedgerEvent]]]) -> None:
        """Run one site-reading ``work`` under the lock and send what it found live."""
        async with self._lock:
            self._publish(await work())

    def _publish(self, events: Iterable[LedgerEvent]) -> None:
        sink = self._sink
        if sink is not None:
            for event in events:
                sink.put_nowait(event)

    def _me(self) -> str:
        if self._user is None:
            raise ConnectionLost("not signed in to the Frappe site yet")
        return self._user.user_id


class FrappeEventStream:
    """One socket.io connection, resumed from the ledger. Iterating yields the hello, the
    replay after the engine's cursor (after a reconciliation), ``synced``, then live events,
    until the connection or a reconciliation fails (``ConnectionLost``, ``AuthFailed``).

    Without socket.io it runs on reconciliation alone: :meth:`on_delivery_change` tells the
    engine so (and when socket.io connects after all). Once connected, losing socket.io ends
    the stream like any lost connection; the next stream says again whether it is missing."""

    def __init__(
        self,
        backend: FrappeBackend,
        socket: SocketIOClient | None,
        agent: AgentInfo,
        after_seq: int,
        realtime_error: ConnectionLost | None = None,
    ) -> None:
        self._backend = backend
        self._socket = socket
        self._agent = agent
        self._after_seq = after_seq
        self._hints: asyncio.Queue[str] = asyncio.Queue()
        self._keepalive: Callable[[], None] | None = None
        self._delivery: Callable[[DeliveryDelay | None], None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # Why socket.io is missing (None: connected): the stream then runs on reconciliation.
        self.realtime_error = realtime_error

    def __aiter__(self) -> AsyncIterator[ServerEvent]:
        return self._events()

    def on_keepalive(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener`` at each Engine.IO ping (the engine's sleep watchdog); without
        socket.io, at the same interval."""
        self._keepalive = listener
        if self._socket is not None:
            self._socket.on_keepalive(listener)

    def on_delivery_change(self, listener: Callable[[DeliveryDelay | None], None] | None) -> None:
        """Tell ``listener`` that live delivery is missing (at once, if socket.io is missing
        now; again when the reason changes) and when socket.io connects (None)."""
        self._delivery = listener
        if listener is not None and self.realtime_error is not None:
            listener(self._delay())

    def _delay(self) -> DeliveryDelay | None:
        if self.realtime_error is None:
            return None
        return DeliveryDelay(str(self.realtime_error), self._backend.reconcile_interval)

    def _set_realtime_error(self, error: ConnectionLost | None) -> None:
        before = self._delay()
        self.realtime_error = error
        if self._delivery is not None and self._delay() != before:
            self._delivery(self._delay())

    async def close(self) -> None:
        if self._socket is not None:
            await self._socket.close()

    async def _events(self) -> AsyncIterator[ServerEvent]:
        backend = self._backend
        ledger = backend._opened_ledger()
        sink: Sink = asyncio.Queue()
        tasks = self._tasks
        if self._socket is not None:
            tasks.append(_reporting(sink, self._read_hints, "frappe-socket"))
        try:
            yield Hello(PROTOCOL_VERSION, self._agent, ledger.head)
            if not ledger.knows_cursor(self._after_seq):
                yield ResetEvent(
                    ledger.head, "the Frappe adapter's ledger cannot resume from this cursor"
                )
                return
            async with backend._lock:
                await backend._reconcile()
                replay = ledger.replay(self._after_seq)
                head = ledger.head
                backend._sink = sink  # from here on, every change is also sent live
            for event in replay:
                yield event
            yield SyncedEvent(max(head, self._after_seq))
            yield UnreadCountEvent(head, ledger.unread_count())
            tasks.append(_reporting(sink, self._follow_hints, "frappe-hints"))
            tasks.append(_reporting(sink, self._reconcile_often, "frappe-reconcile"))
            if self._socket is None:
                tasks.append(
                    _reporting(sink, functools.partial(self._reach_socketio, sink), "frappe-retry")
                )
            while True:
                item = await sink.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            if backend._sink is sink:
                backend._sink = None
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self.close()

    async def _reach_socketio(self, sink: Sink) -> None:
        """Without socket.io: keep the engine's watchdog ticking, and try socket.io again
        now and then; once in, hints flow and a reconciliation catches up at once."""
        backend = self._backend
        delay = SOCKETIO_RETRY_FIRST
        while self._socket is None:
            waited = 0.0
            while waited < delay:
                step = min(DEFAULT_PING_INTERVAL, delay - waited)
                await asyncio.sleep(step)
                waited += step
                if self._keepalive is not None:
                    self._keepalive()
            try:
                socket = await backend._connect_socket()
            except (SocketIOUnreachable, NamespaceRefused) as error:
                self._set_realtime_error(error)
                delay = min(delay * 2, SOCKETIO_RETRY_MAX)
                continue
            socket.on_keepalive(self._keepalive)
            self._socket = socket
            self._tasks.append(_reporting(sink, self._read_hints, "frappe-socket"))
            self._set_realtime_error(None)
            log.info("live updates from the site's socket.io server again")
            await backend._locked(backend._reconcile)

    async def _read_hints(self) -> None:
        """Queue the names of ``list_update`` hints for HD Notification (anyone's rows)."""
        assert self._socket is not None
        async for event, args in self._socket.events():
            if event != "list_update" or not args or not isinstance(args[0], dict):
                continue
            name = args[0].get("name")
            if args[0].get("doctype") == NOTIFICATION_DOCTYPE and isinstance(name, str):
                self._hints.put_nowait(name)

    async def _follow_hints(self) -> None:
        backend = self._backend
        while True:
            names = {await self._hints.get()}
            await asyncio.sleep(HINT_BATCH_DELAY)
            while not self._hints.empty():
                names.add(self._hints.get_nowait())
            await backend._locked(functools.partial(backend._refresh, names))

    async def _reconcile_often(self) -> None:
        backend = self._backend
        while True:
            await asyncio.sleep(backend.reconcile_interval)
            await backend._locked(backend._reconcile)


def _reporting(
    sink: Sink, work: Callable[[], Coroutine[Any, Any, None]], name: str
) -> asyncio.Task[None]:
    """Run ``work`` as a task whose failure ends the stream: the error goes to ``sink``, and
    the stream raises it to the engine (which reconnects, or stops on AuthFailed)."""

    async def run() -> None:
        try:
            await work()
        except Exception as error:  # a bug too: the engine logs it and reconnects
            sink.put_nowait(error)

    return asyncio.create_task(run(), name=name)


def _agent_info(user: FrappeUser) -> AgentInfo:
    return AgentInfo(
        id=user.user_id[:MAX_ID_CHARS],
        username=user.user_id[:MAX_NAME_CHARS],
        name=user.full_name[:MAX_NAME_CHARS],
    )


def _fingerprint(row: Mapping[str, Any]) -> str:
    return json.dumps([row.get(key) for key in _CONTENT_FIELDS], default=str)


def _earlier(frappe_time: str, delta: timedelta) -> str:
    try:
        return (datetime.fromisoformat(frappe_time) - delta).strftime(_FRAPPE_TIME)
    except ValueError:
        return frappe_time


def _no_preferences() -> BackendError:
    return BackendError(
        "Frappe Helpdesk keeps no per-agent notification preferences; change e-mail"
        " notifications on the site",
        status=501,
        code="not_supported",
    )
