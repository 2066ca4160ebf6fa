"""The Frappe adapter's actions, called directly (no engine), against the stand-in: which
Frappe requests each one makes, and that it never writes another agent's row."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from frappe_support import (
    SiteUnderTest,
    ann_and_bea,
    site_view,
)

from notifier.core.errors import BackendError, NotFound

pytestmark = pytest.mark.asyncio

CLEAR = "/api/method/helpdesk.helpdesk.doctype.hd_notification.utils.clear"


class Tap(httpx.AsyncBaseTransport):
    """The real transport, with ``before`` run ahead of each request: it may act on the site
    between two of the adapter's requests, or answer in the site's place."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.before: Callable[[httpx.Request], Awaitable[httpx.Response | None]] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.before is not None and (answer := await self.before(request)) is not None:
            return answer
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def requests_by(site: SiteUnderTest, email: str) -> list[tuple[str, str]]:
    assert site.standin is not None
    return [(m, p) for m, p, user in site.standin.requests if user == email]


async def test_mark_all_read_marks_each_shown_row_by_name(
    standin_site: SiteUnderTest, tmp_path: Path
) -> None:
    driver = standin_site.driver
    ann, bea = ann_and_bea(driver)
    for subject in ("One", "Two"):
        driver.as_user(ann).assign(driver.create_ticket(subject), bea.email)
    backend = standin_site.backend(bea, tmp_path / "ledger.sqlite3")
    try:
        page = await backend.list_notifications(0, 100)
        result = await backend.mark_all_read(page.notifications[-1].seq)
        assert (result.changed, result.unread_count) == (2, 0)
        assert result.seq > page.last_seq
        writes = [(m, p) for m, p in requests_by(standin_site, bea.email) if m != "GET"]
        assert sorted(writes) == sorted(
            ("PUT", f"/api/resource/HD Notification/{n.id}") for n in page.notifications
        )
        assert all(read for _name, read in site_view(standin_site, bea.email))
    finally:
        await backend.aclose()


async def test_mark_all_read_leaves_a_notification_arriving_meanwhile_unread(
    standin_site: SiteUnderTest, tmp_path: Path
) -> None:
    # helpdesk's clear() marks every unread row of the agent, also one that arrived after the
    # adapter listed the unread rows: read on the site, and so in the tray, never seen.
    driver = standin_site.driver
    ann, bea = ann_and_bea(driver)
    for subject in ("One", "Two"):
        driver.as_user(ann).assign(driver.create_ticket(subject), bea.email)
    tap = Tap()
    backend = standin_site.backend(bea, tmp_path / "ledger.sqlite3", http_transport=tap)
    arrived: list[str] = []

    def assign_one_more() -> None:
        driver.as_user(ann).assign(driver.create_ticket("Arrives meanwhile"), bea.email)

    async def arrive_before_the_first_write(request: httpx.Request) -> None:
        if request.method != "GET" and not arrived:
            arrived.append(request.url.path)
            await asyncio.to_thread(assign_one_more)

    try:
        page = await backend.list_notifications(0, 100)
        tap.before = arrive_before_the_first_write
        result = await backend.mark_all_read(page.notifications[-1].seq)
        assert arrived and result.changed == 2
        rows = driver.notifications_of(bea.email)
        assert [
            (r["name"] in {n.id for n in page.notifications}, bool(r["read"])) for r in rows
        ] == [
            (True, True),
            (True, True),
            (False, False),
        ]
        # The tray gets it as new and unread, as the site has it.
        page = await backend.list_notifications(0, 100)
        assert [(n.ticket.subject, n.read) for n in page.notifications] == [
            ("One", True),
            ("Two", True),
            ("Arrives meanwhile", False),
        ]
    finally:
        await backend.aclose()


async def test_mark_all_read_spares_a_notification_the_tray_has_not_shown(
    standin_site: SiteUnderTest, tmp_path: Path
) -> None:
    driver = standin_site.driver
    ann, bea = ann_and_bea(driver)
    for subject in ("One", "Two"):
        driver.as_user(ann).assign(driver.create_ticket(subject), bea.email)
    backend = standin_site.backend(bea, tmp_path / "ledger.sqlite3")
    try:
        page = await backend.list_notifications(0, 100)
        driver.as_user(ann).assign(driver.create_ticket("Arrives while clicking"), bea.email)
        result = await backend.mark_all_read(page.notifications[-1].seq)
        assert result.changed == 2
        assert ("POST", CLEAR) not in requests_by(standin_site, bea.email)
        rows = driver.notifications_of(bea.email)
        assert [bool(r["read"]) for r in rows] == [True, True, False]
    finally:
        await backend.aclose()


async def test_another_agents_row_is_never_written(
    standin_site: SiteUnderTest, tmp_path: Path
) -> None:
    driver = standin_site.driver
    ann, bea, cat = (driver.create_user(n) for n in ("Ann Adams", "Bea Baker", "Cat Cole"))
    driver.as_user(ann).assign(driver.create_ticket("Cat's"), cat.email)
    [cats_row] = driver.notifications_of(cat.email)
    backend = standin_site.backend(bea, tmp_path / "ledger.sqlite3")
    try:
        await backend.list_notifications(0, 100)
        for action in (backend.mark_read, backend.mark_unread, backend.delete):
            with pytest.raises(NotFound):
                await action(cats_row["name"])
        assert not any(
            cats_row["name"] in path for _m, path in requests_by(standin_site, bea.email)
        )
        assert site_view(standin_site, cat.email) == [(cats_row["name"], False)]
    finally:
        await backend.aclose()


async def test_preferences_are_not_supported(standin_site: SiteUnderTest, tmp_path: Path) -> None:
    bea = standin_site.driver.create_user("Bea Baker")
    backend = standin_site.backend(bea, tmp_path / "ledger.sqlite3")
    try:
        with pytest.raises(BackendError) as refused:
            await backend.get_preferences()
        assert (refused.value.status, refused.value.code) == (501, "not_supported")
    finally:
        await backend.aclose()


async def test_rows_the_tray_cannot_show_are_kept_hidden_and_cut_to_size(
    standin_site: SiteUnderTest, tmp_path: Path
) -> None:
    standin, driver = standin_site.standin, standin_site.driver
    assert standin is not None
    ann, bea = ann_and_bea(driver)
    ticket = driver.create_ticket("Odd rows")
    for kind, fields in (
        ("Praise", {}),  # a type this tray does not know
        ("Mention", {"message": "<p>" + "word " * 3000 + "</p>", "comment": "c1"}),
    ):
        standin.call(
            lambda k=kind, f=fields: standin.insert_notification(
                ann.email, bea.email, k, ticket, **f
            )
        )
    odd = standin.data.notifications[
        next(iter(r["name"] for r in driver.notifications_of(bea.email)))
    ]
    odd["creation"] = "not a time"  # the first row: unreadable and of an unknown type
    backend = standin_site.backend(bea, tmp_path / "ledger.sqlite3")
    try:
        page = await backend.list_notifications(0, 100)
        [shown] = page.notifications
        assert len(shown.message) == 4000 and shown.message.startswith("word word")
        assert page.unread_count == 1
        # The hidden row still counts as known: no full listing on the next reconciliation.
        before = len(requests_by(standin_site, bea.email))
        await backend.list_notifications(0, 100)
        assert len(requests_by(standin_site, bea.email)) - before == 4  # whoami + 3 reconcile
    finally:
        await backend.aclose()


async def test_a_failed_subject_lookup_is_asked_again_for_the_next_notification(
    standin_site: SiteUnderTest, tmp_path: Path
) -> None:
    # A lookup that failed (here a 500) was remembered as an empty subject: every later
    # notification about that ticket showed no subject either, until the tray restarted.
    driver = standin_site.driver
    ann, bea = ann_and_bea(driver)
    ticket = driver.create_ticket("Printer on fire")
    tap = Tap()
    failing = True

    async def fail_ticket_lookups(request: httpx.Request) -> httpx.Response | None:
        if failing and request.url.path == "/api/resource/HD Ticket":
            return httpx.Response(500, json={"exc_type": "InternalServerError"})
        return None

    tap.before = fail_ticket_lookups
    backend = standin_site.backend(bea, tmp_path / "ledger.sqlite3", http_transport=tap)
    try:
        driver.as_user(ann).assign(ticket, bea.email)
        [assigned] = (await backend.list_notifications(0, 100)).notifications
        assert assigned.ticket.subject == ""  # best effort: shown without its subject
        failing = False
        driver.as_user(ann).mention(ticket, [bea])
        page = await backend.list_notifications(0, 100)
        mention = next(n for n in page.notifications if n.id != assigned.id)
        assert mention.ticket.subject == "Printer on fire"
    finally:
        await backend.aclose()
