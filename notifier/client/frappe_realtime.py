"""Frappe's realtime channel: a minimal Socket.IO client (Engine.IO v4, Socket.IO v5) over
``websockets``.

Frappe runs a Node socket.io server (``realtime/index.js``) with one namespace per site
(``/<site name>``). What the Frappe adapter needs from it is small: connect to that namespace,
send ``doctype_subscribe``, and receive ``list_update`` events. Why not python-socketio's
asyncio client: it brings aiohttp and ten more packages (their size, import time and resident
memory are in benchmarks/README.md, "Figures behind the code", and docs/frappe.md) and a
second HTTP stack whose TLS trust and proxy settings would have to be kept in step with the
ones httpx and websockets already share (:class:`~notifier.client.transport.TransportConfig`).
This module is ~300 lines on top of ``websockets``, which the client already uses.

Scope, on purpose:

* WebSocket transport only (``/socket.io/?EIO=4&transport=websocket``); no long-polling
  fallback. Frappe's nginx configuration forwards WebSocket upgrades on ``/socket.io``.
* Text packets only. A binary event (Socket.IO types 5 and 6) is skipped with its
  attachments; Frappe sends none.
* No acknowledgements are requested; incoming ones are ignored.

Shape: pure functions encode and decode packets (:func:`decode_engineio`,
:func:`decode_socketio`, :func:`encode_event`), tested without sockets; :class:`SocketIOClient`
drives them over one WebSocket. Liveness is Engine.IO's own heartbeat: the server sends a
ping every ``pingInterval`` ms, the client answers with a pong, and a connection that stays
silent for ``pingInterval + pingTimeout`` is dead (websockets' own pings are off). Every
ping also calls the keepalive listener, so the sync engine's sleep watchdog rides on it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
    ProxyError,
)

from notifier.client.transport import TransportConfig
from notifier.core.errors import ConnectionLost
from notifier.core.wire import MAX_FRAME_BYTES

log = logging.getLogger(__name__)

SOCKETIO_PATH: Final = "/socket.io/"
# Socket.IO's defaults (pingInterval 25 s, pingTimeout 20 s), used until the open packet
# says otherwise.
DEFAULT_PING_INTERVAL: Final = 25.0
DEFAULT_PING_TIMEOUT: Final = 20.0


class EngineIOType(IntEnum):
    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


class SocketIOType(IntEnum):
    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


class PacketError(ValueError):
    """A frame that is not a valid Engine.IO / Socket.IO packet."""


class SocketIOUnreachable(ConnectionLost):
    """No socket.io server answered at the URL: nothing listens there, no route, an HTTP
    answer instead of a WebSocket upgrade, an untrusted certificate, or no Engine.IO session
    within the connect timeout."""


class NamespaceRefused(ConnectionLost):
    """The socket.io server answered but did not let the client join the namespace.
    ``reason`` is its ``connect_error`` message (Frappe's ``authenticate.js``: "Invalid
    namespace", "Invalid origin", "No cookie transmitted.", "Unauthorized"), or None when it
    never answered the join within the connect timeout (no CONNECT ack)."""

    def __init__(self, message: str, *, reason: str | None) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class EngineIOPacket:
    type: EngineIOType
    data: str


@dataclass(frozen=True, slots=True)
class SocketIOPacket:
    type: SocketIOType
    namespace: str
    data: Any
    attachments: int = 0


# --------------------------------------------------------------------------- codec (pure)


def decode_engineio(frame: str) -> EngineIOPacket:
    """One WebSocket text frame → an Engine.IO packet (type digit, then its data)."""
    if not frame or not frame[0].isdigit():
        raise PacketError("an Engine.IO packet starts with its type digit")
    try:
        kind = EngineIOType(int(frame[0]))
    except ValueError:
        raise PacketError(f"unknown Engine.IO packet type {frame[0]}") from None
    return EngineIOPacket(kind, frame[1:])


def decode_socketio(data: str) -> SocketIOPacket:
    """An Engine.IO message's data → a Socket.IO packet.

    Format: ``<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]``; the namespace is
    ``/`` when absent.
    """
    if not data or not data[0].isdigit():
        raise PacketError("a Socket.IO packet starts with its type digit")
    try:
        kind = SocketIOType(int(data[0]))
    except ValueError:
        raise PacketError(f"unknown Socket.IO packet type {data[0]}") from None
    rest = data[1:]
    attachments = 0
    if kind in (SocketIOType.BINARY_EVENT, SocketIOType.BINARY_ACK):
        count, dash, rest = rest.partition("-")
        if not dash or not count.isdigit():
            raise PacketError("a binary Socket.IO packet must give its attachment count")
        attachments = int(count)
    namespace = "/"
    if rest.startswith("/"):
        namespace, _comma, rest = rest.partition(",")
    digits = 0
    while digits < len(rest) and rest[digits].isdigit():
        digits += 1
    rest = rest[digits:]  # an ack id: this client asks for none, so it is not kept
    payload: Any = None
    if rest:
        try:
            payload = json.loads(rest)
        except ValueError as error:
            raise PacketError(f"the Socket.IO payload is not JSON: {error}") from None
    return SocketIOPacket(kind, namespace, payload, attachments)


def encode_connect(namespace: str) -> str:
    """Engine.IO message carrying a Socket.IO CONNECT to ``namespace`` (no auth payload)."""
    return f"{EngineIOType.MESSAGE}{SocketIOType.CONNECT}{namespace},"


def encode_event(namespace: str, event: str, *args: Any) -> str:
    body = json.dumps([event, *args], ensure_ascii=False, separators=(",", ":"))
    return f"{EngineIOType.MESSAGE}{SocketIOType.EVENT}{namespace},{body}"


def socketio_url(base_url: str) -> str:
    """``https://site[/prefix]`` → ``wss://site[/prefix]/socket.io/?EIO=4&transport=websocket``."""
    parts = urlsplit(base_url.rstrip("/"))
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme)
    if scheme is None:
        raise SocketIOUnreachable(
            f"the socket.io URL must start with https:// or http://, not {parts.scheme or '?'}"
        )
    path = parts.path + SOCKETIO_PATH
    return urlunsplit((scheme, parts.netloc, path, "EIO=4&transport=websocket", ""))


def _event_of(packet: SocketIOPacket) -> tuple[str, list[Any]] | None:
    data = packet.data
    if isinstance(data, list) and data and isinstance(data[0], str):
        return data[0], data[1:]
    return None


def _connect_error_text(data: Any) -> str:
    if isinstance(data, Mapping) and isinstance(data.get("message"), str):
        return str(data["message"])
    if isinstance(data, str):
        return data
    return "no reason given"


# --------------------------------------------------------------------------- driver


class SocketIOClient:
    """One Socket.IO connection to one namespace. Build with :meth:`connect`; iterate
    :meth:`events`; :meth:`close` at the end."""

    def __init__(
        self,
        connection: ClientConnection,
        namespace: str,
        ping_interval: float,
        ping_timeout: float,
    ) -> None:
        self._connection = connection
        self.namespace = namespace
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self._keepalive: Callable[[], None] | None = None
        self.skipped_frames = 0

    @classmethod
    async def connect(
        cls,
        base_url: str,
        namespace: str,
        *,
        origin: str,
        headers: Mapping[str, str],
        config: TransportConfig,
    ) -> SocketIOClient:
        """Open the WebSocket, read Engine.IO's open packet and join ``namespace``.

        Raises :class:`ConnectionLost` with a sentence naming the cause: no socket.io server
        at that URL, a refused upgrade, or the server's ``connect_error`` message (Frappe's
        are "Invalid origin", "Invalid namespace", "No cookie transmitted.", "Unauthorized").
        """
        url = socketio_url(base_url)
        ssl_context: ssl.SSLContext | None = (
            config.ssl_context() if url.startswith("wss://") else None
        )
        route = config.proxy_for(url)  # the same rule as REST and the reference stream
        try:
            connection = await connect(
                url,
                origin=origin,  # type: ignore[arg-type]  # websockets' Origin is a NewType(str)
                additional_headers=dict(headers),
                ssl=ssl_context,
                proxy=route.url if route is not None else None,
                open_timeout=config.connect_timeout,
                ping_interval=None,  # Engine.IO's heartbeat instead (see the module docstring)
                close_timeout=2,
                max_size=MAX_FRAME_BYTES,
                user_agent_header="notifier",
                compression=None,
            )
        except InvalidStatus as error:
            status = error.response.status_code
            body = error.response.body.decode(errors="replace")[:200] if error.response.body else ""
            hint = " (is this the socket.io URL?)" if status == 404 else ""
            raise SocketIOUnreachable(
                f"the socket.io server refused the connection (HTTP {status}{hint})"
                + (f": {body}" if body else "")
            ) from None
        except InvalidURI as error:
            raise SocketIOUnreachable(f"the socket.io URL is not valid ({error})") from None
        except ProxyError as error:  # the proxy answered, but would not open the tunnel
            assert route is not None
            raise route.failed(error, answered=True) from None
        except (InvalidHandshake, TimeoutError) as error:
            raise SocketIOUnreachable(
                f"the socket.io connection could not be set up ({error or 'timed out'})"
            ) from None
        except ssl.SSLCertVerificationError as error:
            raise SocketIOUnreachable(
                f"the socket.io server's certificate is not trusted ({error.verify_message})"
            ) from None
        except OSError as error:
            if route is not None:  # connecting goes to the proxy: it is the one that failed
                raise route.failed(error) from None
            raise SocketIOUnreachable(
                f"the socket.io server is unreachable ({error.strerror or type(error).__name__})"
            ) from None
        joining = asyncio.Event()  # set once Engine.IO opened: a timeout after is the join's
        try:
            async with asyncio.timeout(config.connect_timeout):
                return await cls._handshake(connection, namespace, joining)
        except TimeoutError:
            await connection.close()
            if joining.is_set():
                raise NamespaceRefused(
                    f"the socket.io server did not answer joining namespace {namespace}",
                    reason=None,
                ) from None
            raise SocketIOUnreachable(
                "the server did not open a socket.io session (is this the socket.io URL?)"
            ) from None
        except BaseException:
            await connection.close()
            raise

    @classmethod
    async def _handshake(
        cls, connection: ClientConnection, namespace: str, joining: asyncio.Event
    ) -> SocketIOClient:
        try:
            opening = decode_engineio(await _text(connection))
            if opening.type is not EngineIOType.OPEN:
                raise SocketIOUnreachable("the server did not open an Engine.IO session")
            try:
                session = json.loads(opening.data)
                interval = float(session["pingInterval"]) / 1000
                timeout = float(session["pingTimeout"]) / 1000
            except (ValueError, KeyError, TypeError):
                interval, timeout = DEFAULT_PING_INTERVAL, DEFAULT_PING_TIMEOUT
            client = cls(connection, namespace, interval, timeout)
            await connection.send(encode_connect(namespace))
            joining.set()
            while True:
                packet = decode_engineio(await _text(connection))
                if packet.type is EngineIOType.PING:
                    await connection.send(f"{EngineIOType.PONG}{packet.data}")
                    continue
                if packet.type is not EngineIOType.MESSAGE:
                    continue
                message = decode_socketio(packet.data)
                if message.namespace != namespace:
                    continue
                if message.type is SocketIOType.CONNECT:
                    return client
                if message.type is SocketIOType.CONNECT_ERROR:
                    reason = _connect_error_text(message.data)
                    raise NamespaceRefused(
                        f"the socket.io server refused namespace {namespace}: {reason}",
                        reason=reason,
                    )
        except PacketError as error:
            raise ConnectionLost(f"the socket.io server sent a bad packet ({error})") from None
        except ConnectionClosed:
            raise ConnectionLost("the socket.io server closed the connection") from None

    def on_keepalive(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener`` at every Engine.IO ping from the server."""
        self._keepalive = listener

    async def emit(self, event: str, *args: Any) -> None:
        try:
            await self._connection.send(encode_event(self.namespace, event, *args))
        except ConnectionClosed:
            raise ConnectionLost("the socket.io connection closed") from None

    async def events(self) -> AsyncIterator[tuple[str, list[Any]]]:
        """Yield ``(event, args)`` for each event on the namespace, answering pings, until the
        connection ends: then raise :class:`ConnectionLost`."""
        silence = self.ping_interval + self.ping_timeout
        connection = self._connection
        try:
            while True:
                try:
                    async with asyncio.timeout(silence):
                        frame = await connection.recv()
                except TimeoutError:
                    raise ConnectionLost(
                        "the socket.io connection stalled (no ping from the server)"
                    ) from None
                if isinstance(frame, bytes):
                    continue  # a binary attachment: skipped with its event
                try:
                    packet = decode_engineio(frame)
                    if packet.type is EngineIOType.PING:
                        await connection.send(f"{EngineIOType.PONG}{packet.data}")
                        self._tell_keepalive()
                        continue
                    if packet.type is EngineIOType.CLOSE:
                        raise ConnectionLost("the socket.io server closed the session")
                    if packet.type is not EngineIOType.MESSAGE:
                        continue
                    message = decode_socketio(packet.data)
                except PacketError as error:
                    self.skipped_frames += 1
                    log.warning("skipped a bad socket.io frame of %d chars: %s", len(frame), error)
                    continue
                if message.namespace != self.namespace:
                    continue
                if message.type is SocketIOType.DISCONNECT:
                    raise ConnectionLost("the socket.io server ended the session")
                if message.type is SocketIOType.EVENT:
                    event = _event_of(message)
                    if event is not None:
                        yield event
        except ConnectionClosed as closed:
            reason = f" (code {closed.rcvd.code})" if closed.rcvd is not None else ""
            raise ConnectionLost(f"the socket.io connection was lost{reason}") from None
        except OSError as error:
            raise ConnectionLost(f"the socket.io connection broke ({error})") from None

    def _tell_keepalive(self) -> None:
        listener = self._keepalive
        if listener is None:
            return
        try:
            listener()
        except Exception:  # a listener bug must not break the heartbeat
            log.exception("the keepalive listener failed")

    async def close(self) -> None:
        await self._connection.close()


async def _text(connection: ClientConnection) -> str:
    while True:
        frame = await connection.recv()
        if isinstance(frame, str):
            return frame
