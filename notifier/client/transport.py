"""How the client reaches the helpdesk: TLS trust, proxy, timeouts and keepalive.

One :class:`TransportConfig` feeds both the REST client (httpx) and the stream (websockets) so
they always agree. TLS is verified by default against the system's trust store; a custom CA
bundle (a company's internal CA) is *added* to it, never replaces verification. The proxy is
the configured one if any; otherwise both libraries honour ``HTTPS_PROXY`` / ``ALL_PROXY`` /
``NO_PROXY`` from the environment (httpx via ``trust_env=True``, websockets via
``proxy=True``), including ``socks5://`` proxies (httpx[socks], python-socks).
"""

from __future__ import annotations

import dataclasses
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from notifier.core.settings import Settings


@dataclass(frozen=True, slots=True)
class TransportConfig:
    """Timeouts in seconds. ``connect_timeout`` bounds a TCP + TLS (+ proxy) connect, and the
    whole WebSocket opening handshake. ``read_timeout`` bounds the wait between two reads of
    a REST answer; ``request_deadline`` bounds a whole REST request (connect, send, every
    read): a server trickling a byte every few seconds never trips the first but always the
    second. The stream's keepalive pings every ``ping_interval`` and gives up after
    ``ping_timeout`` without a pong."""

    ca_bundle: Path | None = None
    proxy: str | None = None  # None: use the environment's proxy settings
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    request_deadline: float = 30.0
    ping_interval: float = 20.0
    ping_timeout: float = 20.0

    @classmethod
    def from_settings(
        cls, settings: Settings, *, defaults: TransportConfig | None = None
    ) -> TransportConfig:
        """The CA bundle and proxy of ``settings``; everything else from ``defaults``."""
        return dataclasses.replace(
            defaults if defaults is not None else cls(),
            ca_bundle=Path(settings.ca_bundle).expanduser() if settings.ca_bundle else None,
            proxy=settings.proxy,
        )

    def ssl_context(self) -> ssl.SSLContext:
        """The system trust store plus the configured CA bundle; hostname checks on."""
        context = ssl.create_default_context()
        if self.ca_bundle is not None:
            try:
                context.load_verify_locations(cafile=str(self.ca_bundle))
            except (OSError, ssl.SSLError) as error:
                raise ValueError(
                    f"the CA bundle {self.ca_bundle} cannot be used ({error}); check the path"
                    " in the settings, it must be a PEM file"
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
