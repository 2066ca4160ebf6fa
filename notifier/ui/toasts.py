"""Toast adapters: the platform notification service behind one small Protocol.

The controller decides WHAT to show (core.toast_policy); a :class:`ToastSink` only shows,
withdraws, and reports clicks. Its contract is its callbacks, bound once with :meth:`bind`:
``on_clicked(key)`` when the toast body is clicked and ``on_action(key, action)`` for a
button, where action is :data:`ACTION_MARK_READ` or :data:`ACTION_OPEN`.

Implementations, tried in this order by :func:`choose_sink` (the first that works wins, the
choice is logged once):

* :class:`DesktopNotifierSink` – ``desktop-notifier`` (org.freedesktop.Notifications over
  D-Bus on Linux, the notification centres on macOS and Windows) with "Mark read" and, when
  the service cannot report a click on the body, "Open" buttons; withdrawal supported;
* :class:`TrayMessageSink` – ``QSystemTrayIcon.showMessage``: no buttons, a click on the
  balloon counts as a click on the latest toast; cannot withdraw;
* :class:`NullSink` – nothing but the badge (no notification service and no tray).

Everything is plain text: titles and bodies go out as given, never as markup (the freedesktop
spec lets servers interpret a small HTML subset in the body, so :func:`plain_body` escapes
``&``, ``<`` and ``>`` for that backend).

``desktop_notifier`` is imported only inside :func:`choose_sink`, after the first paint, to keep
start-up fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Coroutine
from importlib.resources import files
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtWidgets import QSystemTrayIcon

log = logging.getLogger(__name__)

ACTION_MARK_READ = "mark-read"
ACTION_OPEN = "open"
APP_NAME = "Helpdesk notifier"
PROBE_TIMEOUT_S = 3.0


class ToastRequest(Protocol):
    """What a sink needs of a toast (core.toast_policy.Toast has these fields)."""

    @property
    def key(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def notification_id(self) -> str | None: ...
    @property
    def sound(self) -> bool: ...


class ToastSink(Protocol):
    name: str

    def bind(
        self, on_clicked: Callable[[str], None], on_action: Callable[[str, str], None]
    ) -> None:
        """Set the callbacks for clicks and buttons (called on the GUI thread)."""
        ...

    def show(self, toast: ToastRequest) -> None:
        """Show ``toast`` now; never blocks (I/O is scheduled on the running loop)."""
        ...

    def withdraw(self, key: str) -> None:
        """Close the toast shown under ``key`` if the platform allows; unknown keys are fine."""
        ...

    async def aclose(self) -> None:
        """Release the connection to the notification service (at quit)."""
        ...


def _ignore_click(key: str) -> None:
    log.debug("toast %s clicked with no handler bound", key)


def _ignore_action(key: str, action: str) -> None:
    log.debug("toast %s action %s with no handler bound", key, action)


class NullSink:
    """No notification service: the badge and the list are all the agent gets."""

    name = "none (badge only)"

    def __init__(self) -> None:
        self.shown_count = 0

    def bind(
        self, on_clicked: Callable[[str], None], on_action: Callable[[str, str], None]
    ) -> None:
        return None

    def show(self, toast: ToastRequest) -> None:
        self.shown_count += 1
        log.debug("no toast service; not showing %s", toast.key)

    def withdraw(self, key: str) -> None:
        return None

    async def aclose(self) -> None:
        return None


class TrayMessageSink:
    """``QSystemTrayIcon.showMessage`` balloons. One at a time, so a click means the latest."""

    name = "tray balloon (QSystemTrayIcon)"
    DURATION_MS = 8000

    def __init__(self, tray: QSystemTrayIcon) -> None:
        self._tray = tray
        self._latest: str | None = None
        self._on_clicked: Callable[[str], None] = _ignore_click
        tray.messageClicked.connect(self._on_message_clicked)

    def bind(
        self, on_clicked: Callable[[str], None], on_action: Callable[[str, str], None]
    ) -> None:
        self._on_clicked = on_clicked

    def show(self, toast: ToastRequest) -> None:
        self._latest = toast.key
        self._tray.showMessage(
            toast.title, toast.body, QSystemTrayIcon.MessageIcon.Information, self.DURATION_MS
        )

    def withdraw(self, key: str) -> None:
        # Qt has no call to close a balloon; forget it so a late click does nothing.
        if key == self._latest:
            self._latest = None

    def _on_message_clicked(self) -> None:
        if self._latest is not None:
            self._on_clicked(self._latest)

    async def aclose(self) -> None:
        self._latest = None


class DesktopNotifierLike(Protocol):
    """The part of ``desktop_notifier.DesktopNotifier`` this adapter uses."""

    async def send(
        self,
        title: str,
        message: str,
        *,
        buttons: Any = ...,
        on_clicked: Callable[[], Any] | None = ...,
        sound: Any = ...,
    ) -> str: ...

    async def clear(self, identifier: str) -> None: ...


def plain_body(text: str) -> str:
    """Escape the markup some freedesktop servers interpret, so text shows literally."""
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class DesktopNotifierSink:
    """Native toasts through ``desktop-notifier`` (verified against its 6.2 API).

    One toast per key on screen: showing a key again (a re-issued notification, such as a
    folded burst of replies) replaces the toast shown under it instead of stacking another;
    of two sends of one key in flight, the later :meth:`show` wins.
    """

    name = "desktop-notifier"

    def __init__(
        self,
        notifier: DesktopNotifierLike,
        *,
        button_factory: Callable[[str, Callable[[], None]], Any],
        default_sound: Any,
        body_click_supported: bool = True,
    ) -> None:
        self._notifier = notifier
        self._button = button_factory
        self._default_sound = default_sound
        self._body_click_supported = body_click_supported
        self._identifiers: dict[str, str] = {}
        self._withdrawn_early: set[str] = set()
        # Keys with sends in flight: key -> (number of its newest show(), sends in flight).
        self._in_flight: dict[str, tuple[int, int]] = {}
        self._shows = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._on_clicked: Callable[[str], None] = _ignore_click
        self._on_action: Callable[[str, str], None] = _ignore_action

    def bind(
        self, on_clicked: Callable[[str], None], on_action: Callable[[str, str], None]
    ) -> None:
        self._on_clicked = on_clicked
        self._on_action = on_action

    def show(self, toast: ToastRequest) -> None:
        self._withdrawn_early.discard(toast.key)
        self._shows += 1
        _, sending = self._in_flight.get(toast.key, (0, 0))
        self._in_flight[toast.key] = (self._shows, sending + 1)
        self._spawn(self._send(toast, self._shows))

    def withdraw(self, key: str) -> None:
        identifier = self._identifiers.pop(key, None)
        if identifier is None:
            # Not sent yet (or unknown): make sure a send still in flight is cleared after.
            self._withdrawn_early.add(key)
            return
        self._spawn(self._clear(key, identifier))

    async def drain(self) -> None:
        """Wait for every send/clear in flight (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Finish what is in flight, then close the D-Bus connection.

        desktop-notifier 6.2 has no public close; its Linux backend keeps a dbus-fast
        ``MessageBus`` in ``_backend.bus``, which is disconnected here if present (elsewhere
        there is nothing to close).
        """
        await self.drain()
        backend = getattr(self._notifier, "_backend", None)
        bus = getattr(backend, "bus", None)
        if bus is not None:
            bus.disconnect()
            with contextlib.suppress(Exception):
                await bus.wait_for_disconnect()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, toast: ToastRequest, show_number: int) -> None:
        try:
            await self._send_and_replace(toast, show_number)
        finally:
            newest, sending = self._in_flight.pop(toast.key)
            if sending > 1:
                self._in_flight[toast.key] = (newest, sending - 1)

    async def _send_and_replace(self, toast: ToastRequest, show_number: int) -> None:
        key = toast.key
        buttons = []
        if toast.notification_id is not None:
            buttons.append(
                self._button("Mark read", lambda: self._on_action(key, ACTION_MARK_READ))
            )
            if not self._body_click_supported:
                buttons.append(self._button("Open", lambda: self._on_action(key, ACTION_OPEN)))
        try:
            identifier = await self._notifier.send(
                toast.title,
                plain_body(toast.body),
                buttons=buttons,
                on_clicked=lambda: self._on_clicked(key),
                sound=self._default_sound if toast.sound else None,
            )
        except Exception as error:  # the OS service is an edge; log and carry on
            log.warning("could not show a toast: %s", error)
            return
        if key in self._withdrawn_early:
            self._withdrawn_early.discard(key)
            await self._clear(key, identifier)
            return
        if self._in_flight[key][0] != show_number:
            await self._clear(key, identifier)  # a newer show() of this key replaces it
            return
        previous = self._identifiers.get(key)
        self._identifiers[key] = identifier
        if previous is not None:
            await self._clear(key, previous)

    async def _clear(self, key: str, identifier: str) -> None:
        try:
            await self._notifier.clear(identifier)
        except Exception as error:  # already closed by the user, or the service went away
            log.debug("could not withdraw toast %s: %s", key, error)


APP_ICON = "bell.svg"
# Windows draws only raster images in a toast and in the Action Center (desktop-notifier
# passes the app icon as the toast's logo and registers it as the app's IconUri), so the
# Windows bundle carries this PNG, rendered from APP_ICON at build time
# (packaging/pyinstaller/bundle.py, windows_toast_icon_datas).
WINDOWS_APP_ICON = "bell.png"


def app_icon_path(platform: str = sys.platform, resources: Path | None = None) -> Path:
    """The bell icon as a file, for notification services that take a path or URI: the
    SVG, or on Windows the PNG where the bundle carries it. ``resources`` is where the icons
    are (default: the installed ``notifier.resources``)."""
    folder = resources if resources is not None else Path(str(files("notifier.resources")))
    if platform == "win32":
        raster = folder / WINDOWS_APP_ICON
        if raster.is_file():
            return raster
        # A pip install has no build step to render it: the toasts go out without the bell.
        log.info("no %s beside the icons: Windows toasts show no app icon", WINDOWS_APP_ICON)
    return folder / APP_ICON


async def make_desktop_notifier_sink() -> DesktopNotifierSink:
    """Connect to the platform service; raise if it is not there (probe with a timeout)."""
    from desktop_notifier import DEFAULT_SOUND, Button, Capability, DesktopNotifier, Icon

    # Our bell, not desktop-notifier's default Python logo. The path is a real file in both
    # the wheel and an editable install (the resources package is never zipped).
    notifier = DesktopNotifier(app_name=APP_NAME, app_icon=Icon(path=app_icon_path()))
    async with asyncio.timeout(PROBE_TIMEOUT_S):
        capabilities = await notifier.get_capabilities()

    def button(title: str, on_pressed: Callable[[], None]) -> Any:
        return Button(title=title, on_pressed=on_pressed)

    return DesktopNotifierSink(
        notifier,
        button_factory=button,
        default_sound=DEFAULT_SOUND,
        body_click_supported=Capability.ON_CLICKED in capabilities,
    )


async def choose_sink(tray: QSystemTrayIcon | None) -> ToastSink:
    """The first working sink of desktop-notifier → tray balloon → nothing; logged."""
    sink: ToastSink
    try:
        sink = await make_desktop_notifier_sink()
    except Exception as error:
        log.info("desktop notifications unavailable (%s)", error or type(error).__name__)
        if (
            tray is not None
            and QSystemTrayIcon.isSystemTrayAvailable()
            and QSystemTrayIcon.supportsMessages()
        ):
            sink = TrayMessageSink(tray)
        else:
            sink = NullSink()
    log.info("toasts: using %s", sink.name)
    return sink
