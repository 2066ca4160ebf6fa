"""uvicorn's HTTP/1.1 protocol (h11) with a deadline for request headers.

uvicorn arms its ``timeout_keep_alive`` only after a response, and any received byte cancels
it; a connection that never sends a request, or trickles its headers a byte at a time, is held
for ever (300 idle half-open sockets were all kept). This subclass gives every connection
``header_timeout_s`` from its opening (and again from the end of each response) to complete a
request's headers, and closes it otherwise. The body has its own deadline in the app
(``Limits.body_timeout_s``); an upgraded WebSocket belongs to its own protocol and keepalive.

Imported only when a server starts (it imports uvicorn).
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)


def with_header_deadline(header_timeout_s: float) -> type[asyncio.Protocol]:
    """An :class:`H11Protocol` subclass closing connections whose request headers do not
    arrive within ``header_timeout_s`` (0: no deadline, plain uvicorn)."""

    class HeaderDeadlineProtocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            if header_timeout_s > 0 and not self.transport.is_closing():
                self._deadline = self.loop.call_later(header_timeout_s, self._on_deadline)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _on_deadline(self) -> None:
            self._deadline = None
            waiting_for_headers = self.conn.their_state is h11.IDLE
            upgraded = self.transport.get_protocol() is not self
            if waiting_for_headers and not upgraded and not self.transport.is_closing():
                log.debug("closed a connection without request headers in %g s", header_timeout_s)
                self.transport.close()

    return HeaderDeadlineProtocol
