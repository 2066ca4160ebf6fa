"""The tray app builds its engine with the same factory as `notifier tail` (notifier.compose),
through the composition root's LiveServices, against reference helpdesks on loopback. Only the
true edges are fakes: the keyring (in memory), the browser and the controller's clock.

* switching to another helpdesk where the agent has the same id leaves only the new
  helpdesk's notifications and cursor (the cache is labelled with the server, not the id);
* `notifier tail` and the app on one NOTIFIER_HOME neither wipe each other's notifications
  nor make the app publish them again (no RESET, no upsert, so no toast);
* an unusable CA bundle is a notice in the status, at start and on a restart: never an
  exception out of the tray's start, never an engine that silently stops.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from engine_keyring import MemoryKeyring, installed_memory_keyring
from helpdesk import Helpdesk, HelpdeskActions, running
from pytestqt.qtbot import QtBot
from tail_process import TIMEOUT_S, kill, start_tail, stop, upserted_ids, wait_until_live
from tray_fakes import FakeClock, FakeScheduler, RecordingUrlOpener

from notifier.app.account import AccountService
from notifier.app.controller import AppController
from notifier.compose import LiveServices
from notifier.core.settings import Settings
from notifier.core.status import CacheChange, ChangeKind, ConnectionState
from notifier.store.cache import NotificationCache
from notifier.store.paths import AppPaths, app_paths


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    with installed_memory_keyring() as backend:
        yield backend


class Tray:
    """The tray app's controller over a real cache, with every change it published."""

    def __init__(self, controller: AppController) -> None:
        self.controller = controller
        self.changes: list[CacheChange] = []
        self._published = asyncio.Event()
        controller.changeApplied.connect(self._on_change)
        controller.statusChanged.connect(lambda _status: self._published.set())

    def _on_change(self, change: CacheChange) -> None:
        self.changes.append(change)
        self._published.set()

    @property
    def cache(self) -> NotificationCache:
        return self.controller.cache

    def count(self, kind: ChangeKind) -> int:
        return sum(1 for change in self.changes if change.kind is kind)

    def upserted(self) -> int:
        return sum(len(c.notifications) for c in self.changes if c.kind is ChangeKind.UPSERTED)

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        """Wait (with a deadline) until ``condition`` holds, looking again at each status or
        change the controller publishes (the engine runs on this loop meanwhile)."""
        try:
            async with asyncio.timeout(TIMEOUT_S):
                while not condition():
                    await self._published.wait()
                    self._published.clear()
        except TimeoutError:
            status = self.controller.status
            raise AssertionError(f"timed out waiting for {what}; status {status}") from None

    async def until_live(self) -> None:
        await self.until(lambda: self.controller.status.state is ConnectionState.LIVE, "live")


@asynccontextmanager
async def tray(paths: AppPaths, settings: Settings, environ: dict[str, str]) -> AsyncIterator[Tray]:
    """The controller as run_tray builds it (cache opened first, LiveServices), started."""
    cache = NotificationCache.open(paths.cache_file)
    clock = FakeClock()
    services = LiveServices(paths, environ)
    controller = AppController(
        account=AccountService(
            settings, services, settings_path=paths.settings_file, url_opener=RecordingUrlOpener()
        ),
        cache=cache,
        clock=clock,
        scheduler=FakeScheduler(clock),
        url_opener=RecordingUrlOpener(),
        engines=services,
    )
    app = Tray(controller)
    try:
        controller.start()
        yield app
    finally:
        async with asyncio.timeout(TIMEOUT_S):
            await controller.stop()
        cache.close()


def assign_new_tickets(bob: HelpdeskActions, to: str, count: int) -> None:
    for number in range(count):
        ticket = bob.create_ticket(f"Ticket {number}", "body")
        bob.assign(ticket["id"], to)


def notification_ids(agent: HelpdeskActions) -> set[str]:
    return {n["id"] for n in agent.notifications()["notifications"]}


def notification_links(agent: HelpdeskActions) -> set[tuple[str, str]]:
    """(id, ticket URL) of each: ids are per helpdesk (two may use the same), URLs name it."""
    return {(n["id"], n["ticket"]["url"]) for n in agent.notifications()["notifications"]}


def cached_links(cache: NotificationCache) -> set[tuple[str, str]]:
    return {(n.id, n.ticket.url) for n in cache.all_notifications()}


@pytest.mark.asyncio
async def test_switching_helpdesks_with_the_same_agent_id_keeps_only_the_new_ones(
    qtbot: QtBot, helpdesk: Helpdesk, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    # Two helpdesks where "alice" is the first agent: the same agent id on both.
    first_token = helpdesk.add_agent("alice", "Alice Able")
    _, first_bob = helpdesk.new_agent("bob")
    assign_new_tickets(first_bob, "alice", 2)
    with running(Helpdesk(tmp_path / "second")) as second:
        second_token = second.add_agent("alice", "Alice Able")
        _, second_bob = second.new_agent("bob")
        assign_new_tickets(second_bob, "alice", 4)  # seq 1..4: more than the first's cursor
        second_alice = second.actions(second_token)
        paths = app_paths({"NOTIFIER_HOME": str(tmp_path / "app")}).ensure()

        async with tray(paths, Settings(), {}) as app:
            async with asyncio.timeout(TIMEOUT_S):
                await app.controller.account.sign_in_token(helpdesk.url, first_token)
            await app.until_live()
            assert app.cache.count() == 2
            first_agent = app.controller.account.signed_in_agent()

            async with asyncio.timeout(TIMEOUT_S):
                await app.controller.account.sign_in_token(second.url, second_token)
            await app.until(lambda: app.cache.count() == 4 and app.cache.cursor() == 4, "sync")
            await app.until_live()
            assert app.controller.account.signed_in_agent() == first_agent  # the same id and name
            assert cached_links(app.cache) == notification_links(second_alice)
            assert all(link.startswith(second.url) for _, link in cached_links(app.cache))
            # …and it stays live on the new helpdesk
            await asyncio.to_thread(assign_new_tickets, second_bob, "alice", 1)
            await app.until(lambda: app.cache.count() == 5, "the new helpdesk's next one")
            assert cached_links(app.cache) == await asyncio.to_thread(
                notification_links, second_alice
            )


@pytest.mark.asyncio
async def test_tail_and_the_app_on_one_home_leave_each_other_alone(
    qtbot: QtBot, helpdesk: Helpdesk, tmp_path: Path
) -> None:
    alice_token = helpdesk.add_agent("alice", "Alice Able")
    _, bob = helpdesk.new_agent("bob")
    alice = helpdesk.actions(alice_token)
    assign_new_tickets(bob, "alice", 3)
    home = tmp_path / "shared-home"
    paths = app_paths({"NOTIFIER_HOME": str(home)}).ensure()
    environ = {"NOTIFIER_TOKEN": alice_token}

    async with tray(paths, Settings(server_url=helpdesk.url), environ) as app:
        await app.until(lambda: app.cache.count() == 3, "the history")
        await app.until_live()
        assert app.upserted() == 3
        before = len(app.changes)

        # `notifier tail` on the same folder while the app runs: it prints the history…
        process = await start_tail(helpdesk.url, alice_token, home)
        try:
            history = notification_ids(alice)
            await upserted_ids(process, history)
            await wait_until_live(process)
            # …and a new notification goes to both: one upsert in the app, one line in tail.
            await asyncio.to_thread(assign_new_tickets, bob, "alice", 1)
            await upserted_ids(process, await asyncio.to_thread(notification_ids, alice) - history)
            await app.until(lambda: app.cache.count() == 4, "the live one")
            assert await stop(process) == 0
        finally:
            await kill(process)

        # The app reconnects (as after a network change): its cache is still its own.
        async with asyncio.timeout(TIMEOUT_S):
            await app.controller.restart_engine()
        await app.until_live()
        await asyncio.sleep(0.2)  # anything the reconnect would publish arrives by now
        new: list[Any] = app.changes[before:]
        assert [c.kind for c in new] == [ChangeKind.UPSERTED]
        assert len(new[0].notifications) == 1 and not new[0].replay
        assert app.count(ChangeKind.RESET) == 0
        assert {n.id for n in app.cache.all_notifications()} == notification_ids(alice)

    # The app again after tail ran alone on the folder: nothing is reset or re-published.
    process = await start_tail(helpdesk.url, alice_token, home)
    try:
        await wait_until_live(process)
        printed = notification_ids(alice)
        await asyncio.to_thread(assign_new_tickets, bob, "alice", 1)
        await upserted_ids(process, await asyncio.to_thread(notification_ids, alice) - printed)
    finally:
        await kill(process)
    async with tray(paths, Settings(server_url=helpdesk.url), environ) as app:
        await app.until(lambda: app.cache.count() == 5, "the one that came meanwhile")
        await app.until_live()
        await asyncio.sleep(0.2)
        assert app.count(ChangeKind.RESET) == 0
        assert app.upserted() == 1  # only the one that came while the app was closed


@pytest.mark.asyncio
async def test_an_unusable_ca_bundle_is_a_notice_at_start_and_on_restart(
    qtbot: QtBot, helpdesk: Helpdesk, tmp_path: Path
) -> None:
    token = helpdesk.add_agent("alice", "Alice Able")
    paths = app_paths({"NOTIFIER_HOME": str(tmp_path / "app")}).ensure()
    missing = tmp_path / "no-such-ca.pem"
    settings = Settings(server_url=helpdesk.url, ca_bundle=str(missing))

    async with tray(paths, settings, {"NOTIFIER_TOKEN": token}) as app:
        # start() returned (no exception); the engine runs and says what is wrong.
        await app.until_live()  # plain http here: the system trust store is not even needed
        notice = app.controller.status.notice
        assert notice is not None and "CA bundle" in notice and str(missing) in notice

    bad = tmp_path / "bad-ca.pem"
    bad.write_text("not a certificate", encoding="utf-8")
    async with tray(paths, Settings(server_url=helpdesk.url), {"NOTIFIER_TOKEN": token}) as app:
        await app.until_live()
        assert app.controller.status.notice is None
        app.controller.account.save_settings(
            app.controller.account.settings().replace(ca_bundle=str(bad))
        )
        await app.until(
            lambda: (
                app.controller.engine is not None
                and "CA bundle" in (app.controller.status.notice or "")
            ),
            "the notice after the restart",
        )
        await app.until_live()
        assert app.controller.engine is not None


@pytest.mark.asyncio
async def test_a_plain_http_helpdesk_resumes_without_loading_the_tls_trust_store(
    qtbot: QtBot, helpdesk: Helpdesk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A TLS context loads the system's trust store (about 2 MB that stay resident all day). A
    # start that resumes over the stream of an http:// helpdesk, with no CA bundle to check,
    # needs none. (The first sign-in pages history over REST, whose client makes one.)
    token = helpdesk.add_agent("alice", "Alice Able")
    _, bob = helpdesk.new_agent("bob")
    assign_new_tickets(bob, "alice", 2)
    paths = app_paths({"NOTIFIER_HOME": str(tmp_path / "app")}).ensure()
    settings = Settings(server_url=helpdesk.url)
    async with tray(paths, settings, {"NOTIFIER_TOKEN": token}) as app:
        await app.until(lambda: app.controller.counts.unread == 2, "the first sign-in")

    made: list[object] = []
    make_context = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(args)
        return make_context(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    async with tray(paths, settings, {"NOTIFIER_TOKEN": token}) as app:
        await app.until_live()
        assert app.controller.status.notice is None
    assert made == []
