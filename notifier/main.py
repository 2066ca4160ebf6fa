"""The composition root: parses the command line and wires the real parts together.

Only this module (with ``notifier.compose`` and ``notifier.headless``) may import every layer.
Heavy imports (Qt, the network stack, keyring, the toast library) happen inside the branch
that needs them, so ``notifier --version`` and the headless commands start fast and work
without a display.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from notifier import __version__

if TYPE_CHECKING:  # only for annotations: importing these at start-up would cost time
    from notifier.client.transport import TransportConfig
    from notifier.core.ports import HelpdeskBackend
    from notifier.core.settings import Settings
    from notifier.core.status import CacheChange, ConnectionStatus
    from notifier.core.wire import AgentInfo, Preferences
    from notifier.store.cache import NotificationCache
    from notifier.store.paths import AppPaths
    from notifier.sync.engine import SyncEngine


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="notifier",
        description="Helpdesk tray notifier: ticket assignments, @mentions and customer replies.",
    )
    parser.add_argument("--version", action="version", version=f"notifier {__version__}")
    parser.add_argument(
        "--server", help="helpdesk URL (overrides the configured one; env NOTIFIER_SERVER)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="start the tray app (the default)")
    login = commands.add_parser("login", help="sign in and store the token in the keyring")
    login.add_argument(
        "--backend",
        choices=["reference", "frappe"],  # notifier.core.settings.BackendKind (not imported)
        help="the kind of helpdesk: this project's (reference) or a Frappe Helpdesk site"
        " (frappe); default: the configured one",
    )
    login.add_argument("--username", "-u", help="agent username (asks for the password)")
    login.add_argument(
        "--token-stdin",
        action="store_true",
        help="read an API token from standard input (Frappe: API_KEY:API_SECRET)",
    )
    login.add_argument(
        "--site-name", help="Frappe: the site's name (socket.io namespace); default: the URL's host"
    )
    login.add_argument(
        "--socketio-url",
        help="Frappe: where socket.io answers, e.g. http://host:9000; default: the site URL",
    )
    login.add_argument(
        "--time-zone",
        help="Frappe: the site's time zone, e.g. Europe/Berlin; default: this computer's",
    )
    commands.add_parser("logout", help="sign out and delete the stored token")
    tail = commands.add_parser("tail", help="print notifications as they arrive, without a UI")
    tail.add_argument("--json", action="store_true", help="one JSON object a line")
    commands.add_parser("doctor", help="check the setup and say what to fix")
    return parser


def has_display() -> bool:
    """False on a Linux/BSD machine with no X11 or Wayland display and no Qt platform forced."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(
        os.environ.get("DISPLAY")
        or os.environ.get("WAYLAND_DISPLAY")
        or os.environ.get("QT_QPA_PLATFORM")
    )


NO_DISPLAY_MESSAGE = (
    "notifier: no display found (DISPLAY and WAYLAND_DISPLAY are unset).\n"
    "The tray app needs a desktop session. On a server, use the headless commands instead:\n"
    "  notifier login --server URL    sign in\n"
    "  notifier tail                  print notifications as they arrive\n"
    "  notifier doctor                check the setup\n"
)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "run"
    if command != "run":
        from notifier.headless import run_command

        return run_command(command, args)
    if not has_display():
        sys.stderr.write(NO_DISPLAY_MESSAGE)
        return 2
    return run_tray(args)


# --------------------------------------------------------------------------- the tray app
#
# Start-up order matters (issue 5 "Performance budget"): Qt, the settings file and the SQLite
# cache first, then the tray icon with the cached unread count is shown; only after that first
# paint are qasync, the network stack (httpx, websockets), keyring and desktop-notifier
# imported. Set NOTIFIER_STARTUP_MARKER=path to have the app write the wall-clock time of the
# first paint there (benchmarks/startup.py), NOTIFIER_EXIT_AFTER_PAINT=1 to exit right after.
#
# After the first paint the event loop must answer the tray host, which asks for the icon
# (issue 13, "start-up until docked"): the modules below are imported on a worker thread
# while it runs (notifier/app/preload.py), then the app is built from them. A module missing
# here is imported when built, on the GUI thread: correct, only later docked.
AFTER_PAINT_MODULES = (
    "notifier.app.clock",
    "notifier.app.controller",
    "notifier.app.scheduler",
    "notifier.compose",
    "notifier.core.settings",
    "notifier.store.cache",
    "notifier.store.settings_file",
    "notifier.store.site_settings",
    "notifier.ui.application",
    "asyncio",
    "qasync",
)


class LiveServices:
    """The controller's :class:`notifier.app.controller.Services` over the real client layer,
    keyring and autostart entry. Every heavy import happens inside the method that needs it.

    Engines and backends come from :mod:`notifier.compose`, the factory ``notifier tail`` and
    ``notifier doctor`` use too. ``transport`` gives the timeouts (tests shorten them); the CA
    bundle and the proxy always come from the settings.
    """

    def __init__(
        self,
        paths: AppPaths,
        environ: Mapping[str, str],
        server_override: str | None = None,
        transport: TransportConfig | None = None,
    ) -> None:
        self._paths = paths
        self._environ = environ
        self._server_override = server_override
        self._transport = transport

    def build_engine(
        self,
        settings: Settings,
        cache: NotificationCache,
        *,
        on_status: Callable[[ConnectionStatus], None],
        on_change: Callable[[CacheChange], None],
    ) -> SyncEngine | None:
        from notifier.compose import build_engine

        return build_engine(
            settings,
            cache,
            on_status=on_status,
            on_change=on_change,
            environ=self._environ,
            server_override=self._server_override,
            transport=self._transport,
        )

    def _config(self, settings: Settings) -> TransportConfig:
        from notifier.client.transport import TransportConfig

        return TransportConfig.from_settings(
            settings, defaults=self._transport, environ=self._environ
        )

    async def request_token(
        self, settings: Settings, server_url: str, username: str, password: str
    ) -> str:
        from notifier.compose import token_for_password

        return await token_for_password(
            settings, server_url, username, password, self._config(settings)
        )

    async def check_connection(self, settings: Settings, server_url: str, token: str) -> AgentInfo:
        from notifier.compose import check_sign_in

        return await check_sign_in(
            settings, server_url, token, self._config(settings), ledger_file=self._ledger_file()
        )

    def _ledger_file(self) -> Path:
        from notifier.compose import frappe_ledger_file

        return frappe_ledger_file(self._paths.cache_file)

    def stored_token(self, server_url: str) -> str | None:
        from notifier.store.secrets import TokenStore

        env_token = self._environ.get("NOTIFIER_TOKEN", "").strip()
        return env_token or TokenStore().get(server_url)

    def save_token(self, server_url: str, token: str) -> None:
        from notifier.store.secrets import TokenStore

        TokenStore().set(server_url, token)

    def delete_token(self, server_url: str) -> None:
        """Delete the token, and what the backend kept for this account (the Frappe ledger
        holds the agent's notifications, like the cache the controller forgets)."""
        from notifier.compose import forget_backend_state
        from notifier.store.secrets import TokenStore

        forget_backend_state(self._paths.cache_file)
        if self._environ.get("NOTIFIER_TOKEN", "").strip():
            return  # the token comes from the environment; nothing is stored to delete
        TokenStore().delete(server_url)

    async def _with_backend(self, settings: Settings) -> HelpdeskBackend:
        from notifier.compose import build_backend, resolve_credentials, transport_config
        from notifier.core.errors import AuthFailed

        credentials = resolve_credentials(
            settings, self._environ, server_override=self._server_override
        )
        if not credentials.server_url or not credentials.token:
            raise AuthFailed("not signed in", status=401)
        config, _notice = transport_config(settings, self._transport, self._environ)
        return build_backend(
            settings,
            credentials.server_url,
            credentials.token,
            config,
            ledger_file=self._ledger_file(),
        )

    async def load_preferences(self, settings: Settings) -> Preferences:
        backend = await self._with_backend(settings)
        try:
            return await backend.get_preferences()
        finally:
            await backend.aclose()

    async def save_preferences(self, settings: Settings, preferences: Preferences) -> Preferences:
        backend = await self._with_backend(settings)
        try:
            return await backend.put_preferences(preferences)
        finally:
            await backend.aclose()

    def set_start_at_login(self, enabled: bool) -> None:
        from notifier.store.autostart import AutostartEntry, current_command, default_config_home

        entry = AutostartEntry(default_config_home(self._environ), current_command())
        if enabled:
            entry.enable()
        else:
            entry.disable()

    def log_folder(self) -> Path:
        return self._paths.log_dir


def run_tray(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    """Run the tray app until Quit; 0 also when another instance was woken instead."""
    import logging
    import time

    env = os.environ if environ is None else environ
    from PySide6.QtWidgets import QApplication

    from notifier.app import pyside_imports

    pyside_imports.install()  # first: every import below would be cached as source lines
    from notifier.app.first_paint import peek, peek_site_file
    from notifier.store.paths import app_paths
    from notifier.ui.badge import BadgeState
    from notifier.ui.single_instance import instance_name, single_instance
    from notifier.ui.tray import TrayShell

    # argv[0] names the X11 window class (WM_CLASS): "__main__.py" under `python -m notifier`.
    app = QApplication(["notifier"])
    app.setDesktopFileName("notifier")
    app.setApplicationName("notifier")
    app.setApplicationDisplayName("Helpdesk notifier")
    app.setQuitOnLastWindowClosed(False)
    single = single_instance(instance_name(env), env)
    if not single.claim():
        return 0
    paths = app_paths(dict(env)).ensure()
    cached = peek(paths.cache_file, paths.settings_file, peek_site_file(env))
    first = BadgeState(
        unread=cached.unread,
        new_since_seen=cached.new_since_seen > 0,
        online=False,
        dot=cached.dot,
    )
    shell = TrayShell(first, f"{cached.unread} unread · Connecting…")
    shell.show()
    app.processEvents()
    marker = env.get("NOTIFIER_STARTUP_MARKER")
    if marker:
        Path(marker).write_text(f"{time.time()}\n", encoding="utf-8")
    if env.get("NOTIFIER_EXIT_AFTER_PAINT"):
        return 0

    # After the first paint: the rest of the modules (on a worker thread, the event loop
    # answering the tray host meanwhile), the controller and the popup, then the asyncio event
    # loop, logging, and the network stack via start(). First, the guard against PySide6
    # 6.12's reference-count bugs on Python 3.11 (see notifier/app/signals.py): without it the
    # app aborts after enough repaints and signal emissions. (pyproject pins PySide6 below
    # 6.12; the guard is for an install that ignores the pin.)
    from notifier.app.signals import immortalize_singletons, pyside_needs_guard

    if pyside_needs_guard():
        immortalize_singletons()

    from notifier.app.preload import import_while_serving
    from notifier.ui.early_intents import EarlyIntents

    # A click on the icon or a second start while the modules load: done once it is built.
    early = EarlyIntents(single.activated, shell.tray)
    import_while_serving(AFTER_PAINT_MODULES)

    from notifier.app.clock import SystemClock
    from notifier.app.controller import AppController
    from notifier.app.scheduler import QtScheduler
    from notifier.compose import RedactingFilter, setup_logging
    from notifier.core.settings import validate_server_url
    from notifier.store.cache import NotificationCache
    from notifier.store.settings_file import load_settings
    from notifier.store.site_settings import current_site_settings
    from notifier.ui.application import DesktopUrlOpener, TrayApp

    site = current_site_settings(env)
    settings = load_settings(paths.settings_file, site)
    setup_logging(paths, settings.log_level.value)
    # Warnings and errors also go to stderr, for an agent who started notifier in a terminal.
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter("notifier: %(message)s"))
    console.addFilter(RedactingFilter())
    logging.getLogger().addHandler(console)
    shell.log_no_tray_once()
    cache = NotificationCache.open(paths.cache_file)
    override = args.server or env.get("NOTIFIER_SERVER") or None
    clock = SystemClock()
    controller = AppController(
        settings=settings,
        cache=cache,
        clock=clock,
        scheduler=QtScheduler(clock),
        url_opener=DesktopUrlOpener(),
        services=LiveServices(paths, env, override),
        settings_path=paths.settings_file,
        server_override=validate_server_url(override) if override else None,
        site=site,
    )
    tray_app = TrayApp(controller, clock, shell=shell)
    single.activated.connect(tray_app.on_another_start)
    tray_app.show_first_paint()
    tray_app.quit_on_signals()

    import asyncio

    import qasync

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    quit_requested = asyncio.Event()
    tray_app.quitRequested.connect(quit_requested.set)
    early.hand_over(tray_app)  # wired now, down to Quit

    async def run() -> None:
        await tray_app.start()
        await quit_requested.wait()
        await tray_app.shutdown()

    try:
        with loop:
            loop.run_until_complete(run())
    finally:
        single.release()
        cache.close()
    return 0
