"""Imports on a worker thread while the GUI thread's event loop runs (notifier/app/preload.py),
and the list of modules the tray app imports that way after its first paint."""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from pytestqt.qtbot import QtBot

from notifier.app.preload import import_while_serving
from notifier.main import AFTER_PAINT_MODULES

GATE_WAIT_S = 10


@pytest.fixture
def module_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder on sys.path for modules written by the test; they are forgotten afterwards."""
    sys.path.insert(0, str(tmp_path))
    before = set(sys.modules)
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in set(sys.modules) - before:
            if name.startswith("preload_probe"):
                del sys.modules[name]
        importlib.invalidate_caches()


def test_the_event_loop_serves_while_the_modules_import(qtbot: QtBot, module_folder: Path) -> None:
    # The module's import can only finish once a timer has fired on the GUI thread: imported on
    # that thread (or with its event loop stopped) it would wait out its gate and fail.
    served = threading.Event()
    gate = module_folder / "preload_probe_gate.py"
    gate.write_text("import threading\nserved: threading.Event\n", encoding="utf-8")
    (module_folder / "preload_probe_slow.py").write_text(
        "import preload_probe_gate\n"
        "import threading\n"
        f"assert preload_probe_gate.served.wait({GATE_WAIT_S})\n"
        "IMPORTED_ON = threading.current_thread().name\n",
        encoding="utf-8",
    )
    importlib.invalidate_caches()
    import preload_probe_gate  # type: ignore[import-not-found]

    preload_probe_gate.served = served
    fired_on: list[str] = []

    def on_timer() -> None:
        fired_on.append(threading.current_thread().name)
        served.set()

    QTimer.singleShot(0, on_timer)
    import_while_serving(["preload_probe_slow"])

    assert fired_on == [threading.main_thread().name]
    slow = sys.modules["preload_probe_slow"]
    assert threading.main_thread().name != slow.IMPORTED_ON


def test_a_module_that_fails_is_left_to_the_gui_thread(module_folder: Path) -> None:
    (module_folder / "preload_probe_broken.py").write_text("raise RuntimeError('no')\n")
    importlib.invalidate_caches()
    import_while_serving(["preload_probe_missing", "preload_probe_broken", "json"])
    assert "preload_probe_broken" not in sys.modules
    assert "json" in sys.modules  # the ones after a failure are still imported
    with pytest.raises(RuntimeError, match="no"):
        importlib.import_module("preload_probe_broken")  # reported where the app imports it


def test_nothing_to_import_returns_at_once(qtbot: QtBot) -> None:
    import_while_serving([])


@pytest.mark.parametrize("name", AFTER_PAINT_MODULES)
def test_every_module_the_tray_app_preloads_exists(name: str) -> None:
    # A renamed module would only be imported later, on the GUI thread: the app would still
    # work, and dock late again without a word.
    assert find_spec(name) is not None
