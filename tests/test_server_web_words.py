"""What the web pages say to a person when something is off: error pages in words (never the
API's JSON), forms that keep what was typed and say what to fix next to it, empty lists that
say why, and labels in a user's words rather than the code's."""

from __future__ import annotations

import email.policy
import html
import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from helpdesk import Helpdesk, unique_name, web_sign_in

from notifier.server.admin_form import audit_changes, audit_label
from notifier.server.pages import read_mails
from notifier.server.settings import PREFERENCES_KEY

PASSWORD = "correct horse"
PAGE = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}  # what a browser sends


@pytest.fixture
def browser(shared_helpdesk: Helpdesk) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_helpdesk.url, trust_env=False, headers=PAGE) as client:
        yield client


def agent_signed_in(hd: Helpdesk, browser: httpx.Client, prefix: str) -> str:
    """A new agent signed in on ``browser``; their username."""
    username, _ = hd.new_agent(prefix, password=PASSWORD)
    web_sign_in(browser, username, PASSWORD)
    return username


def text_of(page: str) -> str:
    """The page's visible words, tags dropped and spaces squeezed (none before punctuation)."""
    words = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
    return re.sub(r" ([.,:])", r"\1", words)


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
    agent_signed_in(hd, browser, "lost")
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
    agent_signed_in(hd, browser, "stale")
    refused = browser.post("/notifications/read-all", data={"csrf": "old", "up_to_seq": "1"})
    assert refused.status_code == 403
    assert "This form has expired" in text_of(refused.text)
    assert 'id="bell"' in refused.text and 'action="/logout"' in refused.text


def test_a_refused_sign_in_keeps_the_username_and_says_where_it_leads(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    username, _ = shared_helpdesk.new_agent("typo", password=PASSWORD)
    form = browser.get("/login?next=/tickets/12%23comment-3")
    assert "Then you go on to ticket #12." in text_of(form.text)
    assert "Then you go on to your tickets." in text_of(browser.get("/login").text)
    wrong = web_sign_in(browser, username, "wrong horse", "/notifications")
    assert wrong.status_code == 401
    assert "Wrong username or password." in text_of(wrong.text)
    username_field = re.search(r'<input id="username"[^>]*>', wrong.text)
    assert username_field is not None and f'value="{username}"' in username_field.group(0)
    # The password is what is left to type: the cursor starts there.
    password_field = re.search(r'<input id="password"[^>]*>', wrong.text)
    assert password_field is not None and "autofocus" in password_field.group(0)
    assert "autofocus" not in username_field.group(0)
    assert "Then you go on to your notifications." in text_of(wrong.text)


def test_an_ended_session_is_named_on_the_sign_in_page_once(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    username, _ = shared_helpdesk.new_agent("ended", password=PASSWORD)
    web_sign_in(browser, username, PASSWORD)
    assert browser.get("/").status_code == 200
    host = httpx.URL(shared_helpdesk.url).host
    browser.cookies.set("helpdesk_session", "expired-or-revoked-elsewhere", domain=host)
    bounced = browser.get("/notifications")
    assert bounced.status_code == 303
    login = browser.get(bounced.headers["location"])
    assert "Your session has ended. Please sign in again." in text_of(login.text)
    assert "Then you go on to your notifications." in text_of(login.text)
    # The stale cookie is gone, so the next visit is a plain sign-in page.
    assert "Your session has ended" not in text_of(browser.get("/login").text)
    # Someone who never signed in is not told about a session.
    with httpx.Client(base_url=shared_helpdesk.url, trust_env=False) as fresh:
        assert "session has ended" not in fresh.get("/login").text


def test_the_admin_page_speaks_an_admins_words(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    hd = shared_helpdesk
    admin = unique_name("words")
    api = hd.actions(hd.add_agent(admin, password=PASSWORD, admin=True))
    web_sign_in(browser, admin, PASSWORD)
    page = text_of(browser.get("/admin").text)
    for label in (
        "Keep read notifications for (days)",
        "Keep the catch-up history for (days)",
        "Most notifications per agent about one ticket",
        "Time window of that limit (seconds)",
        "Most notifications per agent in a minute",
        "Wait before mailing an agent who is away (seconds)",
    ):
        assert label in page
    for developer_words in ("Version 0", "retention job", "pruned", "`reset`", "rate_limit"):
        assert developer_words not in page
    if "Last changed by" not in page:  # the module's helpdesk may have been changed already
        assert "These are the default settings: nobody has changed them yet." in page
    version = api.request("GET", "/api/v1/admin/settings").json()["version"]
    changes = {"version": version, "settings": {"retention_days": 60}}
    assert api.request("PUT", "/api/v1/admin/settings", json=changes).status_code == 200
    changed = text_of(browser.get("/admin").text)
    assert f"Last changed by {admin} just now." in changed
    assert f"{admin} through the API" in changed
    assert re.search(r"Keep read notifications for \(days\): \d+ → 60", changed)


def test_notification_filters_use_the_trays_words_and_empty_lists_say_why(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    hd = shared_helpdesk
    agent_signed_in(hd, browser, "quiet")
    first = browser.get("/notifications")
    tabs = re.findall(r'<a class="tab[^"]*" href="[^"]*"[^>]*>([^<]+)</a>', first.text)
    # The wire's "reaction" type is also customer replies and reopenings: the tray's words.
    assert tabs == ["All types", "Assignments", "Mentions", "Ticket updates"]
    # Read or unread is a switch of its own beside the types, not a fifth type.
    shown = re.findall(r'<a class="segment[^"]*" href="([^"]*)"[^>]*>([^<]+)</a>', first.text)
    assert shown == [
        ("/notifications?show=all", "All"),
        ("/notifications?show=unread", "Unread only"),
    ]
    assert "No notifications yet." in text_of(first.text)
    unread = text_of(browser.get("/notifications?show=unread").text)
    assert "No unread notifications: you are all caught up. Show read ones too" in unread
    mentions = browser.get("/notifications?show=unread&type=mention").text
    assert "No unread mentions. Show all types" in text_of(mentions)
    assert '<a href="/notifications?show=unread">Show all types</a>' in mentions
    # The live list's fragment says the same.
    fragment = browser.get("/notifications/list?show=all&type=reaction").text
    assert "No ticket updates. Show all types" in text_of(fragment)


def test_a_refused_comment_comes_back_with_its_text_and_why(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    hd = shared_helpdesk
    username, _ = hd.new_agent("writer", password=PASSWORD)
    email, customer = hd.new_customer(password=PASSWORD)
    ticket = customer.create_ticket("Scanner", "It scans sideways.")["id"]
    web_sign_in(browser, username, PASSWORD)
    page = browser.get(f"/tickets/{ticket}").text
    csrf = re.search(r'name=csrf value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert 'maxlength="100000"' in page  # the browser stops a too-long text already
    blank = browser.post(
        f"/tickets/{ticket}/comment", data={"csrf": csrf, "body": "  \n ", "kind": "comment"}
    )
    assert blank.status_code == 422
    assert "Write something first: the text is empty." in text_of(blank.text)
    assert "It scans sideways." in blank.text  # the ticket's own page, not a bare error
    long_text = "<b>draft</b> " + "x" * 100_000
    long = browser.post(
        f"/tickets/{ticket}/comment", data={"csrf": csrf, "body": long_text, "kind": "reply"}
    )
    assert long.status_code == 422
    assert f"This text has {len(long_text):,} characters; the most is 100,000." in text_of(
        long.text
    )
    box = re.search(r'<textarea id="body"([^>]*)>([^<]*)</textarea>', long.text)
    assert box is not None and html.unescape(box.group(2)) == long_text
    assert 'aria-invalid="true"' in box.group(1) and "body-error" in box.group(1)
    assert (
        hd.actions(customer.token).request("GET", f"/api/v1/tickets/{ticket}").json()["comments"]
        == []
    )
    # A customer's reply box does the same.
    with httpx.Client(base_url=hd.url, trust_env=False, headers=PAGE) as other:
        web_sign_in(other, email, PASSWORD)
        mine = other.get(f"/tickets/{ticket}").text
        token = re.search(r'name=csrf value="([^"]+)"', mine).group(1)  # type: ignore[union-attr]
        refused = other.post(f"/tickets/{ticket}/reply", data={"csrf": token, "body": " "})
        assert refused.status_code == 422
        assert "Write something first" in text_of(refused.text)
    hd.assert_clean_log()


def test_the_ticket_list_says_who_is_the_customer_and_who_the_assignee(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    hd = shared_helpdesk
    username, agent = hd.new_agent("lister", name="Lena List", password=PASSWORD)
    _, customer = hd.new_customer(name="Carl Customer")
    ticket = customer.create_ticket("Monitor flickers", "")["id"]
    agent.assign(ticket, username)
    web_sign_in(browser, username, PASSWORD)
    row = text_of(browser.get("/?scope=mine").text)
    assert f"#{ticket} Monitor flickers open · from Carl Customer · assigned to Lena List" in row
    assert "· updated just now" in row


def test_the_demo_mail_page_says_what_each_mail_is_about_and_when(tmp_path: Path) -> None:
    """A ticket's mails share one subject (they thread in a mail client), so each row shows
    the mail's first line; the date header becomes a time the page can say as "5 minutes
    ago"."""
    mail = EmailMessage()
    mail["To"] = "Alice Archer <alice@example.com>"
    mail["Subject"] = "[#1] Refund"
    mail["Date"] = "Mon, 30 Nov 2026 16:56:07 +0100"
    mail.set_content("Dana Evans reacted to your comment on #1\nRefund\n\n  Dana reacted\n")
    # As the mail catcher stores it: as it came over SMTP, with CRLF line ends.
    (tmp_path / "0001-alice.eml").write_bytes(mail.as_bytes(policy=email.policy.SMTP))
    broken = EmailMessage()
    broken["Date"] = "yesterday-ish"
    broken.set_content("")
    (tmp_path / "0002-bob.eml").write_bytes(bytes(broken))
    newest, oldest = read_mails(tmp_path)
    assert oldest["first_line"] == "Dana Evans reacted to your comment on #1 Refund"
    assert oldest["to"] == "Alice Archer"
    assert oldest["sent_at"] == "2026-11-30T15:56:07+00:00"
    assert (newest["sent_at"], newest["first_line"], newest["subject"]) == ("", "", "(no subject)")


def test_web_addresses_in_texts_are_links_and_nothing_else_is(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    hd = shared_helpdesk
    username, agent = hd.new_agent("linker", password=PASSWORD)
    _, customer = hd.new_customer()
    ticket = customer.create_ticket("Export", "The file is at https://files.example/q3?x=1&y=2.")
    agent.assign(ticket["id"], username)
    _, other = hd.new_agent("colleague")
    other.comment(
        ticket["id"],
        f"@{username} log: (https://logs.example/run_(7)) <b>bold</b> javascript:alert(1) "
        'http://x.example/"onmouseover="alert(1)',
    )
    web_sign_in(browser, username, PASSWORD)
    notes = browser.get("/notifications").text  # the mention's detail, before the ticket
    page = browser.get(f"/tickets/{ticket['id']}").text
    link = '<a href="{0}" rel="noopener noreferrer nofollow">{0}</a>'
    assert "is at " + link.format("https://files.example/q3?x=1&amp;y=2") + "." in page
    assert "(" + link.format("https://logs.example/run_(7)") + ")" in page
    assert "(" + link.format("https://logs.example/run_(7)") + ")" in notes
    assert "&lt;b&gt;bold&lt;/b&gt; javascript:alert(1)" in page  # text, not a link
    assert link.format("http://x.example/") + "&#34;onmouseover=&#34;alert(1)" in page
    assert 'href="javascript' not in page and "<b>bold" not in page


def test_a_notification_row_names_its_sender_once_and_says_what_kind_it_is(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    hd = shared_helpdesk
    username, _ = hd.new_agent("once", password=PASSWORD)
    _, sender = hd.new_agent("sender", name="Sita Sender")
    _, customer = hd.new_customer()
    ticket = customer.create_ticket("Badge reader", "Beeps twice.")["id"]
    sender.assign(ticket, username)
    web_sign_in(browser, username, PASSWORD)
    row = re.search(
        r'<button type="button" class="note-open".*?</button>',
        browser.get("/notifications").text,
        re.S,
    )
    assert row is not None
    words = text_of(row.group(0))
    assert words.startswith("Sita Sender assigned you #")
    assert words.count("Sita Sender") == 1
    assert words.endswith("Assignment · just now")


def test_empty_ticket_lists_say_which_tickets_there_are_none_of(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    hd = shared_helpdesk
    agent_signed_in(hd, browser, "idle")
    assert "No open tickets assigned to you." in text_of(browser.get("/").text)
    assert "No resolved tickets assigned to you." in text_of(
        browser.get("/?scope=mine&status=resolved").text
    )
    teamless = browser.get("/?scope=team&status=open").text
    assert "You are in no team, so no team's tickets show here. See all tickets" in text_of(
        teamless
    )
    assert '<a href="/?scope=open&amp;status=open">See all tickets</a>' in teamless
    hd.add_agent(member := unique_name("member"), password=PASSWORD, team="hardware")
    with httpx.Client(base_url=hd.url, trust_env=False, headers=PAGE) as other:
        web_sign_in(other, member, PASSWORD)
        page = text_of(other.get("/?scope=team&status=resolved").text)
        assert "No resolved tickets for team hardware." in page
    email, _ = hd.new_customer(password=PASSWORD)
    with httpx.Client(base_url=hd.url, trust_env=False, headers=PAGE) as customer:
        web_sign_in(customer, email, PASSWORD)
        assert "You have no open tickets." in text_of(customer.get("/").text)
        assert "You have no tickets yet." in text_of(customer.get("/?status=all").text)


def test_a_customer_is_not_told_they_are_the_customer(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    hd = shared_helpdesk
    email, customer = hd.new_customer(name="Cleo Client", password=PASSWORD)
    ticket = customer.create_ticket("Headset", "Crackles.")["id"]
    web_sign_in(browser, email, PASSWORD)
    page = text_of(browser.get(f"/tickets/{ticket}").text)
    assert "customer: Cleo Client" not in page and "opened just now" in page
    agent, _ = hd.new_agent("viewer", password=PASSWORD)
    with httpx.Client(base_url=hd.url, trust_env=False, headers=PAGE) as other:
        web_sign_in(other, agent, PASSWORD)
        assert "customer: Cleo Client" in text_of(other.get(f"/tickets/{ticket}").text)


def comment_heads(page: str) -> list[str]:
    """Each comment's line above its text: who, what kind, when."""
    return [
        text_of(m)
        for m in re.findall(r'<li class="comment[^"]*".*?<div class="meta">(.*?)</div>', page, re.S)
    ]


def test_a_customer_reads_her_own_posts_as_hers_and_the_rest_as_the_helpdesks(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    # "Maria Lopez · customer reply" on Maria's own page: the agents' word for her side.
    hd = shared_helpdesk
    email, customer = hd.new_customer(name="Cora Client", password=PASSWORD)
    agent, helper = hd.new_agent("answer", name="Hana Helper", password=PASSWORD)
    ticket = customer.create_ticket("Scanner", "Jams on every page.")["id"]
    with httpx.Client(base_url=hd.url, trust_env=False, headers=PAGE) as other:
        web_sign_in(other, agent, PASSWORD)
        form = other.get(f"/tickets/{ticket}").text
        csrf = re.search(r'name=csrf value="([^"]+)"', form)
        assert csrf is not None
        answer = {"csrf": csrf.group(1), "kind": "reply", "body": "Please try the rear tray."}
        assert other.post(f"/tickets/{ticket}/comment", data=answer).status_code < 400
        customer.reply(ticket, "Same with the rear tray.")
        helper.comment(ticket, "Internal: order a new roller.")
        assert comment_heads(other.get(f"/tickets/{ticket}").text) == [
            "Hana Helper · reply to the customer · just now",
            "Cora Client · customer reply · just now",
            "Hana Helper · internal comment · just now",
        ]
    web_sign_in(browser, email, PASSWORD)
    heads = comment_heads(browser.get(f"/tickets/{ticket}").text)
    assert heads == ["Hana Helper · helpdesk · just now", "You · just now"]


def test_a_notifications_detail_says_when_as_its_row_does(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    # The detail said "2026-12-01 02:26:00 UTC" where its row and every page say "just now".
    hd = shared_helpdesk
    username, _ = hd.new_agent("detail", password=PASSWORD)
    _, sender = hd.new_agent("sender", name="Saul Sender")
    _, customer = hd.new_customer()
    sender.assign(customer.create_ticket("Dock", "No picture.")["id"], username)
    web_sign_in(browser, username, PASSWORD)
    page = browser.get("/notifications").text
    row = re.search(
        r'<button type="button" class="note-open".*?(<time [^>]*>[^<]*</time>)', page, re.S
    )
    detail = re.search(r'<section class="detail".*?<p class="meta">(.*?)</p>', page, re.S)
    assert row is not None and detail is not None
    assert text_of(detail.group(1)) == "Saul Sender · just now"
    assert row.group(1) in detail.group(1)  # the same time, exact in its title
    assert re.search(r'title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"', row.group(1))


def test_a_customer_opens_a_ticket_and_a_refused_one_keeps_what_was_typed(
    shared_helpdesk: Helpdesk, browser: httpx.Client
) -> None:
    hd = shared_helpdesk
    email, customer = hd.new_customer(password=PASSWORD)
    web_sign_in(browser, email, PASSWORD)
    assert 'href="/tickets/new"' in browser.get("/").text  # "Open a ticket" from the list
    form = browser.get("/tickets/new")
    assert form.status_code == 200 and "What happened?" in text_of(form.text)
    csrf = re.search(r'name=csrf value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    # Without this session's form token nothing is opened.
    forged = browser.post("/tickets/new", data={"subject": "Forged", "body": "x"})
    assert forged.status_code == 403
    # A blank subject comes back with the text kept and why, the subject marked.
    draft = "<b>Every</b> page jams at the fuser."
    blank = browser.post("/tickets/new", data={"csrf": csrf, "subject": "  ", "body": draft})
    assert blank.status_code == 422
    assert "Write something first: the subject is empty." in text_of(blank.text)
    box = re.search(r'<textarea id="body"[^>]*>([^<]*)</textarea>', blank.text)
    assert box is not None and html.unescape(box.group(1)) == draft
    subject = re.search(r'<input id="subject"([^>]*)>', blank.text)
    assert subject is not None and 'aria-invalid="true"' in subject.group(1)
    assert "You have no tickets yet." in text_of(browser.get("/?status=all").text)

    opened = browser.post(
        "/tickets/new", data={"csrf": csrf, "subject": "Printer jams", "body": draft}
    )
    assert opened.status_code == 303
    ticket_id = opened.headers["location"].removeprefix("/tickets/")
    page = browser.get(opened.headers["location"]).text
    assert "Printer jams" in text_of(page) and "&lt;b&gt;Every&lt;/b&gt; page jams" in page
    ticket = customer.request("GET", f"/api/v1/tickets/{ticket_id}").json()
    assert ticket["subject"] == "Printer jams" and ticket["status"] == "open"

    # Agents open tickets for a customer over the API; the page says so instead of a form.
    with httpx.Client(base_url=hd.url, trust_env=False, headers=PAGE) as agent:
        agent_signed_in(hd, agent, "opener")
        refused = agent.get("/tickets/new")
        assert refused.status_code == 403 and "over the API" in text_of(refused.text)
        token = re.search(r'name=csrf value="([^"]+)"', agent.get("/").text).group(1)  # type: ignore[union-attr]
        posted = agent.post("/tickets/new", data={"csrf": token, "subject": "Mine", "body": ""})
        assert posted.status_code == 403
    hd.assert_clean_log()


def test_the_audit_says_what_changed_in_the_pages_words() -> None:
    old = {
        "in_app": True,
        "types": ["assignment", "mention", "reaction"],
        "email": {"frequency": "instant", "digest_time": "09:00", "enabled": True},
    }
    new = {
        "in_app": False,
        "types": ["mention"],
        "email": {"frequency": "hourly_digest", "digest_time": "17:30", "enabled": True},
    }
    lines = {
        audit_label(what): (before, after)
        for what, before, after in audit_changes(PREFERENCES_KEY, old, new)
    }
    assert lines == {
        "Show notifications in the app": ("on", "off"),
        "Notification types": ("assignments, mentions, customer replies and reactions", "mentions"),
        "E-mail: how often": ("a mail for each notification", "an hourly digest"),
        "E-mail: daily digest at": ("09:00", "17:30"),
    }
    # A path the page has no field for still reads as words, not as code.
    assert audit_label("email.some_new_switch") == "email: some new switch"
