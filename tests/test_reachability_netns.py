"""The whole app against the reference helpdesk in a private network namespace, where the
network really goes away and comes back (tests/netns.py).

The server listens on 10.8.0.1, an address on ``lo``: it stays reachable from the app however
the "LAN" link fares, but its URL is not a loopback one, so the app follows the OS. Losing
the link then makes the app say offline at once (no route left) and stop retrying; bringing
it back makes the app reconnect at once. Nothing else could bring it back: an offline engine
has no retry timer, it waits for the OS's word.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpdesk import Helpdesk
from netns import NetworkNamespace
from netns import netns as netns

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="network namespaces are Linux's"
)

TIMEOUT_S = 30.0
SERVER_ADDRESS = "10.8.0.1"
FOLLOWING = "following the OS's network reachability (Linux route table)"


def wait_until(condition: Callable[[], bool], what: str, log: Callable[[], str]) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; the app's log:\n{log()}")
        time.sleep(0.05)


def test_offline_when_the_network_goes_and_live_the_moment_it_is_back(
    netns: NetworkNamespace, tmp_path: Path
) -> None:
    netns.ip("address", "add", f"{SERVER_ADDRESS}/32", "dev", "lo")
    netns.add_link("lan", "10.9.0.2/24")
    server = Helpdesk(tmp_path / "server", host=SERVER_ADDRESS, command_prefix=netns.command([]))
    server.start()
    token = server.add_agent("alice", "Alice Able")
    home = tmp_path / "notifier"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")
    }
    env.update(
        QT_QPA_PLATFORM="offscreen",
        NOTIFIER_HOME=str(home),
        NOTIFIER_SERVER=server.url,
        NOTIFIER_TOKEN=token,
    )
    log_file = home / "logs" / "notifier.log"

    def log() -> str:
        return log_file.read_text(encoding="utf-8") if log_file.exists() else ""

    def lives() -> int:
        return log().count("status: live")

    app = subprocess.Popen(
        netns.command([sys.executable, "-m", "notifier"]),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: lives() == 1, "the app to go live", log)
        assert FOLLOWING not in log()  # nothing watched while live

        # The first lost connection starts the watch; the server's return is found by the
        # app's own retries.
        server.stop()
        wait_until(lambda: FOLLOWING in log(), "the route table to be followed", log)
        server.start()
        wait_until(lambda: lives() == 2, "the app to be live again", log)

        # The LAN goes: offline at once, although the server itself still answers.
        netns.ip("link", "set", "lan", "down")
        wait_until(lambda: "status: offline (no network connection)" in log(), "offline", log)
        assert "the network is down (no route left)" in log()
        time.sleep(1.0)
        assert lives() == 2  # offline: no retries behind the OS's back

        # The LAN is back: live again, without waiting out any back-off.
        netns.ip("link", "set", "lan", "up")
        wait_until(lambda: lives() == 3, "the app to reconnect", log)
        assert "the network may be back" in log()
        assert log().count(FOLLOWING) == 1  # started once
    finally:
        app.terminate()
        try:
            _, err = app.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            app.kill()
            _, err = app.communicate()
        server.stop()
    assert app.returncode == 0, err
