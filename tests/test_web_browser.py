"""The web side in a real browser (issue 12): Debian's chromium driven by Playwright against
the reference helpdesk as a subprocess; a tray engine checks the same notifications."""

from __future__ import annotations

import http.server
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpdesk import Helpdesk, HelpdeskActions, MakeHelpdesk
from playwright.sync_api import Browser, Page, expect
from web_browser import (
    CONTRAST,
    PASSWORD,
    PHONE,
    EngineThread,
    chromium,
    cli,
    demo,
    signed_in,
    swipe,
)

__all__ = ["chromium", "demo"]  # the module-scoped fixtures

pytestmark = pytest.mark.timeout(120)


def notes(page: Page) -> list[str]:
    """The ids of the visible notifications on a /notifications page, newest first."""
    ids: list[str] = page.eval_on_selector_all(
        ".note:not([hidden])", "items => items.map(i => i.dataset.id)"
    )
    return ids


def unread_on_server(hd: Helpdesk, token: str) -> int:
    page = hd.actions(token).notifications(limit=500)
    return int(page["unread_count"])


def test_actions_in_one_browser_reach_another_live_and_the_tray(
    shared_helpdesk: Helpdesk, chromium: Browser, tmp_path: Path
) -> None:
    hd = shared_helpdesk
    ann_name, _ = hd.new_agent("ann", name="Ann Archer", password=PASSWORD)
    bea_name, bea = hd.new_agent("bea", name="Bea Baker", password=PASSWORD)
    bea_token = bea.token
    _, customer = hd.new_customer()
    ticket = customer.create_ticket("Printer on fire", "It smokes.")
    bea_comment = bea.comment(ticket["id"], "I had a look at it")

    bea_context, bea_page = signed_in(chromium, hd.url, bea_name, "/notifications")
    expect(bea_page.locator(".empty")).to_be_visible()
    bea_page.evaluate("window.notReloaded = true")
    ann_context, ann_page = signed_in(chromium, hd.url, ann_name, f"/tickets/{ticket['id']}")

    # Assign to Bea.
    ann_page.select_option("#assign-to", f"agent:{bea_name}")
    ann_page.get_by_role("button", name="Assign", exact=True).click()
    expect(ann_page.locator(".meta strong").first).to_have_text("Bea Baker")
    # Mention her with the picker: type "@" and part of her name, pick her with Enter.
    ann_page.click("#body")
    ann_page.keyboard.type("Thanks @Bea")
    expect(ann_page.locator("#mention-list")).to_be_visible()
    ann_page.keyboard.press("Enter")
    expect(ann_page.locator("#body")).to_have_value(f"Thanks @{bea_name} ")
    ann_page.keyboard.type("can you order toner?")
    ann_page.get_by_role("button", name="Add internal comment").click()
    expect(ann_page.locator(".comment.internal").last).to_contain_text("can you order toner?")
    # Times read "just now", the exact time on hover.
    stamp = ann_page.locator(".comment.internal time").last
    expect(stamp).to_have_text("just now")
    expect(stamp).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"))
    # React to Bea's comment; the button then says who reacted.
    reaction = ann_page.locator(f"#comment-{bea_comment['id']} button[value='👍']")
    reaction.click()
    expect(ann_page.locator(f"#comment-{bea_comment['id']} button[value='👍']")).to_have_attribute(
        "title", "Ann Archer"
    )

    # Bea's page shows all three without a reload, newest first, and the badge follows.
    expect(bea_page.locator(".note")).to_have_count(3)
    assert bea_page.evaluate("window.notReloaded") is True
    summaries = bea_page.locator(".note .summary").all_inner_texts()
    assert summaries[0].startswith("Ann Archer reacted to your comment")
    assert summaries[1].startswith("Ann Archer mentioned you")
    assert summaries[2].startswith("Ann Archer assigned you")
    expect(bea_page.locator("#unread-count")).to_have_text("3")
    web_ids = notes(bea_page)
    # No token appears in the page (the stream uses the HttpOnly session cookie).
    session = next(c["value"] for c in bea_context.cookies() if c["name"] == "helpdesk_session")
    assert session not in bea_page.content() and bea_token not in bea_page.content()

    with EngineThread(hd.url, bea_token, tmp_path / "bea.sqlite") as tray:
        # The tray engine signed in as Bea has the same three.
        tray.wait_until(
            lambda cache: sorted(n.id for n in cache.all_notifications()) == sorted(web_ids)
        )
        # Scenario 4: Bea opens the ticket: its notifications clear in the list and the tray.
        ticket_tab = bea_context.new_page()
        ticket_tab.goto(f"/tickets/{ticket['id']}")
        expect(bea_page.locator(".note.unread")).to_have_count(0)
        expect(bea_page.locator("#unread-count")).to_be_hidden()
        tray.wait_until(lambda cache: cache.unread_count() == 0)
    assert unread_on_server(hd, bea_token) == 0
    # Ann's home: the ticket is in "All" but not in "Assigned to me" (it is Bea's now).
    ann_page.goto("/?scope=open")
    expect(ann_page.locator(".tickets")).to_contain_text("Printer on fire")
    ann_page.goto("/?scope=mine")
    expect(ann_page.locator(".tickets")).to_have_count(0)
    ann_context.close()
    bea_context.close()


def test_a_customer_replies_and_reopens_and_never_sees_internal_comments(
    shared_helpdesk: Helpdesk, chromium: Browser
) -> None:
    hd = shared_helpdesk
    cal_name, cal = hd.new_agent("cal", name="Cal Cole", password=PASSWORD)
    email, customer = hd.new_customer(name="Dora Dean", password=PASSWORD)
    ticket = customer.create_ticket("VPN drops", "Every hour.")
    cal.assign(ticket["id"], cal_name)
    cal.comment(ticket["id"], "internal: secret plan, do not tell")
    cal_context, cal_page = signed_in(chromium, hd.url, cal_name, "/notifications")
    # Cal answers the customer from the ticket page.
    cal_tab = cal_context.new_page()
    cal_tab.goto(f"/tickets/{ticket['id']}")
    cal_tab.fill("#body", "Please try the new client.")
    cal_tab.get_by_role("button", name="Reply to customer").click()
    expect(cal_tab.locator(".comment.reply")).to_contain_text("Please try the new client.")

    dora_context, dora = signed_in(chromium, hd.url, email)
    expect(dora.locator(".tickets")).to_contain_text("VPN drops")
    dora.click("text=VPN drops")
    expect(dora.locator(".comment.reply")).to_contain_text("Please try the new client.")
    dora.fill("#body", "Still drops.")
    dora.get_by_role("button", name="Send reply").click()
    expect(dora.locator(".comment.reply").last).to_contain_text("Still drops.")
    cal.resolve(ticket["id"])
    dora.reload()
    dora.fill("#body", "Back again")
    dora.get_by_role("button", name="Reopen ticket").click()
    expect(dora.locator(".status")).to_have_text("open")
    for shown in (dora.content(), dora.goto("/").text()):
        assert "secret plan" not in shown
    # Dora has no notification center and no stream.
    assert dora.goto("/notifications").status == 403

    expect(cal_page.locator(".note")).to_have_count(2)
    summaries = cal_page.locator(".note .summary").all_inner_texts()
    assert summaries[0].startswith("Dora Dean reopened")
    assert summaries[1].startswith("Dora Dean replied")
    # The type icons are the tray's, by reason.
    # (Drawn from the page's inline sprite: the symbol each row uses is there, 28 px wide.)
    icons = cal_page.eval_on_selector_all(
        ".note .type",
        """icons => icons.map(icon => {
            const ref = icon.querySelector("use").getAttribute("href");
            return [ref, document.querySelector(ref) !== null, icon.getBoundingClientRect().width];
        })""",
    )
    assert icons == [["#icon-reopened", True, 28], ["#icon-reply", True, 28]], icons
    assert cal_page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth)")
    cal_context.close()
    dora_context.close()


def test_an_agent_resolves_and_reopens_a_ticket_on_its_page(
    shared_helpdesk: Helpdesk, chromium: Browser
) -> None:
    hd = shared_helpdesk
    agent_name, _ = hd.new_agent("rr", name="Rita Reyes", password=PASSWORD)
    _, customer = hd.new_customer()
    ticket = customer.create_ticket("Label printer offline", "It shows no IP address.")
    context, page = signed_in(chromium, hd.url, agent_name, f"/tickets/{ticket['id']}")
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator(".status")).to_have_text("resolved")
    expect(page.get_by_role("button", name="Resolve")).to_have_count(0)
    page.get_by_role("button", name="Reopen").click()
    expect(page.locator(".status")).to_have_text("open")
    expect(page.get_by_role("button", name="Resolve")).to_be_visible()
    assert customer.request("GET", f"/api/v1/tickets/{ticket['id']}").json()["status"] == "open"
    context.close()


def test_a_customer_opens_a_ticket_from_their_list(
    shared_helpdesk: Helpdesk, chromium: Browser
) -> None:
    hd = shared_helpdesk
    email, _ = hd.new_customer(password=PASSWORD)
    context, page = signed_in(chromium, hd.url, email)
    expect(page.locator(".empty")).to_contain_text("You have no open tickets")
    page.get_by_role("link", name="Open a ticket").first.click()
    page.get_by_label("Subject").fill("Badge reader refuses my card")
    page.get_by_label("What happened?").fill("Since Monday the door at gate 2 stays shut.")
    page.get_by_role("button", name="Open ticket").click()
    expect(page.locator("h1")).to_contain_text("Badge reader refuses my card")
    expect(page.locator(".ticket .body")).to_have_text(
        "Since Monday the door at gate 2 stays shut."
    )
    page.goto("/")
    expect(page.locator(".tickets")).to_contain_text("Badge reader refuses my card")
    context.close()


def test_the_phone_list_swipes_details_and_mark_all_read(
    shared_helpdesk: Helpdesk, chromium: Browser
) -> None:
    hd = shared_helpdesk
    eve_name, eve = hd.new_agent("eve", name="Eve Evans", password=PASSWORD)
    _, boss = hd.new_agent("boss", name="Bo Boss")
    _, customer = hd.new_customer()
    for n in range(4):
        ticket = customer.create_ticket(f"Laptop {n}", f"Problem number {n} " + "long " * 60)
        boss.assign(ticket["id"], eve_name)
    context, page = signed_in(chromium, hd.url, eve_name, "/notifications", **PHONE)
    expect(page.locator(".note")).to_have_count(4)
    expect(page.locator("#unread-count")).to_have_text("4")
    first, second = notes(page)[:2]

    # Left: mark read.
    swipe(page, f"#n-{first} .note-body", -150)
    expect(page.locator(f"#n-{first}")).not_to_have_class(re.compile(r"\bunread\b"))
    expect(page.locator("#unread-count")).to_have_text("3")
    # Right: delete, with undo.
    swipe(page, f"#n-{second} .note-body", 150)
    expect(page.locator(f"#n-{second}")).to_be_hidden()
    page.click("#undo")
    expect(page.locator(f"#n-{second}")).to_be_visible()
    swipe(page, f"#n-{second} .note-body", 150)
    expect(page.locator("#toast")).to_be_hidden(timeout=10_000)
    expect(page.locator(".note")).to_have_count(3)
    assert second not in [n["id"] for n in eve.notifications()["notifications"]]
    expect(page.locator("#unread-count")).to_have_text("2")

    # The detail view fills the screen and shows the whole message.
    third = notes(page)[1]
    page.locator(f"#n-{third} .note-open").tap()
    detail = page.locator(f"#d-{third}")
    expect(detail).to_be_visible()
    box = detail.bounding_box()
    assert box is not None and box["width"] >= 375 and box["height"] >= 812
    expect(detail.locator(".full")).to_contain_text("long long")
    detail.locator(".back").tap()
    expect(detail).to_be_hidden()

    page.locator("#read-all").tap()
    expect(page.locator(".note.unread")).to_have_count(0)
    expect(page.locator("#unread-count")).to_be_hidden()
    assert unread_on_server(hd, eve.token) == 0
    context.close()


class _OtherSite(http.server.BaseHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def other_site() -> Iterator[tuple[str, type[_OtherSite]]]:
    """A real small web server on another loopback port: another origin (the same site for
    cookies, so the browser does send the helpdesk's SameSite=Strict cookie along)."""
    handler = type("Page", (_OtherSite,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_another_origin_can_neither_open_the_stream_nor_post_forms(
    shared_helpdesk: Helpdesk, chromium: Browser, other_site: tuple[str, type[_OtherSite]]
) -> None:
    hd = shared_helpdesk
    fay_name, fay = hd.new_agent("fay", password=PASSWORD)
    _, boss = hd.new_agent("boss")
    _, customer = hd.new_customer()
    boss.assign(customer.create_ticket("Mouse", "broken")["id"], fay_name)
    context, page = signed_in(chromium, hd.url, fay_name, "/notifications")
    # Her own page's stream works (the list is live) ...
    expect(page.locator(".note")).to_have_count(1)
    url, handler = other_site
    stream = hd.url.replace("http://", "ws://") + "/api/v1/stream"
    handler.page = (
        "<!doctype html><script>"
        f"const ws = new WebSocket({stream!r});"
        "window.result = new Promise(done => {"
        " ws.onopen = () => done('open'); ws.onerror = () => done('refused');"
        " ws.onmessage = m => done('message ' + m.data); });"
        "</script>"
        f'<form id=f method=post action="{hd.url}/notifications/read-all">'
        "<input name=up_to_seq value=999999></form>"
    ).encode()
    evil = context.new_page()
    evil.goto(url)
    assert evil.evaluate("window.result") == "refused"
    # ... a cross-site form post (no form token) changes nothing.
    with evil.expect_navigation():
        evil.evaluate("document.getElementById('f').submit()")
    assert evil.evaluate("document.body.innerText").count("another site") == 1
    assert unread_on_server(hd, fay.token) == 1
    # The handshake itself: the cookie from another origin is refused with 403.
    cookie = next(c for c in context.cookies() if c["name"] == "helpdesk_session")["value"]
    answer = httpx.get(
        f"{hd.url}/api/v1/stream",
        headers={
            "cookie": f"helpdesk_session={cookie}",
            "origin": url,
            "connection": "Upgrade",
            "upgrade": "websocket",
            "sec-websocket-version": "13",
            "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
        trust_env=False,
        timeout=5,
    )
    assert answer.status_code == 403
    context.close()


NEW = re.compile(r"\bnew\b")


def test_the_new_mark_is_the_agents_so_phone_and_desktop_agree(
    shared_helpdesk: Helpdesk, chromium: Browser
) -> None:
    hd = shared_helpdesk
    gil_name, _ = hd.new_agent("gil", password=PASSWORD)
    _, boss = hd.new_agent("boss", name="Bo Boss")
    _, customer = hd.new_customer()
    ticket = customer.create_ticket("Docking station", "No signal")["id"]
    boss.assign(ticket, gil_name)
    desktop_context, desktop = signed_in(chromium, hd.url, gil_name)
    phone_context, phone = signed_in(chromium, hd.url, gil_name, **PHONE)
    for page in (desktop, phone):
        expect(page.locator("#bell")).to_have_class(NEW)
        expect(page.locator("#bell")).to_have_attribute(
            "aria-label", "Notifications, 1 unread, new since you last looked"
        )

    def look_at_the_phone() -> None:
        """The agent comes back to the phone's tab (it was in another app meanwhile)."""
        phone.evaluate("document.dispatchEvent(new Event('visibilitychange'))")

    # Gil opens the bell on the desktop: the phone's mark goes as soon as he looks at it.
    desktop.click("#bell")
    desktop.wait_for_url("**/notifications")
    expect(desktop.locator("#bell")).not_to_have_class(NEW)
    look_at_the_phone()
    expect(phone.locator("#bell")).not_to_have_class(NEW)
    expect(phone.locator("#bell")).to_have_attribute("aria-label", "Notifications, 1 unread")

    # A mention arrives live: the phone (on its ticket list) shows the mark; the desktop's
    # open center shows the mention itself, so for Gil it is seen, on the phone too.
    boss.comment(ticket, f"@{gil_name} the dock is back")
    expect(phone.locator("#bell")).to_have_class(NEW)
    expect(phone.locator("#unread-count")).to_have_text("2")
    expect(desktop.locator(".note")).to_have_count(2)
    expect(desktop.locator("#bell")).not_to_have_class(NEW)
    look_at_the_phone()
    expect(phone.locator("#bell")).not_to_have_class(NEW)
    phone.reload()
    expect(phone.locator("#bell")).not_to_have_class(NEW)

    # Away from the center, the desktop keeps the mark until Gil opens the bell, on either.
    desktop.goto("/")
    boss.comment(ticket, f"@{gil_name} one more")
    for page in (desktop, phone):
        expect(page.locator("#bell")).to_have_class(NEW)
    phone.locator("#bell").tap()
    phone.wait_for_url("**/notifications")
    desktop.reload()
    expect(desktop.locator("#bell")).not_to_have_class(NEW)
    desktop_context.close()
    phone_context.close()


def test_an_admin_changes_the_default_preferences_and_a_new_agent_gets_them(
    shared_helpdesk: Helpdesk, chromium: Browser
) -> None:
    hd = shared_helpdesk
    admin = f"admin{uuid.uuid4().hex[:8]}"
    admin_api = hd.actions(hd.add_agent(admin, name="Ada Admin", password=PASSWORD, admin=True))
    version = admin_api.request("GET", "/api/v1/admin/settings").json()["version"]
    context, page = signed_in(chromium, hd.url, admin, "/admin")
    form = page.locator("form[action^='/admin/preferences']")

    # A person's way through the form: labels to click, a select, times, a text field.
    form.get_by_role("group", name="About", exact=True).get_by_label("Reactions").uncheck()
    form.get_by_label("Send e-mail notifications").check()
    form.get_by_label("How often").select_option(label="A daily digest")
    form.get_by_label("Daily digest at").fill("07:30")
    form.get_by_label("Quiet hours, row 1, Day").select_option(label="Friday")
    form.get_by_label("Quiet hours, row 1, From").fill("18:00")
    form.get_by_label("Quiet hours, row 1, To").fill("08:00")
    form.get_by_label("Time zone").fill("Mars/Olympus")
    form.get_by_role("button", name="Save default preferences").click()

    # Refused: the error is next to the field, announced, and what was typed is kept.
    error = page.locator("#e-p-timezone")
    expect(error).to_have_text("Not a known IANA time zone: 'Mars/Olympus'")
    expect(page.get_by_label("Time zone")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Time zone")).to_have_accessible_description(re.compile("Mars"))
    expect(page.locator(".form-errors[role=alert]")).to_contain_text("Time zone")
    expect(page.get_by_label("Quiet hours, row 1, From")).to_have_value("18:00")
    assert admin_api.request("GET", "/api/v1/admin/settings").json()["version"] == version

    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.get_by_role("button", name="Save default preferences").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    # The saved values are on the page; the audit names what changed.
    page.reload()
    expect(page.get_by_label("How often")).to_have_value("daily_digest")
    expect(page.get_by_label("Quiet hours, row 1, Day")).to_have_value("4")
    expect(page.locator(".audit")).to_contain_text(f"{admin} on this page")
    expect(page.locator(".audit")).to_contain_text(
        "E-mail: how often: a mail for each notification → a daily digest"
    )

    # Applied: an agent added now starts with them.
    newcomer = hd.actions(hd.add_agent(f"new{uuid.uuid4().hex[:8]}"))
    preferences = newcomer.request("GET", "/api/v1/me/preferences").json()
    assert preferences["types"] == ["assignment", "mention"]
    assert preferences["email"]["enabled"] is True
    assert preferences["email"]["frequency"] == "daily_digest"
    assert preferences["email"]["digest_time"] == "07:30"
    assert preferences["quiet_hours"] == [{"day": 4, "start": "18:00", "end": "08:00"}]
    assert preferences["timezone"] == "Europe/Berlin"

    # Not an admin: 403, and no way there from the menu.
    plain, _ = hd.new_agent("plain", password=PASSWORD)
    plain_context, plain_page = signed_in(chromium, hd.url, plain)
    expect(plain_page.get_by_role("navigation", name="Main")).not_to_contain_text("Settings")
    answer = plain_page.goto("/admin")
    assert answer is not None and answer.status == 403
    plain_context.close()
    context.close()


def test_an_admin_sends_new_tickets_to_a_team_and_a_web_customers_ticket_reaches_it(
    helpdesk: Helpdesk, chromium: Browser
) -> None:
    # A helpdesk of its own: the setting would send the other tests' tickets to this team.
    admin = f"admin{uuid.uuid4().hex[:8]}"
    admin_api = helpdesk.actions(
        helpdesk.add_agent(admin, name="Ada Admin", password=PASSWORD, admin=True)
    )
    front, _ = helpdesk.new_agent("front", name="Fran Front", password=PASSWORD, team="frontline")
    helpdesk.new_agent("bill", team="billing")
    email, _ = helpdesk.new_customer(password=PASSWORD)
    context, page = signed_in(chromium, helpdesk.url, admin, "/admin")
    choice = page.get_by_label("Tickets opened without a team go to")
    expect(choice).to_have_value("")
    expect(choice.locator("option:checked")).to_have_text("Nobody (tickets wait unassigned)")
    expect(choice).to_have_accessible_description(re.compile("take turns"))
    choice.select_option(label="Team frontline")
    page.get_by_role("button", name="Save where new tickets go").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    expect(page.get_by_label("Tickets opened without a team go to")).to_have_value("frontline")
    expect(page.locator(".audit")).to_contain_text(f"{admin} on this page")
    expect(page.locator(".audit")).to_contain_text(
        "Tickets opened without a team go to: nobody (tickets wait unassigned) → team frontline"
    )
    settings = admin_api.request("GET", "/api/v1/admin/settings").json()["settings"]
    assert settings["new_ticket_team"] == "frontline"

    # The team's agent has the center open; a customer opens a ticket on the web.
    agent_context, agent_page = signed_in(chromium, helpdesk.url, front, "/notifications")
    expect(agent_page.locator(".empty")).to_be_visible()
    customer_context, customer_page = signed_in(chromium, helpdesk.url, email, "/tickets/new")
    customer_page.get_by_label("Subject").fill("Scanner offline")
    customer_page.get_by_label("What happened?").fill("Since this morning, on floor 3.")
    customer_page.get_by_role("button", name="Open ticket").click()
    expect(customer_page.locator("h1")).to_contain_text("Scanner offline")
    # The customer sees nothing new: no agent, no team.
    expect(customer_page.locator("main")).not_to_contain_text("Fran Front")
    expect(customer_page.locator("main")).not_to_contain_text("frontline")

    # Fran's center shows the assignment live.
    expect(agent_page.locator(".note")).to_have_count(1)
    summary = agent_page.locator(".note .summary").first
    expect(summary).to_contain_text("Assigned to you automatically")
    expect(summary).to_contain_text("Scanner offline")
    expect(agent_page.locator("#unread-count")).to_have_text("1")
    for opened in (context, agent_context, customer_context):
        opened.close()
    helpdesk.assert_clean_log()


def test_a_page_says_when_its_session_ended_and_leads_back_to_it(
    make_helpdesk: MakeHelpdesk, chromium: Browser
) -> None:
    # Before, the notification center just stopped updating when its session expired (or an
    # admin revoked it) and still looked live.
    hd = make_helpdesk("--session-max-age", "4")
    hd.add_agent("shorty", password=PASSWORD)
    context, page = signed_in(chromium, hd.url, "shorty", "/notifications")
    expect(page.locator(".empty")).to_be_visible()
    bar = page.get_by_role("status")
    expect(bar).to_have_text(
        "You were signed out, so this page no longer updates.Sign in again", timeout=15_000
    )
    page.get_by_role("link", name="Sign in again").click()
    page.wait_for_url("**/login?next=%2Fnotifications")
    page.fill("#password", PASSWORD)
    page.fill("#username", "shorty")
    page.click("button[type=submit]")
    page.wait_for_url("**/notifications")
    expect(page.get_by_role("status")).to_be_hidden()
    context.close()
    hd.assert_clean_log()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_fits_360_px_with_a_readable_header(
    demo: tuple[str, Path], chromium: Browser, scheme: str
) -> None:
    url, db = demo
    admin = f"admin{uuid.uuid4().hex[:8]}"
    cli(db, "add-agent", admin, "--name", "Ada Admin", "--password", PASSWORD, "--admin")
    boss = HelpdeskActions(url, cli(db, "add-agent", f"boss{uuid.uuid4().hex[:8]}", "--name", "B"))
    email = f"c{uuid.uuid4().hex[:8]}@example.com"
    customer = HelpdeskActions(url, cli(db, "add-customer", email, "--name", "Cy"))
    ticket = customer.create_ticket("Keyboard", "Keys stick")["id"]
    boss.assign(ticket, admin)
    narrow = {**PHONE, "viewport": {"width": 360, "height": 740}, "color_scheme": scheme}
    context, page = signed_in(chromium, url, admin, "/", **narrow)
    expect(page.locator(".top nav")).to_contain_text("Mail")  # the fullest header
    for path in ("/", "/notifications", "/admin", "/mail", f"/tickets/{ticket}", "/tickets/0"):
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, (path, width)
        # Every part of the header is on screen: the menu, the bell, signing out.
        for part in ("nav a >> nth=0", "nav a >> nth=2", "#bell", ".signout button"):
            box = page.locator(f".top {part}").bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360, (
                path,
                part,
                box,
            )
        count = page.locator("#unread-count")
        if count.is_visible():
            assert count.evaluate(CONTRAST) >= 4.5, (path, scheme)
    # The error page keeps the menu and the way out; the ticket filters are plain links.
    expect(page.locator(".card h1")).to_have_text("Sorry")
    page.goto("/")
    page.get_by_role("link", name="Any status").click()
    page.wait_for_url("**status=all")
    expect(page.locator(".tickets")).to_contain_text("Keyboard")
    context.close()
    boss.close()
    customer.close()
