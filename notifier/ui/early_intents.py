"""What the agent asks of the tray icon while the app behind it is still being built.

After the first paint the tray app imports the rest of itself with its event loop running
(notifier/app/preload.py), so that the tray host gets the icon at once. Meanwhile the icon
is there to click, but nothing is wired to it yet: a click on an SNI icon (a D-Bus
``Activate``), an item of its menu (D-Bus menu events) or a second start of ``notifier``
would be delivered and lost. :class:`EarlyIntents` records them, in order, and
:meth:`EarlyIntents.hand_over` replays them to the built :class:`TrayApp`. Mouse and keys on
X (an XEmbed icon, the fallback window) need none of this: the event loop leaves user input
queued while it waits for the imports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QRect, SignalInstance
from PySide6.QtGui import QAction

from notifier.ui.tray import TrayIcon

if TYPE_CHECKING:
    from notifier.ui.application import TrayApp


class EarlyIntents:
    """Records the agent's requests from construction until :meth:`hand_over`: ``woken`` is
    the single-instance guard's signal that another start asked for the list."""

    def __init__(self, woken: SignalInstance, tray: TrayIcon | None) -> None:
        self._replays: list[Callable[[TrayApp], None]] = []
        self._connections: list[tuple[SignalInstance, Callable[..., None]]] = []
        self._watch(woken, self._on_woken)
        if tray is not None:
            self._watch(tray.openRequested, self._on_open_requested)
            for action in tray.menu.findChildren(QAction):
                if action is not tray.open_action:  # that one says openRequested
                    self._watch(action.triggered, self._recorder(action))

    @property
    def pending(self) -> int:
        """How many requests wait for :meth:`hand_over`."""
        return len(self._replays)

    def hand_over(self, app: TrayApp) -> None:
        """Stop recording and do what was asked, in order; ``app`` is wired by now."""
        for signal, slot in self._connections:
            signal.disconnect(slot)
        self._connections.clear()
        replays, self._replays = self._replays, []
        for replay in replays:
            replay(app)

    def _watch(self, signal: SignalInstance, slot: Callable[..., None]) -> None:
        signal.connect(slot)
        self._connections.append((signal, slot))

    def _on_woken(self) -> None:
        self._replays.append(lambda app: app.on_another_start())

    def _on_open_requested(self, anchor: QRect) -> None:
        self._replays.append(lambda app: app.open_popup(anchor))

    def _recorder(self, action: QAction) -> Callable[..., None]:
        def record(*_: object) -> None:
            self._replays.append(lambda _app: action.trigger())

        return record
