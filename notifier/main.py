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
from collections.abc import Sequence

from notifier import __version__


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
    login.add_argument("--username", "-u", help="agent username (asks for the password)")
    login.add_argument(
        "--token-stdin", action="store_true", help="read an API token from standard input"
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
    from notifier.ui.application import run_tray

    return run_tray(args)
