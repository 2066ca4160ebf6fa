"""One proxy rule for REST and the stream (TransportConfig.proxy_for), and a dead proxy reported
as the proxy, not as an unreachable server: in the exception, the engine's status and
`notifier doctor`. Against the reference helpdesk, the loopback SOCKS5 proxy of tcp_proxy.py,
and a loopback port where nothing listens (a proxy that is down)."""

from __future__ import annotations

import asyncio
import io
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from engine_keyring import MemoryKeyring
from helpdesk import Helpdesk
from tcp_proxy import Socks5Proxy

from notifier.client.auth import check_connection
from notifier.client.reference import ReferenceBackend
from notifier.client.stream import open_event_stream
from notifier.client.transport import TransportConfig, proxy_environment
from notifier.compose import build_engine
from notifier.core.errors import ConnectionLost, ProxyFailed
from notifier.core.settings import Settings
from notifier.core.status import ConnectionState, ConnectionStatus
from notifier.core.wire import Hello
from notifier.headless import run_command
from notifier.main import build_parser
from notifier.store.cache import NotificationCache
from notifier.store.secrets import TokenStore

SHORT = TransportConfig(connect_timeout=3, read_timeout=5, request_deadline=8)


def config_with(environ: dict[str, str], proxy: str | None = None) -> TransportConfig:
    return TransportConfig(proxy=proxy, proxy_env=proxy_environment(environ))


def chosen(environ: dict[str, str], url: str, proxy: str | None = None) -> tuple[str, str] | None:
    route = config_with(environ, proxy).proxy_for(url)
    return None if route is None else (route.url, route.source)


# ----------------------------------------------------------------------------- the rule


@pytest.mark.parametrize("url", ["https://hd.example.com", "wss://hd.example.com/api/v1/stream"])
def test_all_proxy_serves_rest_and_the_stream_alike(url: str) -> None:
    environ = {"ALL_PROXY": "socks5://proxy:1080"}
    assert chosen(environ, url) == ("socks5://proxy:1080", "ALL_PROXY")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://hd.example.com", ("http://secure:3128", "HTTPS_PROXY")),
        ("wss://hd.example.com", ("http://secure:3128", "HTTPS_PROXY")),
        ("http://hd.example.com", ("http://plain:3128", "HTTP_PROXY")),
        ("ws://hd.example.com", ("http://plain:3128", "HTTP_PROXY")),
    ],
)
def test_the_scheme_variable_comes_before_all_proxy(url: str, expected: tuple[str, str]) -> None:
    environ = {
        "HTTPS_PROXY": "http://secure:3128",
        "HTTP_PROXY": "http://plain:3128",
        "ALL_PROXY": "socks5://all:1080",
    }
    assert chosen(environ, url) == expected


def test_lower_case_wins_and_a_bare_host_is_http() -> None:
    environ = {"HTTPS_PROXY": "http://upper:1", "https_proxy": "lower:3128"}
    assert chosen(environ, "https://hd.example.com") == ("http://lower:3128", "https_proxy")


@pytest.mark.parametrize(
    ("no_proxy", "url", "bypassed"),
    [
        ("*", "https://hd.example.com", True),
        ("example.com", "https://hd.example.com", True),
        (".example.com", "https://hd.example.com", True),
        ("ample.com", "https://hd.example.com", False),
        ("other.org, hd.example.com", "wss://hd.example.com", True),
        ("hd.example.com:8443", "https://hd.example.com:8443", True),
        ("hd.example.com:8443", "https://hd.example.com", False),
        ("hd.example.com:443", "wss://hd.example.com", True),
        ("127.0.0.1", "http://127.0.0.1:8765", True),
        ("10.0.0.0/8", "https://10.1.2.3", True),
        ("10.0.0.0/8", "https://11.1.2.3", False),
        ("::1", "http://[::1]:8765", True),
        ("", "https://hd.example.com", False),
    ],
)
def test_no_proxy(no_proxy: str, url: str, bypassed: bool) -> None:
    environ = {"ALL_PROXY": "socks5://proxy:1080", "NO_PROXY": no_proxy}
    assert (chosen(environ, url) is None) is bypassed


def test_the_setting_wins_for_every_server() -> None:
    environ = {"ALL_PROXY": "socks5://all:1080", "NO_PROXY": "*"}
    expected = ("http://set:3128", "the proxy setting")
    assert chosen(environ, "https://hd.example.com", proxy="http://set:3128") == expected


def test_no_proxy_variables_is_direct() -> None:
    assert chosen({"PATH": "/bin"}, "https://hd.example.com") is None


@pytest.mark.parametrize("value", ["ftp://proxy:21", "socks4://proxy:1080", "http://:3128"])
def test_an_unusable_proxy_value_names_the_variable(value: str) -> None:
    with pytest.raises(ProxyFailed, match="ALL_PROXY is not usable") as raised:
        config_with({"ALL_PROXY": value}).proxy_for("https://hd.example.com")
    assert raised.value.route == "ALL_PROXY"


def test_the_proxy_address_in_messages_has_no_credentials() -> None:
    route = config_with({"ALL_PROXY": "http://me:s3cret@proxy:3128"}).proxy_for("https://x.org")
    assert route is not None
    assert route.describe() == "the proxy at proxy:3128 (from ALL_PROXY)"


# ----------------------------------------------------------------------------- ALL_PROXY


@pytest.mark.asyncio
async def test_all_proxy_carries_the_stream_and_rest(
    helpdesk: Helpdesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = helpdesk.add_agent("alice", "Alice Able")
    async with Socks5Proxy() as proxy:
        monkeypatch.setenv("ALL_PROXY", proxy.url)  # the process's environment, read at use
        backend = ReferenceBackend(helpdesk.url, token, TransportConfig(connect_timeout=5))
        try:
            async with asyncio.timeout(15):
                stream = await backend.open_stream(0)
                try:
                    async for event in stream:
                        assert isinstance(event, Hello)
                        break
                finally:
                    await stream.close()
                assert proxy.destinations == [("127.0.0.1", helpdesk.port)]  # the stream
                assert (await backend.me()).username == "alice"
                assert len(proxy.destinations) == 2  # and REST
        finally:
            await backend.aclose()


async def run_composed_engine(
    settings: Settings,
    environ: dict[str, str],
    cache_path: Path,
    until: Callable[[ConnectionStatus], bool],
) -> list[ConnectionStatus]:
    """Run the engine notifier.compose builds until a status satisfies ``until``; returns
    every status it published."""
    statuses: list[ConnectionStatus] = []
    reached = asyncio.Event()

    def on_status(status: ConnectionStatus) -> None:
        statuses.append(status)
        if until(status):
            reached.set()

    cache = NotificationCache.open(cache_path)
    engine = build_engine(
        settings,
        cache,
        on_status=on_status,
        on_change=lambda change: None,
        environ=environ,
        transport=SHORT,
    )
    assert engine is not None
    task = asyncio.create_task(engine.run())
    try:
        async with asyncio.timeout(15):
            await reached.wait()
    finally:
        await engine.stop()
        async with asyncio.timeout(15):
            await task
        cache.close()
    return statuses


@pytest.mark.asyncio
async def test_the_engine_built_by_compose_uses_all_proxy(
    helpdesk: Helpdesk, tmp_path: Path
) -> None:
    token = helpdesk.add_agent("alice", "Alice Able")
    async with Socks5Proxy() as proxy:
        await run_composed_engine(
            Settings(),
            {"NOTIFIER_SERVER": helpdesk.url, "NOTIFIER_TOKEN": token, "ALL_PROXY": proxy.url},
            tmp_path / "c.sqlite3",
            until=lambda status: status.state is ConnectionState.LIVE,
        )
        # the history (REST) and the stream both went through it
        assert len(proxy.destinations) >= 2
        assert set(proxy.destinations) == {("127.0.0.1", helpdesk.port)}


# ----------------------------------------------------------------------------- a dead proxy


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A loopback port where nothing listens: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    yield port


DEAD_SCHEMES = ["http", "socks5"]


@pytest.mark.asyncio
@pytest.mark.parametrize("scheme", DEAD_SCHEMES)
async def test_a_dead_proxy_is_named_by_rest_and_the_stream(
    helpdesk: Helpdesk, dead_port: int, scheme: str
) -> None:
    token = helpdesk.add_agent("alice")
    config = TransportConfig(
        connect_timeout=3,
        proxy_env=proxy_environment({"ALL_PROXY": f"{scheme}://127.0.0.1:{dead_port}"}),
    )
    expected = f"the proxy at 127.0.0.1:{dead_port} (from ALL_PROXY) refused the connection"
    async with asyncio.timeout(15):
        with pytest.raises(ProxyFailed) as rest:
            await check_connection(helpdesk.url, token, config)
        with pytest.raises(ProxyFailed) as stream:
            await open_event_stream(helpdesk.url, token, config, after_seq=0)
    assert str(rest.value) == expected
    assert str(stream.value) == expected
    assert isinstance(rest.value, ConnectionLost)  # the engine backs off as for any outage


@pytest.mark.asyncio
async def test_a_dead_proxy_is_named_in_the_status(
    helpdesk: Helpdesk, dead_port: int, tmp_path: Path
) -> None:
    token = helpdesk.add_agent("alice")
    statuses = await run_composed_engine(
        Settings(proxy=f"http://127.0.0.1:{dead_port}"),
        {"NOTIFIER_SERVER": helpdesk.url, "NOTIFIER_TOKEN": token},
        tmp_path / "c.sqlite3",
        until=lambda status: status.state is ConnectionState.BACKING_OFF,
    )
    assert statuses[-1].last_error == (
        f"the proxy at 127.0.0.1:{dead_port} (from the proxy setting) refused the connection"
    )


def doctor(environ: dict[str, str]) -> tuple[int, str]:
    """`notifier doctor` in-process with ``environ`` (and this test's NOTIFIER_HOME)."""
    out = io.StringIO()
    code = run_command(
        "doctor",
        build_parser().parse_args(["doctor"]),
        environ={"NOTIFIER_HOME": os.environ["NOTIFIER_HOME"], **environ},
        token_store=TokenStore(MemoryKeyring()),
        stdout=out,
        stderr=io.StringIO(),
        transport=SHORT,
    )
    return code, out.getvalue()


@pytest.mark.parametrize("scheme", DEAD_SCHEMES)
def test_doctor_names_a_dead_proxy(helpdesk: Helpdesk, dead_port: int, scheme: str) -> None:
    token = helpdesk.add_agent("alice")
    code, text = doctor(
        {
            "NOTIFIER_SERVER": helpdesk.url,
            "NOTIFIER_TOKEN": token,
            "ALL_PROXY": f"{scheme}://127.0.0.1:{dead_port}",
        }
    )
    assert code == 1
    assert (
        f"✗ proxy: the proxy at 127.0.0.1:{dead_port} (from ALL_PROXY) refused the connection:"
        " start the proxy, or correct ALL_PROXY, or unset it to connect directly"
    ) in text
    assert "cannot be reached" not in text and "unreachable" not in text


@pytest.mark.asyncio
async def test_doctor_names_a_working_proxy(helpdesk: Helpdesk) -> None:
    token = helpdesk.add_agent("alice")
    async with Socks5Proxy() as proxy:
        environ = {"NOTIFIER_SERVER": helpdesk.url, "NOTIFIER_TOKEN": token, "ALL_PROXY": proxy.url}
        async with asyncio.timeout(30):
            code, text = await asyncio.to_thread(doctor, environ)
        assert len(proxy.destinations) >= 2  # REST and the WebSocket
    assert f"✓ proxy: connections go through the proxy at 127.0.0.1:{proxy.port}" in text
    assert "✓ live connection" in text
    assert code == 0, text
