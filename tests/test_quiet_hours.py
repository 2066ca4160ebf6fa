"""Quiet hours: explicit DST gap/overlap cases and property tests against a brute-force
minute-by-minute reference that walks real instants and watches the local clock."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.core.quiet_hours import (
    QuietSchedule,
    QuietState,
    resolve_wall_time,
)
from notifier.core.wire import QuietRange

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
MINUTE = timedelta(minutes=1)
TINY = timedelta(microseconds=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def quiet_spans(schedule: QuietSchedule, start: datetime, end: datetime) -> list[tuple[str, str]]:
    """The quiet stretches between start and end, found by following next_change."""
    spans = []
    now = start
    quiet_since = start if schedule.is_quiet(start) else None
    while True:
        change = schedule.next_change(now)
        if change is None or change > end:
            break
        if quiet_since is None:
            quiet_since = change
        else:
            spans.append((quiet_since.isoformat(), change.isoformat()))
            quiet_since = None
        now = change
    return spans


# --------------------------------------------------------------------------- wall time rule


@pytest.mark.parametrize(
    ("tz", "day", "at", "expected"),
    [
        # plain times
        (BERLIN, date(2026, 1, 5), time(7, 0), utc(2026, 1, 5, 6, 0)),
        (BERLIN, date(2026, 7, 6), time(7, 0), utc(2026, 7, 6, 5, 0)),
        # Berlin spring forward 2026-03-29 02:00 CET -> 03:00 CEST (01:00 UTC)
        (BERLIN, date(2026, 3, 29), time(2, 0), utc(2026, 3, 29, 1, 0)),
        (BERLIN, date(2026, 3, 29), time(2, 30), utc(2026, 3, 29, 1, 0)),
        (BERLIN, date(2026, 3, 29), time(2, 59), utc(2026, 3, 29, 1, 0)),
        (BERLIN, date(2026, 3, 29), time(3, 0), utc(2026, 3, 29, 1, 0)),
        (BERLIN, date(2026, 3, 29), time(1, 59), utc(2026, 3, 29, 0, 59)),
        # Berlin fall back 2026-10-25 03:00 CEST -> 02:00 CET (01:00 UTC): first occurrence
        (BERLIN, date(2026, 10, 25), time(2, 0), utc(2026, 10, 25, 0, 0)),
        (BERLIN, date(2026, 10, 25), time(2, 30), utc(2026, 10, 25, 0, 30)),
        (BERLIN, date(2026, 10, 25), time(3, 0), utc(2026, 10, 25, 2, 0)),
        # New York 2026-03-08 02:00 EST -> 03:00 EDT (07:00 UTC), 2026-11-01 02:00 -> 01:00
        (NEW_YORK, date(2026, 3, 8), time(2, 15), utc(2026, 3, 8, 7, 0)),
        (NEW_YORK, date(2026, 11, 1), time(1, 30), utc(2026, 11, 1, 5, 30)),
        # Lord Howe: half-hour DST. 2026-10-04 02:00 +10:30 -> 02:30 +11 (15:30 UTC the day
        # before); 2026-04-05 02:00 +11 -> 01:30 +10:30 (15:00 UTC the day before)
        (LORD_HOWE, date(2026, 10, 4), time(2, 10), utc(2026, 10, 3, 15, 30)),
        (LORD_HOWE, date(2026, 10, 4), time(2, 30), utc(2026, 10, 3, 15, 30)),
        (LORD_HOWE, date(2026, 4, 5), time(1, 45), utc(2026, 4, 4, 14, 45)),
        # a fixed offset has no DST
        (timezone(timedelta(hours=5, minutes=30)), date(2026, 3, 29), time(2, 30),
         utc(2026, 3, 28, 21, 0)),
    ],
)  # fmt: skip
def test_resolve_wall_time(tz: tzinfo, day: date, at: time, expected: datetime) -> None:
    assert resolve_wall_time(day, at, tz) == expected


# --------------------------------------------------------------------------- explicit cases


def test_a_plain_week_night_range() -> None:
    schedule = QuietSchedule([QuietRange(MON, "22:00", "07:00")], BERLIN)
    start, end = utc(2026, 1, 5, 21, 0), utc(2026, 1, 6, 6, 0)
    assert not schedule.is_quiet(start - TINY)
    assert schedule.is_quiet(start)
    assert schedule.is_quiet(end - TINY)
    assert not schedule.is_quiet(end)
    assert schedule.next_change(start - timedelta(hours=5)) == start
    assert schedule.next_change(start) == end
    assert schedule.next_change(end) == start + timedelta(days=7)


def test_berlin_spring_forward_night_is_an_hour_shorter() -> None:
    schedule = QuietSchedule([QuietRange(SAT, "22:00", "07:00")], BERLIN)
    spans = quiet_spans(schedule, utc(2026, 3, 28, 0), utc(2026, 3, 30, 0))
    # 22:00 CET = 21:00 UTC; 07:00 CEST = 05:00 UTC: 8 hours of real time
    assert spans == [("2026-03-28T21:00:00+00:00", "2026-03-29T05:00:00+00:00")]


def test_berlin_fall_back_night_is_an_hour_longer() -> None:
    schedule = QuietSchedule([QuietRange(SAT, "22:00", "07:00")], BERLIN)
    spans = quiet_spans(schedule, utc(2026, 10, 24, 0), utc(2026, 10, 26, 0))
    # 22:00 CEST = 20:00 UTC; 07:00 CET = 06:00 UTC: 10 hours of real time
    assert spans == [("2026-10-24T20:00:00+00:00", "2026-10-25T06:00:00+00:00")]


def test_berlin_gap_start_begins_at_the_transition() -> None:
    schedule = QuietSchedule([QuietRange(SUN, "02:30", "04:00")], BERLIN)
    spans = quiet_spans(schedule, utc(2026, 3, 28, 0), utc(2026, 3, 30, 0))
    assert spans == [("2026-03-29T01:00:00+00:00", "2026-03-29T02:00:00+00:00")]


def test_berlin_gap_end_ends_at_the_transition() -> None:
    schedule = QuietSchedule([QuietRange(SUN, "01:00", "02:30")], BERLIN)
    spans = quiet_spans(schedule, utc(2026, 3, 28, 0), utc(2026, 3, 30, 0))
    assert spans == [("2026-03-29T00:00:00+00:00", "2026-03-29T01:00:00+00:00")]


def test_a_range_inside_the_gap_is_empty_that_night_and_the_next_change_is_a_week_on() -> None:
    schedule = QuietSchedule([QuietRange(SUN, "02:05", "02:55")], BERLIN)
    night = [utc(2026, 3, 29, 0, 0) + k * MINUTE for k in range(180)]
    assert not any(schedule.is_quiet(t) for t in night)
    # From the Saturday before, the next flip skips the empty night: Sunday 5 April, CEST.
    assert schedule.next_change(utc(2026, 3, 28, 12)) == utc(2026, 4, 5, 0, 5)


def test_berlin_overlap_uses_the_first_occurrence() -> None:
    schedule = QuietSchedule([QuietRange(SUN, "02:15", "02:45")], BERLIN)
    spans = quiet_spans(schedule, utc(2026, 10, 24, 0), utc(2026, 10, 26, 0))
    # first pass of 02:15-02:45 is in CEST (00:15-00:45 UTC); the second pass is not quiet
    assert spans == [("2026-10-25T00:15:00+00:00", "2026-10-25T00:45:00+00:00")]
    assert not schedule.is_quiet(utc(2026, 10, 25, 1, 20))  # 02:20 CET, second pass


def test_berlin_overlap_end_in_the_repeated_hour() -> None:
    schedule = QuietSchedule([QuietRange(SAT, "23:00", "02:30")], BERLIN)
    spans = quiet_spans(schedule, utc(2026, 10, 24, 0), utc(2026, 10, 26, 0))
    assert spans == [("2026-10-24T21:00:00+00:00", "2026-10-25T00:30:00+00:00")]


def test_new_york_dst_nights() -> None:
    schedule = QuietSchedule(
        [QuietRange(SAT, "22:00", "07:00"), QuietRange(SUN, "01:30", "01:45")], NEW_YORK
    )
    spring = quiet_spans(schedule, utc(2026, 3, 7, 12), utc(2026, 3, 8, 23))
    assert spring == [("2026-03-08T03:00:00+00:00", "2026-03-08T11:00:00+00:00")]
    autumn = quiet_spans(schedule, utc(2026, 10, 31, 12), utc(2026, 11, 1, 23))
    # 22:00 EDT -> 07:00 EST; the 01:30-01:45 range lies inside and is absorbed
    assert autumn == [("2026-11-01T02:00:00+00:00", "2026-11-01T12:00:00+00:00")]


def test_new_york_overlap_range_alone() -> None:
    schedule = QuietSchedule([QuietRange(SUN, "01:30", "01:45")], NEW_YORK)
    spans = quiet_spans(schedule, utc(2026, 10, 31, 12), utc(2026, 11, 1, 23))
    assert spans == [("2026-11-01T05:30:00+00:00", "2026-11-01T05:45:00+00:00")]
    assert not schedule.is_quiet(utc(2026, 11, 1, 6, 35))  # 01:35 EST, the second pass


def test_lord_howe_half_hour_dst() -> None:
    schedule = QuietSchedule(
        [QuietRange(SUN, "02:10", "02:20"), QuietRange(SUN, "02:15", "03:00")], LORD_HOWE
    )
    spans = quiet_spans(schedule, utc(2026, 10, 3, 0), utc(2026, 10, 4, 12))
    # 02:00 +10:30 jumps to 02:30 +11 at 15:30 UTC; both starts fall in the gap
    assert spans == [("2026-10-03T15:30:00+00:00", "2026-10-03T16:00:00+00:00")]
    autumn = QuietSchedule([QuietRange(SUN, "01:40", "01:50")], LORD_HOWE)
    assert quiet_spans(autumn, utc(2026, 4, 4, 0), utc(2026, 4, 5, 12)) == [
        ("2026-04-04T14:40:00+00:00", "2026-04-04T14:50:00+00:00")
    ]


def test_equal_start_and_end_means_a_whole_day() -> None:
    schedule = QuietSchedule([QuietRange(WED, "09:00", "09:00")], UTC)
    assert quiet_spans(schedule, utc(2026, 1, 6), utc(2026, 1, 9)) == [
        ("2026-01-07T09:00:00+00:00", "2026-01-08T09:00:00+00:00")
    ]


def test_overlapping_and_touching_ranges_join() -> None:
    schedule = QuietSchedule(
        [
            QuietRange(MON, "08:00", "10:00"),
            QuietRange(MON, "09:00", "12:00"),
            QuietRange(MON, "12:00", "13:00"),
        ],
        UTC,
    )
    assert quiet_spans(schedule, utc(2026, 1, 5), utc(2026, 1, 6)) == [
        ("2026-01-05T08:00:00+00:00", "2026-01-05T13:00:00+00:00")
    ]


def test_sunday_night_crosses_into_monday() -> None:
    schedule = QuietSchedule([QuietRange(SUN, "23:00", "01:00")], UTC)
    assert schedule.is_quiet(utc(2026, 1, 5, 0, 30))  # Monday 00:30
    assert not schedule.is_quiet(utc(2026, 1, 5, 1, 0))


def test_no_ranges_and_always_quiet_have_no_next_change() -> None:
    empty = QuietSchedule([], BERLIN)
    assert not empty.is_quiet(utc(2026, 1, 5))
    assert empty.next_change(utc(2026, 1, 5)) is None
    always = QuietSchedule([QuietRange(day, "00:00", "00:00") for day in range(7)], BERLIN)
    for now in (utc(2026, 1, 5), utc(2026, 3, 29, 1), utc(2026, 10, 25, 0, 30)):
        assert always.is_quiet(now)
        assert always.next_change(now) is None


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        QuietSchedule([], UTC).is_quiet(datetime(2026, 1, 1))


# --------------------------------------------------------------------------- QuietState


def test_state_reasons_and_next_change() -> None:
    schedule = QuietSchedule([QuietRange(MON, "22:00", "07:00")], BERLIN)
    state = QuietState(schedule, paused_until=None)
    monday_noon = utc(2026, 1, 5, 11)
    assert not state.is_suppressed(monday_noon)
    assert state.reason(monday_noon) is None
    assert state.next_change(monday_noon) == utc(2026, 1, 5, 21)
    late = utc(2026, 1, 5, 22)
    assert state.is_suppressed(late)
    assert state.reason(late) == "Quiet hours until 07:00"
    assert state.next_change(late) == utc(2026, 1, 6, 6)


def test_pause_wins_over_quiet_hours_and_ends_on_time() -> None:
    schedule = QuietSchedule([QuietRange(MON, "22:00", "07:00")], BERLIN)
    paused_until = utc(2026, 1, 6, 8)  # Tuesday 09:00 Berlin, after the quiet night
    state = QuietState(schedule, paused_until)
    evening = utc(2026, 1, 5, 17)
    assert state.is_paused(evening) and state.is_suppressed(evening)
    assert state.reason(evening) == "Paused until 09:00"
    assert state.next_change(evening) == utc(2026, 1, 5, 21)  # quiet hours start meanwhile
    assert state.next_change(utc(2026, 1, 6, 6)) == paused_until
    assert not state.is_suppressed(paused_until)
    assert state.reason(paused_until) is None


def test_a_pause_ending_inside_quiet_hours_hands_over_to_them() -> None:
    schedule = QuietSchedule([QuietRange(MON, "22:00", "07:00")], BERLIN)
    state = QuietState(schedule, utc(2026, 1, 5, 23))
    assert state.reason(utc(2026, 1, 5, 22, 30)) == "Paused until 00:00"
    assert state.reason(utc(2026, 1, 5, 23)) == "Quiet hours until 07:00"


def test_long_pauses_name_the_day() -> None:
    state = QuietState(QuietSchedule([], BERLIN), utc(2026, 1, 8, 8))
    assert state.reason(utc(2026, 1, 5, 12)) == "Paused until Thu 09:00"
    far = QuietState(QuietSchedule([], BERLIN), utc(2026, 2, 8, 8))
    assert far.reason(utc(2026, 1, 5, 12)) == "Paused until 8 Feb 09:00"


def test_an_expired_pause_does_nothing() -> None:
    state = QuietState(QuietSchedule([], UTC), utc(2026, 1, 1))
    assert not state.is_suppressed(utc(2026, 1, 2))
    assert state.next_change(utc(2026, 1, 2)) is None
    assert not QuietState.none().is_suppressed(utc(2026, 1, 2))


# --------------------------------------------------------------------------- properties


class Reference:
    """Brute force: walk real instants minute by minute, watch the local wall clock, and
    start or end a range occurrence the first time the clock reads its boundary or later.

    Exact for zones whose offsets and transitions fall on whole minutes (all used here).
    """

    def __init__(self, ranges: Sequence[QuietRange], tz: tzinfo, now: datetime) -> None:
        self.tz = tz
        today = now.astimezone(tz).date()
        # Occurrences starting from yesterday (today's quiet can begin yesterday evening).
        self.boundaries: list[tuple[datetime, int, int]] = []  # (wall, +1 start/-1 end, id)
        occurrence = 0
        for offset in range(-1, 18):
            day = today + timedelta(days=offset)
            for r in ranges:
                if r.day != day.weekday():
                    continue
                start = datetime.combine(day, time.fromisoformat(r.start))
                end_day = day + timedelta(days=1) if r.end <= r.start else day
                end = datetime.combine(end_day, time.fromisoformat(r.end))
                self.boundaries += [(start, 1, occurrence), (end, -1, occurrence)]
                occurrence += 1
        self.boundaries.sort()
        # Start well before yesterday's midnight in local time.
        self.minute = now.replace(second=0, microsecond=0) - timedelta(hours=50)
        self.max_wall = datetime.min
        self.next_boundary = 0
        self.active: set[int] = set()
        self.ended: set[int] = set()
        self.minutes: list[datetime] = []  # walked so far
        self.quiet: list[bool] = []  # quiet from that minute on

    def _step(self) -> None:
        wall = self.minute.astimezone(self.tz).replace(tzinfo=None)
        if wall > self.max_wall:
            self.max_wall = wall
            while (
                self.next_boundary < len(self.boundaries)
                and self.boundaries[self.next_boundary][0] <= wall
            ):
                _, kind, occurrence = self.boundaries[self.next_boundary]
                if kind == 1 and occurrence not in self.ended:
                    self.active.add(occurrence)
                else:
                    self.active.discard(occurrence)
                    self.ended.add(occurrence)
                self.next_boundary += 1
        self.minutes.append(self.minute)
        self.quiet.append(bool(self.active))
        self.minute += MINUTE

    def quiet_at(self, instant: datetime) -> bool:
        while self.minute <= instant:
            self._step()
        return self.quiet[bisect.bisect_right(self.minutes, instant) - 1]

    def next_change(self, now: datetime, limit: timedelta) -> datetime | None:
        current = self.quiet_at(now)
        while self.minute <= now + limit:
            self._step()
            if self.minutes[-1] > now and self.quiet[-1] != current:
                return self.minutes[-1]
        return None


ZONES = [BERLIN, NEW_YORK, LORD_HOWE, ZoneInfo("UTC"), ZoneInfo("Asia/Kolkata")]
# Times near the DST edges come up often; any minute of the day can come up too.
HHMM = st.one_of(
    st.sampled_from(["00:00", "01:30", "01:45", "02:00", "02:15", "02:30", "03:00", "07:00",
                     "22:00", "23:59"]),
    st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59)),
)  # fmt: skip
# All the DST changes below happen on a (local) Sunday, so Sundays come up often.
DAYS = st.one_of(st.just(SUN), st.integers(0, 6))
RANGES = st.lists(st.builds(QuietRange, day=DAYS, start=HHMM, end=HHMM), min_size=0, max_size=4)
DST_EDGES = [
    (BERLIN, utc(2026, 3, 29, 1)),
    (BERLIN, utc(2026, 10, 25, 1)),
    (NEW_YORK, utc(2026, 3, 8, 7)),
    (NEW_YORK, utc(2026, 11, 1, 6)),
    (LORD_HOWE, utc(2026, 4, 4, 15)),
    (LORD_HOWE, utc(2026, 10, 3, 15, 30)),
]
ZONE_AND_NOW = st.one_of(
    st.builds(
        lambda zone_edge, seconds: (zone_edge[0], zone_edge[1] + timedelta(seconds=seconds)),
        st.sampled_from(DST_EDGES),
        st.integers(-4 * 86400, 4 * 86400),
    ),
    st.tuples(
        st.sampled_from(ZONES),
        st.datetimes(datetime(2024, 1, 1), datetime(2030, 12, 31), timezones=st.just(UTC)),
    ),
)


@settings(max_examples=150, deadline=None)
@given(ranges=RANGES, zone_and_now=ZONE_AND_NOW)
def test_is_quiet_agrees_with_the_brute_force_reference(
    ranges: list[QuietRange], zone_and_now: tuple[tzinfo, datetime]
) -> None:
    tz, now = zone_and_now
    schedule = QuietSchedule(ranges, tz)
    reference = Reference(ranges, tz, now)
    for probe in (now, now + timedelta(minutes=37), now + timedelta(hours=5, minutes=11)):
        assert schedule.is_quiet(probe) == reference.quiet_at(probe), probe


@settings(max_examples=100, deadline=None)
@given(ranges=RANGES, zone_and_now=ZONE_AND_NOW, data=st.data())
def test_next_change_is_the_next_flip(
    ranges: list[QuietRange], zone_and_now: tuple[tzinfo, datetime], data: st.DataObject
) -> None:
    tz, now = zone_and_now
    schedule = QuietSchedule(ranges, tz)
    change = schedule.next_change(now)
    expected = Reference(ranges, tz, now).next_change(now, limit=timedelta(days=16))
    assert change == expected
    if change is None:
        return
    quiet = schedule.is_quiet(now)
    assert change > now
    assert schedule.is_quiet(change - TINY) == quiet
    assert schedule.is_quiet(change) != quiet
    # sampled: nothing flips in between
    span = (change - now) // TINY
    for offset in data.draw(st.lists(st.integers(0, span - 1), max_size=20)):
        assert schedule.is_quiet(now + offset * TINY) == quiet
