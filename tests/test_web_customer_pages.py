"""The customer's web pages get the checks the agents' pages get in tests/test_web_layout.py,
in a real browser (Debian's chromium), in light and dark, at 320, 375 and 1280 px: the
sign-in and password-reset pages (with their errors), the list of their tickets, a ticket
with their own posts and the helpdesk's answer, the new-ticket form and its error, the
error pages. Text reaches WCAG AA (4.5:1), a control's edge and the focus ring 3:1, a
phone's targets 44 px, nothing scrolls sideways, each page has a heading and a way back;
and a refused form ties its error to its field for a screen reader.

Set ``CUSTOMER_SHOTS=/some/folder`` to keep a screenshot of each page there."""

from __future__ import annotations

import email
import os
import time
import uuid
from dataclasses import dataclass
from email import policy
from pathlib import Path
from typing import Any

import pytest
from helpdesk import HelpdeskActions
from playwright.sync_api import Browser, Page, expect
from test_web_layout import CONTRAST_OF, LOW_CONTRAST, too_small
from web_browser import COLOUR_MATH, PASSWORD, chromium, cli, demo, signed_in

__all__ = ["chromium", "demo"]  # the module-scoped fixtures

pytestmark = pytest.mark.timeout(180)

LONG_NAME = "Maximiliana Alexandrina Wolfeschlegelsteinhausenbergerdorff-Featherstonehaugh"
LONG_SUBJECT = (
    "Our invoices from the third quarter show duplicated line items for every subscription seat"
)


@dataclass(frozen=True)
class Customer:
    url: str
    db: Path
    email: str
    open_ticket: str  # her own posts, the helpdesk's answer between them
    resolved_ticket: str  # a one-line subject: the list's shortest link


@pytest.fixture(scope="module")
def customer(demo: tuple[str, Path], chromium: Browser) -> Customer:
    """On the demo, a long-named customer with an open ticket (a long subject, a long URL,
    her reply, an agent's answer, her second reply) and a resolved one-line one."""
    url, db = demo
    address = f"c{uuid.uuid4().hex[:8]}@example.com"
    agent = f"agent{uuid.uuid4().hex[:8]}"
    actions = HelpdeskActions(
        url, cli(db, "add-customer", address, "--name", LONG_NAME, "--password", PASSWORD)
    )
    agent_actions = HelpdeskActions(
        url, cli(db, "add-agent", agent, "--name", "Cal Cole", "--password", PASSWORD)
    )
    try:
        ticket = actions.create_ticket(LONG_SUBJECT, "See https://logs.example.com/" + "x" * 150)
        actions.reply(ticket["id"], "Thanks, here is more.")
        resolved = actions.create_ticket("Old one", "It works again.")["id"]
        agent_actions.resolve(resolved)
        # An agent's answer to the customer is a web page's button (the API has none).
        context, page = signed_in(chromium, url, agent, f"/tickets/{ticket['id']}")
        page.fill("#body", "We are looking at it.")
        page.get_by_role("button", name="Reply to customer").click()
        expect(page.locator(".comment.reply").last).to_contain_text("We are looking at it.")
        context.close()
        actions.reply(ticket["id"], "And one more from me.")
    finally:
        actions.close()
        agent_actions.close()
    return Customer(url, db, address, ticket["id"], resolved)


@pytest.fixture(scope="module")
def reset_url(customer: Customer, chromium: Browser) -> str:
    """The link of a password-reset mail she asked for (once: three an hour is the limit)."""
    context = chromium.new_context(base_url=customer.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto("/password-reset")
    page.fill("#email", customer.email)
    submit(page)
    expect(page.get_by_role("status")).to_be_visible()
    context.close()
    return mailed_link(customer)


def mailed_link(customer: Customer, within_s: float = 20.0) -> str:
    """The link in the newest password-reset mail the demo's mail catcher kept for her."""
    folder = customer.db.with_name(f"{customer.db.stem}-mail")
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        for path in sorted(folder.glob(f"*-{customer.email}.eml"), reverse=True):
            mail = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            body = mail.get_body(("plain",))
            assert body is not None
            for word in body.get_content().split():
                if "/password-reset/" in word:
                    return word
        time.sleep(0.2)
    raise AssertionError(f"no password-reset mail for {customer.email} in {within_s} s")


# Each visible control whose edge, and whose fill, stands out less than 3:1 from what is
# behind it (WCAG 1.4.11): a person must see where to type and what to press. A control
# drawn as words alone (no border, no fill: "Sign out") is text, checked as text.
FAINT_CONTROLS = (
    """() => {
"""
    + COLOUR_MATH
    + """    const painted = c => c.length === 3 || c[3] > 0;
    const behind = el => {
        for (let e = el.parentElement; e; e = e.parentElement) {
            const c = rgba(getComputedStyle(e).backgroundColor);
            if (painted(c)) return c;
        }
        return [255, 255, 255];
    };
    const controls = document.querySelectorAll(
        "input:not([type=hidden]):not([type=checkbox]), select, textarea, button, .button, .tab");
    const faint = [];
    for (const el of controls) {
        if (!el.getClientRects().length || el.closest("[hidden]")) continue;
        const style = getComputedStyle(el), back = behind(el);
        const fill = rgba(style.backgroundColor), edge = rgba(style.borderTopColor);
        const bordered = parseFloat(style.borderTopWidth) > 0 && style.borderTopStyle !== "none";
        if (!bordered && !painted(fill)) continue;
        const best = Math.max(
            bordered ? ratio(edge, back) : 1, painted(fill) ? ratio(fill, back) : 1);
        const name = el.id || el.textContent.trim().slice(0, 30);
        if (best < 3) faint.push([name, Math.round(best * 100) / 100]);
    }
    return faint;
}"""
)

FOCUS_RING = """() => {
    const el = document.activeElement, style = getComputedStyle(el);
    const page = getComputedStyle(document.body).backgroundColor;
    return [style.outlineStyle, style.outlineColor, page];
}"""


def problems_of(page: Page, width: int) -> list[object]:
    """What this page gets wrong by the agents' pages' rules, in words; [] if nothing."""
    found: list[object] = []
    low = page.evaluate(LOW_CONTRAST, 4.5)
    if low:
        found.append(("text below 4.5:1", low))
    faint = page.evaluate(FAINT_CONTROLS)
    if faint:
        found.append(("control edge below 3:1", faint))
    scrolled = page.evaluate("document.documentElement.scrollWidth")
    if scrolled > width:
        found.append(("scrolls sideways", scrolled))
    if width < 600:
        small = too_small(page, "body")
        if small:
            found.append(("targets under 44 px", small))
    headings = page.locator("h1").all_inner_texts()
    if len(headings) != 1 or not headings[0].strip():
        found.append(("not one heading", headings))
    # A way back: to the start (her tickets) when signed in, else to the sign-in page.
    back = page.locator('a[href="/"], a[href="/login"]').filter(visible=True)
    if back.count() == 0 and not page.url.split("?")[0].endswith("/login"):
        found.append(("no way back", page.url))
    page.keyboard.press("Tab")
    style, ring, body = page.evaluate(FOCUS_RING)
    if style == "none" or page.evaluate(CONTRAST_OF, [ring, body]) < 3:
        found.append(("focus ring not seen", style, ring, body))
    return found


def submit(page: Page) -> None:
    page.locator("main button[type=submit]").last.click()
    page.wait_for_load_state()


@pytest.mark.parametrize("width", [320, 375, 1280])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_customer_page_passes_the_agents_pages_checks(
    customer: Customer, reset_url: str, chromium: Browser, scheme: str, width: int
) -> None:
    options: dict[str, Any] = {"viewport": {"width": width, "height": 800}}
    if width < 600:
        options.update(has_touch=True, is_mobile=True)
    context = chromium.new_context(base_url=customer.url, color_scheme=scheme, **options)
    context.set_default_timeout(10_000)
    page = context.new_page()
    shots = Path(os.environ["CUSTOMER_SHOTS"]) if os.environ.get("CUSTOMER_SHOTS") else None
    wrong: dict[str, list[object]] = {}

    def look(step: str) -> None:
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / f"{scheme}-{width}-{step}.png"), full_page=True)
        found = problems_of(page, width)
        if found:
            wrong[step] = found

    # Signed out: the sign-in page, refused; "Forgot your password?" in each of its steps.
    page.goto("/login")
    look("login")
    page.fill("#username", f"nobody{uuid.uuid4().hex[:8]}@example.com")
    page.fill("#password", "not the password")
    submit(page)
    expect(page.get_by_role("alert")).to_be_visible()
    look("login-refused")
    page.goto("/password-reset")
    look("reset-ask")
    page.fill("#email", "x" * 65 + "@example.com")  # the browser lets it by; the server not
    submit(page)
    expect(page.get_by_role("alert")).to_be_visible()
    look("reset-ask-refused")
    page.fill("#email", f"someone{uuid.uuid4().hex[:8]}@example.com")  # the same answer
    submit(page)
    expect(page.get_by_role("status")).to_be_visible()
    look("reset-sent")
    page.goto(reset_url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    look("reset-choose")
    page.fill("#password", "a new password for her")
    page.fill("#again", "another new password")
    submit(page)
    expect(page.get_by_role("alert")).to_be_visible()
    look("reset-choose-refused")
    page.goto("/password-reset/" + "x" * 43)
    look("reset-dead-link")
    # Signed in: her tickets, a ticket, a refused reply, a new ticket, refused; errors.
    page.goto("/login")
    page.fill("#username", customer.email)
    page.fill("#password", PASSWORD)
    submit(page)
    page.wait_for_url(f"{customer.url}/")
    look("home")
    page.goto("/?status=all")
    expect(page.locator(".tickets li")).to_have_count(2)
    look("home-all")
    page.goto(f"/tickets/{customer.open_ticket}")
    expect(page.locator(".comment.own")).to_have_count(2)
    expect(page.locator(".comment.reply:not(.own)")).to_have_count(1)
    look("ticket")
    page.fill("#body", "   ")
    submit(page)
    expect(page.get_by_role("alert")).to_be_visible()
    look("ticket-reply-refused")
    page.goto("/tickets/new")
    look("new-ticket")
    page.fill("#subject", "   ")
    page.fill("#body", "The printer on floor 3.")
    submit(page)
    expect(page.get_by_role("alert")).to_be_visible()
    look("new-ticket-refused")
    page.goto("/no/such/page")
    look("not-found")
    page.goto("/tickets/999999")
    look("no-such-ticket")
    context.close()
    assert wrong == {}


def test_a_refused_forms_error_is_tied_to_its_field_for_a_screen_reader(
    customer: Customer, reset_url: str, chromium: Browser
) -> None:
    # The sign-in and reset forms said what was wrong in an alert above them, which a
    # screen reader announces once; tabbing to the field it is about said nothing of it.
    context = chromium.new_context(base_url=customer.url, viewport={"width": 375, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()

    def tied(field: str, invalid: bool = True) -> None:
        error = page.get_by_role("alert").inner_text()
        expect(page.locator(field)).to_have_accessible_description(error)
        if invalid:
            expect(page.locator(field)).to_have_attribute("aria-invalid", "true")

    page.goto("/login")
    page.fill("#username", f"nobody{uuid.uuid4().hex[:8]}@example.com")
    page.fill("#password", "not the password")
    submit(page)
    # Which of the two was wrong is not said (it would tell who has an account): both.
    tied("#username", invalid=False)
    tied("#password", invalid=False)
    page.goto("/password-reset")
    page.fill("#email", "x" * 65 + "@example.com")
    submit(page)
    tied("#email")
    expect(page.locator("#email")).to_be_focused()
    page.goto(reset_url)
    page.fill("#password", "a new password for her")
    page.fill("#again", "another new password")
    submit(page)
    # The cursor is back in the first (emptied) box, which says why; the second is the wrong one.
    tied("#again")
    tied("#password", invalid=False)
    expect(page.locator("#password")).to_be_focused()
    expect(page.locator("#password")).not_to_have_attribute("aria-invalid", "true")
    page.fill("#password", "")
    page.evaluate("document.querySelector('main form').noValidate = true")
    submit(page)
    tied("#password")
    # The customer's own forms already did: they stay so.
    page.goto("/login")
    page.fill("#username", customer.email)
    page.fill("#password", PASSWORD)
    submit(page)
    page.wait_for_url(f"{customer.url}/")
    page.goto("/tickets/new")
    page.fill("#subject", "   ")
    page.fill("#body", "The printer on floor 3.")
    submit(page)
    tied("#subject")
    page.goto(f"/tickets/{customer.open_ticket}")
    page.fill("#body", "   ")
    submit(page)
    tied("#body")
    context.close()
