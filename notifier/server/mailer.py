"""The mail sender: one asyncio task that turns outbox rows into mail and hands it to SMTP.

Each round (after a wake-up from a committed write, or when the next thing falls due):

1. **decide**, on the database thread, one transaction per agent with pending outbox rows: read
   their preferences and rows, apply :func:`notifier.server.digest.plan`, drop what it drops,
   render each planned mail (:mod:`notifier.server.mail`) and store it in ``email_messages``
   while marking its rows ``mailed``. A row is therefore carried by exactly one stored mail.
2. **send** every stored mail that is due, over one SMTP connection (``aiosmtplib``, on the
   event loop: I/O only, nothing blocks). A mail is marked ``sent`` in its own commit right
   after the server accepted it. A server that cannot be reached or answers 4xx: the mail stays
   queued, its ``next_attempt_at`` moved by exponential backoff with jitter (the same ceiling as
   the tray's reconnects, :class:`notifier.core.backoff.Backoff`, drawn in its upper half);
   after ``give_up_after`` it is failed. A 5xx answer fails it at once. A failed mail keeps
   the server's answer in ``last_error`` (``notifier-server mail-status``) and is logged.

Delivery guarantee: **at least once** from the outbox row on, **exactly once** unless the
server stops in a window of a few milliseconds: after the SMTP server has answered "250" to the
end of the mail and before the ``sent`` commit. A mail caught in that window is sent again
after the restart, with the same ``Message-ID`` (receiving systems may drop the copy). Nothing
is lost: a row commits with its notification, a mail commits with the rows it carries, and
both survive a restart.

Time comes from the database's clock (:attr:`notifier.server.db.Database.clock`), so tests
drive grace periods, digests and quiet hours with an injected clock and :meth:`Mailer.flush`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from email import policy
from email.utils import parseaddr
from typing import Any, Final, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notifier.core import wire
from notifier.core.backoff import Backoff
from notifier.server import digest, outbox, repository, settings
from notifier.server.db import Database, transaction
from notifier.server.mail import Recipient, Sender, render
from notifier.server.smtp import (
    MailRejected,
    MailServerUnavailable,
    SmtpSession,
    SmtpSettings,
    SmtpTransport,
    parse_smtp_url,
)

log = logging.getLogger(__name__)

MAIL_SETTINGS_PATH: Final = "/mail/{token}"
# CRLF line ends; header lines up to RFC 5322's limit, so a long List-Unsubscribe URL is not
# folded (some clients do not unfold it).
_WIRE_POLICY: Final = policy.SMTP.clone(max_line_length=998)
NO_SERVER: Final = "no SMTP server is configured (notifier-server serve --smtp)"
NO_ADDRESS: Final = "the agent has no e-mail address (add-agent --email)"


@dataclass(frozen=True, slots=True)
class MailConfig:
    """How the server mails; built from the ``serve`` options (see cli.py)."""

    smtp: SmtpSettings | None = None  # None: no mail server, rows are dropped with NO_SERVER
    mail_from: str = "helpdesk@localhost"
    mail_from_name: str = "Helpdesk"
    # The grace period of instant mail: None follows the admin setting mail_grace_seconds
    # (notifier/server/settings.py); a value (serve --mail-grace) overrides it.
    grace: timedelta | None = None
    retry_first_s: float = 5.0
    retry_cap_s: float = 600.0
    give_up_after: timedelta = timedelta(days=2)
    send_batch: int = 50  # mails read from the database per SMTP connection
    # At most one round per this many seconds: a burst of writes wakes the mailer once.
    round_interval_s: float = 1.0
    # Look again at least this often: preference changes and clock jumps do not wake it.
    idle_check_s: float = 60.0


def build_mail_config(
    smtp_url: str | None, mail_from: str | None, grace_s: float | None, **options: Any
) -> MailConfig:
    """A :class:`MailConfig` from the command line's text; ValueError with a sentence.
    ``grace_s`` None: the admin setting decides."""
    if grace_s is not None and not grace_s >= 0:  # also refuses NaN
        raise ValueError("--mail-grace must be 0 or more seconds")
    defaults = MailConfig()
    name, address = parseaddr(mail_from or defaults.mail_from)
    if not repository.EMAIL_PATTERN.match(address) or "\n" in (mail_from or ""):
        raise ValueError(f"--mail-from must be an e-mail address, not {mail_from!r}")
    return MailConfig(
        smtp=parse_smtp_url(smtp_url) if smtp_url is not None else None,
        mail_from=address,
        mail_from_name=name or defaults.mail_from_name,
        grace=timedelta(seconds=grace_s) if grace_s is not None else None,
        **options,
    )


class MailTransport(Protocol):
    def session(self) -> contextlib.AbstractAsyncContextManager[SmtpSession]: ...


def mail_settings_url(base_url: str, token: str) -> str:
    return base_url + MAIL_SETTINGS_PATH.format(token=token)


def mail_settings_for(
    connection: sqlite3.Connection, token: str, unsubscribe: bool
) -> tuple[repository.User, wire.Preferences] | None:
    """The agent and preferences behind an e-mail settings token, e-mail turned off first
    when ``unsubscribe``; None for an unknown token, or a deactivated agent's: the link is a
    credential like their tokens, which deactivation ends (it works again on reactivation)."""
    agent_id = outbox.agent_for_unsubscribe(connection, token)
    user = repository.user_by_id(connection, agent_id) if agent_id is not None else None
    if user is None or user.deactivated:
        return None
    preferences = repository.get_preferences(connection, user.id)
    if unsubscribe and preferences.email.enabled:
        email = dataclasses.replace(preferences.email, enabled=False)
        preferences = repository.put_preferences(
            connection, user.id, dataclasses.replace(preferences, email=email)
        )
        log.info("agent %s turned e-mail off from a mail's link", user.username)
    return user, preferences


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # validated on PUT; be safe with old rows
        return ZoneInfo("UTC")


def _earliest(*candidates: datetime | None) -> datetime | None:
    return min((c for c in candidates if c is not None), default=None)


@dataclass
class _Progress:
    """Round counters for :meth:`Mailer.flush`."""

    started: int = 0
    done: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)


class Mailer:
    def __init__(
        self,
        database: Database,
        base_url: str,
        config: MailConfig,
        transport: MailTransport | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.database = database
        self.base_url = base_url
        self.config = config
        if transport is None and config.smtp is not None:
            local_name = config.mail_from.rpartition("@")[2] or "localhost"
            transport = SmtpTransport(config.smtp, local_name)
        self.transport = transport
        self._backoff = Backoff(first=config.retry_first_s, cap=config.retry_cap_s)
        self._rand = rand
        self._wake = asyncio.Event()
        self._progress = _Progress()

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.database.clock

    def wake(self) -> None:
        """Something was committed: look at the outbox soon (cheap; bursts coalesce)."""
        self._wake.set()

    async def flush(self) -> None:
        """Wake the mailer and return once a whole round that began after this call is
        done (for tests and tools that change the clock or the outbox)."""
        target = self._progress.started + 1
        self.wake()
        async with self._progress.changed:
            await self._progress.changed.wait_for(lambda: self._progress.done >= target)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the sender while the server serves. Presence is reset first: no stream
        survives a restart, and none is open yet."""
        await self.database.run(outbox.reset_presence)
        task = asyncio.create_task(self._run(), name="mailer")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @contextlib.asynccontextmanager
    async def stream_presence(self, agent_id: int) -> AsyncIterator[None]:
        """Count an open stream of the agent for "only when I am not connected"."""
        await self.database.run(outbox.stream_opened, agent_id)
        try:
            yield
        finally:
            # Shielded: a stream cancelled at shutdown still gets its count back down. If
            # the database is already closed, the next start resets the counts anyway.
            with contextlib.suppress(RuntimeError):
                await asyncio.shield(self.database.run(outbox.stream_closed, agent_id))

    # ----------------------------------------------------------------- the loop

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            self._progress.started += 1
            deadline = None
            try:
                deadline = await self._round()
            except Exception:  # a database fault must not end mail for good
                log.exception("mail round failed; trying again later")
            finally:
                self._progress.done += 1
                async with self._progress.changed:
                    self._progress.changed.notify_all()
            timeout = self.config.idle_check_s
            if deadline is not None:
                timeout = min(timeout, max(0.0, (deadline - self.clock()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            if self.config.round_interval_s > 0:
                await asyncio.sleep(self.config.round_interval_s)

    async def _round(self) -> datetime | None:
        """Decide and send; returns when the next round is due (None: only on a wake-up)."""
        next_decision = await self.database.run(self._decide, self.clock())
        if self.transport is None:
            return next_decision
        await self._send_due(self.transport)
        return _earliest(next_decision, await self.database.run(outbox.next_attempt_at))

    # ----------------------------------------------------------------- deciding

    def _grace(self, connection: sqlite3.Connection) -> timedelta:
        """The grace period of instant mail: the CLI's --mail-grace if given, else the admin
        setting ``mail_grace_seconds``."""
        if self.config.grace is not None:
            return self.config.grace
        return timedelta(seconds=settings.current(connection).mail_grace_seconds)

    def _decide(self, connection: sqlite3.Connection, now: datetime) -> datetime | None:
        """On the database thread: plan every agent with pending rows, one transaction each."""
        next_check = None
        for agent_id in outbox.agents_with_pending(connection):
            with transaction(connection):
                when = self._decide_for(connection, agent_id, now)
            next_check = _earliest(next_check, when)
        return next_check

    def _decide_for(
        self, connection: sqlite3.Connection, agent_id: int, now: datetime
    ) -> datetime | None:
        items = outbox.pending_items(connection, agent_id)
        address = outbox.email_address(connection, agent_id)
        user = repository.user_by_id(connection, agent_id)
        if self.transport is None or address is None or user is None:
            reason = NO_SERVER if self.transport is None else NO_ADDRESS
            outbox.drop(connection, [(item.id, reason) for item in items])
            return None
        preferences = repository.get_preferences(connection, agent_id)
        tz = _zone(preferences.timezone)
        plan = digest.plan(now, preferences, tz, items, self._grace(connection))
        outbox.drop(connection, plan.drops)
        if plan.mails:
            token = outbox.unsubscribe_token(connection, agent_id)
            recipient = Recipient(user.name, address, tz, mail_settings_url(self.base_url, token))
            sender = Sender(
                self.config.mail_from, self.config.mail_from_name, outbox.instance_name(connection)
            )
            for planned in plan.mails:
                self._store(connection, agent_id, planned, sender, recipient, now)
        return plan.next_check

    def _store(
        self,
        connection: sqlite3.Connection,
        agent_id: int,
        planned: digest.PlannedMail,
        sender: Sender,
        recipient: Recipient,
        now: datetime,
    ) -> None:
        notifications = [
            repository.render_notification(
                {**item.snapshot, "id": item.snapshot["id"] or f"mail-{item.id}"},
                seq=item.id,
                read=False,
                agent_id=agent_id,
                base_url=self.base_url,
            )
            for item in planned.items
        ]
        message_id = sender.new_message_id()
        message = render(planned.kind, notifications, sender, recipient, now, message_id)
        outbox.store_message(
            connection,
            outbox.NewMessage(
                agent_id=agent_id,
                kind="digest" if planned.kind.is_digest else "instant",
                recipient=recipient.address,
                message_id=message_id,
                subject=str(message["Subject"]),
                content=message.as_bytes(policy=_WIRE_POLICY),
            ),
            [item.id for item in planned.items],
            now,
        )

    # ----------------------------------------------------------------- sending

    async def _send_due(self, transport: MailTransport) -> None:
        while True:
            batch = await self.database.run(
                outbox.due_messages, self.clock(), self.config.send_batch
            )
            if not batch:
                return
            unsent = list(batch)
            try:
                async with transport.session() as session:
                    while unsent:
                        message = unsent[0]
                        try:
                            await session.send(
                                self.config.mail_from, message.recipient, message.content
                            )
                        except MailRejected as exc:
                            unsent.pop(0)
                            await self._rejected(message, exc)
                            continue
                        unsent.pop(0)
                        await self.database.run(outbox.mark_sent, message.id, self.clock())
            except MailServerUnavailable as exc:
                log.warning(
                    "mail server unavailable (%s); the mail waits for the next attempt", exc
                )
                await self._postpone(unsent, str(exc))
                # Everything else that is due waits too, without a connection attempt each.
                while rest := await self.database.run(
                    outbox.due_messages, self.clock(), self.config.send_batch
                ):
                    await self._postpone(rest, str(exc))
                return

    async def _rejected(self, message: outbox.QueuedMessage, exc: MailRejected) -> None:
        if exc.permanent:
            log.warning("mail %d to %s refused for good: %s", message.id, message.recipient, exc)
            await self.database.run(outbox.mark_failed, message.id, f"refused: {exc}")
        else:
            log.info("mail %d deferred by the server: %s", message.id, exc)
            await self._postpone([message], str(exc))

    async def _postpone(self, messages: Sequence[outbox.QueuedMessage], error: str) -> None:
        now = self.clock()
        retries = []
        for message in messages:
            if now - message.created_at >= self.config.give_up_after:
                log.warning(
                    "mail %d given up after %d attempts: %s",
                    message.id,
                    message.attempts + 1,
                    error,
                )
                await self.database.run(
                    outbox.mark_failed,
                    message.id,
                    f"gave up after {message.attempts + 1} attempts; last: {error}",
                )
                continue
            ceiling = self._backoff.ceiling(message.attempts)
            delay = timedelta(seconds=ceiling * (0.5 + self._rand() / 2))
            retries.append((message.id, now + delay))
        if retries:
            await self.database.run(outbox.mark_retry, retries, error)
