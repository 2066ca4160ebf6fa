"""Backoff: full jitter under an exponential ceiling, capped, reset on success."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.core.backoff import Backoff


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
