"""TLS: verified by default, and a company CA bundle added through the settings is trusted by
both the REST client and the stream. The reference server speaks plain HTTP; a TLS front
(tests/tcp_proxy.TlsTerminator) with a certificate from a throw-away CA sits before it."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from helpdesk import Helpdesk
from tcp_proxy import TlsTerminator

from notifier.client.reference import ReferenceBackend
from notifier.client.transport import TransportConfig
from notifier.core.errors import ConnectionLost
from notifier.core.wire import Hello


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@pytest.fixture
def certificates(tmp_path: Path) -> Path:
    folder = tmp_path / "pki"
    folder.mkdir()
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=Notifier Test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)  # fmt: skip
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
            cwd=folder)  # fmt: skip
    (folder / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf",
            cwd=folder)  # fmt: skip
    return folder


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
