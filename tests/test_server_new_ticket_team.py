"""The admin setting ``new_ticket_team``: a ticket opened without a team (a customer's on the
web, or over the API) goes to that team's next agent in turn, who gets the ``auto_assigned``
notification; null (the default) leaves it unassigned. Set over the API, the CLI and the admin
page, validated against the ``teams`` table and audited; against a real server and its SQLite
file (tests/helpdesk.py)."""

from __future__ import annotations

import getpass
import html
import re
import sqlite3
from typing import Any

import httpx
import pytest
from helpdesk import Helpdesk, HelpdeskActions, unique_name, web_sign_in

SETTINGS = "/api/v1/admin/settings"
AUDIT = "/api/v1/admin/audit"
PASSWORD = "correct horse"
LABEL = "Tickets opened without a team go to"


def new_admin(hd: Helpdesk) -> tuple[str, HelpdeskActions]:
    username = unique_name("admin")
    return username, hd.actions(hd.add_agent(username, password=PASSWORD, admin=True))


def read_settings(admin: HelpdeskActions) -> dict[str, Any]:
    response = admin.request("GET", SETTINGS)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def put_team(admin: HelpdeskActions, value: object) -> httpx.Response:
    version = read_settings(admin)["version"]
    return admin.request(
        "PUT", SETTINGS, json={"version": version, "settings": {"new_ticket_team": value}}
    )


def newest_audit(admin: HelpdeskActions) -> tuple[Any, ...]:
    entry = admin.request("GET", AUDIT, params={"limit": 1}).json()["entries"][0]
    return (entry["actor"], entry["via"], entry["key"], entry["old"], entry["new"])


def assignments(agent: HelpdeskActions) -> list[tuple[str, str | None, str, str]]:
    """(reason, sender, ticket id, message) of the agent's notifications, oldest first."""
    page = agent.notifications(limit=500)["notifications"]
    return [
        (n["reason"], n["from"], n["ticket"]["id"], n["message"])
        for n in sorted(page, key=lambda n: n["seq"])
    ]


def test_the_setting_is_null_by_default_and_names_an_existing_team(helpdesk: Helpdesk) -> None:
    admin_name, admin = new_admin(helpdesk)
    helpdesk.new_agent("front", team="Frontline")
    helpdesk.new_agent("bill", team="billing")
    assert read_settings(admin)["settings"]["new_ticket_team"] is None

    # No such team: 422 naming the teams there are, nothing stored.
    refused = put_team(admin, "night shift")
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["message"] == (
        "new_ticket_team: there is no team 'night shift' (the teams are: billing, Frontline;"
        " or null for no team)"
    )
    assert read_settings(admin)["version"] == 0

    # Stripped, and spelled as the team is.
    saved = put_team(admin, "  frontline ")
    assert saved.status_code == 200, saved.text
    assert saved.json()["settings"]["new_ticket_team"] == "Frontline"
    assert newest_audit(admin) == (admin_name, "api", "new_ticket_team", None, "Frontline")
    # The same team again is no change: no new version.
    assert put_team(admin, "FRONTLINE").json()["version"] == saved.json()["version"]

    cleared = put_team(admin, None)
    assert cleared.status_code == 200 and cleared.json()["settings"]["new_ticket_team"] is None
    assert newest_audit(admin) == (admin_name, "api", "new_ticket_team", "Frontline", None)
    helpdesk.assert_clean_log()


def test_the_settings_command_sets_and_shows_it(helpdesk: Helpdesk) -> None:
    _, admin = new_admin(helpdesk)
    helpdesk.new_agent("front", team="frontline")
    shown = helpdesk.settings_cli("set", "new_ticket_team", '"frontline"')
    assert shown["settings"]["new_ticket_team"] == "frontline"
    assert helpdesk.settings_cli("show")["settings"]["new_ticket_team"] == "frontline"
    assert newest_audit(admin) == (getpass.getuser(), "cli", "new_ticket_team", None, "frontline")
    # The running server reads what the CLI wrote.
    assert read_settings(admin)["settings"]["new_ticket_team"] == "frontline"

    for value, message in [
        ('"night shift"', "new_ticket_team: there is no team 'night shift' (the teams are:"),
        ("frontline", """a name in quotes such as '"support"'"""),  # not JSON: no quotes
        ('""', "new_ticket_team must be a team's name (a string) or null"),
        ("7", "new_ticket_team must be a team's name (a string) or null"),
    ]:
        with pytest.raises(RuntimeError) as failure:
            helpdesk.settings_cli("set", "new_ticket_team", value)
        text = str(failure.value)
        assert message in text and "Traceback" not in text and "\n" not in text, text
    assert (
        helpdesk.settings_cli("set", "new_ticket_team", "null")["settings"]["new_ticket_team"]
        is None
    )


def test_tickets_without_a_team_go_round_robin_to_the_new_ticket_team(
    helpdesk: Helpdesk,
) -> None:
    _, admin = new_admin(helpdesk)
    first_name, first = helpdesk.new_agent("first", team="frontline")
    second_name, second = helpdesk.new_agent("second", team="frontline")
    billing_name, billing = helpdesk.new_agent("billing", team="billing")
    customer_email, customer = helpdesk.new_customer()

    # Without the setting (today's behaviour): unassigned, nobody told.
    before = customer.create_ticket("Before the setting", "Nobody gets this one.")
    assert before["assignee"] is None and before["team"] is None

    assert put_team(admin, "frontline").status_code == 200
    opened = [
        customer.create_ticket(f"Printer {n}", f"The printer on floor {n} jams.") for n in range(3)
    ]
    assert [t["assignee"]["username"] for t in opened] == [first_name, second_name, first_name]
    assert {t["team"] for t in opened} == {"frontline"}
    # An agent's ticket for a customer without a team goes there too, the next in turn.
    for_customer = billing.create_ticket("Phoned in", "Called about the VPN.", customer_email)
    assert for_customer["assignee"]["username"] == second_name
    # A ticket with its own team still goes to that team, and leaves the turn where it was.
    own_team = customer.create_ticket("Invoice", "Wrong VAT.", team="billing")
    assert own_team["assignee"]["username"] == billing_name
    again = customer.create_ticket("Printer again", "")
    assert again["assignee"]["username"] == first_name

    assert assignments(first) == [
        ("auto_assigned", None, opened[0]["id"], "The printer on floor 0 jams."),
        ("auto_assigned", None, opened[2]["id"], "The printer on floor 2 jams."),
        ("auto_assigned", None, again["id"], "Printer again"),  # no text: the subject
    ]
    assert assignments(second) == [
        ("auto_assigned", None, opened[1]["id"], "The printer on floor 1 jams."),
        ("auto_assigned", None, for_customer["id"], "Called about the VPN."),
    ]
    assert assignments(billing) == [("auto_assigned", None, own_team["id"], "Wrong VAT.")]

    # Back to null: unassigned again, nobody told.
    assert put_team(admin, None).status_code == 200
    after = customer.create_ticket("After the setting", "Waits.")
    assert after["assignee"] is None and after["team"] is None
    assert len(assignments(first)) == 3 and len(assignments(second)) == 2
    helpdesk.assert_clean_log()


def test_a_new_ticket_team_without_agents_leaves_the_ticket_unassigned(
    helpdesk: Helpdesk,
) -> None:
    _, admin = new_admin(helpdesk)
    _, agent = helpdesk.new_agent("day", team="day shift")
    _, customer = helpdesk.new_customer()
    # A team whose agents all left (teams are made by add-agent --team; rows stay).
    connection = sqlite3.connect(helpdesk.db)
    try:
        with connection:
            connection.execute("INSERT INTO teams(name) VALUES ('night shift')")
    finally:
        connection.close()
    assert put_team(admin, "night shift").status_code == 200

    ticket = customer.create_ticket("Nobody is in", "Still broken.")
    assert ticket["assignee"] is None and ticket["team"] == "night shift"
    assert assignments(agent) == []
    helpdesk.assert_clean_log()


def csrf_of(page: str) -> str:
    found = re.search(r'name=csrf value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1)


def field_error(page: str, field_id: str) -> str:
    """The error shown next to a field of the admin page (and the field marked invalid)."""
    tag = re.search(rf'<select[^>]*\bid="{field_id}"[^>]*>', page)
    assert tag is not None, field_id
    assert 'aria-invalid="true"' in tag.group(0) and f"e-{field_id}" in tag.group(0)
    found = re.search(rf'<p class="field-error" id="e-{field_id}">([^<]*)</p>', page)
    assert found is not None, page
    return html.unescape(found.group(1))


def options(page: str) -> list[tuple[str, str, bool]]:
    """(value, text, selected) of the new-ticket team select."""
    select = re.search(r'<select id="s-new_ticket_team".*?</select>', page, re.S)
    assert select is not None, page
    return [
        (value, html.unescape(text), bool(selected))
        for value, selected, text in re.findall(
            r'<option value="([^"]*)"( selected)?>([^<]*)</option>', select.group(0)
        )
    ]


def test_the_admin_page_sets_it_and_a_web_customers_ticket_reaches_the_team(
    helpdesk: Helpdesk,
) -> None:
    admin_name, admin = new_admin(helpdesk)
    agent_name, agent = helpdesk.new_agent("front", name="Fran Front", team="frontline")
    helpdesk.new_agent("bill", team="billing")
    email, _ = helpdesk.new_customer(password=PASSWORD)
    with (
        httpx.Client(base_url=helpdesk.url, trust_env=False) as browser,
        httpx.Client(base_url=helpdesk.url, trust_env=False) as customer_browser,
    ):
        web_sign_in(browser, admin_name, PASSWORD)
        page = browser.get("/admin").text
        assert f'<label for="s-new_ticket_team">{LABEL}</label>' in page
        assert options(page) == [
            ("", "Nobody (tickets wait unassigned)", True),
            ("billing", "Team billing", False),
            ("frontline", "Team frontline", False),
        ]
        form = {"csrf": csrf_of(page), "version": "0"}

        # Not one of the teams (not from the page): 422 next to the select, nothing stored.
        for posted in ({"new_ticket_team": "night shift"}, {}):
            refused = browser.post("/admin/new-tickets", data={**form, **posted})
            assert refused.status_code == 422
            assert field_error(refused.text, "s-new_ticket_team") == (
                "Choose one of the teams in the list, or nobody"
            )
            assert "Not saved." in refused.text
        assert read_settings(admin)["version"] == 0

        saved = browser.post("/admin/new-tickets", data={**form, "new_ticket_team": "frontline"})
        assert saved.status_code == 200 and "Saved." in saved.text
        assert ("frontline", "Team frontline", True) in options(saved.text)
        assert read_settings(admin)["settings"]["new_ticket_team"] == "frontline"
        assert newest_audit(admin) == (admin_name, "web", "new_ticket_team", None, "frontline")
        # The audit in the page's words.
        assert (
            f"<strong>{LABEL}</strong>: nobody (tickets wait unassigned) → team frontline"
            in saved.text
        )
        # A stale page is refused (409); forged or not an admin's posts 403.
        stale = browser.post("/admin/new-tickets", data={**form, "new_ticket_team": ""})
        assert stale.status_code == 409
        fresh = {**form, "version": "1", "new_ticket_team": ""}
        assert browser.post("/admin/new-tickets", data={**fresh, "csrf": ""}).status_code == 403
        assert browser.post("/admin/new-tickets", data={**fresh, "version": "x"}).status_code == 400

        # A customer opens a ticket on the web: the team's agent is told; the customer sees
        # no more than before (the page names no agent and no team).
        web_sign_in(customer_browser, email, PASSWORD)
        opened = customer_browser.post(
            "/tickets/new",
            data={
                "csrf": csrf_of(customer_browser.get("/tickets/new").text),
                "subject": "Scanner offline",
                "body": "Since this morning.",
            },
        )
        assert opened.status_code == 303
        ticket_id = opened.headers["location"].removeprefix("/tickets/")
        assert assignments(agent) == [("auto_assigned", None, ticket_id, "Since this morning.")]
        ticket_page = customer_browser.get(opened.headers["location"]).text
        assert "Scanner offline" in ticket_page
        assert "Fran Front" not in ticket_page and "frontline" not in ticket_page
        assert agent.view(ticket_id)["assignee"]["username"] == agent_name

        # Back to nobody on the page.
        page = browser.get("/admin").text
        cleared = browser.post(
            "/admin/new-tickets",
            data={"csrf": csrf_of(page), "version": "1", "new_ticket_team": ""},
        )
        assert cleared.status_code == 200
        assert read_settings(admin)["settings"]["new_ticket_team"] is None
        assert options(cleared.text)[0] == ("", "Nobody (tickets wait unassigned)", True)

    with httpx.Client(base_url=helpdesk.url, trust_env=False) as other:
        plain, _ = helpdesk.new_agent("plain", password=PASSWORD)
        web_sign_in(other, plain, PASSWORD)
        token = csrf_of(other.get("/").text)
        answer = other.post(
            "/admin/new-tickets",
            data={"csrf": token, "version": "2", "new_ticket_team": "frontline"},
        )
        assert answer.status_code == 403
    assert read_settings(admin)["settings"]["new_ticket_team"] is None
    helpdesk.assert_clean_log()
