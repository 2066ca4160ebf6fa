""" "Forgot your password?" in a real browser (Debian's chromium driven by Playwright): a
customer clicks through from the sign-in page, follows the link from the mail the helpdesk
(a subprocess with ``--smtp``) sent to a real SMTP server on loopback, saves a new password
and signs in with it, on a desktop and on a 375 px phone, where nothing scrolls sideways and
every control is at least 44 px (tests/test_web_layout.py's rule).

Set ``RESET_SHOTS=/some/folder`` to keep a screenshot of each step there (they go to the
test's tmp folder otherwise)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from helpdesk import MakeHelpdesk
from mail_support import Inbox, ThreadedSmtpServer, text_of
from playwright.sync_api import Browser, Page, expect
from test_web_layout import too_small
from web_browser import PASSWORD, PHONE, chromium

__all__ = ["chromium"]  # the module-scoped fixture

pytestmark = pytest.mark.timeout(120)

NEW = "a new password for Rosa"
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}


def fits(page: Page, width: int, step: str) -> None:
    scrolled = page.evaluate("document.documentElement.scrollWidth")
    assert scrolled <= width, (step, scrolled)


@pytest.mark.parametrize(("width", "options"), [(1280, DESKTOP), (375, PHONE)])
def test_a_customer_resets_a_forgotten_password_from_the_sign_in_page(
    make_helpdesk: MakeHelpdesk,
    chromium: Browser,
    tmp_path: Path,
    width: int,
    options: dict[str, Any],
) -> None:
    shots = Path(os.environ.get("RESET_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    inbox = Inbox()
    with ThreadedSmtpServer(inbox) as smtp:
        hd = make_helpdesk("--smtp", f"smtp://127.0.0.1:{smtp.port}")
        email = "rosa.reset@example.com"
        hd.add_customer(email, name="Rosa Reset", password=PASSWORD)
        context = chromium.new_context(base_url=hd.url, **options)
        context.set_default_timeout(10_000)
        page = context.new_page()

        def look(step: str) -> None:
            fits(page, width, step)
            if width < 600:
                assert too_small(page, "main") == [], step
            page.screenshot(path=str(shots / f"{width}-{step}.png"), full_page=True)

        page.goto("/login")
        look("0-login")
        page.get_by_role("link", name="Forgot your password?").click()
        page.wait_for_url("**/password-reset")
        expect(page.get_by_role("heading", level=1)).to_have_text("Forgot your password?")
        expect(page.locator("#email")).to_be_focused()
        look("1-ask")
        page.fill("#email", email)
        page.get_by_role("button", name="Send me a link").click()
        expect(page.get_by_role("status")).to_have_text(
            "If an account uses that address, we have sent a link to reset its password."
            " It works for 1 hour."
        )
        look("2-sent")

        [mail] = smtp.wait_for_mails(1)
        assert mail["To"] == f"Rosa Reset <{email}>"
        found = re.search(r"(http://\S+/password-reset/\S+)", text_of(mail))
        assert found is not None and found.group(1).startswith(hd.url)
        page.goto(found.group(1))
        expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
        expect(page.locator("main")).to_contain_text(email)
        look("3-choose")
        page.fill("#password", NEW)
        page.fill("#again", NEW + "!")
        page.get_by_role("button", name="Save the new password").click()
        expect(page.get_by_role("alert")).to_have_text(
            "The two passwords differ. Type the same one twice."
        )
        look("4-differ")
        page.fill("#password", NEW)
        page.fill("#again", NEW)
        page.get_by_role("button", name="Save the new password").click()
        page.wait_for_url("**/login?password=changed")
        expect(page.get_by_role("status")).to_have_text(
            "Your password was changed. Sign in with the new one."
        )
        look("5-changed")
        page.fill("#username", email)
        page.fill("#password", NEW)
        page.click("button[type=submit]")
        page.wait_for_url(f"{hd.url}/")
        expect(page.get_by_role("link", name="My tickets")).to_be_visible()

        # The link worked once: now it says so and offers a new one.
        page.goto(found.group(1))
        expect(page.get_by_role("heading", level=1)).to_have_text("This link does not work")
        expect(page.get_by_role("link", name="Ask for a new link")).to_be_visible()
        look("6-used")
        context.close()
        hd.assert_clean_log()
