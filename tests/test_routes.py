"""The route-table watch (notifier.store.routes, notifier.app.reachability).

The parsing on samples of the kernel's own text; the watch against the real kernel in a
private network namespace, where links come and go with ``ip`` (tests/netns.py).
"""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from netns import NetworkNamespace
from netns import netns as netns

from notifier.store.routes import (
    Route,
    RouteMonitor,
    ipv4_routes,
    ipv6_routes,
    reachability_news,
)

TIMEOUT_S = 10.0

IPV4_HEADER = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
)
IPV4_LAPTOP = IPV4_HEADER + (
    "wlan0\t00000000\t0102A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
    "wlan0\t0002A8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0\n"
    "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
)
# An up interface with no address still has these: multicast, link-local, and lo's entries.
IPV6_NOTHING = (
    "00000000000000000000000000000001 80 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n"
    "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000001 00000000 00000001    wlan0\n"
    "ff000000000000000000000000000000 08 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000002 00000000 00000001    wlan0\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
)
IPV6_GLOBAL = (
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "fe80000000000000022233fffe445566 00000400 00000001 00000000 00000003    wlan0\n"
)


def test_ipv4_routes_off_loopback_that_are_up() -> None:
    routes = ipv4_routes(IPV4_LAPTOP)
    assert {(r.interface, r.destination, r.gateway) for r in routes} == {
        ("wlan0", "00000000", "0102A8C0"),
        ("wlan0", "0002A8C0", "00000000"),
        ("docker0", "000011AC", "00000000"),
    }
    assert all(r.family == socket.AF_INET for r in routes)


def test_ipv4_lines_that_are_down_rejected_on_loopback_or_unparsable_are_left_out() -> None:
    text = IPV4_HEADER + (
        "eth0\t00000000\t0102A8C0\t0002\t0\t0\t0\t00000000\t0\t0\t0\n"  # not RTF_UP
        "eth0\t0000000A\t00000000\t0201\t0\t0\t0\t000000FF\t0\t0\t0\n"  # RTF_REJECT
        "lo\t0000007F\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n"
        "eth0\t00000000\t0102A8C0\tzz\t0\t0\t0\t00000000\t0\t0\t0\n"
        "short line\n"
    )
    assert ipv4_routes(text) == frozenset()
    assert ipv4_routes("") == frozenset()  # even the header missing


def test_ipv6_multicast_link_local_and_loopback_are_not_a_network() -> None:
    assert ipv6_routes(IPV6_NOTHING) == frozenset()
    (route,) = ipv6_routes(IPV6_NOTHING + IPV6_GLOBAL)
    assert route == Route(
        socket.AF_INET6,
        "wlan0",
        "00000000000000000000000000000000",
        "00",
        "fe80000000000000022233fffe445566",
    )


def route(interface: str, destination: str = "00000000") -> Route:
    return Route(socket.AF_INET, interface, destination, "00000000", "00000000")


def test_news_offline_when_nothing_is_left_back_when_anything_is_new() -> None:
    wifi, docker, wired = route("wlan0"), route("docker0", "000011AC"), route("eth0")
    nothing: frozenset[Route] = frozenset()
    assert reachability_news(frozenset({wifi}), nothing) is False
    assert reachability_news(nothing, nothing) is None  # still offline: already said
    assert reachability_news(nothing, frozenset({wifi})) is True
    # Wi-Fi lost while a docker bridge stays: no news (the keepalive decides) ...
    assert reachability_news(frozenset({wifi, docker}), frozenset({docker})) is None
    # ... and its return is news although the table was never empty.
    assert reachability_news(frozenset({docker}), frozenset({docker, wifi})) is True
    assert reachability_news(frozenset({wifi}), frozenset({wired})) is True  # switched
    assert reachability_news(frozenset({wifi}), frozenset({wifi})) is None


def test_the_monitor_reads_the_tables_it_is_given(tmp_path: Path) -> None:
    (tmp_path / "route").write_text(IPV4_LAPTOP)
    (tmp_path / "ipv6_route").write_text(IPV6_NOTHING + IPV6_GLOBAL)
    monitor = RouteMonitor(proc_net=tmp_path)
    try:
        assert len(monitor.routes()) == 4
        (tmp_path / "ipv6_route").unlink()  # a kernel booted with ipv6.disable=1
        assert monitor.routes() == ipv4_routes(IPV4_LAPTOP)
        assert monitor.drain() == 0  # nothing changed: nothing pending, and no blocking
    finally:
        monitor.close()


# The real kernel: the app-layer watch (QSocketNotifier on the netlink socket) in a process
# inside the namespace, printing what it tells the engine.
CHILD = """
import sys
import time
from PySide6.QtCore import QCoreApplication, QTimer
from notifier.app.reachability import watch_reachability

app = QCoreApplication([])
def network_changed(online):
    print("online" if online else "offline", flush=True)
watch = watch_reachability(network_changed)
print("watching", watch.backend, flush=True)
QTimer.singleShot(60_000, app.quit)
app.exec()
"""


class Child:
    """The watching process; its lines read with a timeout (never a blocking readline)."""

    def __init__(self, netns: NetworkNamespace) -> None:
        self.process = subprocess.Popen(
            netns.command([sys.executable, "-c", CHILD]),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._buffer = b""

    def _wait(self, seconds: float) -> bool:
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(seconds):
                return False
        chunk = os.read(self.process.stdout.fileno(), 4096)
        self._buffer += chunk if chunk else b"(the watch exited)\n"
        return True

    def line(self) -> str:
        deadline = time.monotonic() + TIMEOUT_S
        while b"\n" not in self._buffer:
            if not self._wait(max(0.0, deadline - time.monotonic())):
                return "(nothing within the timeout)"
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode().strip()

    def quiet_for(self, seconds: float) -> bool:
        return not self._buffer and not self._wait(seconds)

    def stop(self) -> str:
        self.process.kill()
        _, err = self.process.communicate(timeout=TIMEOUT_S)
        return err.decode(errors="replace")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the route table is Linux's")
def test_the_watch_follows_the_real_kernel(netns: NetworkNamespace) -> None:
    child = Child(netns)
    try:
        # Only lo is up: offline, said at once.
        assert child.line() == "offline"
        assert child.line() == "watching Linux route table"

        netns.add_link("wifi", "10.9.0.2/24")
        assert child.line() == "online"
        netns.ip("route", "add", "default", "via", "10.9.0.1", "dev", "wifi")
        assert child.line() == "online"  # a default route is new too: try again now

        netns.ip("link", "set", "wifi", "down")  # its routes go: nothing left
        assert child.line() == "offline"

        # A bridge-like link that stays up does not hide the Wi-Fi coming back.
        netns.add_link("docker", "172.18.0.1/16")
        assert child.line() == "online"
        netns.ip("link", "set", "wifi", "up")
        assert child.line() == "online"
        netns.ip("link", "set", "wifi", "down")
        assert child.quiet_for(0.5)  # docker's route is still there: no news
        netns.ip("link", "set", "docker", "down")
        assert child.line() == "offline"
    finally:
        err = child.stop()
    assert "Traceback" not in err, err


def test_a_burst_of_changes_is_read_in_one_go(netns: NetworkNamespace) -> None:
    # The monitor itself (no Qt) in the namespace: ten links added before it reads; one drain
    # takes every message and the table then has all ten.
    script = (
        "import sys, time\n"
        "from notifier.store.routes import RouteMonitor\n"
        "m = RouteMonitor()\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
        "time.sleep(0.2)\n"
        "print(m.drain() > 0, len({r.interface for r in m.routes()}), m.drain(), flush=True)\n"
    )
    process = subprocess.Popen(
        netns.command([sys.executable, "-c", script]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        assert process.stdout.readline().strip() == "ready"
        for index in range(10):
            netns.add_link(f"l{index}", f"10.{index}.0.1/24")
        process.stdin.write("go\n")
        process.stdin.flush()
        out, _ = process.communicate(timeout=TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=TIMEOUT_S)
    assert out.strip() == "True 10 0"
