"""The sync engine against the reference server on loopback: live delivery, local actions,
the first sign-in, resets and auth failures. After every scenario the cache must equal the
server's view exactly (every id, seq, read flag and the unread count)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from engine_support import (
    FAST,
    CountingBackend,
    FakeClock,
    Harness,
    converge,
    running_engine,
    server_view,
)
from helpdesk import Helpdesk
from tcp_proxy import Socks5Proxy
from test_cache_history_load import index_names

from notifier.client.reference import ReferenceBackend
from notifier.client.transport import TransportConfig
from notifier.compose import build_engine
from notifier.core.settings import Settings
from notifier.core.status import CacheChange, ChangeKind, ConnectionState
from notifier.store.cache import (
    LIST_ORDER_INDEX,
    SECONDARY_INDEXES,
    ListFilter,
    NotificationCache,
)
from notifier.store.paths import AppPaths
from notifier.sync.engine import SyncEngine


def assign(helpdesk: Helpdesk, boss: str, agent: str, subject: str) -> str:
    actions = helpdesk.actions(boss)
    ticket = actions.create_ticket(subject, f"first message of {subject}")
    actions.assign(ticket["id"], agent)
    return str(ticket["id"])


@pytest.fixture
def agents(helpdesk: Helpdesk) -> tuple[str, str]:
    return helpdesk.add_agent("alice", "Alice Adams"), helpdesk.add_agent("bob", "Bob Brown")


@pytest.mark.asyncio
async def test_live_delivery_and_local_actions(
    helpdesk: Helpdesk, agents: tuple[str, str], tmp_path: Path
) -> None:
    alice, bob = agents
    for subject in ("VPN down", "Invoice wrong"):
        assign(helpdesk, bob, "alice", subject)
    async with running_engine(helpdesk.url, alice, tmp_path / "c.sqlite3") as run:
        await converge(run, helpdesk.url, alice)
        assert run.engine.status.agent is not None
        assert run.engine.status.agent.username == "alice"
        history = [c for c in run.changes if c.kind is ChangeKind.UPSERTED]
        assert history and all(c.replay for c in history)

        # a live notification: published once, not as a replay
        run.changes.clear()
        assign(helpdesk, bob, "alice", "Printer on fire")
        await converge(run, helpdesk.url, alice)
        live = [c for c in run.changes if c.kind is ChangeKind.UPSERTED]
        assert len(live) == 1 and not live[0].replay and not live[0].local
        newest = live[0].notifications[0]
        assert newest.ticket.subject == "Printer on fire" and not newest.read

        # mark read: applied locally at once, sent, and the echo is not published again
        run.changes.clear()
        await run.engine.mark_read(newest.id)
        assert run.cache.get(newest.id).read  # type: ignore[union-attr]
        assert run.changes[0] == CacheChange(
            ChangeKind.READ_STATE, ids=(newest.id,), read=True, local=True
        )
        await run.wait_until(lambda: run.cache.pending_count() == 0)
        await converge(run, helpdesk.url, alice)
        assert [c for c in run.changes if c.kind is ChangeKind.READ_STATE] == run.changes[:1]

        await run.engine.mark_unread(newest.id)
        await run.wait_until(lambda: run.cache.pending_count() == 0)
        await converge(run, helpdesk.url, alice)
        assert server_view(helpdesk.url, alice)[1] == 3

        await run.engine.mark_all_read()
        await run.wait_until(lambda: run.cache.pending_count() == 0)
        await converge(run, helpdesk.url, alice)
        assert server_view(helpdesk.url, alice)[1] == 0

        await run.engine.delete(newest.id)
        await run.wait_until(lambda: run.cache.pending_count() == 0)
        await converge(run, helpdesk.url, alice)
        assert run.cache.count() == 2

        await run.engine.clear_read()
        await run.wait_until(lambda: run.cache.pending_count() == 0)
        await converge(run, helpdesk.url, alice)
        assert run.cache.count() == 0

        # the web marks read too: reading on the web clears the tray
        ticket = assign(helpdesk, bob, "alice", "Seen on the web")
        await converge(run, helpdesk.url, alice)
        helpdesk.actions(alice).view(ticket)
        await converge(run, helpdesk.url, alice)
        assert run.cache.unread_count() == 0


@pytest.mark.asyncio
async def test_mark_all_read_does_not_swallow_one_that_arrives_meanwhile(
    helpdesk: Helpdesk, agents: tuple[str, str], tmp_path: Path
) -> None:
    alice, bob = agents
    assign(helpdesk, bob, "alice", "first")
    async with running_engine(helpdesk.url, alice, tmp_path / "c.sqlite3") as run:
        await converge(run, helpdesk.url, alice)
        run.engine.network_changed(False)  # the click happens before the new one is seen
        await run.wait_until(lambda: run.state is ConnectionState.OFFLINE)
        await run.engine.mark_all_read()
        assign(helpdesk, bob, "alice", "arrives while the agent clicks")
        run.engine.network_changed(True)
        await run.wait_until(lambda: run.cache.pending_count() == 0)
        await converge(run, helpdesk.url, alice)
        assert run.cache.unread_count() == 1


@pytest.mark.asyncio
async def test_first_sign_in_pages_more_than_a_thousand_notifications(
    helpdesk: Helpdesk, agents: tuple[str, str], tmp_path: Path
) -> None:
    alice, bob = agents
    actions = helpdesk.actions(bob)
    ticket = actions.create_ticket("Busy ticket", "lots of talk")
    async with httpx.AsyncClient(
        base_url=helpdesk.url, headers={"Authorization": f"Bearer {bob}"}, trust_env=False
    ) as client:

        async def mention(index: int) -> None:
            response = await client.post(
                f"/api/v1/tickets/{ticket['id']}/comments", json={"body": f"@alice look {index}"}
            )
            response.raise_for_status()

        async with asyncio.timeout(50):
            for start in range(0, 1005, 8):
                await asyncio.gather(*(mention(i) for i in range(start, min(start + 8, 1005))))
    rows, unread, _ = server_view(helpdesk.url, alice)
    assert len(rows) == 1005 and unread == 1005
    # Pages of 500 (the protocol's first size): three of them, as a longer history pages.
    async with running_engine(helpdesk.url, alice, tmp_path / "c.sqlite3", page_limit=500) as run:
        await converge(run, helpdesk.url, alice)
        assert run.backend.calls["list_notifications"] == 3  # 500 + 500 + 5
        assert run.cache.count() == 1005
        assert sum(len(c.notifications) for c in run.changes if c.replay) >= 1005


@pytest.mark.asyncio
async def test_a_first_sign_in_indexes_the_cache_once_at_the_end(
    helpdesk: Helpdesk, agents: tuple[str, str], tmp_path: Path
) -> None:
    # The cache's secondary indexes but the list's order are built after the history is in
    # (one sort each), and what the popup and the badge ask during the sync is right
    # without them.
    alice, bob = agents
    ticket = helpdesk.actions(bob).create_ticket("Busy ticket", "lots of talk")
    helpdesk.seed_assignments("alice", "bob", int(ticket["id"]), 1_200)
    path = tmp_path / "c.sqlite3"
    during: list[tuple[set[str], int, int, list[int], list[int]]] = []
    async with running_engine(helpdesk.url, alice, path) as run:
        recorded = run.on_change

        def look(change: CacheChange) -> None:
            recorded(change)
            if change.kind is ChangeKind.UPSERTED and run.state is not ConnectionState.LIVE:
                newest = sorted((n.seq for n in run.cache.all_notifications()), reverse=True)
                during.append(
                    (
                        index_names(path),
                        run.cache.count(),
                        run.cache.unread_count(),
                        [n.seq for n in run.cache.page(ListFilter(unread_only=True), limit=5)],
                        newest[:5],
                    )
                )

        run.on_change = look  # type: ignore[method-assign]
        await converge(run, helpdesk.url, alice)
        assert index_names(path) == set(SECONDARY_INDEXES)
    assert len(during) >= 4  # 1,200 in slices
    for names, count, unread, page, newest in during:
        assert names == {LIST_ORDER_INDEX}
        assert count == unread and page == newest


@pytest.mark.asyncio
async def test_a_cursor_ahead_of_the_server_gets_a_reset_and_a_full_reload(
    helpdesk: Helpdesk, agents: tuple[str, str], tmp_path: Path
) -> None:
    alice, bob = agents
    assign(helpdesk, bob, "alice", "survivor")
    path = tmp_path / "c.sqlite3"
    stale = NotificationCache.open(path)
    stale.advance_cursor(10_000)  # as if the helpdesk's database had been restored
    stale.close()
    async with running_engine(helpdesk.url, alice, path) as run:
        await converge(run, helpdesk.url, alice)
        assert any(c.kind is ChangeKind.RESET for c in run.changes)
        live_notices = [s.notice for s in run.statuses if s.state is ConnectionState.LIVE]
        assert live_notices[0] is not None and "resync" in live_notices[0]
        assert run.cache.count() == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("cursor", [0, 3])
async def test_a_wrong_token_stops_at_auth_failed_without_a_retry_loop(
    helpdesk: Helpdesk, tmp_path: Path, cursor: int
) -> None:
    path = tmp_path / "c.sqlite3"
    cache = NotificationCache.open(path)
    cache.advance_cursor(cursor)  # 0: the REST page-through fails; 3: the stream handshake
    cache.close()
    async with running_engine(helpdesk.url, "revoked-token", path) as run:
        await run.wait_until(lambda: run.state is ConnectionState.AUTH_FAILED)
        calls = dict(run.backend.calls)
        await asyncio.sleep(0.6)  # many backoff periods (first=0.05 s): nothing may retry
        assert run.backend.calls == calls
        assert sum(calls.values()) == 1
        assert "sign in" in (run.engine.status.last_error or "")
        assert run.engine.status.next_retry_at is None


@pytest.mark.asyncio
async def test_a_corrupt_cache_is_rebuilt_from_the_server_with_a_notice(
    helpdesk: Helpdesk, agents: tuple[str, str], tmp_path: Path
) -> None:
    alice, bob = agents
    assign(helpdesk, bob, "alice", "kept on the server")
    paths = AppPaths(tmp_path / "config", tmp_path / "cache", tmp_path / "logs").ensure()
    paths.cache_file.write_bytes(b"garbage, not SQLite" * 64)
    run = Harness(None, None, None)  # type: ignore[arg-type]
    cache = NotificationCache.open(paths.cache_file)
    engine = build_engine(
        Settings(),
        cache,
        on_status=run.on_status,
        on_change=run.on_change,
        environ={"NOTIFIER_SERVER": helpdesk.url, "NOTIFIER_TOKEN": alice},
    )
    assert engine is not None
    run.engine, run.cache = engine, cache
    assert cache.recovered_from is not None and cache.recovered_from.exists()
    task = asyncio.create_task(engine.run())
    try:
        await converge(run, helpdesk.url, alice)
        assert cache.count() == 1
        notice = run.statuses[0].notice
        assert notice is not None and "rebuilt" in notice
    finally:
        await engine.stop()
        async with asyncio.timeout(15):
            await task
        cache.close()


def test_signed_out_without_a_server_or_a_token(tmp_path: Path) -> None:
    paths = AppPaths(tmp_path / "config", tmp_path / "cache", tmp_path / "logs")
    for environ in ({}, {"NOTIFIER_SERVER": "http://127.0.0.1:1"}):
        cache = NotificationCache.open(paths.cache_file)
        engine = build_engine(Settings(), cache, on_status=print, on_change=print, environ=environ)
        assert engine is None
        cache.close()


@pytest.mark.asyncio
async def test_everything_goes_through_a_configured_socks_proxy(
    helpdesk: Helpdesk, agents: tuple[str, str], tmp_path: Path
) -> None:
    alice, bob = agents
    assign(helpdesk, bob, "alice", "via the proxy")
    async with Socks5Proxy() as proxy:
        config = TransportConfig(
            proxy=proxy.url, ping_interval=5, ping_timeout=5, connect_timeout=5
        )
        async with running_engine(
            helpdesk.url, alice, tmp_path / "c.sqlite3", config=config
        ) as run:
            await converge(run, helpdesk.url, alice)
            await run.engine.mark_all_read()
            await run.wait_until(lambda: run.cache.pending_count() == 0)
            await converge(run, helpdesk.url, alice)
        # the REST page-through, the stream and the flush all went through it
        assert len(proxy.destinations) >= 2
        assert set(proxy.destinations) == {("127.0.0.1", helpdesk.port)}


@pytest.mark.asyncio
async def test_a_queued_action_for_a_notification_deleted_meanwhile_is_dropped(
    helpdesk: Helpdesk, agents: tuple[str, str], tmp_path: Path
) -> None:
    alice, bob = agents
    assign(helpdesk, bob, "alice", "soon gone")
    assign(helpdesk, bob, "alice", "stays")
    async with running_engine(helpdesk.url, alice, tmp_path / "c.sqlite3") as run:
        await converge(run, helpdesk.url, alice)
        run.engine.network_changed(False)
        await run.wait_until(lambda: run.state is ConnectionState.OFFLINE)
        gone, stays = [n.id for n in run.cache.page()][::-1]
        await run.engine.mark_read(gone)
        await run.engine.mark_read(stays)
        # meanwhile, on the web, the agent deletes the first one
        response = helpdesk.actions(alice).request("DELETE", f"/api/v1/notifications/{gone}")
        assert response.is_success
        run.engine.network_changed(True)
        await run.wait_until(lambda: run.cache.pending_count() == 0)
        await converge(run, helpdesk.url, alice)
        assert run.cache.get(gone) is None
        assert run.cache.get(stays).read  # type: ignore[union-attr]


@pytest.mark.asyncio
@pytest.mark.parametrize("bypass", [False, True])
async def test_the_environment_proxy_and_no_proxy_are_honoured(
    helpdesk: Helpdesk,
    agents: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bypass: bool,
) -> None:
    alice, bob = agents
    assign(helpdesk, bob, "alice", "proxy from the environment")
    async with Socks5Proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)  # httpx, for the http:// REST calls
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)  # websockets, for ws:// and wss://
        if bypass:
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with running_engine(helpdesk.url, alice, tmp_path / "c.sqlite3") as run:
            await converge(run, helpdesk.url, alice)
        if bypass:
            assert proxy.destinations == []
        else:
            assert len(proxy.destinations) >= 2


@pytest.mark.asyncio
async def test_an_unusable_ca_bundle_is_reported_and_verification_stays_on(
    helpdesk: Helpdesk, agents: tuple[str, str], tmp_path: Path
) -> None:
    alice, _ = agents
    bundle = tmp_path / "company-ca.pem"
    bundle.write_text("not a certificate")
    paths = AppPaths(tmp_path / "config", tmp_path / "cache", tmp_path / "logs")
    run = Harness(None, None, None)  # type: ignore[arg-type]
    cache = NotificationCache.open(paths.cache_file)
    engine = build_engine(
        Settings(ca_bundle=str(bundle)),
        cache,
        on_status=run.on_status,
        on_change=run.on_change,
        environ={"NOTIFIER_SERVER": helpdesk.url, "NOTIFIER_TOKEN": alice},
    )
    assert engine is not None
    run.engine, run.cache = engine, cache
    task = asyncio.create_task(engine.run())
    try:
        await converge(run, helpdesk.url, alice)  # plain http here, so it still syncs
        notice = run.statuses[0].notice
        assert notice is not None and "CA bundle" in notice
    finally:
        await engine.stop()
        async with asyncio.timeout(15):
            await task
        cache.close()
    with pytest.raises(RuntimeError, match="once"):
        await engine.run()


@pytest.mark.asyncio
async def test_calls_before_run_are_safe(helpdesk: Helpdesk, tmp_path: Path) -> None:
    cache = NotificationCache.open(tmp_path / "c.sqlite3")
    statuses: list[ConnectionState] = []
    backend = CountingBackend(ReferenceBackend(helpdesk.url, "any-token", FAST))
    engine = SyncEngine(
        backend,  # type: ignore[arg-type]
        cache,
        FakeClock(),
        on_status=lambda s: statuses.append(s.state),
        on_change=lambda c: None,
    )
    try:
        engine.retry_now()  # nothing to retry yet: no connection is started
        engine.network_changed(False)  # remembered: run() starts offline
        await engine.stop()  # a stop before run makes run return at once
        async with asyncio.timeout(10):
            await engine.run()
        assert backend.calls == {"aclose": 1}
        assert statuses == [ConnectionState.OFFLINE]
    finally:
        cache.close()


@pytest.mark.asyncio
async def test_another_agent_on_the_same_cache_never_sees_the_previous_ones(
    helpdesk: Helpdesk, agents: tuple[str, str], tmp_path: Path
) -> None:
    alice, bob = agents
    assign(helpdesk, bob, "alice", "for alice")
    assign(helpdesk, alice, "bob", "for bob")
    path = tmp_path / "c.sqlite3"
    async with running_engine(helpdesk.url, alice, path) as run:
        await converge(run, helpdesk.url, alice)
        run.engine.network_changed(False)
        await run.wait_until(lambda: run.state is ConnectionState.OFFLINE)
        await run.engine.mark_all_read()  # queued for alice, never sent
        assert run.cache.cursor() > 0 and run.cache.pending_count() == 1
    # bob signs in on the same machine: the stream's hello says it is someone else
    async with running_engine(helpdesk.url, bob, path) as run:
        await converge(run, helpdesk.url, bob)
        assert [n.ticket.subject for n in run.cache.page()] == ["for bob"]
        assert run.cache.pending_count() == 0
        assert any(c.kind is ChangeKind.RESET for c in run.changes)
    assert server_view(helpdesk.url, alice)[1] == 1  # alice's queued action was not sent
