"""Who can see and change what on the reference helpdesk, probed from every side.

Customers see only what is theirs and never an internal comment; an agent sees and changes only
their own notifications; only admins touch the system settings; a credential works only where
it belongs (a session cookie is no Bearer token, an API token no session). Each probe acts as
the wrong person with real ids of someone else's things against a real server, and checks
both the answer and that nothing changed.
"""

from __future__ import annotations

import asyncio
import functools
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from helpdesk import Helpdesk, HelpdeskActions, connect_stream, stream_url, web_sign_in
from mail_support import FakeClock, LiveHelpdesk
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from notifier.core import wire
from notifier.server import outbox, repository
from notifier.server.mailer import MailConfig

PASSWORD = "correct horse"
NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PAGE = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}  # what a browser sends


def browser_for(hd: Helpdesk) -> httpx.Client:
    """A cookie-keeping client that does not follow redirects (the probes look at them)."""
    return httpx.Client(base_url=hd.url, trust_env=False, headers=PAGE, timeout=15)


@pytest.fixture
def browser(shared_helpdesk: Helpdesk) -> Iterator[httpx.Client]:
    with browser_for(shared_helpdesk) as client:
        yield client


def csrf_of(page: str) -> str:
    found = re.search(r'name=csrf value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1)


def signed_in(browser: httpx.Client, username: str) -> str:
    """Signs ``browser`` in; returns the session's form token (from the home page)."""
    assert web_sign_in(browser, username, PASSWORD).status_code == 303
    home = browser.get("/")
    assert home.status_code == 200
    return csrf_of(home.text)


def thread_of(agent: HelpdeskActions, ticket_id: str) -> list[str]:
    """The ticket's comments as an agent sees them: their bodies in order."""
    page = agent.request("GET", f"/api/v1/tickets/{ticket_id}").json()
    return [c["body"] for c in page["comments"]]


def test_a_customer_reaches_no_other_customers_ticket_on_the_web_pages(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    hd = shared_helpdesk
    _, agent = hd.new_agent("owner")
    _, owner = hd.new_customer(password=PASSWORD)
    stranger_email, _ = hd.new_customer(password=PASSWORD)
    ticket = owner.create_ticket("OWNERS-SUBJECT", "owners private words")
    t = ticket["id"]
    reply = owner.reply(t, "OWNERS-REPLY")
    agent.resolve(t)
    csrf = signed_in(browser, stranger_email)

    # The ticket page answers exactly as for a ticket that does not exist.
    page = browser.get(f"/tickets/{t}")
    missing = browser.get("/tickets/99999999")
    assert page.status_code == missing.status_code == 404
    assert page.text == missing.text
    for path in (f"/comments/{reply['id']}", "/comments/99999999"):
        assert browser.get(path).status_code == 404, path
    # The lists never show it, whatever scope the address asks for.
    for query in ("", "?scope=open&status=all", "?scope=team&status=all", "?scope=mine&status=all"):
        assert "OWNERS-SUBJECT" not in browser.get(f"/{query}").text, query
    # The customer's own forms on someone else's ticket: 404, and nothing changed.
    for path, data in (
        (f"/tickets/{t}/reply", {"body": "STRANGERS-WORDS"}),
        (f"/tickets/{t}/reopen", {"body": "STRANGERS-WORDS"}),
    ):
        answer = browser.post(path, data={"csrf": csrf, **data})
        assert answer.status_code == 404, path
        assert "OWNERS" not in answer.text
    assert thread_of(agent, t) == ["OWNERS-REPLY"]
    assert agent.request("GET", f"/api/v1/tickets/{t}").json()["status"] == "resolved"
    hd.assert_clean_log()


def test_no_internal_comment_reaches_its_customer_on_the_web_pages(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    hd = shared_helpdesk
    _, agent = hd.new_agent("inside")
    colleague_name, colleague = hd.new_agent("insidec", name="Cassius Colleague")
    email, customer = hd.new_customer(password=PASSWORD)
    t = customer.create_ticket("Refund", "Money back please")["id"]
    first = customer.reply(t, "first reply")
    internal = agent.comment(t, f"INTERNAL-ONLY @{colleague_name} is this a scam?")
    colleague.react(internal["id"], "👀")
    colleague.react(first["id"], "🎉")
    last = customer.reply(t, "last reply")
    csrf = signed_in(browser, email)

    # Every page of the thread, from the start and from just before the internal comment.
    for query in ("", "?limit=1", f"?after={first['id']}", f"?after={first['id']}&limit=1"):
        page = browser.get(f"/tickets/{t}{query}")
        assert page.status_code == 200, query
        for secret in ("INTERNAL-ONLY", colleague_name, "Cassius", "👀", "🎉"):
            assert secret not in page.text, (query, secret)
        assert f'id="comment-{internal["id"]}"' not in page.text
    assert f'id="comment-{last["id"]}"' in browser.get(f"/tickets/{t}?after={first['id']}").text
    # A link to the internal comment tells nothing: as for a comment that does not exist.
    link = browser.get(f"/comments/{internal['id']}")
    missing = browser.get("/comments/99999999")
    assert link.status_code == missing.status_code == 404
    assert link.text == missing.text
    assert browser.get(f"/comments/{last['id']}").status_code == 303  # their own: fine
    # The agents' forms are refused to the customer and write nothing.
    for path, data in (
        (f"/tickets/{t}/comment", {"body": "CUSTOMER-AS-AGENT", "kind": "comment"}),
        (f"/tickets/{t}/comment", {"body": "CUSTOMER-AS-AGENT", "kind": "reply"}),
        (f"/comments/{internal['id']}/react", {"emoji": "👍"}),
        (f"/tickets/{t}/resolve", {}),
        (f"/tickets/{t}/assign", {"to": f"agent:{colleague_name}"}),
    ):
        answer = browser.post(path, data={"csrf": csrf, **data})
        assert answer.status_code == 403, path
        assert "INTERNAL-ONLY" not in answer.text
    assert "CUSTOMER-AS-AGENT" not in thread_of(agent, t)
    hd.assert_clean_log()


def test_an_agent_reaches_no_other_agents_notifications_on_the_web_pages(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    hd = shared_helpdesk
    owner_name, owner = hd.new_agent("noteowner")
    intruder_name, _ = hd.new_agent("noteintruder", password=PASSWORD)
    _, customer = hd.new_customer()
    t = customer.create_ticket("Printer", "jams")["id"]
    hd.actions(hd.add_agent(f"{owner_name}-boss")).comment(t, f"@{owner_name} OWNERS-MENTION")
    [note] = owner.notifications()["notifications"]
    csrf = signed_in(browser, intruder_name)

    for path in (
        f"/notifications/{note['id']}/read",
        f"/notifications/{note['id']}/delete",
    ):
        answer = browser.post(path, data={"csrf": csrf})
        missing = browser.post(path.replace(note["id"], "99999999"), data={"csrf": csrf})
        assert answer.status_code == missing.status_code == 404, path
        assert answer.text == missing.text
    # Their own "everything" forms reach only their own list.
    for path, data in (
        ("/notifications/read-all", {"up_to_seq": "999999"}),
        ("/notifications/clear", {}),
    ):
        assert browser.post(path, data={"csrf": csrf, **data}).status_code == 303, path
    for path in ("/notifications", "/notifications/list", "/notifications?show=unread"):
        assert "OWNERS-MENTION" not in browser.get(path).text, path
    assert browser.get("/notifications/bell").json()["unread_count"] == 0
    page = owner.notifications()
    assert [n["id"] for n in page["notifications"]] == [note["id"]]
    assert page["notifications"][0]["read"] is False and page["unread_count"] == 1
    hd.assert_clean_log()


def test_customers_get_no_agent_pages_and_agents_no_admin_pages(
    shared_helpdesk: Helpdesk,
) -> None:
    hd = shared_helpdesk
    customer_email, _ = hd.new_customer(password=PASSWORD)
    agent_name, _ = hd.new_agent("notadmin", password=PASSWORD)
    admin = hd.actions(hd.add_agent(f"{agent_name}-admin", admin=True))
    before = admin.request("GET", "/api/v1/admin/settings").json()
    with browser_for(hd) as customer, browser_for(hd) as agent:
        customer_csrf = signed_in(customer, customer_email)
        agent_csrf = signed_in(agent, agent_name)
        for path in ("/notifications", "/notifications/list", "/mail", "/admin"):
            assert customer.get(path).status_code == 403, path
        bell = customer.get("/notifications/bell")
        assert bell.status_code == 403
        assert wire.ApiError.parse(bell.content).code == "forbidden"
        seen = customer.post("/notifications/seen", data={"csrf": customer_csrf, "up_to_seq": "1"})
        assert seen.status_code == 403
        assert agent.get("/admin").status_code == 403
        version = str(before["version"])
        for path, data in (
            ("/admin", {"retention_days": "1"}),
            ("/admin/new-tickets", {"new_ticket_team": ""}),
            ("/admin/preferences", {}),
        ):
            for browser, csrf in ((agent, agent_csrf), (customer, customer_csrf)):
                answer = browser.post(path, data={"csrf": csrf, "version": version, **data})
                assert answer.status_code == 403, path
    assert admin.request("GET", "/api/v1/admin/settings").json() == before
    hd.assert_clean_log()


def test_a_credential_works_only_where_it_belongs(shared_helpdesk: Helpdesk) -> None:
    hd = shared_helpdesk
    agent_name, agent = hd.new_agent("creds", password=PASSWORD)
    _, customer = hd.new_customer()
    t = customer.create_ticket("Creds", "x")["id"]
    with browser_for(hd) as browser:
        csrf = signed_in(browser, agent_name)
        session = browser.cookies["helpdesk_session"]
        # The session cookie is no Bearer token.
        for method, path in (("GET", "/api/v1/me"), ("GET", "/api/v1/notifications")):
            answer = httpx.request(
                method,
                f"{hd.url}{path}",
                headers={"authorization": f"Bearer {session}"},
                trust_env=False,
            )
            assert answer.status_code == 401, path
    # The API token is no session: the pages ask to sign in, and its forms change nothing
    # (with the token as a cookie, and with it as a Bearer next to a form token).
    with browser_for(hd) as api_browser:
        api_browser.cookies.set("helpdesk_session", agent.token)
        assert api_browser.get("/").status_code == 303
        assert api_browser.get("/notifications/bell").status_code == 401
        posted = api_browser.post(f"/tickets/{t}/resolve", data={"csrf": csrf})
        assert posted.status_code == 403
    with browser_for(hd) as bearer_browser:
        bearer_browser.headers["authorization"] = f"Bearer {agent.token}"
        assert bearer_browser.get("/").status_code == 303
        assert bearer_browser.post(f"/tickets/{t}/resolve", data={"csrf": csrf}).status_code == 403
    assert agent.request("GET", f"/api/v1/tickets/{t}").json()["status"] == "open"
    # A customer's right password gets no API token, answered exactly as a wrong one.
    customer_email, _ = hd.new_customer(password=PASSWORD)
    answers = [
        httpx.post(
            f"{hd.url}/api/v1/auth/token",
            json={"username": customer_email, "password": password},
            trust_env=False,
            timeout=15,
        )
        for password in (PASSWORD, "not the password")
    ]
    assert [a.status_code for a in answers] == [401, 401]
    assert answers[0].json() == answers[1].json()
    hd.assert_clean_log()


@pytest.mark.asyncio
async def test_the_stream_takes_each_credential_only_as_itself(shared_helpdesk: Helpdesk) -> None:
    hd = shared_helpdesk
    agent_name, agent = hd.new_agent("streamcreds", password=PASSWORD)
    customer_email, _ = hd.new_customer(password=PASSWORD)
    with browser_for(hd) as browser, browser_for(hd) as customer_browser:
        signed_in(browser, agent_name)
        signed_in(customer_browser, customer_email)
        session = browser.cookies["helpdesk_session"]
        customer_session = customer_browser.cookies["helpdesk_session"]
    refusals = [
        ({"authorization": f"Bearer {session}"}, 401),  # a session as a Bearer token
        ({"cookie": f"helpdesk_session={agent.token}", "origin": hd.url}, 401),  # vice versa
        ({"cookie": f"helpdesk_session={customer_session}", "origin": hd.url}, 403),
        # The agent's own session from another site's page, or from no page at all.
        ({"cookie": f"helpdesk_session={session}", "origin": "http://evil.example"}, 403),
        ({"cookie": f"helpdesk_session={session}"}, 403),
    ]
    for headers, status in refusals:
        with pytest.raises(InvalidStatus) as refused:
            async with (
                asyncio.timeout(10),
                connect(stream_url(hd.url), additional_headers=headers, proxy=None),
            ):
                pass
        assert refused.value.response.status_code == status, headers
        assert wire.ApiError.parse(refused.value.response.body).code in (
            "unauthorized",
            "forbidden",
        )
    # The agent's own API token still opens it (the probes above refused for the right reason).
    async with asyncio.timeout(10), connect_stream(hd.url, agent.token) as websocket:
        assert "hello" in await websocket.recv()


def test_a_deactivated_agents_mail_settings_link_is_no_longer_valid(helpdesk: Helpdesk) -> None:
    # The link in every mail is a credential like their tokens, and deactivation ends those:
    # someone who left (or whoever has their old mail) no longer sees or changes their settings.
    helpdesk.add_agent("leaver", name="Lee Leaver", email="lee@desk.example")
    connection = sqlite3.connect(helpdesk.db)
    try:
        with connection:
            (agent_id,) = connection.execute(
                "SELECT id FROM users WHERE username = 'leaver'"
            ).fetchone()
            link = f"{helpdesk.url}/mail/{outbox.unsubscribe_token(connection, agent_id)}"
    finally:
        connection.close()
    with httpx.Client(trust_env=False, timeout=15) as client:
        page = client.get(link)
        assert page.status_code == 200 and "Lee Leaver" in page.text
        helpdesk.run_cli("deactivate", "leaver")
        for method in ("GET", "POST"):
            refused = client.request(method, link)
            assert refused.status_code == 404, method
            assert "Lee Leaver" not in refused.text
            assert "This e-mail settings link is not valid." in refused.text
        helpdesk.run_cli("reactivate", "leaver")
        again = client.get(link)
        assert again.status_code == 200 and "Lee Leaver" in again.text
    helpdesk.assert_clean_log()


def caught_mail(folder: Path, name: str, to: str, subject: str, text: str) -> None:
    """A mail as the demo's mail catcher writes it (one .eml file per mail)."""
    message = EmailMessage()
    message["To"], message["From"], message["Subject"] = to, "helpdesk@desk.example", subject
    message["Date"] = "Tue, 01 Dec 2026 12:00:00 +0000"
    message.set_content(text)
    (folder / f"{name}.eml").write_bytes(bytes(message))


@pytest.mark.asyncio
async def test_the_demos_mail_page_shows_an_agent_only_their_own_mail(tmp_path: Path) -> None:
    # Every agent read every caught mail: another agent's password-reset link (a takeover of
    # their web account, the admin's too) and e-mail settings links. The admin sees all.
    folder = tmp_path / "caught"
    folder.mkdir()
    caught_mail(folder, "1", "Bea <bea@desk.example>", "Reset", "bea-reset-link-1f3a")
    caught_mail(folder, "2", "Ann <ann@desk.example>", "Reset", "ann-reset-link-9c2d")
    live = LiveHelpdesk(tmp_path / "hd", FakeClock(NOON), MailConfig(), mail_dir=folder)
    await live.start()
    try:
        for username, admin in (("bea", False), ("ann", True), ("cy", False)):
            email = None if username == "cy" else f"{username}@desk.example"
            await live.database.run(
                functools.partial(
                    repository.add_user,
                    kind="agent",
                    username=username,
                    name=username.title(),
                    password=PASSWORD,
                    is_admin=admin,
                    email=email,
                )
            )
        pages = {}
        for username in ("bea", "ann", "cy"):
            async with httpx.AsyncClient(base_url=live.url, trust_env=False) as client:
                form = await client.get("/login")
                token = re.search(r'name=csrf value="([^"]+)"', form.text)
                assert token is not None
                data = {"username": username, "password": PASSWORD, "csrf": token.group(1)}
                assert (await client.post("/login", data=data)).status_code == 303
                page = await client.get("/mail")
                assert page.status_code == 200
                pages[username] = page.text
    finally:
        await live.close()
    assert "bea-reset-link-1f3a" in pages["bea"] and "ann-reset-link" not in pages["bea"]
    assert "those to you (bea@desk.example)" in pages["bea"]
    assert "bea-reset-link-1f3a" in pages["ann"] and "ann-reset-link-9c2d" in pages["ann"]
    assert "reset-link" not in pages["cy"] and "no e-mail address" in pages["cy"]
