"""Debian's chromium under Playwright, as the browser tests, the web benchmark and the
screenshot script start it, and the demo helpdesk they point it at.

The flags keep a headless Chromium from reaching for the network on its own (component
updates, sync, field trials, QUIC): on a machine without internet those connections fail,
many at a time, and cost every page load time that no user of the helpdesk pays.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import Browser, Playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",  # root in CI; the pages are our own
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def launch(playwright: Playwright, executable: str = CHROMIUM) -> Browser:
    return playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))


def start_demo(folder: Path) -> tuple[subprocess.Popen[str], str]:
    """``notifier-server demo`` on a free port with no simulated activity; its process and
    the address it prints."""
    demo = ["demo", "--port", "0", "--rate", "0", "--seed", "3", "--db", str(folder / "demo.db")]
    process = subprocess.Popen(
        [sys.executable, "-m", "notifier.server.cli", *demo], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        found = re.search(r"in a browser: (http://\S+?)/ ", line)
        if found:
            return process, found.group(1)
        if not line and process.poll() is not None:
            break
    process.terminate()
    raise SystemExit("the demo did not start")
