"""Import modules on a worker thread while the GUI thread's Qt event loop keeps running.

Right after the first paint the tray host asks the app for its icon: an SNI host (KDE,
GNOME's AppIndicator extension, waybar) sends a D-Bus ``Get`` of ``IconPixmap``, which Qt
answers from the GUI thread's event loop. The rest of the app (the controller, the cache,
the network stack behind :mod:`notifier.compose`, qasync) is heavier to import than
everything before the first paint; imported on the GUI thread, it kept the host waiting for
the icon (benchmarks/README.md, "Start-up until docked"). :func:`import_while_serving`
imports it on a worker thread while the GUI thread waits in a Qt event loop, so Qt answers
the host at once: the answer is C++ work that needs no Python, hence not the interpreter
lock the importing thread holds most of the time.

Only the imports move: a module's top-level code must not create Qt objects (ours define
classes, constants and functions). Building the app stays on the GUI thread, afterwards.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterable

from PySide6.QtCore import QEventLoop, QThread


class _Importer(QThread):
    def __init__(self, names: tuple[str, ...]) -> None:
        super().__init__()
        self._names = names

    def run(self) -> None:
        for name in self._names:
            # A module that fails here is imported again on the GUI thread, which reports it.
            with contextlib.suppress(Exception):
                importlib.import_module(name)


def import_while_serving(names: Iterable[str]) -> None:
    """Import the modules ``names`` on a worker thread and return when done; meanwhile this
    thread's Qt event loop runs (it must be the GUI thread, with a QCoreApplication).

    User input (mouse, keys) stays queued for the event loop that runs next. Anything else
    the loop delivers meanwhile (timers, sockets, D-Bus calls) reaches only what is connected
    by then: a caller that must not lose such an event (a click on an SNI icon arrives over
    D-Bus) records it and handles it afterwards (:mod:`notifier.ui.early_intents`).
    """
    importer = _Importer(tuple(names))
    waiting = QEventLoop()
    # Emitted on the worker thread, so queued to this one: it quits the loop from inside
    # exec(), even when the worker finishes before exec() starts.
    importer.finished.connect(waiting.quit)
    importer.start()
    waiting.exec(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
    importer.wait()
