"""A raw asyncio TCP server on loopback, for answers no HTTP framework would send (a body
trickling in a byte at a time, 64 MiB streamed, a compressed bomb). A subclass says how to
answer one connection in :meth:`RawServer.respond`; this class accepts, keeps track of the
answers running, aborts each connection when its answer ends (or fails because the client
went away), and cancels what is left when the server stops."""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, Self


class RawServer(abc.ABC):
    def __init__(self) -> None:
        self.url = ""
        self._answers: set[asyncio.Task[Any]] = set()

    @abc.abstractmethod
    async def respond(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read the request from ``reader`` and write the answer to ``writer``."""

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._answers.add(task)
        try:
            await self.respond(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client stopped reading or went away: what the tests provoke
        finally:
            writer.transport.abort()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[Self]:
        server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        try:
            yield self
        finally:
            server.close()
            for task in self._answers:
                task.cancel()
            await asyncio.gather(*self._answers, return_exceptions=True)
            await server.wait_closed()
