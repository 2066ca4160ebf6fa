"""The Frappe adapter against a site: the stand-in always, a real Frappe Helpdesk site when
NOTIFIER_FRAPPE_URL / _KEY / _SECRET are set (the ``frappe_site`` fixture is parametrised;
tests/frappe_support.py). A real SyncEngine and a real NotificationCache sync through the
adapter; the site is driven over REST as people and the web app drive it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from frappe_support import (
    SiteUnderTest,
    ann_and_bea,
    cache_view,
    live_tray,
    running_frappe_engine,
    site_view,
    wait_equal,
    wait_live,
)

from notifier.core.errors import AuthFailed
from notifier.core.status import ConnectionState
from notifier.core.wire import NotificationType

pytestmark = pytest.mark.asyncio


async def test_an_assignment_reaches_the_cache_live(
    frappe_site: SiteUnderTest, tmp_path: Path
) -> None:
    driver = frappe_site.driver
    ann, bea = ann_and_bea(driver)
    ticket = driver.create_ticket("Printer on fire")
    async with live_tray(frappe_site, bea, tmp_path, reconcile_interval=3600) as harness:
        assert cache_view(harness.cache) == []
        driver.as_user(ann).assign(ticket, bea.email)
        # The hourly reconciliation cannot have run: the list_update hint brought it.
        await harness.wait_until(lambda: harness.cache.count() == 1, within=10)
        [notification] = harness.cache.all_notifications()
        assert notification.type is NotificationType.ASSIGNMENT
        assert notification.sender is not None and notification.sender.id == ann.email
        assert notification.sender.name == "Ann Adams"
        assert notification.ticket.id == ticket
        assert notification.ticket.subject == "Printer on fire"
        assert notification.ticket.url == f"{frappe_site.site.url}/helpdesk/tickets/{ticket}"
        assert notification.comment is None
        assert not notification.read
        assert notification.to == bea.email
        assert harness.cache.unread_count() == 1
        await wait_equal(harness, frappe_site, bea.email)


async def test_a_mention_is_shown_as_plain_text_with_a_link_to_the_comment(
    frappe_site: SiteUnderTest, tmp_path: Path
) -> None:
    driver = frappe_site.driver
    ann, bea = ann_and_bea(driver)
    ticket = driver.create_ticket("Mentions")
    async with live_tray(frappe_site, bea, tmp_path, reconcile_interval=3600) as harness:
        driver.as_user(ann).mention(ticket, [bea], "please take a look & reply <b>today</b>")
        await harness.wait_until(lambda: harness.cache.count() == 1, within=10)
        [notification] = harness.cache.all_notifications()
        [row] = driver.notifications_of(bea.email)
        assert "<span" in row["message"]  # the site keeps the comment's HTML
        assert notification.type is NotificationType.MENTION
        assert notification.message == "@Bea Baker please take a look & reply today"
        assert notification.comment is not None
        assert notification.comment.id == row["reference_comment"]
        assert notification.link == (
            f"{frappe_site.site.url}/helpdesk/tickets/{ticket}#{row['reference_comment']}"
        )


async def test_other_agents_rows_are_ignored_and_never_written(
    frappe_site: SiteUnderTest, tmp_path: Path
) -> None:
    driver = frappe_site.driver
    ann, bea, cat = (driver.create_user(n) for n in ("Ann Adams", "Bea Baker", "Cat Cole"))
    ticket = driver.create_ticket("Shared")
    ann_client = driver.as_user(ann)
    ann_client.assign(ticket, cat.email)  # before the tray starts: found by the page-through
    async with live_tray(frappe_site, bea, tmp_path, reconcile_interval=0.3) as harness:
        ann_client.mention(ticket, [cat])  # live: Bea's socket hears the list_update too
        ann_client.assign(driver.create_ticket("Mine"), bea.email)
        await wait_equal(harness, frappe_site, bea.email)
        await harness.engine.mark_all_read()
        await harness.wait_until(lambda: site_view(frappe_site, bea.email)[0][1], within=10)
        # Several reconciliations (0.3 s apart) later, on the same connection: still only
        # Bea's row.
        connections = harness.backend.calls.get("open_stream", 0)
        await asyncio.sleep(1.0)
        assert harness.backend.calls.get("open_stream", 0) == connections
        assert [n.to for n in harness.cache.all_notifications()] == [bea.email]
    cat_rows = site_view(frappe_site, cat.email)
    assert len(cat_rows) == 2 and not any(read for _name, read in cat_rows)
    if frappe_site.standin is not None:
        cat_names = {name for name, _read in cat_rows}
        touched = [
            (method, path)
            for method, path, user in frappe_site.standin.requests
            if user == bea.email and any(name in path for name in cat_names)
        ]
        assert touched == []


async def test_a_read_done_in_the_web_app_clears_the_tray_within_the_interval(
    frappe_site: SiteUnderTest, tmp_path: Path
) -> None:
    driver = frappe_site.driver
    ann, bea = ann_and_bea(driver)
    first, second = driver.create_ticket("One"), driver.create_ticket("Two")
    ann_client = driver.as_user(ann)
    ann_client.assign(first, bea.email)
    ann_client.assign(second, bea.email)
    # No overlap: rows re-read because they were modified lately would show the read too.
    backend = frappe_site.backend(
        bea, tmp_path / "ledger.sqlite3", reconcile_interval=0.5, modified_overlap=timedelta(0)
    )
    async with running_frappe_engine(backend, tmp_path / "cache.sqlite3") as harness:
        await wait_live(harness)
        await wait_equal(harness, frappe_site, bea.email)
        assert harness.cache.unread_count() == 2
        # The web app marks read with clear(): no event on the socket, modified unchanged.
        driver.as_user(bea).clear(ticket=first)
        await harness.wait_until(lambda: harness.cache.unread_count() == 1, within=5)
        driver.as_user(bea).clear()
        await harness.wait_until(lambda: harness.cache.unread_count() == 0, within=5)
        await wait_equal(harness, frappe_site, bea.email)


async def test_a_row_deleted_on_the_site_disappears(
    frappe_site: SiteUnderTest, tmp_path: Path
) -> None:
    driver = frappe_site.driver
    ann, bea = ann_and_bea(driver)
    ann_client = driver.as_user(ann)
    for subject in ("One", "Two", "Three"):
        ann_client.assign(driver.create_ticket(subject), bea.email)
    driver.as_user(bea).clear()  # read rows: no unread set change when they go
    async with live_tray(frappe_site, bea, tmp_path, reconcile_interval=0.5) as harness:
        await wait_equal(harness, frappe_site, bea.email)
        names = [name for name, _read in site_view(frappe_site, bea.email)]
        driver.delete_notification(names[0])
        await harness.wait_until(lambda: harness.cache.count() == 2, within=5)
        assert harness.cache.get(names[0]) is None
        await wait_equal(harness, frappe_site, bea.email)


async def test_marking_in_the_tray_writes_the_agents_row_on_the_site(
    frappe_site: SiteUnderTest, tmp_path: Path
) -> None:
    driver = frappe_site.driver
    ann, bea = ann_and_bea(driver)
    ann_client = driver.as_user(ann)
    for subject in ("One", "Two"):
        ann_client.assign(driver.create_ticket(subject), bea.email)
    async with live_tray(frappe_site, bea, tmp_path, reconcile_interval=3600) as harness:
        await wait_equal(harness, frappe_site, bea.email)
        first = harness.cache.all_notifications()[0].id
        await harness.engine.mark_read(first)
        await harness.wait_until(lambda: dict(site_view(frappe_site, bea.email))[first], within=10)
        await harness.engine.mark_unread(first)
        await harness.wait_until(
            lambda: not dict(site_view(frappe_site, bea.email))[first], within=10
        )
        await harness.engine.mark_all_read()
        await harness.wait_until(
            lambda: all(read for _n, read in site_view(frappe_site, bea.email)), within=10
        )
        await harness.wait_until(lambda: harness.cache.pending_count() == 0, within=10)
        await wait_equal(harness, frappe_site, bea.email)


async def test_a_key_without_the_agent_role_is_refused_clearly(
    frappe_site: SiteUnderTest, tmp_path: Path
) -> None:
    customer = frappe_site.driver.create_user("Carl Customer", agent=False)
    backend = frappe_site.backend(customer, tmp_path / "ledger.sqlite3")
    with pytest.raises(AuthFailed) as refused:
        await backend.me()
    assert refused.value.code == "not_an_agent"
    assert "Agent role" in str(refused.value) and customer.email in str(refused.value)
    async with running_frappe_engine(backend, tmp_path / "cache.sqlite3") as harness:
        await harness.wait_until(lambda: harness.state is ConnectionState.AUTH_FAILED)
        assert "Agent role" in (harness.engine.status.last_error or "")


async def test_delete_and_clear_in_the_tray_hide_rows_the_site_keeps(
    frappe_site: SiteUnderTest, tmp_path: Path
) -> None:
    driver = frappe_site.driver
    ann, bea = ann_and_bea(driver)
    ann_client = driver.as_user(ann)
    for subject in ("One", "Two", "Three"):
        ann_client.assign(driver.create_ticket(subject), bea.email)
    ledger, cache = tmp_path / "ledger.sqlite3", tmp_path / "cache.sqlite3"
    backend = frappe_site.backend(bea, ledger, reconcile_interval=0.3)
    async with running_frappe_engine(backend, cache) as harness:
        await wait_live(harness)
        await wait_equal(harness, frappe_site, bea.email)
        one, two, three = (n.id for n in harness.cache.all_notifications())
        await harness.engine.delete(one)
        await harness.engine.mark_read(two)
        await harness.engine.clear_read()
        await harness.wait_until(lambda: harness.cache.pending_count() == 0, within=10)
        await asyncio.sleep(1.0)  # reconciliations run: nothing comes back
        assert [n.id for n in harness.cache.all_notifications()] == [three]
    # Agents may not delete HD Notification rows: the site still has all three.
    assert sorted(name for name, _read in site_view(frappe_site, bea.email)) == sorted(
        (one, two, three)
    )
    # A new tray process with the same ledger and cache: still hidden.
    backend = frappe_site.backend(bea, ledger, reconcile_interval=3600)
    async with running_frappe_engine(backend, cache) as harness:
        await wait_live(harness)
        await harness.engine.mark_all_read()  # reads the dismissed unread rows too
        await harness.wait_until(lambda: harness.cache.pending_count() == 0, within=10)
        assert [n.id for n in harness.cache.all_notifications()] == [three]
