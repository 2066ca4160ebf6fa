"""The computer's time zone for quiet hours, from tzlocal (notifier/app/local_zone.py).

tzlocal reads ``TZ`` first, so the cases are set there: a zone name, a zone file, a POSIX
rule string it cannot name (UTC, with a log line), and then the zone carries its DST rules
into quiet hours: 22:00–07:00 stays local 22:00–07:00 across the spring change. (On Windows
tzlocal reads the registry's zone and maps it to its IANA name; that part is tzlocal's.)"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifier.app.local_zone import local_zone
from notifier.core.quiet_hours import QuietSchedule
from notifier.core.wire import QuietRange


@pytest.mark.parametrize(
    "value", ["Europe/Berlin", ":Europe/Berlin", "/usr/share/zoneinfo/Europe/Berlin"]
)
def test_the_zone_comes_with_its_dst_rules(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", value)
    zone = local_zone()
    assert zone.utcoffset(datetime(2026, 1, 15)) == timedelta(hours=1)
    assert zone.utcoffset(datetime(2026, 7, 15)) == timedelta(hours=2)


def test_a_changed_zone_is_seen_at_the_next_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    assert local_zone() == ZoneInfo("Europe/Berlin")
    monkeypatch.setenv("TZ", "America/New_York")
    assert local_zone() == ZoneInfo("America/New_York")


def test_an_unknown_zone_is_utc_and_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3")  # a POSIX rule, no zone name
    with caplog.at_level(logging.WARNING, logger="notifier.app.local_zone"):
        assert local_zone() is UTC
    assert "quiet hours use UTC" in caplog.text


def test_quiet_hours_in_the_local_zone_follow_the_spring_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    # Saturday 28 March 2026, 22:00 CET, to Sunday 07:00 CEST: 8 hours, not 9.
    schedule = QuietSchedule([QuietRange(5, "22:00", "07:00")], local_zone())
    [(start, end)] = schedule.intervals(datetime(2026, 3, 28).date(), datetime(2026, 3, 28).date())
    assert start == datetime(2026, 3, 28, 21, 0, tzinfo=UTC)
    assert end == datetime(2026, 3, 29, 5, 0, tzinfo=UTC)
