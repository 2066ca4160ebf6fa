"""A chaos TCP proxy for tests: sits between the client and the helpdesk on loopback and can
drop every connection, stall traffic (hold bytes without closing: a half-dead network) and
resume. It speaks no protocol; HTTP and WebSocket bytes pass through unchanged.

    async with ChaosProxy("127.0.0.1", helpdesk.port) as proxy:
        backend = ReferenceBackend(proxy.url, token, config)
        proxy.stall(); ...; proxy.resume(); proxy.drop_all()
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from types import TracebackType
from typing import Self


class ChaosProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> ChaosProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        self.resume()
        await self.drop_all()
        await self._server.wait_closed()

    def stall(self) -> None:
        """Stop forwarding in both directions; connections stay open (and new ones too)."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def drop_all(self) -> None:
        """Reset every current connection (as a NAT timeout or a Wi-Fi switch would)."""
        for writer in list(self._writers):
            transport = writer.transport
            with contextlib.suppress(Exception):
                transport.abort()
        pipes = list(self._pipes)
        for pipe in pipes:
            pipe.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)
        self._writers.clear()

    async def _accept(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        self.accepted += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.update((client_writer, server_writer))
        pipes = [
            asyncio.create_task(self._pipe(client_reader, server_writer)),
            asyncio.create_task(self._pipe(server_reader, client_writer)),
        ]
        self._pipes.update(pipes)
        try:
            await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self._pipes.difference_update(pipes)
            for writer in (client_writer, server_writer):
                self._writers.discard(writer)
                writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                await self._flowing.wait()  # a stall holds the bytes here
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.write_eof()


class _LoopbackRelay:
    """A loopback server that relays each accepted connection to an upstream one: start and
    stop as an async context manager, piping both ways until either side ends."""

    _ssl: ssl.SSLContext | None = None

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, ssl=self._ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError  # each relay reads its own handshake, then calls _relay

    async def _relay(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream_reader: asyncio.StreamReader,
        upstream_writer: asyncio.StreamWriter,
    ) -> None:
        pipes = [
            asyncio.create_task(_copy(reader, upstream_writer)),
            asyncio.create_task(_copy(upstream_reader, writer)),
        ]
        self._tasks.update(pipes)
        try:
            await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self._tasks.difference_update(pipes)
            writer.transport.abort()
            upstream_writer.transport.abort()


class Socks5Proxy(_LoopbackRelay):
    """A minimal SOCKS5 proxy (no authentication, CONNECT only) that records where each
    connection went: enough to prove both httpx and websockets honour a socks5:// proxy."""

    def __init__(self) -> None:
        super().__init__()
        self.destinations: list[tuple[str, int]] = []

    @property
    def url(self) -> str:
        return f"socks5://127.0.0.1:{self.port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            version, methods = await reader.readexactly(2)
            await reader.readexactly(methods)
            writer.write(b"\x05\x00")  # version 5, no authentication
            _, command, _, address_type = await reader.readexactly(4)
            if address_type == 1:
                host = ".".join(str(b) for b in await reader.readexactly(4))
            elif address_type == 3:
                host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
            else:
                raise ConnectionError("IPv6 is not needed on loopback tests")
            port = int.from_bytes(await reader.readexactly(2), "big")
            if version != 5 or command != 1:
                raise ConnectionError("only SOCKS5 CONNECT is supported")
            upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
            self.destinations.append((host, port))
            writer.write(b"\x05\x00\x00\x01" + bytes(4) + bytes(2))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            writer.transport.abort()
            return
        await self._relay(reader, writer, upstream_reader, upstream_writer)


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.write_eof()


class TlsTerminator(_LoopbackRelay):
    """Serves TLS on a loopback port with the given certificate and forwards the plain bytes
    to ``target_port``: an https:// / wss:// front for the plain-HTTP reference server."""

    def __init__(self, target_port: int, certfile: str, keyfile: str) -> None:
        super().__init__()
        self.target_port = target_port
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(certfile, keyfile)
        self._ssl = self.context

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.target_port
            )
        except OSError:
            writer.transport.abort()
            return
        await self._relay(reader, writer, upstream_reader, upstream_writer)
