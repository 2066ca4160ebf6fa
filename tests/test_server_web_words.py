"""What the web pages say to a person when something is off: error pages in words (never the
API's JSON), forms that keep what was typed and say what to fix next to it, empty lists that
say why, and labels in a user's words rather than the code's."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest
from helpdesk import Helpdesk, web_sign_in

PASSWORD = "correct horse"
PAGE = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}  # what a browser sends


@pytest.fixture
def browser(shared_helpdesk: Helpdesk) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_helpdesk.url, trust_env=False, headers=PAGE) as client:
        yield client


def text_of(page: str) -> str:
    """The page's visible words, tags dropped and spaces squeezed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_a_browser_gets_a_page_for_an_unknown_address_and_the_api_keeps_json(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    hd = shared_helpdesk
    missing = browser.get("/no/such/page")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "There is no page at this address" in text_of(missing.text)
    assert '<meta name="viewport"' in missing.text  # styled like every page, phone-sized
    # A form's address opened by hand (GET on a POST-only path): 405 in words, Allow kept.
    wrong_method = browser.get("/logout")
    assert wrong_method.status_code == 405 and "POST" in wrong_method.headers["allow"]
    assert "only takes the helpdesk's own forms" in text_of(wrong_method.text)
    # Signed in, the error page keeps the menu and the bell, so nobody is stranded on it.
    username, _ = hd.new_agent("lost", password=PASSWORD)
    web_sign_in(browser, username, PASSWORD)
    signed_in = browser.get("/nowhere")
    assert signed_in.status_code == 404 and 'id="bell"' in signed_in.text
    # The API and scripts still get JSON, whatever they accept.
    api = browser.get("/api/v1/nope")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
    plain = httpx.get(f"{hd.url}/no/such/page", headers={"accept": "application/json"})
    assert plain.status_code == 404 and plain.json()["error"]["code"] == "not_found"
    hd.assert_clean_log()


def test_a_refused_form_keeps_the_signed_in_header(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    """A form whose token is stale (the page was open across a sign-out and back in) is
    refused with a page that still has the menu, not a bare one."""
    hd = shared_helpdesk
    username, _ = hd.new_agent("stale", password=PASSWORD)
    web_sign_in(browser, username, PASSWORD)
    refused = browser.post("/notifications/read-all", data={"csrf": "old", "up_to_seq": "1"})
    assert refused.status_code == 403
    assert "This form has expired" in text_of(refused.text)
    assert 'id="bell"' in refused.text and 'action="/logout"' in refused.text
