"""TLS: verified by default, and a company CA bundle added through the settings is trusted by
both the REST client and the stream. The reference server speaks plain HTTP; a TLS front
(tests/tcp_proxy.TlsTerminator) with a certificate from a throw-away CA sits before it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from helpdesk import Helpdesk
from tcp_proxy import TlsTerminator

from notifier.client.reference import ReferenceBackend
from notifier.client.transport import TransportConfig
from notifier.core.errors import ConnectionLost
from notifier.core.wire import Hello


@pytest.mark.asyncio
async def test_a_custom_ca_bundle_is_trusted_and_verification_is_on_by_default(
    helpdesk: Helpdesk, certificates: Path
) -> None:
    token = helpdesk.add_agent("alice", "Alice Adams")
    async with TlsTerminator(
        helpdesk.port, str(certificates / "server.pem"), str(certificates / "server.key")
    ) as front:
        trusting = ReferenceBackend(
            front.url, token, TransportConfig(ca_bundle=certificates / "ca.pem")
        )
        default = ReferenceBackend(front.url, token, TransportConfig())
        try:
            async with asyncio.timeout(20):
                assert (await trusting.me()).username == "alice"
                stream = await trusting.open_stream(0)
                hello = await anext(aiter(stream))
                assert isinstance(hello, Hello) and hello.agent.username == "alice"
                await stream.close()

                with pytest.raises(ConnectionLost, match="certificate"):
                    await default.me()
                with pytest.raises(ConnectionLost, match="certificate"):
                    await default.open_stream(0)
        finally:
            await trusting.aclose()
            await default.aclose()
