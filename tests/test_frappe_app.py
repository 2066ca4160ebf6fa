"""The tray app's engine and ``notifier tail`` built by the one factory (notifier.compose) for a
Frappe Helpdesk site (the stand-in), on one NOTIFIER_HOME: each fills its own cache through
its own ledger (``notifications.frappe-ledger.sqlite3`` and ``tail.frappe-ledger.sqlite3``,
beside the caches), so neither resets the other nor makes it publish anything again. The tray
is the controller with the composition root's LiveServices; tail is a real subprocess.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from frappe_support import SiteUnderTest, ann_and_bea, site_view
from pytestqt.qtbot import QtBot
from tail_process import TIMEOUT_S, kill, start_tail, stop, upserted_ids, wait_until_live
from test_app_engine_factory import tray

from notifier.app.status_text import tooltip_text
from notifier.core.settings import BackendKind, Settings
from notifier.core.status import ChangeKind, ConnectionState
from notifier.store.paths import app_paths
from notifier.store.settings_file import save_settings


def site_settings(site: SiteUnderTest) -> Settings:
    """The app's settings for the stand-in site (its socket.io server included)."""
    standin = site.standin
    assert standin is not None
    return Settings(
        server_url=standin.url,
        backend=BackendKind.FRAPPE,
        frappe_site_name=standin.name,
        frappe_socketio_url=standin.socketio_url,
        frappe_time_zone=site.time_zone,
    )


@pytest.mark.asyncio
async def test_the_tray_and_tail_on_one_home_keep_their_own_ledgers(
    qtbot: QtBot, standin_site: SiteUnderTest, tmp_path: Path
) -> None:
    standin, driver = standin_site.standin, standin_site.driver
    assert standin is not None
    ann, bea = ann_and_bea(driver)
    ann_client = driver.as_user(ann)
    token = f"{bea.api_key}:{bea.api_secret}"

    def names() -> set[str]:
        return {name for name, _read in site_view(standin_site, bea.email)}

    def assign_new_ticket(subject: str) -> None:
        ann_client.assign(driver.create_ticket(subject), bea.email)

    assign_new_ticket("First")
    assign_new_ticket("Second")
    home = tmp_path / "shared-home"
    paths = app_paths({"NOTIFIER_HOME": str(home)}).ensure()
    settings = site_settings(standin_site)
    save_settings(paths.settings_file, settings)  # tail reads the kind from the settings

    async with tray(paths, settings, {"NOTIFIER_TOKEN": token}) as app:
        await app.until(lambda: app.cache.count() == 2, "the history")
        await app.until_live()
        before = len(app.changes)

        process = await start_tail(standin.url, token, home)
        try:
            history = await asyncio.to_thread(names)
            await upserted_ids(process, history)
            await wait_until_live(process)
            await asyncio.to_thread(assign_new_ticket, "Third")
            await upserted_ids(process, await asyncio.to_thread(names) - history)
            await app.until(lambda: app.cache.count() == 3, "the live one")
            assert await stop(process) == 0
        finally:
            await kill(process)
        ledgers = sorted(p.name for p in paths.cache_dir.glob("*.frappe-ledger.sqlite3"))
        assert ledgers == ["notifications.frappe-ledger.sqlite3", "tail.frappe-ledger.sqlite3"]

        # The tray reconnects (as after a network change): its ledger and cache are its own.
        async with asyncio.timeout(TIMEOUT_S):
            await app.controller.restart_engine()
        await app.until_live()
        new: list[Any] = app.changes[before:]
        assert [c.kind for c in new] == [ChangeKind.UPSERTED]
        assert len(new[0].notifications) == 1 and not new[0].replay
        assert app.count(ChangeKind.RESET) == 0
        assert {n.id for n in app.cache.all_notifications()} == await asyncio.to_thread(names)


@pytest.mark.asyncio
async def test_the_tray_says_when_notifications_come_only_every_minute(
    qtbot: QtBot, standin_site: SiteUnderTest, tmp_path: Path
) -> None:
    # The socket.io server down: the tray built by compose is live on reconciliation alone
    # (every 60 s by default) and said plain "Connected".
    standin, driver = standin_site.standin, standin_site.driver
    assert standin is not None
    bea = driver.create_user("Bea Baker")
    paths = app_paths({"NOTIFIER_HOME": str(tmp_path / "home")}).ensure()
    settings = site_settings(standin_site)
    environ = {"NOTIFIER_TOKEN": f"{bea.api_key}:{bea.api_secret}"}
    await asyncio.to_thread(standin.stop_socketio)
    try:
        async with tray(paths, settings, environ) as app:
            await app.until_live()
            status = app.controller.status
            assert status.delayed is not None and status.delayed.check_interval == 60
            assert tooltip_text(0, status, datetime.now(UTC), None) == (
                "0 unread · Connected — no live updates; checking every minute"
            )
            await asyncio.to_thread(standin.start_socketio)
            await app.until(lambda: app.controller.status.delayed is None, "live updates")
            status = app.controller.status
            assert status.state is ConnectionState.LIVE
            assert tooltip_text(0, status, datetime.now(UTC), None) == "0 unread · Connected"
    finally:
        if standin._sio_server is None:
            await asyncio.to_thread(standin.start_socketio)


@pytest.mark.asyncio
async def test_tail_says_when_notifications_come_only_every_minute(
    standin_site: SiteUnderTest, tmp_path: Path
) -> None:
    # `notifier tail` printed a bare "[live]" while it only checked the site every 60 s.
    standin, driver = standin_site.standin, standin_site.driver
    assert standin is not None
    bea = driver.create_user("Bea Baker")
    home = tmp_path / "home"
    paths = app_paths({"NOTIFIER_HOME": str(home)}).ensure()
    settings = site_settings(standin_site)
    save_settings(paths.settings_file, settings)
    await asyncio.to_thread(standin.stop_socketio)
    try:
        process = await start_tail(standin.url, f"{bea.api_key}:{bea.api_secret}", home)
        try:
            assert process.stderr is not None
            async with asyncio.timeout(TIMEOUT_S):
                while not (line := (await process.stderr.readline()).decode()).startswith("[live"):
                    assert line, "tail exited early"
            assert line.startswith("[live: no live updates (")
            assert line.endswith("; checking every minute]\n")
            await asyncio.to_thread(standin.start_socketio)
            async with asyncio.timeout(TIMEOUT_S * 3):
                while (line := (await process.stderr.readline()).decode()) != "[live]\n":
                    assert line, "tail exited early"
            assert await stop(process) == 0
        finally:
            await kill(process)
    finally:
        if standin._sio_server is None:
            await asyncio.to_thread(standin.start_socketio)
