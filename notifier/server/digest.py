"""When an agent's mail goes out: the decision for one agent, pure (``now`` is passed in).

:func:`plan` takes the agent's preferences and pending outbox rows
(:class:`~notifier.server.outbox.OutboxItem`, with the notification's read state now) and says
which rows to drop and why, which mails to compose now, and when to look again. The mailer
(:mod:`notifier.server.mailer`) applies it; nothing here touches the database or a clock.

The rules:

* e-mail off, or off for the row's type: dropped. Of several rows for one notification (a
  folded reaction re-issued while its mail waited) only the newest counts.
* A notification read or deleted before its mail went out is dropped: a mail only ever tells
  about something still unread.
* **instant**: a row is due ``grace`` after it arrived (the admin's grace period). With
  "only when I am not connected" (the default) a row that arrived while the agent had a stream
  open is dropped: the tray (or the web page) already showed it.
* **hourly digest**: every local hour on the hour; **daily digest**: at ``digest_time`` local.
  A digest carries every pending row (still unread) and is skipped when there is none. The
  first slot after the oldest pending row is the one that sends it, so no state is kept about
  "the last digest" beyond the rows themselves: a mailed row is never pending again, hence no
  digest repeats what an earlier mail carried.
* **quiet hours** (the agent's, in their time zone): nothing is mailed while they last. Instant
  rows that fell due in or across a quiet stretch go out together as ONE digest when it ends; a
  digest slot inside quiet hours moves to their end.

Local times follow :mod:`notifier.core.quiet_hours` (one rule for DST: a wall time is the first
instant the clock reads it or later). The daily digest at 08:00 Europe/Berlin is at 06:00 UTC
in summer and 07:00 UTC in winter, 25 hours apart on the last Sunday of October. Hourly digests
follow elapsed hours (the local hour boundary, which moves with the offset), so the repeated
hour of a fall-back night gets its digest too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Final

from notifier.core import wire
from notifier.core.quiet_hours import QuietSchedule, resolve_wall_time
from notifier.server.outbox import ItemStatus, OutboxItem

_HOUR: Final = timedelta(hours=1)


class MailKind(StrEnum):
    INSTANT = "instant"
    HOURLY_DIGEST = "hourly_digest"
    DAILY_DIGEST = "daily_digest"
    QUIET_HOURS_DIGEST = "quiet_hours_digest"  # instant mail held by quiet hours

    @property
    def is_digest(self) -> bool:
        return self is not MailKind.INSTANT


class DropReason(StrEnum):
    EMAIL_OFF = "e-mail is off in the agent's preferences"
    TYPE_OFF = "e-mail is off for this type of notification"
    SUPERSEDED = "replaced by a newer version of the same notification"
    READ = "read before it was mailed"
    DELETED = "deleted before it was mailed"
    CONNECTED = "the agent had a stream open when it arrived"


@dataclass(frozen=True, slots=True)
class PlannedMail:
    kind: MailKind
    items: tuple[OutboxItem, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    drops: tuple[tuple[int, DropReason], ...]
    mails: tuple[PlannedMail, ...]
    next_check: datetime | None  # always after ``now``; None: nothing to wait for


def next_hourly_slot(after: datetime, tz: tzinfo) -> datetime:
    """The first local top of the hour strictly after ``after`` (UTC)."""
    local = after.astimezone(tz)
    hour_start = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    return hour_start + _HOUR


def next_daily_slot(after: datetime, at: str, tz: tzinfo) -> datetime:
    """The first instant strictly after ``after`` at which the local clock reads ``at``."""
    hours, minutes = (int(part) for part in at.split(":"))
    wall = time(hours, minutes)
    day = after.astimezone(tz).date()
    while True:
        slot = resolve_wall_time(day, wall, tz)
        if slot > after:
            return slot
        day += timedelta(days=1)


def plan(
    now: datetime,
    preferences: wire.Preferences,
    tz: tzinfo,
    items: Sequence[OutboxItem],
    grace: timedelta,
) -> Plan:
    """What to do with one agent's pending rows at ``now`` (see the module docstring)."""
    email = preferences.email
    drops: list[tuple[int, DropReason]] = []
    live: list[OutboxItem] = []
    newest_of = {i.notification_id: i.id for i in items if i.notification_id is not None}
    for item in items:
        reason = _drop_reason(item, email, newest_of)
        if reason is None:
            live.append(item)
        else:
            drops.append((item.id, reason))
    schedule = QuietSchedule(preferences.quiet_hours, tz)
    if email.frequency is wire.EmailFrequency.INSTANT:
        mails, next_check = _instant(now, schedule, live, grace, email, drops)
    else:
        mails, next_check = _digest(now, schedule, live, email, tz)
    if next_check is not None and next_check <= now:
        next_check = None  # never ask to be woken in the past: that would spin
    return Plan(tuple(drops), tuple(mails), next_check)


def _drop_reason(
    item: OutboxItem, email: wire.EmailPreferences, newest_of: Mapping[int, int]
) -> DropReason | None:
    if not email.enabled:
        return DropReason.EMAIL_OFF
    if item.type not in email.types:
        return DropReason.TYPE_OFF
    if item.notification_id is not None and newest_of[item.notification_id] != item.id:
        return DropReason.SUPERSEDED
    if item.status is ItemStatus.READ:
        return DropReason.READ
    if item.status is ItemStatus.DELETED:
        return DropReason.DELETED
    return None


def _instant(
    now: datetime,
    schedule: QuietSchedule,
    items: Iterable[OutboxItem],
    grace: timedelta,
    email: wire.EmailPreferences,
    drops: list[tuple[int, DropReason]],
) -> tuple[list[PlannedMail], datetime | None]:
    waiting: list[datetime] = []
    single: list[OutboxItem] = []
    held: list[OutboxItem] = []
    for item in items:
        if email.only_when_disconnected and item.connected:
            drops.append((item.id, DropReason.CONNECTED))
            continue
        due = item.created_at + grace
        if due > now:
            waiting.append(due)
        elif _quiet_between(schedule, due, now):
            held.append(item)
        else:
            single.append(item)
    if schedule.is_quiet(now):
        return [], schedule.current_end(now)
    mails = [PlannedMail(MailKind.INSTANT, (item,)) for item in single]
    if held:
        mails.append(PlannedMail(MailKind.QUIET_HOURS_DIGEST, tuple(held)))
    return mails, min(waiting, default=None)


def _quiet_between(schedule: QuietSchedule, start: datetime, end: datetime) -> bool:
    """Whether quiet hours covered any moment of ``[start, end]``."""
    if schedule.is_quiet(start):
        return True
    change = schedule.next_change(start)
    return change is not None and change <= end


def _digest(
    now: datetime,
    schedule: QuietSchedule,
    items: Sequence[OutboxItem],
    email: wire.EmailPreferences,
    tz: tzinfo,
) -> tuple[list[PlannedMail], datetime | None]:
    if not items:
        return [], None  # an empty digest is never sent
    oldest = min(item.created_at for item in items)
    if email.frequency is wire.EmailFrequency.HOURLY_DIGEST:
        kind, slot = MailKind.HOURLY_DIGEST, next_hourly_slot(oldest, tz)
    else:
        kind, slot = MailKind.DAILY_DIGEST, next_daily_slot(oldest, email.digest_time, tz)
    release = schedule.current_end(slot) if schedule.is_quiet(slot) else slot
    if release is None:  # quiet around the clock: hold until the preferences change
        return [], None
    if release > now:
        return [], release
    if schedule.is_quiet(now):
        return [], schedule.current_end(now)
    return [PlannedMail(kind, tuple(items))], None
