"""The Frappe adapter reaches the site the way the reference client does (one
``TransportConfig``): the proxy that ``TransportConfig.proxy_for`` chooses carries REST and
socket.io alike, and a proxy that is down is named as the proxy, not as the site. Against the
stand-in site, the loopback SOCKS5 proxy of tcp_proxy.py and a port where nothing listens."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from frappe_support import SiteUnderTest, ann_and_bea
from tcp_proxy import Socks5Proxy

from notifier.client.frappe import FrappeBackend
from notifier.client.frappe_rest import FrappeCredentials
from notifier.client.transport import TransportConfig, proxy_environment
from notifier.core.errors import ConnectionLost, ProxyFailed
from notifier.core.wire import Hello

pytestmark = pytest.mark.asyncio


def backend_for(
    under_test: SiteUnderTest, key: str, secret: str, ledger: Path, config: TransportConfig
) -> FrappeBackend:
    credentials = FrappeCredentials(api_key=key, api_secret=secret)
    return FrappeBackend(under_test.site, credentials, ledger, config)


async def first_event(backend: FrappeBackend) -> object:
    stream = await backend.open_stream(0)
    try:
        async for event in stream:
            return event
    finally:
        await stream.close()
    raise AssertionError("the stream ended without a hello")


async def test_all_proxy_carries_rest_and_socketio(
    standin_site: SiteUnderTest, tmp_path: Path
) -> None:
    standin = standin_site.standin
    assert standin is not None
    _, bea = ann_and_bea(standin_site.driver)
    async with Socks5Proxy() as proxy:
        config = TransportConfig(
            connect_timeout=5, proxy_env=proxy_environment({"ALL_PROXY": proxy.url})
        )
        backend = backend_for(standin_site, bea.api_key, bea.api_secret, tmp_path / "l", config)
        try:
            async with asyncio.timeout(20):
                assert (await backend.me()).id == bea.email
                assert isinstance(await first_event(backend), Hello)
        finally:
            await backend.aclose()
    assert ("127.0.0.1", standin.site_port) in proxy.destinations  # REST
    assert ("127.0.0.1", standin.socketio_port) in proxy.destinations  # socket.io
    assert set(proxy.destinations) == {
        ("127.0.0.1", standin.site_port),
        ("127.0.0.1", standin.socketio_port),
    }


async def test_a_dead_proxy_is_named_by_rest_and_socketio(
    standin_site: SiteUnderTest, tmp_path: Path
) -> None:
    _, bea = ann_and_bea(standin_site.driver)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    config = TransportConfig(connect_timeout=3, proxy=f"http://127.0.0.1:{dead_port}")
    expected = f"the proxy at 127.0.0.1:{dead_port} (from the proxy setting) refused the connection"
    backend = backend_for(standin_site, bea.api_key, bea.api_secret, tmp_path / "l", config)
    try:
        async with asyncio.timeout(15):
            with pytest.raises(ProxyFailed) as rest:
                await backend.me()
        assert str(rest.value) == expected
        assert isinstance(rest.value, ConnectionLost)  # the engine backs off as for an outage
    finally:
        await backend.aclose()
    # socket.io on its own (REST straight to the site): the proxy is named there too.
    direct = backend_for(
        standin_site, bea.api_key, bea.api_secret, tmp_path / "l2", TransportConfig()
    )
    try:
        async with asyncio.timeout(15):
            await direct.me()
            direct.config = config
            with pytest.raises(ProxyFailed) as realtime:
                await first_event(direct)
        assert str(realtime.value) == expected
    finally:
        await direct.aclose()
