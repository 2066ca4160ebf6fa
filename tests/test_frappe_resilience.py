"""The Frappe adapter through outages, against the stand-in only (a real site's socket.io
server cannot be restarted or cut from a test): a stalled or dropped connection, the
socket.io server restarting, the tray restarting, a lost ledger, an expired session.

"Nothing lost or duplicated" is checked two ways: the cache equals the site's rows for the
agent (with read flags), and every notification reached the cache's listeners as new content
exactly once (a second upsert would be a second toast)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from engine_support import FAST, Harness
from frappe_support import (
    SiteUnderTest,
    ann_and_bea,
    live_tray,
    running_frappe_engine,
    wait_equal,
    wait_live,
)
from tcp_proxy import ChaosProxy

from notifier.client.frappe import FrappeBackend
from notifier.client.frappe_realtime import NamespaceRefused, SocketIOClient
from notifier.client.frappe_rest import FrappeCredentials, FrappeSite
from notifier.core.errors import ConnectionLost
from notifier.core.status import ChangeKind, ConnectionState, DeliveryDelay

pytestmark = pytest.mark.asyncio


def upserts(harness: Harness) -> Counter[str]:
    """How often each notification reached the listeners as new content."""
    return Counter(
        n.id
        for change in harness.changes
        if change.kind is ChangeKind.UPSERTED
        for n in change.notifications
    )


def resets(harness: Harness) -> int:
    return sum(1 for change in harness.changes if change.kind is ChangeKind.RESET)


async def test_the_socketio_server_restarting_loses_nothing(
    standin_site: SiteUnderTest, tmp_path: Path
) -> None:
    driver, standin = standin_site.driver, standin_site.standin
    assert standin is not None
    ann, bea = ann_and_bea(driver)
    ann_client, bea_client = driver.as_user(ann), driver.as_user(bea)
    first, second = driver.create_ticket("Before"), driver.create_ticket("Read before")
    ann_client.assign(first, bea.email)
    ann_client.assign(second, bea.email)
    bea_client.clear(ticket=second)
    async with live_tray(standin_site, bea, tmp_path, reconcile_interval=3600) as harness:
        await wait_equal(harness, standin_site, bea.email)
        connections = harness.backend.calls["open_stream"]
        await asyncio.to_thread(standin.stop_socketio)
        # While it is down: events go nowhere (Redis pub/sub with no subscriber).
        for subject in ("During 1", "During 2"):
            ann_client.assign(driver.create_ticket(subject), bea.email)
        bea_client.clear(ticket=first)
        # A read row the tray knows: only the row count can tell it went.
        [read_row] = [
            r for r in driver.notifications_of(bea.email) if r["reference_ticket"] == second
        ]
        driver.delete_notification(read_row["name"])
        await asyncio.to_thread(standin.start_socketio)
        await harness.wait_until(lambda: harness.backend.calls["open_stream"] > connections)
        await wait_equal(harness, standin_site, bea.email)
        # Live again on the new server: the subscription was made anew.
        ann_client.mention(first, [bea])
        await wait_equal(harness, standin_site, bea.email)
        assert harness.cache.count() == 4  # first, During 1 and 2, the mention
        assert set(upserts(harness).values()) == {1}
        assert resets(harness) == 0  # resumed after the outage, never rebuilt


async def test_without_socketio_notifications_still_arrive_by_reconciliation(
    standin_site: SiteUnderTest, tmp_path: Path
) -> None:
    # With the socket.io server down (or blocked, or a wrong URL) the stream did not open:
    # the tray stayed offline and showed nothing new, though the site's REST API worked.
    driver, standin = standin_site.driver, standin_site.standin
    assert standin is not None
    ann, bea = ann_and_bea(driver)
    ann_client = driver.as_user(ann)
    ann_client.assign(driver.create_ticket("Before"), bea.email)
    await asyncio.to_thread(standin.stop_socketio)
    try:
        async with live_tray(standin_site, bea, tmp_path, reconcile_interval=0.3) as harness:
            await wait_equal(harness, standin_site, bea.email)
            ann_client.assign(driver.create_ticket("Without socket.io"), bea.email)
            await wait_equal(harness, standin_site, bea.email)
            assert harness.cache.count() == 2
            assert set(upserts(harness).values()) == {1}
            assert harness.backend.calls["open_stream"] == 1  # one stream, kept open
    finally:
        await asyncio.to_thread(standin.start_socketio)


async def test_socketio_coming_back_brings_live_updates_without_a_reconnect(
    standin_site: SiteUnderTest, tmp_path: Path
) -> None:
    driver, standin = standin_site.driver, standin_site.standin
    assert standin is not None
    ann, bea = ann_and_bea(driver)
    ann_client = driver.as_user(ann)
    await asyncio.to_thread(standin.stop_socketio)
    try:
        # Reconciliation only at the start: what arrives later came through socket.io.
        async with live_tray(standin_site, bea, tmp_path, reconcile_interval=3600) as harness:
            ann_client.assign(driver.create_ticket("While it was down"), bea.email)
            await asyncio.to_thread(standin.start_socketio)
            await wait_equal(harness, standin_site, bea.email)  # caught up once it joined
            ann_client.mention(driver.create_ticket("Live again"), [bea])
            await wait_equal(harness, standin_site, bea.email)
            assert harness.cache.count() == 2
            assert set(upserts(harness).values()) == {1}
            assert harness.backend.calls["open_stream"] == 1
    finally:
        if standin._sio_server is None:
            await asyncio.to_thread(standin.start_socketio)


async def test_without_socketio_the_stream_says_so_until_socketio_connects(
    standin_site: SiteUnderTest, tmp_path: Path
) -> None:
    # The stream ran on reconciliation alone and told nobody: the tray said "Connected"
    # while a notification could be a reconcile interval late.
    driver, standin = standin_site.driver, standin_site.standin
    assert standin is not None
    bea = driver.create_user("Bea Baker")
    backend = standin_site.backend(bea, tmp_path / "ledger.sqlite3", reconcile_interval=3600)
    reports: list[DeliveryDelay | None] = []
    back = asyncio.Event()

    def report(delay: DeliveryDelay | None) -> None:
        reports.append(delay)
        if delay is None:
            back.set()

    await asyncio.to_thread(standin.stop_socketio)
    try:
        stream = await backend.open_stream(0)
        stream.on_delivery_change(report)
        [missing] = reports  # at once: socket.io is missing now
        assert missing is not None and missing.check_interval == 3600
        assert missing.reason == str(stream.realtime_error)
        assert "socket.io" in missing.reason

        async def read() -> None:
            async for _event in stream:
                pass

        reading = asyncio.create_task(read())
        try:
            await asyncio.to_thread(standin.start_socketio)
            async with asyncio.timeout(20):
                await back.wait()
            assert reports[0] == missing and reports[-1] is None
            assert stream.realtime_error is None
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
            await stream.close()
    finally:
        await backend.aclose()
        if standin._sio_server is None:
            await asyncio.to_thread(standin.start_socketio)


async def test_the_live_status_says_delayed_until_socketio_connects(
    standin_site: SiteUnderTest, tmp_path: Path
) -> None:
    driver, standin = standin_site.driver, standin_site.standin
    assert standin is not None
    bea = driver.create_user("Bea Baker")
    await asyncio.to_thread(standin.stop_socketio)
    try:
        async with live_tray(standin_site, bea, tmp_path, reconcile_interval=0.3) as harness:
            # The first LIVE status already says so: "Connected" alone was never published.
            [first_live, *_] = [s for s in harness.statuses if s.state is ConnectionState.LIVE]
            assert first_live.delayed is not None
            assert first_live.delayed.check_interval == 0.3
            assert "socket.io" in first_live.delayed.reason
            await asyncio.to_thread(standin.start_socketio)
            await harness.wait_until(lambda: harness.engine.status.delayed is None)
            assert harness.state is ConnectionState.LIVE
            assert harness.statuses[-1] == harness.engine.status
            assert harness.backend.calls["open_stream"] == 1  # the same stream, not a reconnect
    finally:
        if standin._sio_server is None:
            await asyncio.to_thread(standin.start_socketio)


async def test_a_stalled_then_dropped_connection_recovers_without_duplicates(
    standin_site: SiteUnderTest, tmp_path: Path
) -> None:
    driver, standin = standin_site.driver, standin_site.standin
    assert standin is not None
    ann, bea = ann_and_bea(driver)
    ann_client = driver.as_user(ann)
    async with ChaosProxy("127.0.0.1", standin.socketio_port) as proxy:
        site = FrappeSite(standin.url, standin.name, proxy.url)
        backend = FrappeBackend(
            site,
            standin_site.credentials(bea),
            tmp_path / "ledger.sqlite3",
            reconcile_interval=3600,
            time_zone=standin_site.time_zone,
        )
        async with running_frappe_engine(backend, tmp_path / "cache.sqlite3") as harness:
            await wait_live(harness)
            ann_client.assign(driver.create_ticket("Live"), bea.email)
            await wait_equal(harness, standin_site, bea.email)
            connections = harness.backend.calls["open_stream"]
            proxy.stall()  # a half-dead network: no pings get through (interval 1 s)
            ann_client.assign(driver.create_ticket("Stalled"), bea.email)
            await harness.wait_until(
                lambda: harness.backend.calls["open_stream"] > connections, within=15
            )
            proxy.resume()
            await wait_equal(harness, standin_site, bea.email)
            connections = harness.backend.calls["open_stream"]
            await proxy.drop_all()
            ann_client.assign(driver.create_ticket("Dropped"), bea.email)
            await harness.wait_until(lambda: harness.backend.calls["open_stream"] > connections)
            await wait_equal(harness, standin_site, bea.email)
            assert harness.cache.count() == 3
            assert set(upserts(harness).values()) == {1}


async def test_the_tray_restarting_resumes_from_the_ledger_without_a_reset(
    standin_site: SiteUnderTest, tmp_path: Path
) -> None:
    driver = standin_site.driver
    ann, bea = ann_and_bea(driver)
    ann_client = driver.as_user(ann)
    ann_client.assign(driver.create_ticket("First run"), bea.email)
    ledger, cache = tmp_path / "ledger.sqlite3", tmp_path / "cache.sqlite3"
    backend = standin_site.backend(bea, ledger, reconcile_interval=3600)
    async with running_frappe_engine(backend, cache) as harness:
        await wait_live(harness)
        await wait_equal(harness, standin_site, bea.email)
        cursor = harness.cache.cursor()
    # While the tray is closed: one new, one read in the web app, one deleted.
    ann_client.assign(driver.create_ticket("While closed"), bea.email)
    ann_client.assign(driver.create_ticket("Deleted while closed"), bea.email)
    rows = driver.notifications_of(bea.email)
    driver.as_user(bea).clear(ticket=rows[0]["reference_ticket"])
    driver.delete_notification(rows[2]["name"])
    backend = standin_site.backend(bea, ledger, reconcile_interval=3600)
    async with running_frappe_engine(backend, cache) as harness:
        await wait_live(harness)
        await wait_equal(harness, standin_site, bea.email)
        assert resets(harness) == 0  # resumed after its cursor, not rebuilt
        assert harness.cache.cursor() > cursor
        assert harness.backend.calls.get("list_notifications", 0) == 0
        assert list(upserts(harness)) == [rows[1]["name"]]


async def test_a_lost_ledger_makes_the_engine_rebuild_the_cache(
    standin_site: SiteUnderTest, tmp_path: Path
) -> None:
    driver = standin_site.driver
    ann, bea = ann_and_bea(driver)
    driver.as_user(ann).assign(driver.create_ticket("Kept"), bea.email)
    ledger, cache = tmp_path / "ledger.sqlite3", tmp_path / "cache.sqlite3"
    backend = standin_site.backend(bea, ledger, reconcile_interval=3600)
    async with running_frappe_engine(backend, cache) as harness:
        await wait_live(harness)
        await wait_equal(harness, standin_site, bea.email)
        old_cursor = harness.cache.cursor()
    ledger.unlink()
    backend = standin_site.backend(bea, ledger, reconcile_interval=3600)
    async with running_frappe_engine(backend, cache) as harness:
        await wait_live(harness)
        await wait_equal(harness, standin_site, bea.email)
        assert resets(harness) == 1  # the stream said reset; the history was paged again
        assert harness.cache.cursor() > old_cursor  # a fresh ledger never reuses numbers


async def test_password_sign_in_and_an_expired_session(
    standin_site: SiteUnderTest, tmp_path: Path
) -> None:
    driver, standin = standin_site.driver, standin_site.standin
    assert standin is not None
    ann, bea = ann_and_bea(driver)
    credentials = FrappeCredentials(username=bea.email, password=bea.password)
    backend = FrappeBackend(
        standin_site.site,
        credentials,
        tmp_path / "ledger.sqlite3",
        time_zone=standin_site.time_zone,
        reconcile_interval=0.3,
    )
    async with running_frappe_engine(backend, tmp_path / "cache.sqlite3") as harness:
        await wait_live(harness)
        assert (await backend.me()).id == bea.email
        driver.as_user(ann).assign(driver.create_ticket("Cookie"), bea.email)
        await wait_equal(harness, standin_site, bea.email)
        standin.expire_sessions()  # the next request is a Guest's until it signs in again
        driver.as_user(ann).assign(driver.create_ticket("After expiry"), bea.email)
        await wait_equal(harness, standin_site, bea.email)
        assert harness.cache.count() == 2


async def test_a_wrong_password_is_refused_clearly(
    standin_site: SiteUnderTest, tmp_path: Path
) -> None:
    bea = standin_site.driver.create_user("Bea Baker")
    credentials = FrappeCredentials(username=bea.email, password="wrong")
    backend = FrappeBackend(standin_site.site, credentials, tmp_path / "ledger.sqlite3")
    try:
        with pytest.raises(Exception, match="refused the username or password") as refused:
            await backend.me()
        assert type(refused.value).__name__ == "AuthFailed"
    finally:
        await backend.aclose()


@pytest.mark.parametrize(
    ("site_name", "origin", "message"),
    [
        ("wrong.localhost", None, "Invalid namespace"),
        (None, "http://elsewhere.example:8000", "Invalid origin"),
    ],
)
async def test_realtime_refusals_name_the_cause(
    standin_site: SiteUnderTest, site_name: str | None, origin: str | None, message: str
) -> None:
    standin = standin_site.standin
    assert standin is not None
    name = site_name or standin.name
    with pytest.raises(NamespaceRefused, match=message) as refused:
        await SocketIOClient.connect(
            standin.socketio_url,
            f"/{name}",
            origin=origin or standin.url,
            headers={"X-Frappe-Site-Name": standin.name, "Cookie": "sid=x"},
            config=FAST,
        )
    assert refused.value.reason == message  # for notifier doctor's advice
    assert isinstance(refused.value, ConnectionLost)  # the engine retries as for an outage


async def test_a_socket_without_a_cookie_is_refused(standin_site: SiteUnderTest) -> None:
    standin = standin_site.standin
    assert standin is not None
    with pytest.raises(ConnectionLost, match="No cookie transmitted"):
        await SocketIOClient.connect(
            standin.socketio_url,
            f"/{standin.name}",
            origin=standin.url,
            headers={"X-Frappe-Site-Name": standin.name, "Authorization": "token a:b"},
            config=FAST,
        )
