"""A closed popup gives back its native window and backing store, and opens again as before;
closing it (and catching up) gives back SQLite's page cache, and then glibc's freed heap.
Offscreen, real cache and controller (tests/popup_rig.py, tests/tray_fakes.py)."""

from __future__ import annotations

import sys

import pytest
from fresh_interpreter import fresh_output
from popup_rig import Rig
from PySide6.QtCore import QRect, Qt
from pytestqt.qtbot import QtBot
from tray_fakes import FakeClock, RecordingSink, fill_cache, make_controller, make_notification

from notifier.app import heap
from notifier.core.status import ConnectionState, ConnectionStatus
from notifier.store.cache import NotificationCache
from notifier.ui import application
from notifier.ui.application import TrayApp
from notifier.ui.popup import Popup

ANCHOR = QRect(600, 0, 22, 22)


def test_a_closed_popup_has_no_window_and_reopens_with_its_list(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    fill_cache(cache, [make_notification(seq) for seq in (1, 2, 3)])
    rig = Rig(qtbot, cache)
    popup = Popup(rig.panel)
    qtbot.addWidget(popup)
    for _ in range(2):
        popup.show_near(ANCHOR)
        qtbot.waitExposed(popup)
        assert popup.windowHandle() is not None
        assert popup.screen().availableGeometry().contains(popup.frameGeometry())
        assert rig.panel.current_id() == "n3"
        assert rig.panel.list_view.visualRect(rig.model.index(2)).isValid()
        with qtbot.waitSignal(popup.closed, timeout=2000):
            qtbot.keyClick(rig.panel.list_view, Qt.Key.Key_Escape)
        # The window (with its backing store) goes once control is back in the event loop.
        qtbot.waitUntil(lambda: popup.windowHandle() is None, timeout=2000)
        assert not popup.isVisible()


def test_popup_closed_and_live_give_back_the_page_cache(
    qtbot: QtBot, cache: NotificationCache
) -> None:
    clock = FakeClock()
    controller = make_controller(cache, clock)
    app = TrayApp(controller, clock, use_tray=True, sink=RecordingSink())
    popup = app.popup
    assert popup is not None
    qtbot.addWidget(popup)
    released: list[None] = []
    real = cache.release_memory

    def release_memory() -> None:
        released.append(None)
        real()

    cache.release_memory = release_memory  # type: ignore[method-assign]  # counts the calls
    app.open_popup(ANCHOR)
    qtbot.waitExposed(popup)
    assert released == []
    popup.hide()
    assert len(released) == 1
    controller.on_status(ConnectionStatus(ConnectionState.CONNECTING))
    assert len(released) == 1
    controller.on_status(ConnectionStatus(ConnectionState.LIVE))
    assert len(released) == 2


def test_a_closed_popup_gives_the_freed_heap_back_after_its_window(
    qtbot: QtBot, cache: NotificationCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    # glibc keeps what SQLite's page cache and the closed window freed; malloc_trim returns it.
    clock = FakeClock()
    app = TrayApp(make_controller(cache, clock), clock, use_tray=True, sink=RecordingSink())
    popup = app.popup
    assert popup is not None
    qtbot.addWidget(popup)
    windows_when_trimmed: list[bool] = []

    def give_back() -> bool:
        windows_when_trimmed.append(popup.windowHandle() is not None)
        return heap.give_back_freed_memory()

    monkeypatch.setattr(application, "give_back_freed_memory", give_back)
    app.open_popup(ANCHOR)
    qtbot.waitExposed(popup)
    popup.hide()
    qtbot.waitUntil(lambda: windows_when_trimmed != [], timeout=5000)
    assert windows_when_trimmed == [False]  # once, with the window already gone


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_the_heap_is_trimmed_where_glibc_has_malloc_trim() -> None:
    assert heap.give_back_freed_memory()
    assert heap.give_back_freed_memory()  # again: nothing to give back is no error


def test_trimming_leaves_ctypes_unimported_until_the_first_trim() -> None:
    # ctypes costs the idle app memory too: only a closed popup brings it in.
    probe = (
        "import sys, notifier.ui.application, notifier.app.heap as heap;"
        "print('ctypes' in sys.modules); heap.give_back_freed_memory();"
        "print('ctypes' in sys.modules)"
    )
    assert fresh_output(probe).split() == ["False", str(sys.platform.startswith("linux"))]
