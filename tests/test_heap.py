"""notifier/app/heap.py: freezing what lives as long as the app, trimming the heap."""

from __future__ import annotations

import gc
import sys

import pytest

from notifier.app.heap import freeze_long_lived_objects, give_back_freed_memory


def test_what_exists_is_frozen_and_what_comes_later_is_not(gc_state_restored: None) -> None:
    gc.enable()
    long_lived: list[object] = [[]]
    assert gc.is_tracked(long_lived) and any(o is long_lived for o in gc.get_objects())
    assert freeze_long_lived_objects()
    assert gc.get_freeze_count() > 0
    assert not any(o is long_lived for o in gc.get_objects())  # out of the collector's sight
    made_later: list[object] = [[]]
    assert any(o is made_later for o in gc.get_objects())


def test_nothing_is_frozen_where_automatic_collection_is_off(gc_state_restored: None) -> None:
    gc.disable()
    assert not freeze_long_lived_objects()
    assert gc.get_freeze_count() == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_the_heap_is_trimmed_on_glibc() -> None:
    assert give_back_freed_memory()
