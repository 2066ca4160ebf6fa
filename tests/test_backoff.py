"""Backoff: full jitter under an exponential ceiling, capped, reset on success."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.core.backoff import (
    MAX_RETRY_AFTER_S,
    Backoff,
    requested_wait,
    retry_after_seconds,
)


def test_ceilings_double_from_one_second_to_the_one_minute_cap() -> None:
    backoff = Backoff(rand=lambda: 1.0)
    delays = [backoff.next_delay() for _ in range(9)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert backoff.attempts == 9


def test_reset_starts_over() -> None:
    backoff = Backoff(rand=lambda: 1.0)
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.attempts == 0
    assert backoff.next_delay() == 1.0


@given(draws=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=200))
def test_every_delay_is_within_zero_and_its_ceiling(draws: list[float]) -> None:
    source = iter(draws)
    backoff = Backoff(rand=lambda: next(source))
    for attempt in range(len(draws)):
        delay = backoff.next_delay()
        assert 0.0 <= delay <= backoff.ceiling(attempt) <= 60.0


def test_jitter_spreads_delays() -> None:
    rng = random.Random(7)
    delays = {round(Backoff(rand=rng.random).next_delay(), 6) for _ in range(50)}
    assert len(delays) > 40 and max(delays) <= 1.0


def test_a_very_long_outage_does_not_overflow() -> None:
    backoff = Backoff(rand=lambda: 1.0)
    for _ in range(5000):
        assert backoff.next_delay() <= 60.0


@pytest.mark.parametrize("kwargs", [{"first": 0}, {"first": 2, "cap": 1}, {"factor": 0.5}])
def test_nonsense_parameters_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("30", 30.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("Tue, 01 Dec 2026 12:05:00 GMT", 300.0),  # an HTTP-date, five minutes on
        ("Tue, 01 Dec 2026 11:00:00 GMT", 0.0),  # already past: no wait, not a negative one
        ("99999999999999999999", MAX_RETRY_AFTER_S),  # a year's wait: an hour at most
        ("Fri, 01 Dec 2100 12:00:00 GMT", MAX_RETRY_AFTER_S),
        ("-5", None),
        ("soon", None),
        ("", None),
        ("1e3", None),
        (None, None),
    ],
)
def test_retry_after_is_read_as_seconds_or_a_date_within_an_hour(
    header: str | None, seconds: float | None
) -> None:
    assert retry_after_seconds(header, NOW) == seconds


def test_only_too_many_requests_and_busy_ask_to_wait() -> None:
    assert requested_wait(429, "30", NOW) == 30.0
    assert requested_wait(503, "30", NOW) == 30.0
    assert requested_wait(500, "30", NOW) is None
    assert requested_wait(400, "30", NOW) is None
    assert requested_wait(429, None, NOW) is None
