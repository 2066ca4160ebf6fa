"""The kernel's route table on Linux: is there a network, and did one just come back?

Why not Qt's QNetworkInformation here: on a desktop without NetworkManager Qt picks its GLib
backend, which starts a GLib main-loop thread and loads libgio, and every backend needs
QtNetwork and the Kerberos libraries it links: several MB, a good part of an idle tray app's
memory for one bit of news (benchmarks/README.md, "Where the idle-memory budget goes"). The
kernel tells the same news for nothing: a NETLINK_ROUTE socket joined to the link, address and
route groups becomes readable whenever the table changes (links too: the kernel flushes a downed
link's IPv4 routes without a message of their own), and ``/proc/net/route`` and
``/proc/net/ipv6_route`` are the table itself. Elsewhere (macOS, Windows)
:mod:`notifier.app.reachability` uses QNetworkInformation.

What counts:

* A *usable route* is one that is up, not a reject route, and not on the loopback interface;
  IPv6 multicast (ff00::/8) and link-local (fe80::/10) routes are left out, because every
  interface that is merely up has them.
* No usable route at all means offline: nothing but this machine can be reached.
* A usable route that was not there before means the network may be back (Wi-Fi rejoined, a
  cable plugged in, a VPN came up), even if other routes never went away: a docker bridge's
  route must not hide a returning Wi-Fi.
* A route that goes while others stay says nothing: the keepalive is the authority on
  whether the server itself still answers.

The parsing is pure (text in, routes out) and tested on samples; the socket is tested against
the real kernel in a private network namespace (tests/test_routes.py, and the whole app in
tests/test_reachability_netns.py).
"""

from __future__ import annotations

import errno
import socket
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Final, NamedTuple

PROC_NET: Final = Path("/proc/net")

# <linux/rtnetlink.h>: the multicast groups whose messages mean "the table changed".
RTMGRP_LINK: Final = 0x1
RTMGRP_IPV4_IFADDR: Final = 0x10
RTMGRP_IPV4_ROUTE: Final = 0x40
RTMGRP_IPV6_IFADDR: Final = 0x100
RTMGRP_IPV6_ROUTE: Final = 0x400
GROUPS: Final = (
    RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE
)

# <linux/route.h>
RTF_UP: Final = 0x0001
RTF_REJECT: Final = 0x0200

LOOPBACK_INTERFACE: Final = "lo"
# IPv6 destinations every interface that is merely up has: ff00::/8 and fe80::/10.
_EVERY_INTERFACE_HAS: Final = ("ff", "fe8", "fe9", "fea", "feb")


class Route(NamedTuple):
    """One usable route, as much of it as tells two routes apart."""

    family: int  # socket.AF_INET or socket.AF_INET6
    interface: str
    destination: str  # hex, as the kernel prints it
    prefix: str  # the IPv4 mask or the IPv6 prefix length, hex
    gateway: str  # hex


def _usable(interface: str, flags: int) -> bool:
    return interface != LOOPBACK_INTERFACE and flags & RTF_UP != 0 and flags & RTF_REJECT == 0


def _rows(lines: list[str], width: int, flags_column: int) -> Iterator[tuple[list[str], int]]:
    """Each line's fields and flags. A line that does not parse is skipped: a kernel that
    adds a column or prints something odd must not turn into "offline"."""
    for line in lines:
        fields = line.split()
        if len(fields) < width:
            continue
        try:
            flags = int(fields[flags_column], 16)
        except ValueError:
            continue
        yield fields, flags


def ipv4_routes(text: str) -> frozenset[Route]:
    """The usable routes in ``/proc/net/route`` (the main table).

    Columns: Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT; the first
    line is the header.
    """
    return frozenset(
        Route(socket.AF_INET, fields[0], fields[1], fields[7], fields[2])
        for fields, flags in _rows(text.splitlines()[1:], 8, 3)
        if _usable(fields[0], flags)
    )


def ipv6_routes(text: str) -> frozenset[Route]:
    """The usable routes in ``/proc/net/ipv6_route`` (every table).

    Columns: destination, its prefix length, source, its prefix length, next hop, metric,
    references, use, flags, interface; no header. Multicast and link-local destinations are
    left out: they are there on every interface that is up.
    """
    return frozenset(
        Route(socket.AF_INET6, fields[9], fields[0], fields[1], fields[4])
        for fields, flags in _rows(text.splitlines(), 10, 8)
        if _usable(fields[9], flags) and not fields[0].startswith(_EVERY_INTERFACE_HAS)
    )


def reachability_news(before: frozenset[Route], after: frozenset[Route]) -> bool | None:
    """What a change of the route table says: False offline, True maybe back, None nothing."""
    if not after:
        return False if before else None
    if after - before:
        return True
    return None


class RouteMonitor:
    """The route table now, and a socket that becomes readable when it changes.

    The owner watches :meth:`fileno` (the app with a QSocketNotifier), calls :meth:`drain`
    when it is readable and then :meth:`routes`; the messages themselves are not parsed,
    because reading the whole table afterwards is simpler and cannot drift from it.
    """

    def __init__(self, proc_net: Path = PROC_NET) -> None:
        self._proc_net = proc_net
        self._socket = socket.socket(
            socket.AF_NETLINK,
            socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
            socket.NETLINK_ROUTE,
        )
        try:
            self._socket.bind((0, GROUPS))
        except OSError:
            self._socket.close()
            raise
        # Closed when the monitor goes, however it goes (an app dropped without a shutdown).
        self._finalizer = weakref.finalize(self, self._socket.close)

    def fileno(self) -> int:
        return self._socket.fileno()

    def routes(self) -> frozenset[Route]:
        return ipv4_routes(self._read("route")) | ipv6_routes(self._read("ipv6_route"))

    def _read(self, name: str) -> str:
        try:
            return (self._proc_net / name).read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:  # IPv6 disabled at boot: no ipv6_route at all
            return ""

    def drain(self) -> int:
        """Read every pending message (the table is read afresh anyway); how many were read."""
        count = 0
        while True:
            try:
                self._socket.recv(65536)
            except BlockingIOError:
                return count
            except OSError as error:
                # ENOBUFS: the kernel dropped messages because we were slow. Nothing is lost:
                # the caller reads the whole table next.
                if error.errno != errno.ENOBUFS:
                    raise
            count += 1

    def close(self) -> None:
        self._finalizer()
