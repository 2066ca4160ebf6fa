"""The REST half of docs/protocol.md on the reference helpdesk: auth, paging, actions,
isolation, limits, preferences, error bodies, and the OpenAPI document."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpdesk import Helpdesk, HelpdeskActions

from notifier.core import wire

ROOT = Path(__file__).resolve().parent.parent


def agent_with_notifications(hd: Helpdesk, count: int) -> tuple[HelpdeskActions, list[str]]:
    """An agent with ``count`` mention notifications (seq 1..count); returns their ids."""
    username, agent = hd.new_agent("rest")
    _, colleague = hd.new_agent("restc")
    ticket = colleague.create_ticket("REST", "")
    for n in range(count):
        colleague.comment(ticket["id"], f"@{username} number {n}")
    ids = [n["id"] for n in agent.notifications()["notifications"]]
    assert len(ids) == count
    return agent, ids


def error_of(response: httpx.Response) -> wire.ApiError:
    return wire.ApiError.parse(response.content)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/notifications"),
        ("POST", "/api/v1/notifications/1/read"),
        ("POST", "/api/v1/notifications/read-all"),
        ("DELETE", "/api/v1/notifications/1"),
        ("GET", "/api/v1/me/preferences"),
        ("POST", "/api/v1/tickets"),
    ],
)
def test_missing_or_wrong_tokens_get_401(shared_helpdesk: Helpdesk, method: str, path: str) -> None:
    with httpx.Client(base_url=shared_helpdesk.url, trust_env=False) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
            response = client.request(method, path, headers=headers, json={})
            assert response.status_code == 401
            assert error_of(response).code == "unauthorized"


def test_me_and_token_sign_in(shared_helpdesk: Helpdesk) -> None:
    hd = shared_helpdesk
    username, agent = hd.new_agent("me", name="Mia Meyer", password="s3cret pass")
    me = agent.request("GET", "/api/v1/me").json()
    assert wire.AgentInfo.parse(me) == wire.AgentInfo(
        id=me["id"], username=username, name="Mia Meyer"
    )
    assert me["kind"] == "agent"
    email, customer = hd.new_customer(name="Cus Tomer")
    assert customer.request("GET", "/api/v1/me").json()["kind"] == "customer"
    assert customer.request("GET", "/api/v1/me").json()["username"] == email

    with httpx.Client(base_url=hd.url, trust_env=False) as client:
        good = client.post(
            "/api/v1/auth/token", json={"username": username, "password": "s3cret pass"}
        )
        assert good.status_code == 200
        token = good.json()["token"]
        assert token != agent.token
        again = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert again.json()["username"] == username
        for body in (
            {"username": username, "password": "wrong"},
            {"username": "nobody-at-all", "password": "s3cret pass"},
            {"username": email, "password": ""},
        ):
            refused = client.post("/api/v1/auth/token", json=body)
            assert refused.status_code == 401
            assert error_of(refused).code == "unauthorized"
        assert client.post("/api/v1/auth/token", json={"username": 1}).status_code == 400


def test_paging_by_seq(shared_helpdesk: Helpdesk) -> None:
    agent, ids = agent_with_notifications(shared_helpdesk, 5)
    first = wire.NotificationPage.parse(agent.notifications(after_seq=0, limit=2))
    assert [n.seq for n in first.notifications] == [1, 2]
    assert first.has_more is True and first.last_seq == 5 and first.unread_count == 5
    second = wire.NotificationPage.parse(agent.notifications(after_seq=2, limit=2))
    assert [n.seq for n in second.notifications] == [3, 4] and second.has_more is True
    last = wire.NotificationPage.parse(agent.notifications(after_seq=4, limit=2))
    assert [n.seq for n in last.notifications] == [5] and last.has_more is False
    assert [n.id for n in first.notifications + second.notifications + last.notifications] == ids
    huge = "9" * 5000
    for query in (
        "limit=0",
        f"limit={wire.MAX_PAGE_LIMIT + 1}",
        "limit=x",
        "after_seq=-1",
        "after_seq=1.5",
        "after_seq=%D9%A1",  # an Arabic-Indic digit one: not an ASCII integer
        f"after_seq={huge}",
    ):
        response = agent.request("GET", f"/api/v1/notifications?{query}")
        assert response.status_code == 400, query
        assert error_of(response).code == "invalid_field"


def test_a_tickets_comments_are_paged(shared_helpdesk: Helpdesk) -> None:
    _, agent = shared_helpdesk.new_agent("pager")
    ticket = agent.create_ticket("Long thread", "")
    ids = [agent.comment(ticket["id"], f"comment {n}")["id"] for n in range(5)]
    url = f"/api/v1/tickets/{ticket['id']}"
    everything = agent.request("GET", url).json()
    assert [c["id"] for c in everything["comments"]] == ids
    assert everything["has_more_comments"] is False
    first = agent.request("GET", f"{url}?limit=2").json()
    assert [c["id"] for c in first["comments"]] == ids[:2] and first["has_more_comments"]
    rest = agent.request("GET", f"{url}?after={ids[1]}&limit=3").json()
    assert [c["id"] for c in rest["comments"]] == ids[2:] and not rest["has_more_comments"]
    viewed = agent.request("POST", f"{url}/view?after={ids[3]}").json()
    assert [c["id"] for c in viewed["comments"]] == ids[4:]
    for query in ("limit=0", "limit=501", "after=-1", "limit=x", f"after={'9' * 30}"):
        response = agent.request("GET", f"{url}?{query}")
        assert response.status_code == 400, query
        assert error_of(response).code == "invalid_field"


def test_read_unread_are_idempotent_and_report_changes(shared_helpdesk: Helpdesk) -> None:
    agent, ids = agent_with_notifications(shared_helpdesk, 2)

    def post(path: str) -> dict[str, Any]:
        response = agent.request("POST", path)
        assert response.status_code == 200
        result: dict[str, Any] = response.json()
        wire.ActionResult.parse(result)
        return result

    assert post(f"/api/v1/notifications/{ids[0]}/read") == {
        "seq": 3,
        "changed": 1,
        "unread_count": 1,
    }
    assert post(f"/api/v1/notifications/{ids[0]}/read") == {
        "seq": 3,
        "changed": 0,
        "unread_count": 1,
    }
    assert post(f"/api/v1/notifications/{ids[0]}/unread") == {
        "seq": 4,
        "changed": 1,
        "unread_count": 2,
    }
    assert post(f"/api/v1/notifications/{ids[1]}/unread") == {
        "seq": 4,
        "changed": 0,
        "unread_count": 2,
    }


def test_read_all_only_up_to_the_given_seq(shared_helpdesk: Helpdesk) -> None:
    agent, ids = agent_with_notifications(shared_helpdesk, 3)
    response = agent.request("POST", "/api/v1/notifications/read-all", json={"up_to_seq": 2})
    assert response.json() == {"seq": 4, "changed": 2, "unread_count": 1}
    state = {n["id"]: n["read"] for n in agent.notifications()["notifications"]}
    assert state == {ids[0]: True, ids[1]: True, ids[2]: False}
    nothing = agent.request("POST", "/api/v1/notifications/read-all", json={"up_to_seq": 2})
    assert nothing.json() == {"seq": 4, "changed": 0, "unread_count": 1}
    everything = agent.request("POST", "/api/v1/notifications/read-all", json={"up_to_seq": 2**64})
    assert everything.json() == {"seq": 5, "changed": 1, "unread_count": 0}
    for body in ({}, {"up_to_seq": "3"}, {"up_to_seq": -1}, {"up_to_seq": True}):
        bad = agent.request("POST", "/api/v1/notifications/read-all", json=body)
        assert bad.status_code == 400


def test_delete_and_clear(shared_helpdesk: Helpdesk) -> None:
    agent, ids = agent_with_notifications(shared_helpdesk, 4)
    deleted = agent.request("DELETE", f"/api/v1/notifications/{ids[0]}")
    assert deleted.json() == {"seq": 5, "changed": 1, "unread_count": 3}
    assert agent.request("DELETE", f"/api/v1/notifications/{ids[0]}").status_code == 404
    agent.request("POST", f"/api/v1/notifications/{ids[1]}/read").raise_for_status()  # seq 6
    cleared = agent.request("POST", "/api/v1/notifications/clear")  # default scope: read
    assert cleared.json() == {"seq": 7, "changed": 1, "unread_count": 2}
    assert [n["id"] for n in agent.notifications()["notifications"]] == ids[2:]
    all_gone = agent.request("POST", "/api/v1/notifications/clear", json={"scope": "all"})
    assert all_gone.json() == {"seq": 8, "changed": 2, "unread_count": 0}
    page = agent.notifications()
    assert page["notifications"] == [] and page["last_seq"] == 8
    bad = agent.request("POST", "/api/v1/notifications/clear", json={"scope": "some"})
    assert bad.status_code == 400


def test_an_agent_cannot_touch_another_agents_notifications(shared_helpdesk: Helpdesk) -> None:
    owner, ids = agent_with_notifications(shared_helpdesk, 1)
    _, intruder = shared_helpdesk.new_agent("intruder")
    for method, path in (
        ("POST", f"/api/v1/notifications/{ids[0]}/read"),
        ("POST", f"/api/v1/notifications/{ids[0]}/unread"),
        ("DELETE", f"/api/v1/notifications/{ids[0]}"),
    ):
        response = intruder.request(method, path)
        assert response.status_code == 404
        assert error_of(response).code == "not_found"
    # Exactly like an id that does not exist at all, or is no id.
    for bad_id in ("99999999", "%D9%A1", "1e3", "9" * 40):
        response = intruder.request("POST", f"/api/v1/notifications/{bad_id}/read")
        assert response.status_code == 404, bad_id
    assert intruder.notifications()["notifications"] == []
    page = owner.notifications()
    assert page["notifications"][0]["read"] is False and page["last_seq"] == 1


def test_customers_have_no_notification_endpoints(shared_helpdesk: Helpdesk) -> None:
    _, customer = shared_helpdesk.new_customer()
    for method, path in (
        ("GET", "/api/v1/notifications"),
        ("GET", "/api/v1/me/preferences"),
        ("POST", "/api/v1/notifications/clear"),
    ):
        response = customer.request(method, path)
        assert response.status_code == 403
        assert error_of(response).code == "forbidden"


def test_body_limits_and_malformed_json(shared_helpdesk: Helpdesk) -> None:
    _, agent = shared_helpdesk.new_agent("limits")
    huge = b'{"subject": "' + b"x" * wire.MAX_FRAME_BYTES + b'"}'
    too_large = agent.request(
        "POST", "/api/v1/tickets", content=huge, headers={"Content-Type": "application/json"}
    )
    assert too_large.status_code == 413
    assert error_of(too_large).code == "too_large"

    def chunks() -> Any:  # no Content-Length: the server must count while reading
        for _ in range(5):
            yield b" " * (wire.MAX_FRAME_BYTES // 4)

    streamed = agent.request("PUT", "/api/v1/me/preferences", content=chunks())
    assert streamed.status_code == 413
    for garbage in (b"{not json", b'{"subject": ' + b"9" * 5000 + b"}", b"\xff\xfe"):
        malformed = agent.request("POST", "/api/v1/tickets", content=garbage)
        assert malformed.status_code == 400 and error_of(malformed).code == "malformed_json"
    not_object = agent.request("POST", "/api/v1/tickets", json=[1, 2])
    assert not_object.status_code == 400 and error_of(not_object).code == "invalid_field"
    empty = agent.request("POST", "/api/v1/tickets")
    assert empty.status_code == 400 and error_of(empty).code == "bad_request"


def test_preferences_round_trip_and_validation(shared_helpdesk: Helpdesk) -> None:
    _, agent = shared_helpdesk.new_agent("prefs")
    default = agent.request("GET", "/api/v1/me/preferences").json()
    assert wire.Preferences.parse(default) == wire.Preferences()
    wanted = wire.Preferences(
        in_app=True,
        types=frozenset({wire.NotificationType.MENTION, wire.NotificationType.REACTION}),
        comment_reactions=False,
        email=wire.EmailPreferences(enabled=True, frequency=wire.EmailFrequency.DAILY_DIGEST),
        quiet_hours=(wire.QuietRange(day=0, start="22:00", end="07:00"),),
        timezone="Europe/Berlin",
    )
    stored = agent.request("PUT", "/api/v1/me/preferences", json=wanted.to_json())
    assert stored.status_code == 200
    assert wire.Preferences.parse(stored.json()) == wanted
    assert wire.Preferences.parse(agent.request("GET", "/api/v1/me/preferences").json()) == wanted

    invalid_documents: list[dict[str, Any]] = []
    for key, value in (
        ("types", ["assignment", "gossip"]),
        ("in_app", "yes"),
        ("timezone", "Mars/Olympus"),
        ("quiet_hours", [{"day": 7, "start": "22:00", "end": "07:00"}]),
        ("quiet_hours", [{"day": 1, "start": "25:00", "end": "07:00"}]),
    ):
        invalid_documents.append({**wanted.to_json(), key: value})
    partial = wanted.to_json()
    del partial["email"]
    invalid_documents.append(partial)
    for document in invalid_documents:
        response = agent.request("PUT", "/api/v1/me/preferences", json=document)
        assert response.status_code == 422, document
        assert error_of(response).code == "validation_failed"
    # Nothing of the rejected documents was stored.
    assert wire.Preferences.parse(agent.request("GET", "/api/v1/me/preferences").json()) == wanted


def test_unknown_routes_and_methods_get_json_errors(shared_helpdesk: Helpdesk) -> None:
    _, agent = shared_helpdesk.new_agent("routes")
    missing = agent.request("GET", "/api/v1/nothing-here")
    assert missing.status_code == 404 and error_of(missing).code == "not_found"
    wrong_method = agent.request("PUT", "/api/v1/notifications")
    assert wrong_method.status_code == 405 and error_of(wrong_method).code == "method_not_allowed"


def test_a_wrong_method_gets_405_with_every_allowed_method(shared_helpdesk: Helpdesk) -> None:
    _, agent = shared_helpdesk.new_agent("allow")
    for method, path, allowed in (
        ("PUT", "/api/v1/notifications", {"GET", "HEAD"}),
        ("DELETE", "/api/v1/me/preferences", {"GET", "HEAD", "PUT"}),
        ("GET", "/api/v1/auth/token", {"POST", "DELETE"}),
        ("PUT", "/login", {"GET", "HEAD", "POST"}),
        ("POST", "/api/v1/stream", {"GET", "HEAD"}),
    ):
        response = agent.request(method, path)
        assert response.status_code == 405, path
        assert error_of(response).code == "method_not_allowed"
        assert {m.strip() for m in response.headers["allow"].split(",")} == allowed, path


def test_the_stream_without_an_upgrade_gets_426(shared_helpdesk: Helpdesk) -> None:
    _, agent = shared_helpdesk.new_agent("noupgrade")
    response = agent.request("GET", "/api/v1/stream")
    assert response.status_code == 426
    assert response.headers["upgrade"] == "websocket"
    assert error_of(response).code == "upgrade_required"


def test_openapi_states_the_bounds_the_server_enforces(shared_helpdesk: Helpdesk) -> None:
    from notifier.server.actions import COMMENTS_PAGE_MAX, MAX_BODY_CHARS

    document = httpx.get(f"{shared_helpdesk.url}/openapi.json", trust_env=False).json()
    paths, schemas = document["paths"], document["components"]["schemas"]

    def query(path: str, method: str) -> dict[str, Any]:
        return {p["name"]: p["schema"] for p in paths[path][method].get("parameters", [])}

    page = query("/api/v1/notifications", "get")
    assert page["limit"] == {"type": "integer", "minimum": 1, "maximum": 2000, "default": 100}
    assert page["after_seq"]["minimum"] == 0
    for method, path in (("get", "/api/v1/tickets/{id}"), ("post", "/api/v1/tickets/{id}/view")):
        comments = query(path, method)
        assert (
            comments["limit"]["maximum"] == COMMENTS_PAGE_MAX and comments["after"]["minimum"] == 0
        )
    assert schemas["NewTicket"]["properties"]["subject"]["maxLength"] == wire.MAX_SUBJECT_CHARS
    assert schemas["Body"]["properties"]["body"]["maxLength"] == MAX_BODY_CHARS
    assert schemas["Credentials"]["properties"]["username"]["maxLength"] == 254
    assert schemas["Credentials"]["properties"]["password"]["maxLength"] == 1024
    sign_in = paths["/api/v1/auth/token"]["post"]["responses"]
    assert "Retry-After" in sign_in["429"]["headers"] and "Retry-After" in sign_in["503"]["headers"]
    assert {"408", "413"} <= set(sign_in)
    assert "429" in paths["/api/v1/tickets/{id}/replies"]["post"]["responses"]
    assert "426" in paths["/api/v1/stream"]["get"]["responses"]
    assert "4001" in paths["/api/v1/stream"]["get"]["description"]
    assert str(wire.MAX_FRAME_BYTES) in document["info"]["description"]


def test_openapi_documents_every_route(shared_helpdesk: Helpdesk) -> None:
    from notifier.server.app import HelpdeskApp
    from notifier.server.db import Database

    document = httpx.get(f"{shared_helpdesk.url}/openapi.json", trust_env=False).json()
    assert document["openapi"].startswith("3.")
    assert document["servers"] == [{"url": shared_helpdesk.url}]
    # The route table of a real app object, built exactly as the server builds it.
    app = HelpdeskApp(Database(Path("unused.db")), "http://127.0.0.1:1")
    routes = app.build().routes
    assert len(routes) > 20
    for route in routes:
        path = route.path
        methods = getattr(route, "methods", None) or {"GET"}  # the WebSocket: documented as GET
        assert path in document["paths"], path
        for method in methods - {"HEAD"}:
            assert method.lower() in document["paths"][path], (method, path)
    # Every schema reference resolves.
    text = str(document)
    for name in re.findall(r"#/components/schemas/(\w+)", text):
        assert name in document["components"]["schemas"], name


def test_openapi_covers_every_rest_path_in_the_protocol_doc(shared_helpdesk: Helpdesk) -> None:
    protocol = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(GET|POST|PUT|DELETE|PATCH) (/[^\s`?]*)", protocol))
    assert len(named) >= 10  # the REST table alone has ten
    document = httpx.get(f"{shared_helpdesk.url}/openapi.json", trust_env=False).json()
    for method, path in named:
        full = path if path.startswith("/api/v1") else "/api/v1" + path
        assert full in document["paths"], (method, full)
        assert method.lower() in document["paths"][full], (method, full)
