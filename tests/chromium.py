"""Debian's chromium under Playwright, as the browser tests, the web benchmark and the
screenshot script start it, and the demo helpdesk they point it at.

The flags keep a headless Chromium from reaching for the network on its own (component
updates, sync, field trials, QUIC): on a machine without internet those connections fail,
many at a time, and cost every page load time that no user of the helpdesk pays.

They also keep it from building its own user interface in every new window: each fresh
context (a new window; the tests and the benchmark take one per person or per load, for an
empty cache) made Chromium build its address bar's popup, a WebUI page of 170-250
resources, in a renderer of its own while our page loaded beside it, so that on two cores
our first paint waited for the browser's menus (benchmarks/README.md, "Web pages"). A
person's browser did that once, when its window opened. Turning off the preload alone
was not enough (the popup was still built in some windows): the WebUI popups are off too,
and Chromium's native one stands in.
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
# Playwright passes its own --disable-features list and Chromium keeps only the last such
# switch, so ours repeats Playwright's (tests/test_chromium_flags.py checks that none is lost
# when Playwright changes its list).
PLAYWRIGHT_DISABLED_FEATURES = (
    "AimEnabled",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsFirstBalancedModeAutoEnable",
    "HttpsUpgrades",
    "LensOverlay",
    "MediaRouter",
    "NetworkTimeServiceQuerying",
    "OptimizationHints",
    "PaintHolding",
    "PreconnectToSearch",
    "TcpPortRandomizationWin",
    "ThirdPartyStoragePartitioning",
    "msEdgeUpdateLaunchServicesPreferredVersion",
    "msForceBrowserSignIn",
)
DISABLED_FEATURES = (
    *PLAYWRIGHT_DISABLED_FEATURES,
    "PreloadTopChromeWebUI",
    "WebUIOmniboxPopup",
    "WebUIOmniboxFullPopup",
    "WebUIOmniboxAimPopup",
)
LAUNCH_ARGS = (*CHROMIUM_ARGS, "--disable-features=" + ",".join(DISABLED_FEATURES))


def launch(playwright: Playwright, executable: str = CHROMIUM) -> Browser:
    return playwright.chromium.launch(executable_path=executable, args=list(LAUNCH_ARGS))


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
