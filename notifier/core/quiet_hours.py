"""Quiet hours and pause: when the app shows no toast and plays no sound.

A :class:`QuietSchedule` is a set of weekly ranges (:class:`~notifier.core.wire.QuietRange`:
a weekday, 0 = Monday, and ``"HH:MM"`` start and end) read as *local wall-clock* times in one
time zone, given by the caller (the app looks the computer's up with tzlocal, in
:mod:`notifier.app.local_zone`; this module stays stdlib-only and never guesses it). A range
whose end is not after its start crosses midnight into the next day; an end equal to the
start means 24 hours. Overlapping ranges simply join: quiet is their union.

Time zones and DST
------------------
Every range boundary is a wall-clock reading on a date; it becomes an instant by one rule:

    a boundary at wall time *w* is the first instant at which the local clock reads *w* or
    later.

So a range 22:00–07:00 is quiet from local 22:00 to local 07:00 on every night, including
the nights the clocks change (the quiet stretch is then an hour shorter or longer in real
time). The rule settles the two DST cases:

* spring-forward gap (Europe/Berlin 02:00 → 03:00): a start or end at 02:30 does not exist
  and takes effect at the first instant that does, the transition itself (03:00 CEST). A
  range lying entirely inside the gap is empty that night.
* fall-back overlap (Berlin 03:00 → 02:00): a start or end at 02:30 happens twice; the first
  occurrence (``fold=0``, still CEST) is used for starts and ends alike. A range 02:15–02:45
  that night is quiet during the first pass only.

Zones with half-hour DST (Australia/Lord_Howe) follow the same rule; nothing assumes an hour.

Timers
------
The controller does not poll. :meth:`QuietSchedule.next_change` and
:meth:`QuietState.next_change` give the next instant the answer can change; it sets one timer
for it, asks again when it fires, and also after the settings or the system time zone change.

Everything takes ``now`` (an aware datetime) from the caller and returns aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from notifier.core.wire import QuietRange

_DAY = timedelta(days=1)
# next_change looks this many local days ahead. A weekly schedule flips within 7 days unless
# DST emptied a range lying inside a spring-forward gap; then the same range a week later
# flips, so two weeks and a margin always suffice.
_LOOKAHEAD_DAYS = 16


def _parse_hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _local_wall(instant: datetime, tz: tzinfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None, fold=0)


def resolve_wall_time(day: date, at: time, tz: tzinfo) -> datetime:
    """The first instant (aware, UTC) at which the clock in ``tz`` reads ``day at`` or later.

    That is the time itself when it exists once, its first occurrence (``fold=0``) when it
    exists twice, and the end of the gap (the transition) when it does not exist.
    """
    wall = datetime.combine(day, at)
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if _local_wall(first, tz) == wall:
        return first
    # A gap: PEP 495 maps a missing time with each of the two offsets around the transition,
    # and the transition lies between those two instants. Below it the clock reads less than
    # ``wall``, from it on more, so bisect (whole seconds: tz transitions are on seconds).
    other = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    low, high = min(first, other), max(first, other)
    if _local_wall(low, tz) >= wall:  # not a gap the way PEP 495 describes; be safe
        return low
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle <= low:
            middle = low + timedelta(seconds=1)
        if _local_wall(middle, tz) >= wall:
            high = middle
        else:
            low = middle
    return high


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")


class QuietSchedule:
    """Weekly quiet ranges in one time zone (see the module docstring for DST)."""

    def __init__(self, ranges: Sequence[QuietRange], tz: tzinfo) -> None:
        self._tz = tz
        self._ranges = tuple(ranges)
        # (weekday, start, end, crosses into the next day) with parsed times
        self._parsed = tuple(
            (r.day, _parse_hhmm(r.start), _parse_hhmm(r.end), r.end <= r.start)
            for r in self._ranges
        )

    @property
    def ranges(self) -> tuple[QuietRange, ...]:
        return self._ranges

    @property
    def tz(self) -> tzinfo:
        return self._tz

    def __repr__(self) -> str:
        return f"QuietSchedule({list(self._ranges)!r}, tz={self._tz!r})"

    def intervals(self, first_day: date, last_day: date) -> list[tuple[datetime, datetime]]:
        """The quiet intervals ``[start, end)`` (UTC) of ranges starting on those local
        dates, in start order; ranges that DST made empty are left out."""
        found = []
        day = first_day
        while day <= last_day:
            weekday = day.weekday()
            for range_day, start, end, crosses in self._parsed:
                if range_day != weekday:
                    continue
                start_at = resolve_wall_time(day, start, self._tz)
                end_at = resolve_wall_time(day + _DAY if crosses else day, end, self._tz)
                if end_at > start_at:
                    found.append((start_at, end_at))
            day += _DAY
        found.sort()
        return found

    def _merged(self, first_day: date, last_day: date) -> list[tuple[datetime, datetime]]:
        merged: list[tuple[datetime, datetime]] = []
        for start, end in self.intervals(first_day, last_day):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged

    def is_quiet(self, now: datetime) -> bool:
        _require_aware(now)
        today = now.astimezone(self._tz).date()
        # A range lasts at most a day (plus a DST hour), so only ranges starting yesterday
        # or today can cover now; one more day each side costs little and is safe.
        return any(
            start <= now < end for start, end in self.intervals(today - 2 * _DAY, today + _DAY)
        )

    def next_change(self, now: datetime) -> datetime | None:
        """The first instant after ``now`` at which :meth:`is_quiet` flips; ``None`` when it
        never does (no ranges, or quiet around the clock)."""
        _require_aware(now)
        if not self._parsed:
            return None
        today = now.astimezone(self._tz).date()
        last_day = today + _LOOKAHEAD_DAYS * _DAY
        # Boundaries at or beyond the start of the last generated day may be artifacts of
        # where the window ends (an interval cut short, not a real end).
        horizon = resolve_wall_time(last_day, time(0, 0), self._tz)
        for start, end in self._merged(today - 3 * _DAY, last_day):
            if start > now:
                return start if start < horizon else None
            if now < end:
                return end if end < horizon else None
        return None

    def current_end(self, now: datetime) -> datetime | None:
        """When the quiet stretch covering ``now`` ends; ``None`` if not quiet or endless."""
        return self.next_change(now) if self.is_quiet(now) else None


@dataclass(frozen=True)
class QuietState:
    """The schedule plus the agent's "pause until": together they suppress toasts."""

    schedule: QuietSchedule
    paused_until: datetime | None = None

    @classmethod
    def none(cls, tz: tzinfo | None = None) -> QuietState:
        """Never quiet, never paused."""
        return cls(QuietSchedule((), tz if tz is not None else UTC))

    def is_paused(self, now: datetime) -> bool:
        _require_aware(now)
        return self.paused_until is not None and now < self.paused_until

    def is_suppressed(self, now: datetime) -> bool:
        """No toast and no sound now (the badge and the list still update)."""
        return self.is_paused(now) or self.schedule.is_quiet(now)

    def reason(self, now: datetime) -> str | None:
        """Why toasts are suppressed, for the tooltip: "Paused until 09:00",
        "Quiet hours until 07:00"; ``None`` when they are not."""
        if self.is_paused(now):
            assert self.paused_until is not None
            return f"Paused until {self._format_local(self.paused_until, now)}"
        if self.schedule.is_quiet(now):
            end = self.schedule.next_change(now)
            if end is None:
                return "Quiet hours"
            return f"Quiet hours until {self._format_local(end, now)}"
        return None

    def next_change(self, now: datetime) -> datetime | None:
        """The next instant :meth:`is_suppressed` or :meth:`reason` may change (the end of a
        pause, or a quiet-hours boundary); ``None`` if nothing is scheduled."""
        candidates = []
        schedule_change = self.schedule.next_change(now)
        if schedule_change is not None:
            candidates.append(schedule_change)
        if self.is_paused(now):
            assert self.paused_until is not None
            candidates.append(self.paused_until.astimezone(UTC))
        return min(candidates, default=None)

    def _format_local(self, instant: datetime, now: datetime) -> str:
        tz = self.schedule.tz
        local = instant.astimezone(tz)
        hhmm = f"{local.hour:02d}:{local.minute:02d}"
        if instant - now < _DAY:
            return hhmm
        if instant - now < 6 * _DAY:
            return f"{_WEEKDAYS[local.weekday()]} {hhmm}"
        return f"{local.day} {_MONTHS[local.month - 1]} {hhmm}"


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
