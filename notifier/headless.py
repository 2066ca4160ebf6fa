"""Headless commands (login, logout, tail, doctor). Built in the sync-engine issue."""

from __future__ import annotations

import argparse
import sys


def run_command(command: str, args: argparse.Namespace) -> int:
    sys.stderr.write(f"notifier {command}: not available in this build yet\n")
    return 2
