"""System settings (issue 11): the admin role, ``/api/v1/admin/*`` refusing everyone else,
validation of every setting (4xx with a clear message, never 500), versions (409 on a stale
one), the audit trail, default preferences for new agents, and ``notifier-server settings``."""

from __future__ import annotations

import getpass
import json
from typing import Any

import httpx
import pytest
from helpdesk import Helpdesk, HelpdeskActions, unique_name

from notifier.core import wire
from notifier.server.settings import INT_SETTINGS, KEYS, SystemSettings

SETTINGS = "/api/v1/admin/settings"
AUDIT = "/api/v1/admin/audit"
RETENTION = "/api/v1/admin/retention"
ADMIN_ROUTES = [("GET", SETTINGS), ("PUT", SETTINGS), ("GET", AUDIT), ("POST", RETENTION)]


def new_admin(hd: Helpdesk) -> tuple[str, HelpdeskActions]:
    username = unique_name("admin")
    return username, hd.actions(hd.add_agent(username, admin=True))


def read_settings(admin: HelpdeskActions) -> dict[str, Any]:
    response = admin.request("GET", SETTINGS)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def put_settings(admin: HelpdeskActions, version: int, **changes: Any) -> httpx.Response:
    # json.dumps escapes lone surrogates as \udXXX (httpx's own encoder cannot send them).
    body = json.dumps({"version": version, "settings": changes})
    return admin.request(
        "PUT", SETTINGS, content=body.encode(), headers={"Content-Type": "application/json"}
    )


def error_of(response: httpx.Response) -> wire.ApiError:
    return wire.ApiError.parse(response.content)


def test_admin_routes_refuse_agents_customers_and_strangers(shared_helpdesk: Helpdesk) -> None:
    hd = shared_helpdesk
    _, admin = new_admin(hd)
    _, agent = hd.new_agent("plain")
    _, customer = hd.new_customer()
    before = read_settings(admin)
    body = {"version": before["version"], "settings": {"retention_days": 1}}
    with httpx.Client(base_url=hd.url, trust_env=False) as anonymous:
        for method, path in ADMIN_ROUTES:
            for headers in ({}, {"Authorization": "Bearer wrong"}):
                response = anonymous.request(method, path, headers=headers, json=body)
                assert response.status_code == 401, (method, path)
                assert error_of(response).code == "unauthorized"
            for caller in (agent, customer):
                response = caller.request(method, path, json=body)
                assert response.status_code == 403, (method, path, response.text)
                assert error_of(response).code == "forbidden"
    assert read_settings(admin) == before  # nothing changed, nothing ran


def test_defaults_versions_conflicts_and_the_audit_trail(helpdesk: Helpdesk) -> None:
    ann_name, ann = new_admin(helpdesk)
    bob_name, bob = new_admin(helpdesk)
    first = read_settings(ann)
    assert first == {
        "version": 0,
        "updated_at": None,
        "updated_by": None,
        "settings": SystemSettings().to_json(),
    }
    assert list(first["settings"]) == list(KEYS)
    assert first["settings"]["mail_grace_seconds"] == 120

    changed = put_settings(ann, 0, retention_days=30)
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 1 and changed.json()["updated_by"] == ann_name
    assert changed.json()["settings"]["retention_days"] == 30
    assert read_settings(bob) == changed.json()

    # Bob edits what he read before Ann's change: refused, nothing overwritten.
    stale = put_settings(bob, 0, retention_days=7)
    assert stale.status_code == 409 and error_of(stale).code == "conflict"
    assert "version 1" in error_of(stale).message
    assert read_settings(bob)["settings"]["retention_days"] == 30

    # Setting what is already there is no change: no new version, no audit entry.
    same = put_settings(bob, 1, retention_days=30)
    assert same.status_code == 200 and same.json()["version"] == 1

    quiet = {"day": 0, "start": "22:00", "end": "07:00"}
    preferences = {**wire.Preferences().to_json(), "types": ["mention"], "quiet_hours": [quiet]}
    second = put_settings(bob, 1, rate_limit_per_ticket=3, default_preferences=preferences)
    assert second.status_code == 200, second.text
    assert second.json()["version"] == 2
    assert second.json()["settings"]["default_preferences"] == preferences

    audit = ann.request("GET", AUDIT).json()
    assert not audit["has_more"]
    entries = [
        (e["version"], e["actor"], e["via"], e["key"], e["old"], e["new"]) for e in audit["entries"]
    ]
    assert entries == [  # newest first; one entry per key that changed
        (2, bob_name, "api", "default_preferences", wire.Preferences().to_json(), preferences),
        (2, bob_name, "api", "rate_limit_per_ticket", 0, 3),
        (1, ann_name, "api", "retention_days", 90, 30),
    ]
    assert all(e["changed_at"].endswith("Z") for e in audit["entries"])

    # Paging, newest first.
    page = ann.request("GET", AUDIT, params={"limit": 1}).json()
    assert page["has_more"] and len(page["entries"]) == 1
    rest = ann.request(
        "GET", AUDIT, params={"limit": 5, "before_id": page["entries"][0]["id"]}
    ).json()
    assert [e["id"] for e in page["entries"] + rest["entries"]] == [
        e["id"] for e in audit["entries"]
    ]

    # The CLI, for admins without a browser: audited as the operating-system user.
    shown = helpdesk.settings_cli("show")
    assert shown == read_settings(ann)
    after_cli = helpdesk.settings_cli("set", "retention_days", "14")
    assert after_cli["version"] == 3 and after_cli["settings"]["retention_days"] == 14
    newest = ann.request("GET", AUDIT, params={"limit": 1}).json()["entries"][0]
    assert (newest["actor"], newest["via"], newest["key"], newest["old"], newest["new"]) == (
        getpass.getuser(),
        "cli",
        "retention_days",
        30,
        14,
    )
    assert read_settings(ann) == after_cli  # the running server reads what the CLI wrote
    assert "Traceback" not in helpdesk.log_text()


def test_new_agents_start_with_the_default_preferences(helpdesk: Helpdesk) -> None:
    _, admin = new_admin(helpdesk)
    _, before = helpdesk.new_agent("early")
    preferences = {
        **wire.Preferences().to_json(),
        "types": ["assignment"],
        "timezone": "Asia/Tokyo",
    }
    assert put_settings(admin, 0, default_preferences=preferences).status_code == 200
    _, after = helpdesk.new_agent("late")
    assert after.request("GET", "/api/v1/me/preferences").json() == preferences
    # Agents created before keep what they had; each agent still changes their own.
    assert before.request("GET", "/api/v1/me/preferences").json() == wire.Preferences().to_json()
    mine = {**preferences, "types": ["mention"]}
    assert after.request("PUT", "/api/v1/me/preferences", json=mine).json() == mine
    assert read_settings(admin)["settings"]["default_preferences"] == preferences


VALID_PREFERENCES = wire.Preferences().to_json()
INVALID_SETTINGS: list[dict[str, Any]] = [
    *(
        {setting.key: value}
        for setting in INT_SETTINGS
        for value in (
            str(setting.default),
            setting.low - 1,
            setting.high + 1,
            10**30,
            -(10**30),
            1.5,
            True,
            None,
            [setting.default],
            {"value": setting.default},
        )
    ),
    *(
        {"new_ticket_team": value}
        for value in (5, True, "", "   ", ["support"], {"name": "support"}, "x" * 201, "no team")
    ),
    {"no_such_setting": 1},
    {"Retention_Days": 30},
    {"default_preferences": "all of them"},
    {"default_preferences": {}},
    {"default_preferences": []},
    {"default_preferences": None},
    {"default_preferences": {**VALID_PREFERENCES, "timezone": "Mars/Olympus_Mons"}},
    {"default_preferences": {**VALID_PREFERENCES, "timezone": "../../etc/passwd"}},
    {"default_preferences": {**VALID_PREFERENCES, "types": ["spam"]}},
    {"default_preferences": {**VALID_PREFERENCES, "in_app": "yes"}},
    {"default_preferences": {**VALID_PREFERENCES, "email": {"enabled": True}}},
    {
        "default_preferences": {
            **VALID_PREFERENCES,
            "email": {**VALID_PREFERENCES["email"], "frequency": "weekly"},
        }
    },
    {
        "default_preferences": {
            **VALID_PREFERENCES,
            "quiet_hours": [{"day": 7, "start": "22:00", "end": "07:00"}],
        }
    },
    {
        "default_preferences": {
            **VALID_PREFERENCES,
            "quiet_hours": [{"day": 0, "start": "25:00", "end": "07:00"}],
        }
    },
    {
        "default_preferences": {
            **VALID_PREFERENCES,
            "quiet_hours": [{"day": 0, "start": "22:00", "end": "07:00"}] * 71,
        }
    },
    {"retention_days": 30, "default_preferences": {**VALID_PREFERENCES, "timezone": 5}},
]


@pytest.fixture(scope="module")
def validation_admin(shared_helpdesk: Helpdesk) -> HelpdeskActions:
    return new_admin(shared_helpdesk)[1]


# Lone surrogates are refused for every JSON body before any route sees it (docs/protocol.md:
# 400 malformed_json), so a setting's validation never meets one.
SURROGATE_SETTINGS: list[dict[str, Any]] = [
    {"\ud800": 1},
    {"retention_days\ud800": 1},
    {"default_preferences": {**VALID_PREFERENCES, "timezone": "\ud800"}},
    {"default_preferences": {**VALID_PREFERENCES, "types": ["\udfff"]}},
]


@pytest.mark.parametrize("changes", SURROGATE_SETTINGS, ids=lambda c: ascii(c)[:60])
def test_a_setting_with_a_lone_surrogate_is_a_400(
    shared_helpdesk: Helpdesk, validation_admin: HelpdeskActions, changes: dict[str, Any]
) -> None:
    before = read_settings(validation_admin)
    response = put_settings(validation_admin, before["version"], **changes)
    assert response.status_code == 400, response.text
    assert error_of(response).code == "malformed_json"
    assert read_settings(validation_admin) == before
    assert "Traceback" not in shared_helpdesk.log_text()


@pytest.mark.parametrize("changes", INVALID_SETTINGS, ids=lambda c: ascii(c)[:60])
def test_every_invalid_setting_is_a_clear_422(
    shared_helpdesk: Helpdesk, validation_admin: HelpdeskActions, changes: dict[str, Any]
) -> None:
    before = read_settings(validation_admin)
    response = put_settings(validation_admin, before["version"], **changes)
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error.code == "validation_failed"
    # The message names the setting at fault (or says it is unknown).
    assert error.message.startswith((*KEYS, "unknown setting")), error.message
    assert read_settings(validation_admin) == before  # a bad change changes nothing
    assert "Traceback" not in shared_helpdesk.log_text()


INVALID_BODIES: list[tuple[str, int, str]] = [
    ("", 400, "bad_request"),
    ("{", 400, "malformed_json"),
    ("[]", 400, "invalid_field"),
    ('"settings"', 400, "invalid_field"),
    ('{"settings": {}}', 400, "missing_field"),
    ('{"version": 0}', 400, "missing_field"),
    ('{"version": "0", "settings": {}}', 400, "invalid_field"),
    ('{"version": -1, "settings": {}}', 400, "invalid_field"),
    ('{"version": 1.0, "settings": {}}', 400, "invalid_field"),
    ('{"version": true, "settings": {}}', 400, "invalid_field"),
    ('{"version": null, "settings": {}}', 400, "missing_field"),
    ('{"version": 0, "settings": {}, "extra": 1}', 400, "invalid_field"),
    ('{"version": 0, "settings": {}, "\\ud800": 1}', 400, "malformed_json"),
    ('{"version": ' + "9" * 5000 + ', "settings": {}}', 400, "malformed_json"),
    ('{"version": 0, "settings": [1]}', 422, "validation_failed"),
    ('{"version": 0, "settings": "retention_days=1"}', 422, "validation_failed"),
    ('{"version": 0, "settings": {"retention_days": 1e400}}', 422, "validation_failed"),
    ('{"version": 0, "settings": {"retention_days": NaN}}', 422, "validation_failed"),
]


@pytest.mark.parametrize(("body", "status", "code"), INVALID_BODIES, ids=lambda v: ascii(v)[:40])
def test_malformed_requests_are_4xx_never_500(
    shared_helpdesk: Helpdesk,
    validation_admin: HelpdeskActions,
    body: str,
    status: int,
    code: str,
) -> None:
    before = read_settings(validation_admin)
    response = validation_admin.request(
        "PUT", SETTINGS, content=body.encode(), headers={"Content-Type": "application/json"}
    )
    assert (response.status_code, error_of(response).code) == (status, code), response.text
    assert read_settings(validation_admin) == before
    assert "Traceback" not in shared_helpdesk.log_text()


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "x"},
        {"before_id": "-1"},
        {"before_id": "9" * 30},
    ],
)
def test_bad_audit_paging_is_400(validation_admin: HelpdeskActions, params: dict[str, str]) -> None:
    response = validation_admin.request("GET", AUDIT, params=params)
    assert response.status_code == 400 and error_of(response).code == "invalid_field"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("set", "no_such_setting", "1"), "unknown setting"),
        (("set", "retention_days", "-1"), "retention_days must be an integer"),
        (("set", "retention_days", "thirty"), "VALUE must be JSON"),
        (("set", "retention_days"), "needs KEY and VALUE"),
        (("show", "retention_days"), "takes no KEY"),
        (("set", "default_preferences", '{"types": []}'), "default_preferences"),
    ],
)
def test_the_settings_command_refuses_bad_values_in_one_line(
    helpdesk: Helpdesk, args: tuple[str, ...], message: str
) -> None:
    with pytest.raises(RuntimeError) as failure:
        helpdesk.settings_cli(*args)
    text = str(failure.value)
    assert message in text and "Traceback" not in text
    assert helpdesk.settings_cli("show")["version"] == 0


def test_the_openapi_document_describes_the_admin_routes(shared_helpdesk: Helpdesk) -> None:
    document = httpx.get(f"{shared_helpdesk.url}/openapi.json", trust_env=False).json()
    for method, path in ADMIN_ROUTES:
        operation = document["paths"][path][method.lower()]
        assert operation["x-caller"] == "admin" and operation["security"] == [{"bearer": []}]
        assert "403" in operation["responses"]
    schema = document["components"]["schemas"]["SystemSettings"]["properties"]["settings"]
    assert set(schema["properties"]) == set(KEYS)
    assert json.dumps(document)  # serializable
