"""The notification rules of the reference helpdesk (issue 3), end to end over HTTP.

Each test acts through the helpdesk actions and checks what lands in the agents' notification
lists (and, for e-mail, in the server's outbox table of its real SQLite file).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import httpx
import pytest
from helpdesk import Helpdesk, HelpdeskActions, web_sign_in

from notifier.core import wire
from notifier.server.actions import reaction_message


def notes(agent: HelpdeskActions) -> list[dict[str, Any]]:
    page = agent.notifications(limit=500)
    assert page["has_more"] is False
    # Every notification must be valid by the wire contract.
    wire.NotificationPage.parse(page)
    notifications: list[dict[str, Any]] = page["notifications"]
    return notifications


def status_of(call: Any, *args: Any) -> int:
    with pytest.raises(httpx.HTTPStatusError) as failure:
        call(*args)
    return failure.value.response.status_code


def test_manual_assignment_notifies_the_assignee(shared_helpdesk: Helpdesk) -> None:
    hd = shared_helpdesk
    alice_name, alice = hd.new_agent("alice", name="Alice Archer")
    _, bea = hd.new_agent("bea", name="Bea Baker")
    email, _ = hd.new_customer()
    ticket = bea.create_ticket("VAT number wrong", "Our invoice has <b>old</b> VAT", customer=email)
    bea.assign(ticket["id"], alice_name)
    [note] = notes(alice)
    assert note["type"] == "assignment"
    assert note["reason"] == "assigned"
    assert note["from"]["name"] == "Bea Baker" and note["from"]["kind"] == "agent"
    assert note["ticket"] == {
        "id": ticket["id"],
        "subject": "VAT number wrong",
        "url": f"{hd.url}/tickets/{ticket['id']}",
    }
    assert note["comment"] is None
    assert note["message"] == "Our invoice has <b>old</b> VAT"  # plain text, as written
    assert note["read"] is False
    assert ticket["customer"]["username"] == email
    # Assigning again to the same agent changes nothing and notifies nobody.
    bea.assign(ticket["id"], alice_name)
    assert len(notes(alice)) == 1


def test_self_assignment_notifies_no_one(shared_helpdesk: Helpdesk) -> None:
    alice_name, alice = shared_helpdesk.new_agent("self")
    ticket = alice.create_ticket("Mine", "x")
    assert alice.assign(ticket["id"], alice_name)["assignee"]["username"] == alice_name
    assert notes(alice) == []


def test_team_tickets_are_assigned_round_robin(shared_helpdesk: Helpdesk) -> None:
    hd = shared_helpdesk
    team = "rr-team"
    first_name, first = hd.new_agent("rr", team=team)
    second_name, second = hd.new_agent("rr", team=team)
    _, customer = hd.new_customer()
    tickets = [customer.create_ticket(f"Ticket {n}", f"body {n}", team=team) for n in range(3)]
    assert [t["assignee"]["username"] for t in tickets] == [first_name, second_name, first_name]
    first_notes = notes(first)
    assert [n["ticket"]["id"] for n in first_notes] == [tickets[0]["id"], tickets[2]["id"]]
    assert all(n["reason"] == "auto_assigned" and n["from"] is None for n in first_notes)
    assert [n["message"] for n in notes(second)] == ["body 1"]
    # An unknown team is refused, not silently ignored.
    assert status_of(customer.create_ticket, "x", "y", None, "no-such-team") == 422


def test_mentions_notify_each_agent_once_per_comment(shared_helpdesk: Helpdesk) -> None:
    hd = shared_helpdesk
    author_name, author = hd.new_agent("au", name="Author")
    x_name, x = hd.new_agent("mx")
    y_name, y = hd.new_agent("my")
    z_name, z = hd.new_agent("mz")
    ticket = author.create_ticket("Mentions", "")
    body = (
        f"@{x_name} and again @{x_name}, also @{y_name}. Not {z_name}@example.com,"
        f" not myself @{author_name}"
    )
    comment = author.comment(ticket["id"], body)
    assert comment["url"] == f"{hd.url}/tickets/{ticket['id']}#comment-{comment['id']}"
    [x_note] = notes(x)
    [y_note] = notes(y)
    assert notes(z) == []
    assert notes(author) == []
    assert x_note["type"] == "mention" and x_note["reason"] == "mentioned"
    assert x_note["comment"] == {"id": comment["id"], "url": comment["url"]}
    assert x_note["message"] == body
    assert x_note["from"]["name"] == "Author"
    assert y_note["id"] != x_note["id"]

    # An edit notifies only agents not mentioned before in this comment.
    author.edit_comment(comment["id"], f"@{x_name} @{y_name} @{z_name} updated")
    assert len(notes(x)) == 1 and len(notes(y)) == 1
    [z_note] = notes(z)
    assert z_note["comment"]["id"] == comment["id"]
    assert z_note["message"] == f"@{x_name} @{y_name} @{z_name} updated"
    # Only the author may edit.
    assert status_of(x.edit_comment, comment["id"], "hijack") == 403


def test_long_messages_are_clipped_plain_text(shared_helpdesk: Helpdesk) -> None:
    hd = shared_helpdesk
    target_name, target = hd.new_agent("long")
    _, author = hd.new_agent("la")
    ticket = author.create_ticket("Long", "")
    author.comment(ticket["id"], f"@{target_name} " + "<i>é</i>" * 1000)
    [note] = notes(target)
    assert len(note["message"]) == wire.MAX_MESSAGE_CHARS
    assert note["message"].endswith("…")
    assert note["message"].startswith(f"@{target_name} <i>é</i>")


def test_customer_reply_and_reopen_notify_the_assigned_agent(shared_helpdesk: Helpdesk) -> None:
    hd = shared_helpdesk
    agent_name, agent = hd.new_agent("rep")
    _, customer = hd.new_customer(name="Maria Lopez")
    ticket = customer.create_ticket("Export empty", "The CSV is empty")
    # Unassigned: a reply notifies nobody.
    customer.reply(ticket["id"], "hello?")
    agent.assign(ticket["id"], agent_name)
    assert notes(agent) == []
    reply = customer.reply(ticket["id"], "Still empty today")
    [note] = notes(agent)
    assert note["type"] == "reaction" and note["reason"] == "customer_replied"
    assert note["from"] == {"kind": "customer", "id": note["from"]["id"], "name": "Maria Lopez"}
    assert note["message"] == "Still empty today"
    assert note["comment"]["id"] == reply["id"]

    # Reopening needs a resolved ticket.
    assert status_of(customer.reopen, ticket["id"]) == 409
    agent.resolve(ticket["id"])
    assert status_of(agent.resolve, ticket["id"]) == 409
    assert customer.reopen(ticket["id"])["status"] == "open"
    agent.resolve(ticket["id"])
    customer.reopen(ticket["id"], "It broke again")
    reopened = [n for n in notes(agent) if n["reason"] == "customer_reopened"]
    # The headline names who reopened it; the message does not say "reopened" again.
    assert [n["message"] for n in reopened] == ["No message from the customer.", "It broke again"]
    assert all(n["type"] == "reaction" for n in reopened)


def test_an_agent_reopens_a_resolved_ticket_as_they_resolve_it(shared_helpdesk: Helpdesk) -> None:
    hd = shared_helpdesk
    assignee_name, assignee = hd.new_agent("ro")
    _, colleague = hd.new_agent("rp")
    _, customer = hd.new_customer()
    ticket = customer.create_ticket("Resolved too soon", "")
    colleague.assign(ticket["id"], assignee_name)
    before = assignee.notifications()["last_seq"]

    assert status_of(colleague.reopen, ticket["id"]) == 409  # open: nothing to reopen
    colleague.resolve(ticket["id"])
    # What an agent has to say goes in a comment: a message with the reopening is refused.
    assert status_of(colleague.reopen, ticket["id"], "because") == 422
    assert colleague.reopen(ticket["id"])["status"] == "open"
    # As resolving, it tells no one; the customer's reopening is the one that notifies.
    assert assignee.notifications()["last_seq"] == before
    assert status_of(colleague.reopen, ticket["id"]) == 409


def test_customers_act_only_on_their_own_tickets(shared_helpdesk: Helpdesk) -> None:
    hd = shared_helpdesk
    _, agent = hd.new_agent("iso")
    _, owner = hd.new_customer()
    _, stranger = hd.new_customer()
    ticket = owner.create_ticket("Mine", "private")
    note = agent.comment(ticket["id"], "internal")
    assert status_of(stranger.reply, ticket["id"], "let me in") == 404
    assert status_of(stranger.reopen, ticket["id"]) == 404
    assert stranger.request("GET", f"/api/v1/tickets/{ticket['id']}").status_code == 404
    # Agent-only actions are forbidden to customers, even on their own ticket.
    assert status_of(owner.comment, ticket["id"], "x") == 403
    assert status_of(owner.assign, ticket["id"], "anyone") == 403
    assert status_of(owner.resolve, ticket["id"]) == 403
    assert status_of(owner.view, ticket["id"]) == 403
    assert status_of(owner.react, note["id"], "👍") == 403
    # Agents cannot reply as the customer.
    assert status_of(agent.reply, ticket["id"], "x") == 403
    # A customer cannot open a ticket for someone else.
    other_email = stranger.request("GET", "/api/v1/me").json()["username"]
    assert status_of(owner.create_ticket, "x", "y", other_email) == 403


def test_customers_see_only_replies_never_internal_comments(shared_helpdesk: Helpdesk) -> None:
    hd = shared_helpdesk
    _, agent = hd.new_agent("priv")
    colleague_name, colleague = hd.new_agent("privc")
    email, customer = hd.new_customer()
    ticket = customer.create_ticket("Refund", "I want my money back")
    first_reply = customer.reply(ticket["id"], "any news?")
    internal = agent.comment(ticket["id"], f"INTERNAL-ONLY @{colleague_name} is this a scam?")
    colleague.react(internal["id"], "👀")
    colleague.react(first_reply["id"], "👀")
    second_reply = customer.reply(ticket["id"], "hello??")

    seen = customer.request("GET", f"/api/v1/tickets/{ticket['id']}")
    assert seen.status_code == 200
    assert [c["id"] for c in seen.json()["comments"]] == [first_reply["id"], second_reply["id"]]
    assert all(c["kind"] == "reply" for c in seen.json()["comments"])
    # Nothing of the internal comment, its @mention or the agents' reactions leaks.
    for secret in ("INTERNAL-ONLY", colleague_name, "👀"):
        assert secret not in seen.text, secret
    # Agents still see the whole thread.
    full = agent.request("GET", f"/api/v1/tickets/{ticket['id']}").json()
    assert [c["id"] for c in full["comments"]] == [
        first_reply["id"],
        internal["id"],
        second_reply["id"],
    ]
    # The only other paths to a ticket's thread are the agents' web pages (customers cannot
    # sign in there) and the agent-only view action.
    with httpx.Client(base_url=hd.url, trust_env=False) as browser:
        refused = web_sign_in(browser, email, "")
        assert refused.status_code in (401, 403)
    assert status_of(customer.view, ticket["id"]) == 403


def test_a_reaction_message_names_the_others_and_the_comment_not_the_sender() -> None:
    # The sender is the newest to react; clients put their name first ("Dana Evans reacted to
    # your comment on #7 …"), so the message must not say it again.
    assert reaction_message(["👍"], [], "Fixed it") == "👍 on “Fixed it”"
    assert reaction_message(["✅", "👍", "✅"], ["Bea"], "ok") == "👍 ✅, with Bea, on “ok”"
    many = reaction_message(["❤️"], ["Bea", "Carl", "Ann", "Bea"], "ok")
    assert many == "❤️, with Bea and 2 others, on “ok”"
    assert reaction_message(["👀"], ["Bea", "Carl", "Ann"], "ok").count("1 other") == 0
    long_comment = "word " * 100 + "\n<b>not markup</b>"
    quoted = reaction_message(["👍"], [], long_comment).removeprefix("👍 on “").removesuffix("”")
    assert quoted.endswith("…") and len(quoted) <= 80 and "\n" not in quoted


def test_reactions_fold_into_one_reissued_notification(shared_helpdesk: Helpdesk) -> None:
    hd = shared_helpdesk
    _, author = hd.new_agent("ra")
    _, bea = hd.new_agent("rb", name="Bea Baker")
    _, carl = hd.new_agent("rc", name="Carl Diaz")
    _, dana = hd.new_agent("rd", name="Dana Evans")
    ticket = author.create_ticket("Reactions", "")
    note = author.comment(ticket["id"], "Fixed it")

    assert bea.react(note["id"], "👍")["active"] is True
    [first] = notes(author)
    assert first["type"] == "reaction" and first["reason"] == "comment_reaction"
    assert first["message"] == "👍 on “Fixed it”"  # clients name Bea: she is its "from"
    assert first["comment"]["id"] == note["id"]
    author.request("POST", f"/api/v1/notifications/{first['id']}/read").raise_for_status()

    carl.react(note["id"], "❤️")
    result = dana.react(note["id"], "👍")
    assert result["reactions"] == {"👍": 2, "❤️": 1}
    [folded] = notes(author)
    assert folded["id"] == first["id"]
    assert folded["seq"] > first["seq"]
    assert folded["read"] is False  # re-issued: unread again, moves to the top
    assert folded["message"] == "👍 ❤️, with Bea Baker and Carl Diaz, on “Fixed it”"
    assert folded["from"]["name"] == "Dana Evans"

    # Withdrawing a reaction (toggle) notifies nobody; reacting to yourself neither.
    seq_before = author.notifications()["last_seq"]
    assert dana.react(note["id"], "👍")["active"] is False
    assert author.react(note["id"], "🎉")["active"] is True
    assert author.notifications()["last_seq"] == seq_before
    # Only the preset emojis.
    assert status_of(bea.react, note["id"], "🦄") == 422
    assert status_of(bea.react, "999999", "👍") == 404


def test_reaction_notifications_follow_the_authors_preference(shared_helpdesk: Helpdesk) -> None:
    hd = shared_helpdesk
    _, author = hd.new_agent("pa")
    _, bea = hd.new_agent("pb")
    preferences = wire.Preferences(comment_reactions=False).to_json()
    author.request("PUT", "/api/v1/me/preferences", json=preferences).raise_for_status()
    ticket = author.create_ticket("Quiet", "")
    note = author.comment(ticket["id"], "no pings please")
    bea.react(note["id"], "👀")
    assert notes(author) == []


def test_types_switched_off_and_in_app_off_create_nothing(shared_helpdesk: Helpdesk) -> None:
    hd = shared_helpdesk
    picky_name, picky = hd.new_agent("picky")
    email_only_name, email_only = hd.new_agent("mailonly")
    _, colleague = hd.new_agent("pc")
    picky.request(
        "PUT",
        "/api/v1/me/preferences",
        json=wire.Preferences(types=frozenset({wire.NotificationType.ASSIGNMENT})).to_json(),
    ).raise_for_status()
    email_only.request(
        "PUT",
        "/api/v1/me/preferences",
        json=wire.Preferences(
            in_app=False,
            email=wire.EmailPreferences(enabled=True, frequency=wire.EmailFrequency.DAILY_DIGEST),
        ).to_json(),
    ).raise_for_status()
    ticket = colleague.create_ticket("Prefs", "first message")
    colleague.comment(ticket["id"], f"@{picky_name} @{email_only_name} look")
    assert notes(picky) == []
    colleague.assign(ticket["id"], picky_name)
    assert [n["type"] for n in notes(picky)] == ["assignment"]
    assert notes(email_only) == []
    # The e-mail that a real helpdesk would send is recorded in the outbox.
    email_only_id = email_only.request("GET", "/api/v1/me").json()["id"]
    with sqlite3.connect(hd.db) as connection:
        rows = connection.execute(
            "SELECT delivery, subject, body, notification_id FROM email_outbox WHERE agent_id = ?",
            (int(email_only_id),),
        ).fetchall()
    assert rows == [("daily_digest", "Prefs", f"@{picky_name} @{email_only_name} look", None)]


def test_viewing_a_ticket_marks_its_notifications_read_in_one_event(
    shared_helpdesk: Helpdesk,
) -> None:
    hd = shared_helpdesk
    viewer_name, viewer = hd.new_agent("view")
    _, colleague = hd.new_agent("vc")
    seen = colleague.create_ticket("Seen", "a")
    other = colleague.create_ticket("Other", "b")
    colleague.assign(seen["id"], viewer_name)
    colleague.comment(seen["id"], f"@{viewer_name} here")
    colleague.comment(other["id"], f"@{viewer_name} there")
    before = viewer.notifications()
    assert before["unread_count"] == 3
    page = viewer.view(seen["id"])
    assert page["marked_read"] == 2
    assert [c["body"] for c in page["comments"]] == [f"@{viewer_name} here"]
    after = viewer.notifications()
    assert after["last_seq"] == before["last_seq"] + 1  # one read_state event
    assert after["unread_count"] == 1
    assert {n["ticket"]["id"]: n["read"] for n in after["notifications"]} == {
        seen["id"]: True,
        other["id"]: False,
    }
    # Viewing again changes nothing and appends nothing.
    assert viewer.view(seen["id"])["marked_read"] == 0
    assert viewer.notifications()["last_seq"] == after["last_seq"]


def test_bad_action_bodies_are_refused(shared_helpdesk: Helpdesk) -> None:
    hd = shared_helpdesk
    _, agent = hd.new_agent("body")
    assert agent.request("POST", "/api/v1/tickets", json={"subject": ""}).status_code == 422
    too_long = {"subject": "s" * (wire.MAX_SUBJECT_CHARS + 1)}
    assert agent.request("POST", "/api/v1/tickets", json=too_long).status_code == 422
    assert agent.request("POST", "/api/v1/tickets", json={"subject": 3}).status_code == 422
    ticket = agent.create_ticket("ok", "")
    assert status_of(agent.comment, ticket["id"], "   ") == 422
    assert status_of(agent.assign, ticket["id"], "nobody-here") == 422
    assert status_of(agent.comment, "12345678", "hi") == 404
    assert status_of(agent.comment, "not-a-number", "hi") == 404
