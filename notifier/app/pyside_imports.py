"""Keep PySide6's import hook from holding the source of every imported module in memory.

PySide6 replaces ``builtins.__import__`` to support ``from __feature__ import snake_case``.
After every import it asks whether the new module "uses PySide" (its default feature set
depends on it) by reading the module's whole source with :func:`inspect.getsource`, which goes
through :mod:`linecache`: the lines of every module imported after PySide6 stay cached for the
life of the process. For the tray app that is every module it imports, a large part of its
Python heap (benchmarks/README.md, "Figures behind the code"), and clearing the cache later
does not give the memory back (the freed lines are scattered over the arenas of everything imported
alongside).

:func:`install` swaps that check for one with the same answer (does the file mention
"PySide6"?) that reads the file's bytes and keeps nothing. It touches a private function of
PySide6's support package (``PySide6.support.feature._mod_uses_pyside``, checked with 6.11):
where that is missing (another version changed it), nothing is patched and the app only uses
more memory. The app never uses ``__feature__``.
"""

from __future__ import annotations

import linecache
import sys
from types import ModuleType

FEATURE_MODULE = "PySide6.support.feature"


def uses_pyside(module: ModuleType) -> bool:
    """True if the module's source file mentions PySide6 (PySide's own test), caching nothing."""
    path = getattr(module, "__file__", None)
    if not isinstance(path, str) or not path.endswith(".py"):
        return False  # built-in, extension or source-less: PySide's check says False too
    try:
        with open(path, "rb") as source:
            return b"PySide6" in source.read()
    except OSError:
        return False


def install() -> bool:
    """Patch the check (call right after importing PySide6); False if it cannot be found."""
    feature = sys.modules.get(FEATURE_MODULE)
    if feature is None or not callable(getattr(feature, "_mod_uses_pyside", None)):
        return False
    feature._mod_uses_pyside = uses_pyside  # type: ignore[attr-defined]  # private
    linecache.clearcache()  # what PySide6's own import already read
    return True
