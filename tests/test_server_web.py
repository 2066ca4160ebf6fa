"""The reference helpdesk's web pages: sign-in, session cookie, ticket page, comment links."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from helpdesk import Helpdesk, HelpdeskActions, MakeHelpdesk, web_sign_in

PASSWORD = "correct horse"


@pytest.fixture
def browser(shared_helpdesk: Helpdesk) -> Iterator[httpx.Client]:
    """A cookie-keeping HTTP client that does not follow redirects (tests look at them)."""
    with httpx.Client(base_url=shared_helpdesk.url, trust_env=False) as client:
        yield client


def sign_in(browser: httpx.Client, username: str, next_path: str = "/") -> httpx.Response:
    return web_sign_in(browser, username, PASSWORD, next_path)


def agent_and_ticket(hd: Helpdesk) -> tuple[str, HelpdeskActions, dict[str, str]]:
    username, agent = hd.new_agent("web", password=PASSWORD)
    _, customer = hd.new_customer(name="Eve <script>alert(1)</script>")
    ticket = customer.create_ticket("Broken <b>bold</b> & co", "First <img src=x onerror=1>")
    return username, agent, ticket


def test_ticket_page_needs_sign_in_and_keeps_where_to_go(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    _, _, ticket = agent_and_ticket(shared_helpdesk)
    response = browser.get(f"/tickets/{ticket['id']}")
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/login"
    assert parse_qs(location.query) == {"next": [f"/tickets/{ticket['id']}"]}
    form = browser.get(response.headers["location"])
    assert form.status_code == 200
    assert f'value="/tickets/{ticket["id"]}"' in form.text


def test_sign_in_sets_a_safe_session_cookie(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    username, _, ticket = agent_and_ticket(shared_helpdesk)
    wrong = web_sign_in(browser, username, "nope")
    assert wrong.status_code == 401
    assert "helpdesk_session" not in wrong.headers.get("set-cookie", "")
    response = sign_in(browser, username, f"/tickets/{ticket['id']}")
    assert response.status_code == 303
    assert response.headers["location"] == f"/tickets/{ticket['id']}"
    cookie = response.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite", "path"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert "secure" not in attributes  # plain http on loopback; https would add it
    # The session token is only in the cookie, never in a URL.
    token = cookie.split(";")[0].split("=", 1)[1]
    assert token not in response.headers["location"]
    page = browser.get(f"/tickets/{ticket['id']}")
    assert page.status_code == 200


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "\\\\evil", "javascript:alert(1)"]
)
def test_sign_in_redirects_only_to_local_paths(
    shared_helpdesk: Helpdesk, browser: httpx.Client, target: str
) -> None:
    username, _ = shared_helpdesk.new_agent("next", password=PASSWORD)
    response = sign_in(browser, username, target)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_ticket_page_escapes_text_and_anchors_comments(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    username, agent, ticket = agent_and_ticket(shared_helpdesk)
    comment = agent.comment(ticket["id"], "<script>steal()</script> see logs")
    sign_in(browser, username)
    page = browser.get(f"/tickets/{ticket['id']}").text
    assert "<script>" not in page and "<img" not in page and "<b>bold" not in page
    assert "Broken &lt;b&gt;bold&lt;/b&gt; &amp; co" in page
    assert "&lt;script&gt;steal()&lt;/script&gt; see logs" in page
    assert "Eve &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert f'id="comment-{comment["id"]}"' in page
    assert "open" in page  # the status

    link = browser.get(f"/comments/{comment['id']}")
    assert link.status_code == 303
    assert link.headers["location"] == f"/tickets/{ticket['id']}#comment-{comment['id']}"
    assert browser.get("/tickets/99999999").status_code == 404


def test_opening_the_page_marks_the_agents_notifications_read(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    username, agent, ticket = agent_and_ticket(shared_helpdesk)
    _, colleague = shared_helpdesk.new_agent("webc")
    colleague.assign(ticket["id"], username)
    colleague.comment(ticket["id"], f"@{username} have a look")
    assert agent.notifications()["unread_count"] == 2
    sign_in(browser, username)
    assert browser.get(f"/tickets/{ticket['id']}").status_code == 200
    page = agent.notifications()
    assert page["unread_count"] == 0
    assert page["last_seq"] == 3  # two notifications, one read_state event


def test_sign_out_needs_its_form_token_and_ends_the_session_on_the_server(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    username, _, ticket = agent_and_ticket(shared_helpdesk)
    sign_in(browser, username)
    home = browser.get("/")
    assert home.status_code == 200
    session = browser.cookies["helpdesk_session"]
    # Another site cannot sign the agent out: the form's token is missing or wrong.
    for data in ({}, {"csrf": "guessed"}, {"csrf": csrf_of(browser.get("/login").text)}):
        forged = browser.post("/logout", data=data)
        assert forged.status_code == 403
        assert browser.get("/").status_code == 200
    signed_out = browser.post("/logout", data={"csrf": csrf_of(home.text)})
    assert signed_out.status_code == 303
    assert browser.get(f"/tickets/{ticket['id']}").status_code == 303
    # The session token itself is dead, not only the browser's cookie.
    with httpx.Client(
        base_url=shared_helpdesk.url, trust_env=False, cookies={"helpdesk_session": session}
    ) as replay:
        assert replay.get(f"/tickets/{ticket['id']}").status_code == 303


def csrf_of(page: str) -> str:
    found = re.search(r'name=csrf value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1)


def test_sign_in_needs_this_browsers_form_token(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    """Login CSRF: another site posts its own credentials in the agent's browser, which would
    then act as the attacker's account. The form token must match this browser's cookie."""
    username, _ = shared_helpdesk.new_agent("csrf", password=PASSWORD)
    credentials = {"username": username, "password": PASSWORD, "next": "/"}
    with httpx.Client(base_url=shared_helpdesk.url, trust_env=False) as attacker:
        attackers_token = csrf_of(attacker.get("/login").text)
    browser.get("/login")  # the victim's browser has a form cookie of its own
    for data in (credentials, {**credentials, "csrf": attackers_token}):
        forged = browser.post("/login", data=data)
        assert forged.status_code == 403, data
        assert "helpdesk_session" not in forged.headers.get("set-cookie", "")
        assert "another site" in forged.text
    assert browser.get("/").status_code == 303  # not signed in
    assert sign_in(browser, username).status_code == 303
    form_cookie = browser.cookies["helpdesk_csrf"]
    assert form_cookie and form_cookie not in browser.get("/").text


def test_cookies_are_secure_behind_https(make_helpdesk: MakeHelpdesk) -> None:
    hd = make_helpdesk("--public-url", "https://desk.example")
    username = "secure"
    hd.add_agent(username, password=PASSWORD)
    with httpx.Client(base_url=hd.url, trust_env=False) as client:
        form = client.get("/login")
        signed_in = client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "csrf": csrf_of(form.text)},
        )
    for response in (form, signed_in):
        cookie = response.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie


def test_every_answer_carries_the_security_headers(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    username, agent, ticket = agent_and_ticket(shared_helpdesk)
    anonymous = [browser.get("/login"), browser.get(f"/tickets/{ticket['id']}")]
    sign_in(browser, username)
    signed_in = [browser.get("/"), browser.get(f"/tickets/{ticket['id']}")]
    api = [agent.request("GET", "/api/v1/me"), agent.request("GET", "/api/v1/nothing")]
    for response in anonymous + signed_in + api:
        headers = response.headers
        policy = headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "script-src 'none'" in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["cache-control"] == "no-store"
    # The page's one inline style is allowed by its hash, and nothing else inline is.
    page = signed_in[1].text
    style = page.split("<style>", 1)[1].split("</style>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in signed_in[1].headers["content-security-policy"]
    assert "<script" not in page and " style=" not in page


def test_ticket_page_pages_long_threads(shared_helpdesk: Helpdesk, browser: httpx.Client) -> None:
    username, agent, ticket = agent_and_ticket(shared_helpdesk)
    ids = [agent.comment(ticket["id"], f"comment {n}")["id"] for n in range(3)]
    sign_in(browser, username)
    first = browser.get(f"/tickets/{ticket['id']}?limit=2").text
    assert f'id="comment-{ids[1]}"' in first and f'id="comment-{ids[2]}"' not in first
    later = f'href="/tickets/{ticket["id"]}?after={ids[1]}"'
    assert later in first
    second = browser.get(f"/tickets/{ticket['id']}?after={ids[1]}").text
    assert f'id="comment-{ids[2]}"' in second and f'id="comment-{ids[0]}"' not in second
    assert f'href="/tickets/{ticket["id"]}"' in second  # back to the first comment
    assert "Later comments" not in second
    # By default the page holds up to 500 comments, so a notification's #comment-N anchor
    # is on it.
    assert "Later comments" not in browser.get(f"/tickets/{ticket['id']}").text
    assert browser.get(f"/tickets/{ticket['id']}?limit=501").status_code == 400
