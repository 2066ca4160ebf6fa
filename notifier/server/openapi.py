"""The OpenAPI 3.1 document served at ``/openapi.json``, generated from the route table.

Paths and operations come from :meth:`HelpdeskApp.endpoints` (the same list the Starlette
routes are built from), so a route cannot exist without being documented. The component
schemas below are written by hand after :mod:`notifier.core.wire`; the stream, which OpenAPI
cannot describe, is documented as a ``GET`` with a 101 answer and a pointer to
docs/protocol.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata
from typing import TYPE_CHECKING, Any, Final

from notifier.core import wire
from notifier.server import settings

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
                via={"enum": ["api", "cli"]},
                key=_STR,
                old={},
                new={},
            ),
        },
        has_more=_BOOL,
    ),
    "RetentionReport": _obj(
        ["deleted", "pruned_events", "agents"], deleted=_INT, pruned_events=_INT, agents=_INT
    ),
}

SCHEMAS: Final[dict[str, Any]] = {
    "ApiError": _obj(
        ["error"],
        error=_obj(["code", "message"], code=_STR, message=_STR),
    ),
    "Credentials": _obj(["username", "password"], username=_STR, password=_STR),
    "Token": _obj(["token"], token=_STR),
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
        subject={"type": "string", "maxLength": wire.MAX_SUBJECT_CHARS},
        body=_STR,
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
    "Assign": _obj(["agent"], agent={"type": "string", "description": "the agent's username"}),
    "Body": _obj(["body"], body=_STR),
    "OptionalBody": _obj([], body=_STR),
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
    413: "Request body over 1 MiB (too_large)",
    422: "The body is well-formed but invalid (validation_failed)",
}

STREAM_DESCRIPTION: Final = (
    "WebSocket upgrade (Authorization: Bearer on the handshake). The server sends `hello`; the "
    'client sends `{"type":"resume","after_seq":N}`; the server replays every event after '
    "N in order (notification, read_state, deleted), then `synced`, then live events, each drain "
    "followed by `unread_count`. Close codes: 1008 bad first message, 1009 frame over 1 MiB, "
    "4000 after `reset` (client ahead of the log). See docs/protocol.md."
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
    parameters = (
        [{"name": "id", "in": "path", "required": True, "schema": _STR}]
        if "{id}" in endpoint.path
        else []
    )
    parameters += [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": text,
            "schema": {"type": "integer", "minimum": 0},
        }
        for name, text in endpoint.query
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
                "application/x-www-form-urlencoded": {
                    "schema": _obj(
                        ["username", "password"], username=_STR, password=_STR, next=_STR
                    )
                }
            },
        }
    responses: dict[str, Any] = {}
    if endpoint.response == "html":
        responses["200"] = {"description": "HTML page", "content": {"text/html": {"schema": _STR}}}
        if endpoint.auth == "session":
            responses["303"] = {"description": "Not signed in: to /login?next=…"}
    elif endpoint.response == "redirect":
        responses["303"] = {"description": "Redirect"}
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
    for code in endpoint.errors:
        responses[str(code)] = {
            "description": _STATUS_TEXT[code],
            "content": {"application/json": {"schema": _ref("ApiError")}},
        }
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
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "notifier reference helpdesk",
            "version": _version(),
            "description": "The wire contract of docs/protocol.md (protocol "
            f"{wire.PROTOCOL_VERSION}) plus the helpdesk actions that drive it.",
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
