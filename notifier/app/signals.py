"""Guards against PySide6 6.12.0 reference-count bugs on Python 3.11.

Two defects, apparently from PySide6 6.12 treating ``None``/``True``/``False`` as immortal
(they are only from Python 3.12 on), both measured here with PySide6 6.12.0 on Python 3.11.7:

* ``SignalInstance.emit()`` returns ``True`` without a reference (below);
* a Python override of a ``void`` C++ virtual (``paintEvent``, ``showEvent``, a delegate's
  ``paint`` …) has its ``None`` result released once too often: measured, -1 reference of
  ``None`` per ``paintEvent`` call.

On Python 3.11 the count of ``None``/``True`` then drifts down with every repaint and emission
until the interpreter aborts ("Fatal Python error: none_dealloc" / "bool_dealloc"); a tray app
that runs all day would get there. :func:`immortalize_singletons` does what Python 3.12 does:
it gives the three singletons a reference count so large (2**40) that no realistic number of
lost references reaches zero (they are never freed anyway). The app calls it at start-up, the
test suite in tests/conftest.py. :func:`emit` additionally keeps ``True``'s count exact.

``emit()`` for Qt signals that does not leak away a reference to ``True``:

PySide6 6.12.0's ``SignalInstance.emit()`` returns ``True`` without taking a reference for it
(a borrowed reference handed out as a new one). Each Python-side ``emit()`` therefore drops
one reference of ``True`` when the unused result is discarded. On Python 3.11, where ``True``
is not immortal, an app that emits signals all day eventually takes ``True``'s count to zero
and the interpreter aborts ("Fatal Python error: bool_dealloc"); the test suite hit it after a
few hundred emissions.

:func:`emit` probes once whether the running PySide6 has the bug (one emission on a private
object, comparing ``sys.getrefcount(True)``) and, if so, gives the reference back after each
emission. With a fixed PySide6, or on Python 3.12+ where ``True`` is immortal, the probe sees
no change and :func:`emit` is a plain ``emit()``. Every Python-side emission in the app goes
through here; signal-to-signal connections and emissions from C++ are not affected.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import PySide6
from PySide6.QtCore import QObject, Signal, SignalInstance

_steals_true: bool | None = None
_immortalized = False
# The first PySide6 release with the bugs. ctypes (~0.3 MB) is imported only where needed.
FIRST_AFFECTED_PYSIDE = (6, 12)


def pyside_needs_guard() -> bool:
    """Whether this PySide6 on this Python is one the guard is for (6.12+ on Python < 3.12)."""
    version = tuple(PySide6.__version_info__[:2])
    return sys.version_info < (3, 12) and version >= FIRST_AFFECTED_PYSIDE


def _incref(obj: object) -> None:
    import ctypes

    incref = ctypes.pythonapi.Py_IncRef
    incref.argtypes = [ctypes.py_object]
    incref.restype = None
    incref(obj)


class _Probe(QObject):
    probed = Signal()


IMMORTAL_BOOST = 1 << 40


def immortalize_singletons() -> bool:
    """Make ``None``, ``True`` and ``False`` effectively immortal on Python < 3.12 (once).

    Returns True if it changed anything. CPython keeps ``ob_refcnt`` as the first field of
    every object, which is what is raised here; on 3.12+ they are immortal already.
    """
    global _immortalized
    if sys.version_info >= (3, 12) or _immortalized:
        return False
    import ctypes

    for singleton in (None, True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value += IMMORTAL_BOOST
    _immortalized = True
    return True


def emit_steals_true() -> bool:
    """Whether this PySide6 drops a reference to ``True`` on each ``emit()`` (probed once)."""
    global _steals_true
    if _steals_true is None:
        probe = _Probe()
        before = sys.getrefcount(True)
        emitter: Callable[..., object] = probe.probed.emit
        result = emitter()
        del result
        _steals_true = sys.getrefcount(True) < before
        if _steals_true:
            _incref(True)  # the probe's own emission
    return _steals_true


def emit(signal: SignalInstance, *args: Any) -> None:
    """``signal.emit(*args)``, keeping ``True``'s reference count right (see module doc)."""
    # The stubs say emit() returns None; at run time it returns a bool (see module doc).
    emitter: Callable[..., object] = signal.emit
    result = emitter(*args)
    if result is not None and emit_steals_true():
        _incref(result)
