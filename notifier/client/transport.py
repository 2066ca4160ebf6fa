"""How the client reaches the helpdesk: TLS trust, proxy, timeouts and keepalive.

One :class:`TransportConfig` feeds both the REST client (httpx) and the stream (websockets) so
they always agree. TLS is verified by default against the system's trust store; a custom CA
bundle (a company's internal CA) is *added* to it, never replaces verification.

The proxy rule is ours, in :meth:`TransportConfig.proxy_for`, and both clients get its
answer: httpx with ``trust_env=False`` and websockets with an explicit ``proxy=``. (Left to
themselves they disagree: websockets ignores ``ALL_PROXY`` and uses ``HTTPS_PROXY`` for
``ws://``; httpx honours both and reads the system's settings on Windows and macOS.) The rule:

1. the proxy in Settings, when set, for every connection (``NO_PROXY`` does not apply);
2. else, unless ``NO_PROXY`` names the server: ``HTTPS_PROXY`` for https:// and wss://,
   ``HTTP_PROXY`` for http:// and ws://, then ``ALL_PROXY`` for either;
3. else a direct connection.

Variable names may be upper or lower case; lower case wins when both are set (as in curl and
urllib). Proxies may be ``http://``, ``https://``, ``socks5://`` or ``socks5h://`` (a value
without a scheme is ``http://``). The operating system's own proxy settings are not read.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, urlsplit, urlunsplit

from notifier.core.errors import ProxyFailed
from notifier.core.settings import Settings

PROXY_VARIABLES = ("https_proxy", "http_proxy", "all_proxy", "no_proxy")
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


def proxy_environment(environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The proxy variables set in ``environ``: (name as written, value), one per variable,
    the lower-case name winning over the upper-case one."""
    found: list[tuple[str, str]] = []
    for variable in PROXY_VARIABLES:
        for name in (variable, variable.upper()):
            value = environ.get(name, "").strip()
            if value:
                found.append((name, value))
                break
    return tuple(found)


@dataclass(frozen=True, slots=True)
class ProxyRoute:
    """The proxy a connection goes through, and which setting chose it."""

    url: str  # may hold user:password: show :attr:`address` instead
    source: str  # "the proxy setting", or the variable's name as written, e.g. "ALL_PROXY"

    @property
    def address(self) -> str:
        """``host:port`` of the proxy (never its credentials), for messages."""
        parts = urlsplit(self.url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 1080)
        host = parts.hostname or "?"
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def describe(self) -> str:
        return f"the proxy at {self.address} (from {self.source})"

    def failed(self, error: BaseException, *, answered: bool = False) -> ProxyFailed:
        """The error for a connection that failed at this proxy, in words that name it (never
        its credentials), so the agent fixes the proxy and not the server URL. ``answered``:
        the proxy answered but would not open the way to the server."""
        causes = _causes(error)
        if answered:
            what = f"would not connect to the server ({error})"
        elif any(isinstance(cause, ConnectionRefusedError) for cause in causes):
            what = "refused the connection"
        elif any(isinstance(cause, TimeoutError) for cause in causes):
            what = "did not answer in time"
        else:
            what = f"cannot be reached ({error or type(error).__name__})"
        return ProxyFailed(f"{self.describe()} {what}", route=self.source)


def _causes(error: BaseException) -> list[BaseException]:
    """``error`` and what caused it (httpx wraps the socket's ConnectionRefusedError)."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < 16:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


# The end of the message of an unusable CA bundle (doctor replaces it with where to fix it).
CA_BUNDLE_ADVICE = "check the path in the settings, it must be a PEM file"


@dataclass(frozen=True, slots=True)
class TransportConfig:
    """Timeouts in seconds. ``connect_timeout`` bounds a TCP + TLS (+ proxy) connect, and the
    whole WebSocket opening handshake. ``read_timeout`` bounds the wait between two reads of
    a REST answer; ``request_deadline`` bounds a whole REST request (connect, send, every
    read): a server trickling a byte every few seconds never trips the first but always the
    second. The stream's keepalive pings every ``ping_interval`` and gives up after
    ``ping_timeout`` without a pong."""

    ca_bundle: Path | None = None
    proxy: str | None = None  # the Settings' proxy; None: the environment's (see proxy_for)
    # The proxy variables (see proxy_environment); None: the process's, read at each lookup.
    proxy_env: tuple[tuple[str, str], ...] | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    request_deadline: float = 30.0
    ping_interval: float = 20.0
    ping_timeout: float = 20.0

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        defaults: TransportConfig | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> TransportConfig:
        """The CA bundle and proxy of ``settings``, the proxy variables of ``environ`` (the
        process's environment by default); the timeouts from ``defaults``."""
        return dataclasses.replace(
            defaults if defaults is not None else cls(),
            ca_bundle=Path(settings.ca_bundle).expanduser() if settings.ca_bundle else None,
            proxy=settings.proxy,
            proxy_env=proxy_environment(os.environ if environ is None else environ),
        )

    def proxy_for(self, url: str) -> ProxyRoute | None:
        """The proxy for a connection to ``url`` (http, https, ws or wss), None for a direct
        one: the rule in the module docstring, the same for REST and the stream. Raises
        ``ProxyFailed`` for a proxy value that cannot be used."""
        if self.proxy:
            return _checked(ProxyRoute(self.proxy, "the proxy setting"))
        target = urlsplit(url)
        secure = target.scheme in ("https", "wss")
        if _bypassed(target, self._variable("no_proxy")):
            return None
        for variable in ("https_proxy" if secure else "http_proxy", "all_proxy"):
            found = self._variable(variable)
            if found is not None:
                name, value = found
                return _checked(ProxyRoute(value if "://" in value else f"http://{value}", name))
        return None

    def _variable(self, variable: str) -> tuple[str, str] | None:
        found = self.proxy_env if self.proxy_env is not None else proxy_environment(os.environ)
        return next(((n, v) for n, v in found if n.lower() == variable), None)

    def ssl_context(self) -> ssl.SSLContext:
        """The system trust store plus the configured CA bundle; hostname checks on."""
        context = ssl.create_default_context()
        if self.ca_bundle is not None:
            try:
                context.load_verify_locations(cafile=str(self.ca_bundle))
            except (OSError, ssl.SSLError) as error:
                # Words, not "[Errno 2] No such file or directory" or OpenSSL's
                # "[X509: NO_CERTIFICATE_OR_CRL_FOUND] ... (_ssl.c:4154)".
                if isinstance(error, ssl.SSLError):
                    reason = "no certificate in it could be read"
                else:
                    reason = error.strerror or str(error)
                raise ValueError(
                    f"the CA bundle {self.ca_bundle} cannot be used ({reason}); {CA_BUNDLE_ADVICE}"
                ) from error
        return context


def api_url(server_url: str, path: str) -> str:
    """``https://host/prefix`` + ``/notifications`` → ``https://host/prefix/api/v1/notifications``."""
    return server_url.rstrip("/") + "/api/v1" + path


def stream_url(server_url: str) -> str:
    """The WebSocket URL: ws:// for http://, wss:// for https://."""
    parts = urlsplit(api_url(server_url, "/stream"))
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"the server URL must start with https:// or http://, not {parts.scheme}")
    return urlunsplit((scheme, parts.netloc, parts.path, "", ""))


def _checked(route: ProxyRoute) -> ProxyRoute:
    parts = urlsplit(route.url)
    try:
        usable = parts.scheme in PROXY_SCHEMES and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number, or out of range
        usable = False
    if not usable:
        raise ProxyFailed(
            f"the proxy in {route.source} is not usable: it must be an http://, https://,"
            " socks5:// or socks5h:// URL with a host (and a port), like http://proxy:3128",
            route=route.source,
        )
    return route


def _bypassed(target: SplitResult, no_proxy: tuple[str, str] | None) -> bool:
    """Does ``NO_PROXY`` name this server? Entries are separated by commas: ``*`` (every
    server), a host name (itself and its subdomains; a leading dot is allowed), an IP address
    or network (``10.0.0.0/8``), each optionally with ``:port``."""
    if no_proxy is None or not target.hostname:
        return False
    host = target.hostname.lower()
    port = target.port or _DEFAULT_PORTS.get(target.scheme)
    for raw in no_proxy[1].split(","):
        entry = raw.strip().lower()
        if entry == "*":
            return True
        entry_port: int | None = None
        head, _, tail = entry.rpartition(":")
        if head and tail.isdigit() and not _is_network(entry):
            entry, entry_port = head, int(tail)
        entry = entry.strip("[]").lstrip(".")
        if not entry or (entry_port is not None and entry_port != port):
            continue
        if _is_network(entry):
            if _is_network(host) and ipaddress.ip_address(host) in ipaddress.ip_network(
                entry, strict=False
            ):
                return True
        elif host == entry or host.endswith("." + entry):
            return True
    return False


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text.strip("[]"), strict=False)
    except ValueError:
        return False
    return True
