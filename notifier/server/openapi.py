"""The OpenAPI 3.1 document served at ``/openapi.json``, generated from the route table.

Paths and operations come from :meth:`HelpdeskApp.endpoints` (the same list the Starlette
routes are built from), so a route cannot exist without being documented. The component
schemas below are written by hand after :mod:`notifier.core.wire`; the stream, which OpenAPI
cannot describe, is documented as a ``GET`` with a 101 answer and a pointer to
docs/protocol.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import metadata
from typing import TYPE_CHECKING, Any, Final

from notifier.core import wire
from notifier.server import settings
from notifier.server.actions import MAX_BODY_CHARS
from notifier.server.app import MAX_JSON_DEPTH
from notifier.server.limits import MAX_PASSWORD_CHARS, MAX_USERNAME_CHARS

if TYPE_CHECKING:
    from notifier.server.app import Endpoint


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: Iterable[str], **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(required),
        "properties": properties,
    }


_STR: Final = {"type": "string"}
_INT: Final = {"type": "integer", "minimum": 0}
_BOOL: Final = {"type": "boolean"}
_BODY: Final = {"type": "string", "maxLength": MAX_BODY_CHARS}
_TYPES: Final = {"type": "array", "items": {"enum": [t.value for t in wire.NotificationType]}}


def _settings_schema() -> dict[str, Any]:
    properties: dict[str, Any] = {settings.PREFERENCES_KEY: _ref("Preferences")}
    for setting in settings.INT_SETTINGS:
        properties[setting.key] = {
            "type": "integer",
            "minimum": setting.low,
            "maximum": setting.high,
            "default": setting.default,
            "description": setting.help,
        }
    for team_setting in settings.TEAM_SETTINGS:
        properties[team_setting.key] = {
            "type": ["string", "null"],
            "maxLength": settings.MAX_TEAM_CHARS,
            "default": None,
            "description": f"{team_setting.help} (an existing team's name, else 422)",
        }
    return {"type": "object", "properties": properties, "additionalProperties": False}


ADMIN_SCHEMAS: Final[dict[str, Any]] = {
    "SystemSettings": _obj(
        ["version", "updated_at", "updated_by", "settings"],
        version=_INT,
        updated_at={"type": ["string", "null"], "format": "date-time"},
        updated_by={"type": ["string", "null"]},
        settings=_settings_schema(),
    ),
    "SettingsChange": _obj(
        ["version", "settings"],
        version={**_INT, "description": "the version you read; another one answers 409"},
        settings={**_settings_schema(), "description": "only the keys to change"},
    ),
    "AuditPage": _obj(
        ["entries", "has_more"],
        entries={
            "type": "array",
            "items": _obj(
                ["id", "version", "changed_at", "actor", "via", "key", "old", "new"],
                id=_INT,
                version=_INT,
                changed_at={"type": "string", "format": "date-time"},
                actor=_STR,
                via={"enum": ["api", "cli", "web"]},
                key=_STR,
                old={},
                new={},
            ),
        },
        has_more=_BOOL,
    ),
    "RetentionReport": _obj(
        ["deleted", "pruned_events", "agents", "deleted_mails", "deleted_outbox"],
        deleted=_INT,
        pruned_events=_INT,
        agents=_INT,
        deleted_mails=_INT,
        deleted_outbox=_INT,
    ),
}

SCHEMAS: Final[dict[str, Any]] = {
    "ApiError": _obj(
        ["error"],
        error=_obj(["code", "message"], code=_STR, message=_STR),
    ),
    "Credentials": _obj(
        ["username", "password"],
        username={"type": "string", "maxLength": MAX_USERNAME_CHARS},
        password={"type": "string", "maxLength": MAX_PASSWORD_CHARS},
    ),
    "Token": _obj(["token"], token=_STR),
    "LoginForm": _obj(
        ["username", "password", "csrf"],
        username={"type": "string", "maxLength": MAX_USERNAME_CHARS},
        password={"type": "string", "maxLength": MAX_PASSWORD_CHARS},
        next={"type": "string", "description": "a local path to go to afterwards"},
        csrf={"type": "string", "description": "the sign-in form's token"},
    ),
    "PasswordResetRequestForm": _obj(
        ["email", "csrf"],
        email={"type": "string", "maxLength": MAX_USERNAME_CHARS},
        csrf={"type": "string", "description": "the form's token (helpdesk_csrf cookie)"},
    ),
    "PasswordResetForm": _obj(
        ["password", "again", "csrf"],
        password={"type": "string", "maxLength": MAX_PASSWORD_CHARS},
        again={"type": "string", "description": "the same password once more"},
        csrf={"type": "string", "description": "the form's token (helpdesk_csrf cookie)"},
    ),
    "LogoutForm": _obj(
        ["csrf"], csrf={"type": "string", "description": "the token of the home page's form"}
    ),
    "SessionForm": {
        **_obj(["csrf"], csrf={"type": "string", "description": "the signed-in page's token"}),
        "additionalProperties": {"type": "string"},
    },
    "Revoked": _obj(["revoked"], revoked={"const": True}),
    "Me": _obj(
        ["id", "username", "name", "kind"],
        id=_STR,
        username=_STR,
        name=_STR,
        kind={"enum": ["agent", "customer"]},
    ),
    "Actor": _obj(
        ["kind", "id", "name"],
        kind={"enum": [k.value for k in wire.ActorKind]},
        id=_STR,
        name=_STR,
    ),
    "Notification": _obj(
        ["id", "seq", "type", "from", "to", "ticket", "comment", "message", "read", "created_at"],
        id=_STR,
        seq={"type": "integer", "minimum": 1},
        type={"enum": [t.value for t in wire.NotificationType]},
        reason={"enum": [r.value for r in wire.Reason]},
        **{"from": {"oneOf": [_ref("Actor"), {"type": "null"}]}},
        to=_STR,
        ticket=_obj(
            ["id", "subject", "url"], id=_STR, subject=_STR, url={"type": "string", "format": "uri"}
        ),
        comment={
            "oneOf": [
                _obj(["id", "url"], id=_STR, url={"type": "string", "format": "uri"}),
                {"type": "null"},
            ]
        },
        message={"type": "string", "maxLength": wire.MAX_MESSAGE_CHARS},
        read=_BOOL,
        created_at={"type": "string", "format": "date-time"},
    ),
    "NotificationPage": _obj(
        ["notifications", "unread_count", "last_seq", "has_more"],
        notifications={"type": "array", "items": _ref("Notification")},
        unread_count=_INT,
        last_seq=_INT,
        has_more=_BOOL,
    ),
    "ActionResult": _obj(
        ["seq", "changed", "unread_count"], seq=_INT, changed=_INT, unread_count=_INT
    ),
    "ReadAll": _obj(["up_to_seq"], up_to_seq=_INT),
    "Clear": _obj([], scope={"enum": [s.value for s in wire.ClearScope], "default": "read"}),
    "Preferences": _obj(
        ["in_app", "types", "comment_reactions", "email", "quiet_hours", "timezone"],
        in_app=_BOOL,
        types=_TYPES,
        comment_reactions=_BOOL,
        email=_obj(
            ["enabled", "frequency", "types"],
            enabled=_BOOL,
            frequency={"enum": [f.value for f in wire.EmailFrequency]},
            types=_TYPES,
            digest_time={"type": "string", "pattern": "^([01]\\d|2[0-3]):[0-5]\\d$"},
            only_when_disconnected=_BOOL,
        ),
        quiet_hours={
            "type": "array",
            "maxItems": 70,
            "items": _obj(
                ["day", "start", "end"],
                day={"type": "integer", "minimum": 0, "maximum": 6},
                start={"type": "string", "pattern": "^([01]\\d|2[0-3]):[0-5]\\d$"},
                end={"type": "string", "pattern": "^([01]\\d|2[0-3]):[0-5]\\d$"},
            ),
        },
        timezone={"type": "string", "description": "IANA time zone, e.g. Europe/Berlin"},
    ),
    "Person": _obj(
        ["kind", "id", "username", "name"],
        kind={"enum": ["agent", "customer"]},
        id=_STR,
        username=_STR,
        name=_STR,
    ),
    "NewTicket": _obj(
        ["subject"],
        subject={"type": "string", "minLength": 1, "maxLength": wire.MAX_SUBJECT_CHARS},
        body=_BODY,
        customer={"type": "string", "description": "the customer's e-mail (agents only)"},
        team={"type": "string", "description": "assign round-robin within this team"},
    ),
    "Ticket": _obj(
        ["id", "subject", "body", "status", "customer", "assignee", "team", "url", "created_at"],
        id=_STR,
        subject=_STR,
        body=_STR,
        status={"enum": ["open", "resolved", "closed"]},
        customer={"oneOf": [_ref("Person"), {"type": "null"}]},
        assignee={"oneOf": [_ref("Person"), {"type": "null"}]},
        team={"type": ["string", "null"]},
        url={"type": "string", "format": "uri"},
        created_at={"type": "string", "format": "date-time"},
    ),
    "Comment": _obj(
        ["id", "ticket_id", "author", "kind", "body", "url", "reactions", "created_at"],
        id=_STR,
        ticket_id=_STR,
        author=_ref("Person"),
        kind={"enum": ["comment", "reply"]},
        body=_STR,
        url={"type": "string", "format": "uri"},
        reactions={"type": "object", "additionalProperties": _INT},
        created_at={"type": "string", "format": "date-time"},
        updated_at={"type": "string", "format": "date-time"},
    ),
    "TicketPage": {
        "allOf": [
            _ref("Ticket"),
            _obj(
                ["comments"], comments={"type": "array", "items": _ref("Comment")}, marked_read=_INT
            ),
        ]
    },
    "Assign": _obj(
        [],
        agent={"type": "string", "description": "the agent's username"},
        team={"type": "string", "description": "or a team: its next agent in turn"},
    ),
    "Body": _obj(["body"], body={**_BODY, "minLength": 1}),
    "OptionalBody": _obj([], body=_BODY),
    "Reaction": _obj(["emoji"], emoji={"enum": ["👍", "👎", "❤️", "🎉", "👀", "✅"]}),
    "ReactionResult": _obj(
        ["comment_id", "emoji", "active", "reactions"],
        comment_id=_STR,
        emoji=_STR,
        active=_BOOL,
        reactions={"type": "object", "additionalProperties": _INT},
    ),
    **ADMIN_SCHEMAS,
}

_STATUS_TEXT: Final = {
    400: "Bad request (bad_request, malformed_json, invalid_field …)",
    401: "Missing or wrong token (unauthorized)",
    403: "Not allowed for this kind of user (forbidden)",
    404: "No such resource, or not yours (not_found)",
    409: "The resource is not in a state that allows this (conflict)",
    408: "The body did not arrive in time (request_timeout)",
    413: "Request body over 1 MiB (too_large)",
    422: "The body is well-formed but invalid (validation_failed)",
    429: "Too many attempts or writes (rate_limited); wait Retry-After seconds",
    503: "Too many sign-ins at once (busy); try again after Retry-After seconds",
}
_RETRY_AFTER: Final = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 1},
    }
}

STREAM_DESCRIPTION: Final = (
    "WebSocket upgrade (Authorization: Bearer on the handshake). The server sends `hello`; the "
    'client sends `{"type":"resume","after_seq":N}`; the server replays every event after '
    "N in order (notification, read_state, deleted), then `synced`, then live events, each drain "
    "followed by `unread_count`. Close codes: 1008 bad first message (an `error` event first), "
    "1009 frame over 1 MiB, 4000 after `reset` (client ahead of the log), 4001 one stream too "
    "many on this token (the oldest is closed), 4002 the token was revoked. A plain GET without "
    "the upgrade gets 426. See docs/protocol.md."
)


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "operationId": f"{endpoint.method.lower()}_{endpoint.handler.__name__}",
        "tags": [endpoint.tag],
    }
    if endpoint.auth in ("agent", "customer", "user", "admin"):
        operation["security"] = [{"bearer": []}]
        operation["x-caller"] = endpoint.auth
    elif endpoint.auth == "session":
        operation["security"] = [{"session": []}]
    else:
        operation["security"] = []
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": _STR}
        for name in re.findall(r"\{(\w+)\}", endpoint.path)
    ]
    parameters += [
        {
            "name": param.name,
            "in": "query",
            "required": False,
            "description": param.description,
            "schema": {
                "type": "integer",
                "minimum": param.minimum,
                "maximum": param.maximum,
                "default": param.default,
            },
        }
        for param in endpoint.query
    ]
    if parameters:
        operation["parameters"] = parameters
    if endpoint.request is not None:
        operation["requestBody"] = {
            "required": endpoint.request not in ("Clear", "OptionalBody"),
            "content": {"application/json": {"schema": _ref(endpoint.request)}},
        }
    elif endpoint.extra.get("form"):
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": _ref(endpoint.extra["form"])}
            },
        }
    responses: dict[str, Any] = {}
    if endpoint.response == "html":
        responses["200"] = {"description": "HTML page", "content": {"text/html": {"schema": _STR}}}
        if endpoint.auth == "session":
            responses["303"] = {"description": "Not signed in: to /login?next=…"}
    elif endpoint.response == "redirect":
        responses["303"] = {"description": "Redirect"}
    elif endpoint.response == "file":
        responses["200"] = {"description": "The file (CSS, JavaScript or SVG)"}
        responses["404"] = {"description": "No such file"}
    elif endpoint.response == "object":
        responses["200"] = {
            "description": "OK",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    elif endpoint.response is not None:
        status = (
            "201"
            if endpoint.method == "POST"
            and endpoint.handler.__name__ in ("create_ticket", "comment", "reply")
            else "200"
        )
        responses[status] = {
            "description": "OK",
            "content": {"application/json": {"schema": _ref(endpoint.response)}},
        }
    errors = endpoint.errors
    if endpoint.request is not None:
        errors = (*errors, 408)  # every JSON body has a deadline
    for code in sorted(set(errors)):
        responses[str(code)] = {
            "description": _STATUS_TEXT[code],
            "content": {"application/json": {"schema": _ref("ApiError")}},
        }
        if code in (429, 503):
            responses[str(code)]["headers"] = _RETRY_AFTER
    operation["responses"] = responses
    return operation


def _version() -> str:
    try:
        return metadata.version("notifier")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def build_document(endpoints: Iterable[Endpoint], server_url: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    paths["/api/v1/stream"] = {
        "get": {
            "summary": "The event stream (WebSocket)",
            "description": STREAM_DESCRIPTION,
            "operationId": "stream",
            "tags": ["notifications"],
            "security": [{"bearer": []}],
            "responses": {
                "101": {"description": "Switching protocols: the stream starts"},
                "401": {
                    "description": _STATUS_TEXT[401],
                    "content": {"application/json": {"schema": _ref("ApiError")}},
                },
                "403": {
                    "description": "A customer token: the stream is for agents",
                    "content": {"application/json": {"schema": _ref("ApiError")}},
                },
                "426": {
                    "description": "No WebSocket upgrade (upgrade_required)",
                    "headers": {"Upgrade": {"schema": {"const": "websocket"}}},
                    "content": {"application/json": {"schema": _ref("ApiError")}},
                },
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "notifier reference helpdesk",
            "version": _version(),
            "description": "The wire contract of docs/protocol.md (protocol "
            f"{wire.PROTOCOL_VERSION}) plus the helpdesk actions that drive it. Every body is "
            f"at most {wire.MAX_FRAME_BYTES} bytes (413) and nests JSON at most "
            f"{MAX_JSON_DEPTH} levels deep (400); docs/server.md lists every limit.",
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "helpdesk_session"},
            },
        },
    }
