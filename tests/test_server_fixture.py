"""The shared helpdesk fixture itself: start, actions, restart on the same port and data."""

from __future__ import annotations

import httpx
import pytest
from helpdesk import Helpdesk


def test_fixture_starts_a_server_and_runs_actions(helpdesk: Helpdesk) -> None:
    assert helpdesk.url.startswith("http://127.0.0.1:")
    agent_token = helpdesk.add_agent("fixture_ann", name="Ann Fixture", team="desk")
    customer = helpdesk.actions(helpdesk.add_customer("fixture@example.com", name="Cy"))
    ticket = customer.create_ticket("Printer on fire", "Help", team="desk")
    assert ticket["url"] == f"{helpdesk.url}/tickets/{ticket['id']}"
    ann = helpdesk.actions(agent_token)
    page = ann.notifications()
    assert [n["ticket"]["id"] for n in page["notifications"]] == [ticket["id"]]
    with pytest.raises(httpx.HTTPStatusError) as failure:
        customer.assign(ticket["id"], "fixture_ann")
    assert failure.value.response.status_code == 403


def test_restart_keeps_port_and_data(helpdesk: Helpdesk) -> None:
    token = helpdesk.add_agent("fixture_bo")
    url = helpdesk.url
    helpdesk.restart()
    assert helpdesk.url == url
    me = helpdesk.actions(token).request("GET", "/api/v1/me")
    assert me.status_code == 200
    assert me.json()["username"] == "fixture_bo"
    helpdesk.stop()
    assert not helpdesk.running
