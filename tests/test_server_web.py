"""The reference helpdesk's web pages: sign-in, session cookie, ticket page, comment links."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from helpdesk import Helpdesk, HelpdeskActions, MakeHelpdesk, unique_name, web_sign_in

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
    # The page has its own script and icons; none of the stored markup gets through.
    for injected in ("<script>steal", "<script>alert", "<img src=x", "<b>bold"):
        assert injected not in page
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


def test_each_row_icon_is_labelled_with_the_popups_words(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    """A screen reader hears why the agent is told ("customer reply"), not the wire's type
    ("reaction") that a customer reply shares with an emoji reaction."""
    username, _agent = shared_helpdesk.new_agent("webl", password=PASSWORD)
    _, customer = shared_helpdesk.new_customer()
    _, colleague = shared_helpdesk.new_agent("webm")
    ticket = customer.create_ticket("Printer on fire", "It smokes.")
    colleague.assign(ticket["id"], username)
    colleague.comment(ticket["id"], f"@{username} have a look")
    customer.reply(ticket["id"], "Now it is out.")
    sign_in(browser, username)
    page = browser.get("/notifications")
    assert page.status_code == 200
    labels = re.findall(r'<svg class="type"[^>]*aria-label="([^"]*)"', page.text)
    assert labels == ["customer reply", "mention", "assignment"], labels
    # Each row draws its icon from the page's one inline sprite (no request, no SVG document
    # of its own per icon): every symbol it uses is there, and the icons are not fetched.
    used = re.findall(r'<use href="#(icon-[a-z]+)"', page.text)
    symbols = set(re.findall(r'<symbol id="(icon-[a-z]+)"', page.text))
    assert used and set(used) <= symbols, (used, symbols)
    assert {"icon-reply", "icon-mention", "icon-assignment", "icon-bell"} <= set(used)
    assert 'src="/icons/' not in page.text


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
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["cache-control"] == "no-store"
    # Scripts and styles come only from the helpdesk's own files: nothing inline at all.
    page = signed_in[1].text
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/web.js" defer>']
    assert "<style" not in page and " style=" not in page and " on" + "click=" not in page


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


def test_web_forms_refuse_forged_posts_and_hostile_input_with_4xx(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    hd = shared_helpdesk
    username, agent, ticket = agent_and_ticket(hd)
    other, _ = hd.new_agent("other")
    agent.assign(ticket["id"], other)  # assigning away and back: one notification for us
    hd.actions(hd.add_agent(unique_name("boss"))).assign(ticket["id"], username)
    sign_in(browser, username)
    page = browser.get("/notifications")
    assert page.status_code == 200
    token = csrf_of(page.text)
    [note] = agent.notifications()["notifications"]
    t = ticket["id"]
    forms = [
        f"/notifications/{note['id']}/read",
        f"/notifications/{note['id']}/unread",
        "/notifications/read-all",
        "/notifications/clear",
        f"/notifications/{note['id']}/delete",
        f"/tickets/{t}/comment",
        f"/tickets/{t}/assign",
        f"/tickets/{t}/resolve",
        f"/tickets/{t}/reply",
        f"/tickets/{t}/reopen",
        "/tickets/new",
        "/comments/1/react",
    ]
    # Without the session's form token (none, another session's, the sign-in form's) every
    # form is refused and changes nothing.
    for path in forms:
        for data in ({}, {"csrf": "guessed"}, {"csrf": csrf_of(browser.get("/login").text)}):
            assert browser.post(path, data={**data, "body": "x"}).status_code == 403, path
    assert agent.notifications()["unread_count"] == 1
    # With the token, hostile values get a 4xx, never a 500.
    hostile = [
        ("/notifications/abc/read", {}),
        ("/notifications/99999999999999999999999/delete", {}),
        ("/notifications/read-all", {"up_to_seq": "-1"}),
        (f"/tickets/{t}/comment", {"body": ""}),
        (f"/tickets/{t}/comment", {"body": "x" * 100_001}),
        (f"/tickets/{t}/assign", {"to": "agent:nobody"}),
        (f"/tickets/{t}/assign", {"to": "team:no such team"}),
        (f"/tickets/{t}/assign", {}),
        ("/tickets/abc/resolve", {}),
        (f"/tickets/{t}/reply", {"body": "agents use the comment form"}),
        ("/comments/abc/react", {"emoji": "👍"}),
        (f"/comments/{t}/react", {"emoji": "💩"}),
    ]
    for path, data in hostile:
        answer = browser.post(path, data={"csrf": token, **data})
        assert 400 <= answer.status_code < 500, (path, answer.status_code)
    broken_utf8 = f"csrf={token}&to=team:%ED%A0%80&body=%FF%FE".encode()
    for path in (f"/tickets/{t}/assign", f"/tickets/{t}/comment"):
        answer = browser.post(
            path,
            content=broken_utf8,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert answer.status_code in (303, 422), (path, answer.status_code)
    for path in ("/static/..%2Fpages.py", "/static/nothing.css", "/icons/..%2F__init__.py"):
        assert browser.get(path).status_code == 404, path
    assert browser.get("/mail").status_code == 404  # no demo mail catcher here
    assert browser.get("/notifications?type=nonsense&show=%00").status_code == 200
    hd.assert_clean_log()


def test_every_web_form_refuses_a_field_given_twice(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    """Which copy of a repeated field counts must not depend on who reads the body (a filter
    in front of the server may judge the last one): every form answers 400 and does nothing."""
    hd = shared_helpdesk
    username, _, ticket = agent_and_ticket(hd)
    form = {"content-type": "application/x-www-form-urlencoded"}
    login_csrf = csrf_of(browser.get("/login").text)
    twice = f"username={username}&username=x&password=correct+horse&csrf={login_csrf}"
    refused = browser.post("/login", content=twice, headers=form)
    assert refused.status_code == 400 and "field twice" in refused.text
    assert "helpdesk_session" not in refused.headers.get("set-cookie", "")
    assert browser.get("/").status_code == 303  # not signed in

    sign_in(browser, username)
    token = csrf_of(browser.get("/notifications").text)
    for body in (
        f"csrf={token}&body=first-copy&body=second-copy",
        f"csrf={token}&csrf={token}&body=first-copy",
    ):
        answer = browser.post(f"/tickets/{ticket['id']}/comment", content=body, headers=form)
        assert answer.status_code == 400 and "field twice" in answer.text, body
    thread = browser.get(f"/tickets/{ticket['id']}").text
    assert "First &lt;img" in thread and "first-copy" not in thread
    signed_out = browser.post("/logout", content=f"csrf={token}&csrf={token}", headers=form)
    assert signed_out.status_code == 403
    assert browser.get("/").status_code == 200  # still signed in
    hd.assert_clean_log()


def admin_page(hd: Helpdesk, browser: httpx.Client) -> tuple[str, HelpdeskActions, httpx.Response]:
    """A new admin signed in on ``browser``: (username, their API client, the /admin page)."""
    admin = unique_name("admin")
    admin_api = hd.actions(hd.add_agent(admin, password=PASSWORD, admin=True))
    sign_in(browser, admin)
    return admin, admin_api, browser.get("/admin")


def test_admins_change_the_system_settings_on_the_admin_page(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    hd = shared_helpdesk
    admin, admin_api, page = admin_page(hd, browser)
    assert page.status_code == 200 and "Keep read notifications for (days)" in page.text
    version = int(re.search(r'name=version value="(\d+)"', page.text).group(1))  # type: ignore[union-attr]
    current = admin_api.request("GET", "/api/v1/admin/settings").json()["settings"]
    form = {k: str(v) for k, v in current.items() if k != "default_preferences"}
    saved = browser.post(
        "/admin",
        data={**form, "retention_days": "45", "csrf": csrf_of(page.text), "version": str(version)},
    )
    assert saved.status_code == 200 and "Saved." in saved.text
    stored = admin_api.request("GET", "/api/v1/admin/settings").json()
    assert stored["settings"]["retention_days"] == 45 and stored["version"] == version + 1
    audit = admin_api.request("GET", "/api/v1/admin/audit").json()["entries"][0]
    assert (audit["key"], audit["new"], audit["via"], audit["actor"]) == (
        "retention_days",
        45,
        "web",
        admin,
    )
    # A stale page (its version is old) is refused: 409, nothing changes.
    stale = browser.post(
        "/admin",
        data={**form, "retention_days": "7", "csrf": csrf_of(page.text), "version": str(version)},
    )
    assert stale.status_code == 409
    # Out-of-range values get the API's 422; non-admins and forged posts 403.
    fresh = browser.get("/admin").text
    out_of_range = browser.post(
        "/admin",
        data={**form, "retention_days": "-5", "csrf": csrf_of(fresh), "version": str(version + 1)},
    )
    assert out_of_range.status_code == 422
    assert field_error(out_of_range.text, "s-retention_days") == (
        "A whole number from 0 to 36,500, please"  # as the help beside it writes numbers
    )
    assert 'value="-5"' in out_of_range.text  # what was typed stays, next to its error
    assert browser.post("/admin", data={**form, "version": "0"}).status_code == 403
    with httpx.Client(base_url=hd.url, trust_env=False) as other:
        plain, _ = hd.new_agent("plain", password=PASSWORD)
        sign_in(other, plain)
        assert other.get("/admin").status_code == 403
        assert "/admin" not in other.get("/").text
    assert admin_api.request("GET", "/api/v1/admin/settings").json()["version"] == version + 1
    hd.assert_clean_log()


def bell_is_new(page: str) -> bool:
    found = re.search(r'<a class="bell( new)?"', page)
    assert found is not None, page
    return found.group(1) is not None


def test_the_new_mark_is_the_agents_on_the_server_so_every_browser_agrees(
    shared_helpdesk: Helpdesk,
) -> None:
    hd = shared_helpdesk
    username, _ = hd.new_agent("seer", password=PASSWORD)
    _, boss = hd.new_agent("boss")
    _, customer = hd.new_customer()
    ticket = customer.create_ticket("Screen", "flickers")["id"]
    boss.assign(ticket, username)
    with (
        httpx.Client(base_url=hd.url, trust_env=False) as desktop,
        httpx.Client(base_url=hd.url, trust_env=False) as phone,
    ):
        sign_in(desktop, username)
        sign_in(phone, username)
        assert bell_is_new(desktop.get("/").text) and bell_is_new(phone.get("/").text)
        # The desktop opens the notification center: the phone's mark is gone too.
        center = desktop.get("/notifications").text
        assert not bell_is_new(center)
        assert not bell_is_new(phone.get("/").text)
        first = phone.get("/notifications/bell").json()
        assert first["seen"] == first["newest"] > 0 and first["unread_count"] == 1

        # Something new: both show it, until the center says it was on screen.
        boss.comment(ticket, f"@{username} look")
        assert bell_is_new(desktop.get("/").text) and bell_is_new(phone.get("/").text)
        token = csrf_of(center)
        kept = desktop.post(
            "/notifications/seen",
            data={"csrf": token, "up_to_seq": str(first["newest"])},
            headers={"accept": "application/json"},
        ).json()
        assert kept["seen"] == first["newest"] < kept["newest"]  # not up to the new one
        assert bell_is_new(phone.get("/").text)
        # Beyond everything: up to the newest notification, not past it.
        moved = desktop.post("/notifications/seen", data={"csrf": token, "up_to_seq": "9" * 19})
        assert moved.status_code == 303
        assert not bell_is_new(phone.get("/").text)
        boss.comment(ticket, f"@{username} and this")
        assert bell_is_new(phone.get("/").text)
        # Never down: an older seq changes nothing.
        assert (
            desktop.post(
                "/notifications/seen",
                data={"csrf": token, "up_to_seq": "1"},
                headers={"accept": "application/json"},
            ).json()["seen"]
            == phone.get("/notifications/bell").json()["seen"]
            > first["newest"]
        )

        # Forged and hostile posts: 403 / 400, nothing moves.
        before = phone.get("/notifications/bell").json()
        for data in ({"up_to_seq": "99"}, {"csrf": "guessed", "up_to_seq": "99"}):
            assert desktop.post("/notifications/seen", data=data).status_code == 403
        for bad in ("-1", "abc", "1" * 25, "", "٣"):
            answer = desktop.post("/notifications/seen", data={"csrf": token, "up_to_seq": bad})
            assert answer.status_code == 400, bad
        assert phone.get("/notifications/bell").json() == before
    with httpx.Client(base_url=hd.url, trust_env=False) as stranger:
        assert stranger.get("/notifications/bell").status_code == 401
        email, _ = hd.new_customer(password=PASSWORD)
        sign_in(stranger, email)
        assert stranger.get("/notifications/bell").status_code == 403
        assert stranger.post("/notifications/seen", data={"up_to_seq": "1"}).status_code == 403
    hd.assert_clean_log()


def field_error(page: str, field_id: str) -> str:
    """The error shown next to a field of the admin page (and the field marked invalid)."""
    tag = re.search(rf'<(?:input|select|fieldset)[^>]*\bid="{field_id}"[^>]*>', page)
    assert tag is not None, field_id
    assert 'aria-invalid="true"' in tag.group(0) and f"e-{field_id}" in tag.group(0)
    found = re.search(rf'<p class="field-error" id="e-{field_id}">([^<]*)</p>', page)
    assert found is not None, page
    return html.unescape(found.group(1))


def test_admins_edit_the_default_preferences_and_new_agents_get_them(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    hd = shared_helpdesk
    admin, admin_api, answer = admin_page(hd, browser)
    page = answer.text
    version = int(re.search(r'name=version value="(\d+)"', page).group(1))  # type: ignore[union-attr]
    form = {
        "csrf": csrf_of(page),
        "version": str(version),
        "in_app": "on",
        "type-assignment": "on",
        "type-mention": "on",
        "email-enabled": "on",
        "email-frequency": "daily_digest",
        "email-type-mention": "on",
        "email-digest_time": "07:30",
        "quiet-0-day": "4",
        "quiet-0-start": "18:00",
        "quiet-0-end": "08:00",
        "quiet-1-day": "0",
        "quiet-1-start": "",
        "quiet-1-end": "",
        "timezone": "Europe/Berlin",
    }
    expected = {
        "in_app": True,
        "types": ["assignment", "mention"],
        "comment_reactions": False,
        "email": {
            "enabled": True,
            "frequency": "daily_digest",
            "types": ["mention"],
            "digest_time": "07:30",
            "only_when_disconnected": False,
        },
        "quiet_hours": [{"day": 4, "start": "18:00", "end": "08:00"}],
        "timezone": "Europe/Berlin",
    }

    def stored() -> dict[str, Any]:
        document: dict[str, Any] = admin_api.request("GET", "/api/v1/admin/settings").json()
        return document

    # Refused: each error next to its field (422), the rest of what was typed kept, nothing
    # stored. A row with one time of two, and a time zone nobody has, are both named.
    refused = browser.post(
        "/admin/preferences", data={**form, "quiet-0-end": "", "timezone": "Mars/Olympus"}
    )
    assert refused.status_code == 422
    assert field_error(refused.text, "p-quiet-0-end").startswith("Give both times")
    assert field_error(refused.text, "p-timezone") == "Not a known IANA time zone: 'Mars/Olympus'"
    assert 'value="Mars/Olympus"' in refused.text and 'value="07:30"' in refused.text
    assert 'role="alert"' in refused.text and "Not saved." in refused.text
    for field, value, field_id in [
        ("email-digest_time", "25:00", "p-email-digest_time"),
        ("email-frequency", "weekly", "p-email-frequency"),
        ("quiet-0-day", "9", "p-quiet-0-day"),
        ("quiet-0-day", "x", "p-quiet-0-day"),
        ("quiet-0-start", "6pm", "p-quiet-0-start"),
        ("timezone", "", "p-timezone"),
        ("timezone", "z" * 65, "p-timezone"),
    ]:
        answer = browser.post("/admin/preferences", data={**form, field: value})
        assert answer.status_code == 422, (field, value)
        assert field_error(answer.text, field_id), (field, value)
    assert stored()["version"] == version

    saved = browser.post("/admin/preferences", data=form)
    assert saved.status_code == 200 and "Saved. Agents added from now on" in saved.text
    assert stored()["settings"]["default_preferences"] == expected
    assert stored()["version"] == version + 1
    [entry] = admin_api.request("GET", "/api/v1/admin/audit?limit=1").json()["entries"]
    assert (entry["key"], entry["via"], entry["actor"], entry["new"]) == (
        "default_preferences",
        "web",
        admin,
        expected,
    )
    # The page shows what it stored, and the audit says what changed, field by field.
    assert 'value="Europe/Berlin"' in saved.text and 'value="4" selected' in saved.text
    # In the page's words, not the wire's ("email.frequency: instant → daily_digest").
    assert (
        "<strong>E-mail: how often</strong>: a mail for each notification → a daily digest"
        in saved.text
    )
    # A new agent starts with them; an agent made before keeps theirs.
    newcomer = hd.actions(hd.add_agent(unique_name("new")))
    assert newcomer.request("GET", "/api/v1/me/preferences").json() == expected
    assert admin_api.request("GET", "/api/v1/me/preferences").json()["timezone"] == "UTC"

    # Stale page: 409, the current settings shown, nothing changes.
    stale = browser.post("/admin/preferences", data={**form, "timezone": "Asia/Tokyo"})
    assert stale.status_code == 409 and "someone changed the settings" in stale.text
    assert 'value="Europe/Berlin"' in stale.text
    # Not from a person's page: 400; forged or not an admin: 403.
    many = {f"quiet-{n}-day": "0" for n in range(101)}
    fresh = {**form, "version": str(version + 1)}
    assert browser.post("/admin/preferences", data={**fresh, **many}).status_code == 400
    assert browser.post("/admin/preferences", data={**fresh, "version": "x"}).status_code == 400
    assert browser.post("/admin/preferences", data={**fresh, "csrf": ""}).status_code == 403
    with httpx.Client(base_url=hd.url, trust_env=False) as other:
        plain, _ = hd.new_agent("plain", password=PASSWORD)
        sign_in(other, plain)
        token = csrf_of(other.get("/").text)
        answer = other.post("/admin/preferences", data={**fresh, "csrf": token})
        assert answer.status_code == 403
    assert stored()["version"] == version + 1
    hd.assert_clean_log()
