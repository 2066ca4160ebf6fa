"""The live event stream: one WebSocket to ``/api/v1/stream`` (docs/protocol.md).

websockets' asyncio client does the protocol work: the handshake (token in the
``Authorization: Bearer`` header, never in the URL), TLS (the shared ssl context with any
custom CA bundle), proxies (the one :meth:`TransportConfig.proxy_for` chooses, the same rule as
REST; websockets' own environment lookup is never used), frame size limits
(``wire.MAX_FRAME_BYTES``) and keepalive: a ping every ``ping_interval`` seconds, and the
connection is closed when no pong came within ``ping_timeout`` — that is how a stalled,
half-open connection is noticed.

Reconnection is deliberately NOT done here (websockets' own ``async for connect(...)`` loop is
not used): the sync session owns the policy, so the UI can show the state and next retry time.

The keepalive is also the engine's clock: :meth:`WebSocketEventStream.on_keepalive` registers a
callback run at every keepalive ping, so the sync engine's sleep watchdog looks at the clocks
then instead of running a timer of its own (no extra wake-up while idle).

Frames are parsed with :func:`notifier.core.wire.parse_server_event`; a malformed frame is
logged (its size and the parse error, never its content, which could hold personal data) and
skipped, so one bad frame cannot crash the engine. When the bad frame was a log event whose
``seq`` could be read, a :class:`~notifier.core.wire.SkippedEvent` takes its place, so the
cursor moves past it and it is not replayed on every reconnect. The resume request asks for
``events`` frames (several events in one, docs/protocol.md section 4.2): a replay of 10,000
then costs websockets a few dozen frames instead of 10,000; each item of such a frame is
parsed, and skipped when bad, as a frame of its own.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
    ProxyError,
)
from websockets.frames import CloseCode
from websockets.typing import DataLike

from notifier.client.transport import TransportConfig, stream_url
from notifier.core.backoff import requested_wait
from notifier.core.errors import AuthFailed, ConnectionLost, UnreadableStream
from notifier.core.text import server_words, wait_words
from notifier.core.wire import (
    MAX_FRAME_BYTES,
    EventBatch,
    ResumeRequest,
    SkippedEvent,
    StreamEvent,
    WireError,
    encode_json,
    parse_batched_event,
    parse_server_event,
)

log = logging.getLogger(__name__)


class KeepaliveConnection(ClientConnection):
    """websockets' connection, telling ``keepalive_listener`` about every keepalive ping."""

    keepalive_listener: Callable[[], None] | None = None

    async def ping(self, data: DataLike | None = None) -> Awaitable[float]:
        listener = self.keepalive_listener
        if listener is not None:
            try:
                listener()
            except Exception:  # a listener bug must not break the keepalive
                log.exception("the keepalive listener failed")
        return await super().ping(data)


# Skipped frames of one connection that are logged one by one (the rest are counted).
SKIPPED_LOGGED = 20


class WebSocketEventStream:
    """One resumed connection. Iterate for events; it ends by raising ``ConnectionLost``."""

    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection
        self.skipped_frames = 0
        self._skips_reported = 0  # how many of them the log has told of

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._events()

    def on_keepalive(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener`` at every keepalive ping (every ``ping_interval`` seconds)."""
        if isinstance(self._connection, KeepaliveConnection):
            self._connection.keepalive_listener = listener

    async def _events(self) -> AsyncIterator[StreamEvent]:
        try:
            async for frame in self._connection:
                try:
                    event = parse_server_event(frame)
                except WireError as error:
                    skipped = self._skipped(f"a malformed frame of {len(frame)} bytes", error)
                    if skipped is not None:
                        yield skipped
                    continue
                if not isinstance(event, EventBatch):
                    yield event
                    continue
                for index, item in enumerate(event.items):
                    try:
                        yield parse_batched_event(item)
                    except WireError as error:
                        skipped = self._skipped(f"malformed item {index} of an events frame", error)
                        if skipped is not None:
                            yield skipped
        except ConnectionClosed as closed:
            self._log_unlogged_skips()
            if _refused_as_too_large(closed):
                raise UnreadableStream(
                    f"the server sent a message larger than {MAX_FRAME_BYTES} bytes"
                ) from None
            raise ConnectionLost(describe_close(closed)) from None
        except OSError as error:
            self._log_unlogged_skips()
            raise ConnectionLost(f"the connection broke ({error.strerror or error})") from None
        self._log_unlogged_skips()
        raise ConnectionLost(describe_close(None, self._connection))

    def _skipped(self, what: str, error: WireError) -> SkippedEvent | None:
        """Log a frame (or an item of an events frame) that broke the contract; what takes
        its place in the stream when it was a log event whose seq could be read. Only the
        first :data:`SKIPPED_LOGGED` of a connection are logged one by one: a server sending
        bad frames in a loop must not roll the app's log over; the rest are counted, and the
        count is logged when the connection ends."""
        self.skipped_frames += 1
        if self.skipped_frames <= SKIPPED_LOGGED:
            log.warning(
                "skipped %s from the server%s: %s",
                what,
                "" if error.seq is None else f" (event seq {error.seq})",
                error,
            )
            if self.skipped_frames == SKIPPED_LOGGED:
                log.warning(
                    "the server keeps sending frames the app cannot read: the next ones on"
                    " this connection are counted, not logged one by one"
                )
        return None if error.seq is None else SkippedEvent(error.seq, str(error))

    def _log_unlogged_skips(self) -> None:
        unlogged = self.skipped_frames - max(SKIPPED_LOGGED, self._skips_reported)
        if unlogged > 0:
            log.warning("skipped %d more frames from the server on this connection", unlogged)
            self._skips_reported = self.skipped_frames

    async def close(self) -> None:
        self._log_unlogged_skips()
        await self._connection.close()


def _refused_as_too_large(closed: ConnectionClosed) -> bool:
    """Did this client close the connection (1009) on a message over ``max_size``? (Not the
    server closing with 1009, which the client echoes: that close was received first.)"""
    return (
        closed.sent is not None
        and closed.sent.code == CloseCode.MESSAGE_TOO_BIG
        and closed.rcvd_then_sent is not True
    )


def describe_close(
    closed: ConnectionClosed | None, connection: ClientConnection | None = None
) -> str:
    """Why the stream ended, in words."""
    frame = (
        closed.rcvd
        if closed is not None
        else connection.protocol.close_rcvd
        if connection
        else None
    )
    if closed is not None and closed.rcvd is None and not isinstance(closed, ConnectionClosedOK):
        # No close frame from the server: the socket died or the keepalive timed out.
        if "keepalive" in str(closed).lower() or "ping" in str(closed).lower():
            return "the connection stalled (no answer to keepalive pings)"
        return "the connection to the server was lost"
    if frame is None:
        return "the connection to the server was closed"
    if frame.code == 1001:
        return "the server is restarting or shutting down"
    if frame.code == 4000:
        return "the server asked for a full resync"
    reason = f": {server_words(frame.reason)}" if frame.reason else ""
    return f"the server closed the connection (code {frame.code}{reason})"


async def open_event_stream(
    server_url: str, token: str, config: TransportConfig, after_seq: int
) -> WebSocketEventStream:
    """Connect, authenticate and send the resume request."""
    url = stream_url(server_url)
    ssl_context: ssl.SSLContext | None = config.ssl_context() if url.startswith("wss://") else None
    route = config.proxy_for(url)
    try:
        connection = await connect(
            url,
            additional_headers={"Authorization": f"Bearer {token}"},
            ssl=ssl_context,
            proxy=route.url if route is not None else None,
            open_timeout=config.connect_timeout,
            ping_interval=config.ping_interval,
            ping_timeout=config.ping_timeout,
            close_timeout=5,
            max_size=MAX_FRAME_BYTES,
            user_agent_header="notifier",
            create_connection=KeepaliveConnection,
            # No permessage-deflate (the reference server refuses it too): frames are small
            # JSON on a connection that is mostly idle, and each compressed connection keeps
            # zlib state of ~40 KiB on both sides (docs/server.md).
            compression=None,
        )
    except InvalidStatus as error:
        status = error.response.status_code
        if status in (401, 403):
            raise AuthFailed(
                "the helpdesk rejected the token; sign in again"
                if status == 401
                else "this token does not belong to an agent account",
                status=status,
            ) from None
        wait = requested_wait(status, error.response.headers.get("Retry-After"), datetime.now(UTC))
        asks = f"; it asks to wait {wait_words(wait)}" if wait is not None else ""
        raise ConnectionLost(
            f"the server refused the live connection (HTTP {status}){asks}", retry_after=wait
        ) from None
    except InvalidURI as error:
        raise ConnectionLost(
            f"the server URL is not valid for a live connection ({error})"
        ) from None
    except ProxyError as error:  # the proxy answered, but would not open the tunnel
        assert route is not None
        raise route.failed(error, answered=True) from None
    except (InvalidHandshake, TimeoutError) as error:
        # websockets' words can quote what the server sent (a header's value)
        raise ConnectionLost(
            f"the live connection could not be set up ({server_words(str(error))})"
        ) from None
    except ssl.SSLCertVerificationError as error:
        raise ConnectionLost(
            f"the server's certificate is not trusted ({error.verify_message}); check the CA bundle"
        ) from None
    except OSError as error:
        if route is not None:  # connecting goes to the proxy: it is the one that failed
            raise route.failed(error) from None
        raise ConnectionLost(
            f"the server is unreachable ({error.strerror or type(error).__name__})"
        ) from None
    try:
        # batch: a replay may come several events a frame (docs/protocol.md, section 4.2).
        await connection.send(encode_json(ResumeRequest(after_seq, batch=True).to_json()))
    except ConnectionClosed as closed:
        raise ConnectionLost(describe_close(closed)) from None
    return WebSocketEventStream(connection)
