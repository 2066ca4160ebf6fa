"""A private network namespace for tests: its own interfaces and route table, nothing shared.

Tests that need the network to come and go for real (the route-table watch, the app's
reconnect when the network is back) run their processes inside one and change its links with
``ip``; the machine's own network is never touched. It lives in a user namespace of its own
(``unshare --user --map-root-user``), so no root is needed: inside it the tests may add
links and routes. Where the kernel allows no user namespaces, the test is skipped with the
reason.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator, Sequence

import pytest
from desktop_session import require

COMMAND_TIMEOUT_S = 10.0
UNSHARE = ("unshare", "--user", "--map-root-user", "--net")


class NetworkNamespace:
    """Held open by a sleeping process; entered with ``nsenter``."""

    def __init__(self) -> None:
        require("unshare", "nsenter", "ip")
        probe = subprocess.run(
            [*UNSHARE, "true"], capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
        )
        if probe.returncode != 0:
            pytest.skip(f"cannot create a network namespace here: {probe.stderr.strip()}")
        self._holder = subprocess.Popen([*UNSHARE, "sleep", "infinity"])
        # nsenter must never run before unshare has switched: it would change *our* network.
        # Nor before unshare has written the user namespace's uid map (it does so after the
        # switch): entered unmapped, ``ip`` gets "Operation not permitted". Both are done
        # once the holder has become ``sleep``.
        ours = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + COMMAND_TIMEOUT_S
        while not self._holder_ready(ours):
            if self._holder.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("unshare did not create a network namespace")
            time.sleep(0.01)
        try:
            self.ip("link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise

    def _holder_ready(self, our_namespace: str) -> bool:
        proc = f"/proc/{self._holder.pid}"
        try:
            switched = os.readlink(f"{proc}/ns/net") != our_namespace
            with open(f"{proc}/comm", encoding="utf-8") as comm:
                became_sleep = comm.read().strip() == "sleep"
        except OSError:  # the holder is gone; poll() will say so
            return False
        return switched and became_sleep

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside the namespace."""
        return [
            "nsenter",
            "--target",
            str(self._holder.pid),
            "--user",
            "--net",
            "--preserve-credentials",  # the same user inside: its files, its runtime folder
            "--",
            *argv,
        ]

    def ip(self, *args: str) -> None:
        done = subprocess.run(
            self.command(["ip", *args]), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
        )
        assert done.returncode == 0, f"ip {' '.join(args)}: {done.stderr}"

    def add_link(self, name: str, address: str) -> None:
        """A veth pair ``name``/``name``-peer, both up, with ``address`` (CIDR) on ``name``."""
        self.ip("link", "add", name, "type", "veth", "peer", "name", f"{name}-peer")
        self.ip("address", "add", address, "dev", name)
        self.ip("link", "set", f"{name}-peer", "up")
        self.ip("link", "set", name, "up")

    def close(self) -> None:
        self._holder.kill()
        self._holder.wait(timeout=COMMAND_TIMEOUT_S)


@pytest.fixture
def netns() -> Iterator[NetworkNamespace]:
    namespace = NetworkNamespace()
    try:
        yield namespace
    finally:
        namespace.close()
