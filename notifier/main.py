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
from collections.abc import Mapping, Sequence
from pathlib import Path

from notifier import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="notifier",
        description="Helpdesk tray notifier: ticket assignments, @mentions and customer replies.",
    )
    parser.add_argument("--version", action="version", version=f"notifier {__version__}")
    server_help = "helpdesk URL (overrides the configured one; env NOTIFIER_SERVER)"
    parser.add_argument("--server", help=server_help)
    # `notifier login --server URL` (as README.md writes it) as well as `notifier --server URL
    # login`: every command takes it too. SUPPRESS keeps a command from resetting the value
    # given before it.
    server_after_command = argparse.ArgumentParser(add_help=False)
    server_after_command.add_argument("--server", default=argparse.SUPPRESS, help=server_help)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        # The summary in the list of commands, and as a sentence atop `notifier NAME --help`
        # (argparse shows no description there otherwise: only the usage line).
        return commands.add_parser(
            name,
            help=summary,
            description=f"{summary[:1].upper()}{summary[1:]}.",
            parents=[server_after_command],
        )

    command("run", "start the tray app (the default)")
    login = command("login", "sign in and store the token in the keyring")
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
    command("logout", "sign out and delete the stored token")
    tail = command("tail", "print notifications as they arrive, without a UI")
    tail.add_argument("--json", action="store_true", help="one JSON object a line")
    command("doctor", "check the setup and say what to fix")
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
    bad_server = server_override_problem(args, os.environ)
    if bad_server is not None:
        sys.stderr.write(f"notifier: {bad_server}\n")
        return 2
    if not has_display():
        sys.stderr.write(NO_DISPLAY_MESSAGE)
        return 2
    return run_tray(args)


def server_override_problem(args: argparse.Namespace, environ: Mapping[str, str]) -> str | None:
    """What is wrong with the helpdesk URL of ``--server`` or NOTIFIER_SERVER (None: nothing,
    or none given): checked before Qt starts, so a typo is one line, not a traceback."""
    from notifier.core.settings import SettingsError, chosen_server_url

    try:
        chosen_server_url(args.server, environ)
    except SettingsError as error:
        return str(error)
    return None


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
    "notifier.app.account",
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
    # loop, logging, and the network stack via start().
    from notifier.app.preload import import_while_serving
    from notifier.ui.early_intents import EarlyIntents

    # A click on the icon or a second start while the modules load: done once it is built.
    early = EarlyIntents(single.activated, shell.tray)
    import_while_serving(AFTER_PAINT_MODULES)

    from notifier.app.account import AccountService
    from notifier.app.clock import SystemClock
    from notifier.app.controller import AppController
    from notifier.app.scheduler import QtScheduler
    from notifier.compose import LiveServices, RedactingFilter, setup_logging
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
    services = LiveServices(paths, env, override)
    url_opener = DesktopUrlOpener()
    account = AccountService(
        settings,
        services,
        settings_path=paths.settings_file,
        site=site,
        server_override=validate_server_url(override) if override else None,
        url_opener=url_opener,
    )
    controller = AppController(
        account=account,
        cache=cache,
        clock=clock,
        scheduler=QtScheduler(clock),
        url_opener=url_opener,
        engines=services,
    )
    tray_app = TrayApp(controller, clock, shell=shell)
    single.activated.connect(tray_app.on_another_start)
    tray_app.show_first_paint()
    tray_app.quit_on_signals()

    import asyncio

    import qasync

    from notifier.app.heap import freeze_long_lived_objects

    # Built: frozen before the first sync allocates, whose full collections walked it all.
    freeze_long_lived_objects()
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
