"""The process's heap: objects that live as long as the app kept out of the garbage
collector's sight, and the pages glibc keeps after a burst of reads given back to the OS.

``gc.freeze()``: a full collection walks every tracked object, and most of them (modules, Qt
wrappers, the app's own objects) are made at start-up and live until it quits; frozen, they
are no longer walked (benchmarks/README.md, "First sign-in" and the replay).

``malloc_trim``:

Freed memory stays inside glibc's arenas: only the top of the heap goes back by itself. After
the popup closes, SQLite has given back the page cache its counts filled (up to 2 MB over a
big cache, :meth:`~notifier.store.cache.NotificationCache.release_memory`), but those pages
lie between live allocations and stay resident all day. ``malloc_trim(0)`` hands every
wholly free page back (benchmarks/README.md, "Idle memory with 100,000 cached").

Only glibc has it: elsewhere (macOS, Windows, musl) this does nothing. ``ctypes`` is
imported on the first call, not at start-up: the idle app that never opens the popup
does not load it.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        function = ctypes.CDLL(None).malloc_trim  # the process's own C library
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    trim: Callable[[int], int] = function
    return trim


def give_back_freed_memory() -> bool:
    """Return the heap's wholly free pages to the OS; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)  # 0: keep no extra free space at the top of the heap
    return True


def freeze_long_lived_objects() -> bool:
    """Collect, then freeze what is left: everything that exists now is taken to live as long
    as the app. Not where automatic collection is off (the test suite collects between tests):
    there is nothing to save, and what a test holds would never be collected; False then."""
    if not gc.isenabled():
        return False
    gc.collect()
    gc.freeze()
    return True
