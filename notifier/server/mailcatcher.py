"""A local mail catcher (``aiosmtpd``): takes every mail and writes it as an ``.eml`` file.

The demo runs it in a process of its own and points the helpdesk's ``--smtp`` at it, so a new
user sees the mails the demo agents get without a mail server::

    python -m notifier.server.mailcatcher --dir FOLDER [--host 127.0.0.1] [--port 0]
                                          [--exit-with-stdin]

It prints one line ``listening on smtp://HOST:PORT`` once it accepts connections, and stops on
SIGTERM or SIGINT, or with ``--exit-with-stdin`` when its standard input closes: the demo
gives it a pipe, so it ends with the demo even if the demo is killed outright. Each mail
becomes ``FOLDER/NNNN-RECIPIENT.eml`` (written to a temporary name, then renamed, so a reader
never sees half a file), exactly the bytes received, which any mail program opens.
:func:`start_smtp_server` is also what the tests use to run a real SMTP server on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import re
import signal
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger(__name__)


class EmlFolder:
    """An aiosmtpd handler that writes each mail into ``folder``."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        existing = [int(p.name[:4]) for p in folder.glob("[0-9][0-9][0-9][0-9]-*.eml")]
        self._numbers = itertools.count(max(existing, default=0) + 1)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        recipient = envelope.rcpt_tos[0] if envelope.rcpt_tos else "unknown"
        safe = re.sub(r"[^A-Za-z0-9@._-]", "_", recipient)[:80]
        path = self.folder / f"{next(self._numbers):04d}-{safe}.eml"
        content = envelope.original_content or b""
        temporary = path.with_suffix(".tmp")
        try:
            temporary.write_bytes(content)
            os.replace(temporary, path)
        except OSError as exc:
            # The folder went away or filled up (a demo shutting down, a full disk): a
            # transient refusal, so the helpdesk's outbox keeps the mail and tries again,
            # and one line in the log instead of aiosmtpd's traceback.
            log.warning("could not store a mail for %s in %s: %s", safe, self.folder, exc)
            return "451 4.3.0 Could not store the mail; try again later"
        return "250 Message accepted for delivery"


async def start_smtp_server(
    handler: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    implicit_tls: ssl.SSLContext | None = None,
    **smtp_options: Any,
) -> asyncio.Server:
    """An SMTP server for ``handler`` on the running loop (``port`` 0 picks a free one);
    ``implicit_tls`` makes it speak TLS from the first byte (smtps), ``smtp_options`` go to
    :class:`aiosmtpd.smtp.SMTP` (``tls_context`` for STARTTLS, ``authenticator`` …)."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(handler, loop=loop, **smtp_options), host=host, port=port, ssl=implicit_tls
    )


def bound_port(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


async def _serve(folder: Path, host: str, port: int, exit_with_stdin: bool) -> None:
    server = await start_smtp_server(EmlFolder(folder), host, port)
    print(f"listening on smtp://{host}:{bound_port(server)}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if exit_with_stdin:
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        watcher = asyncio.create_task(_set_at_eof(reader, stop))
    async with server:
        await stop.wait()
    if exit_with_stdin:
        watcher.cancel()


async def _set_at_eof(reader: asyncio.StreamReader, stop: asyncio.Event) -> None:
    while await reader.read(4096):
        pass
    stop.set()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m notifier.server.mailcatcher",
        description="Take every mail sent to this SMTP server and write it as an .eml file.",
    )
    parser.add_argument("--dir", type=Path, required=True, help="folder for the .eml files")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    parser.add_argument(
        "--exit-with-stdin", action="store_true", help="stop when standard input closes"
    )
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args.dir, args.host, args.port, args.exit_with_stdin))
    except OSError as exc:
        print(f"mailcatcher: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
