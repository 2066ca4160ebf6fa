"""Frappe's REST API, as much of it as the Frappe Helpdesk adapter uses (httpx).

Requests and answers are the ones recorded in shared/frappe-helpdesk-observed.md:

* ``GET /api/resource/HD Notification`` with ``fields``, ``filters``, ``order_by``,
  ``limit_start`` and ``limit_page_length`` → ``{"data": [...]}``;
* ``GET /api/method/frappe.client.get_count`` → ``{"message": n}``;
* ``PUT /api/resource/HD Notification/<name>`` ``{"read": 0|1}`` → ``{"data": {...}}``;
* ``POST /api/method/login`` ``{"usr", "pwd"}`` → a ``sid`` session cookie;
* ``GET /api/method/helpdesk.api.auth.get_user`` → who the credentials belong to and whether
  they are an agent (helpdesk's own boot call; read from its source, not recorded live).

Authentication is ``Authorization: token KEY:SECRET`` or the ``sid`` cookie of a password
sign-in; with a password, a request refused with 401 or 403 signs in again once and is
retried (Frappe sessions expire, and an expired ``sid`` makes the caller a Guest).

Errors: Frappe answers failures with ``{"exc_type": "...", "exception": "...",
"_server_messages": "[...]"}``; 401 → ``AuthFailed``, 403 → ``Forbidden``, 404 → ``NotFound``,
anything else → ``BackendError`` with ``code`` = the ``exc_type``; no answer, or none within
``TransportConfig.request_deadline`` → ``ConnectionLost`` (``ProxyFailed`` at the proxy), as
for the reference helpdesk (:class:`~notifier.client.rest.HttpSession`); a 2xx body of the
wrong shape → ``ProtocolViolation``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote, urlsplit

import httpx

from notifier.client.rest import HttpSession, asked_wait, json_body
from notifier.client.transport import TransportConfig
from notifier.core.errors import (
    AuthFailed,
    BackendError,
    Forbidden,
    NotFound,
    ProtocolViolation,
)
from notifier.core.html_text import html_to_text
from notifier.core.text import server_words, wait_words
from notifier.core.wire import MAX_MESSAGE_CHARS, WireError, decode_json

log = logging.getLogger(__name__)

NOTIFICATION_DOCTYPE: Final = "HD Notification"
ROW_FIELDS: Final = (
    "name",
    "creation",
    "modified",
    "notification_type",
    "read",
    "reference_ticket",
    "reference_comment",
    "user_from",
    "user_to",
    "message",
)
PAGE_SIZE: Final = 500
# A Frappe site is not bound by docs/protocol.md's 1 MiB: a page of PAGE_SIZE rows carries
# each mention's comment HTML, and a comment may run to tens of KB. Still a bound, so that a
# site (or whatever answers in its place) cannot make the app hold gigabytes.
MAX_BODY_BYTES: Final = 32 * 1024 * 1024
WHOAMI_METHOD: Final = "helpdesk.api.auth.get_user"
# A socket.io handshake with no Cookie header at all is refused by Frappe ("No cookie
# transmitted.") even when it carries a token; any cookie without ``sid`` will do.
TOKEN_AUTH_COOKIE: Final = "notifier=token"  # noqa: S105 (a marker, not a secret)

Filters = Sequence[Sequence[Any]]


@dataclass(frozen=True, slots=True)
class FrappeSite:
    """Where the site is. ``name`` is the Frappe site name (the socket.io namespace is
    ``/<name>``); ``socketio_url`` is where the socket.io server answers (the site itself
    behind Frappe's nginx; ``http://host:9000`` on a development bench)."""

    url: str
    name: str = ""
    socketio_url: str = ""

    def __post_init__(self) -> None:
        url = self.url.rstrip("/")
        object.__setattr__(self, "url", url)
        if not self.name:
            object.__setattr__(self, "name", urlsplit(url).hostname or "")
        if not self.socketio_url:
            object.__setattr__(self, "socketio_url", url)

    @property
    def origin(self) -> str:
        """The ``Origin`` header: Frappe's socket.io server checks that its host name is the
        one the socket was opened to, and calls the site back at this address."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True, slots=True)
class FrappeCredentials:
    """An API key and secret (``token``), or a username and password (session cookie)."""

    api_key: str = ""
    api_secret: str = ""
    username: str = ""
    password: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if not (self.api_key and self.api_secret) and not (self.username and self.password):
            raise ValueError(
                "Frappe credentials need an API key and secret, or a user and password"
            )

    @classmethod
    def from_api_token(cls, token: str) -> FrappeCredentials:
        """``"<api key>:<api secret>"``, the form Frappe's ``Authorization: token`` header takes
        (and one string for the keyring to hold)."""
        key, colon, secret = token.strip().partition(":")
        if not colon or not key or not secret:
            raise ValueError("a Frappe API token is '<api key>:<api secret>'")
        return cls(api_key=key, api_secret=secret)

    @classmethod
    def from_token(cls, token: str) -> FrappeCredentials:
        """The credentials from the one string the keyring (or ``NOTIFIER_TOKEN``) holds, as
        :meth:`to_token` wrote it: ``<api key>:<api secret>``, or a username and password as
        ``{"user": ..., "password": ...}`` (an API key never starts with ``{``)."""
        text = token.strip()
        if not text.startswith("{"):
            return cls.from_api_token(text)
        try:
            fields = json.loads(text)
        except ValueError:
            fields = None
        if not isinstance(fields, dict) or not all(
            isinstance(fields.get(name), str) and fields[name] for name in ("user", "password")
        ):
            raise ValueError("a stored Frappe sign-in has a user and a password")
        return cls(username=fields["user"], password=fields["password"])

    def to_token(self) -> str:
        """One string for the keyring: see :meth:`from_token`."""
        if self.uses_token:
            return f"{self.api_key}:{self.api_secret}"
        return json.dumps({"user": self.username, "password": self.password})

    @property
    def uses_token(self) -> bool:
        return bool(self.api_key and self.api_secret)

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header of an API key sign-in."""
        return f"token {self.api_key}:{self.api_secret}"

    def __repr__(self) -> str:  # never show a secret
        who = f"api_key={self.api_key!r}" if self.uses_token else f"username={self.username!r}"
        return f"FrappeCredentials({who})"


@dataclass(frozen=True, slots=True)
class FrappeUser:
    user_id: str
    full_name: str
    is_agent: bool


class FrappeRest:
    """The adapter's REST calls for one site and one set of credentials."""

    def __init__(
        self,
        site: FrappeSite,
        credentials: FrappeCredentials,
        config: TransportConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.site = site
        self._credentials = credentials
        self._sid: str | None = None
        headers = {"X-Frappe-Site-Name": site.name} if site.name else {}
        if credentials.uses_token:
            headers["Authorization"] = credentials.authorization
        # The reference client's session: the same proxy rule, TLS trust and request deadline.
        self._http = HttpSession(
            site.url, config, headers=headers, transport=transport, max_body_bytes=MAX_BODY_BYTES
        )

    def __repr__(self) -> str:
        return f"FrappeRest({self.site.url!r}, {self._credentials!r})"

    # ------------------------------------------------------------------ authentication

    async def sign_in(self) -> None:
        """With a password: get a session cookie (``AuthFailed`` on wrong credentials)."""
        if self._credentials.uses_token:
            return
        response = await self._send(
            "POST",
            "/api/method/login",
            json={"usr": self._credentials.username, "pwd": self._credentials.password},
        )
        if response.status_code == 401:
            raise AuthFailed(
                f"the site refused the username or password ({_error_text(response)})",
                status=401,
                code="AuthenticationError",
            )
        _body(response)
        sid = response.cookies.get("sid")
        if not sid or sid == "Guest":
            raise ProtocolViolation("the site's sign-in answer has no session cookie")
        self._sid = sid

    def realtime_headers(self) -> dict[str, str]:
        """Headers for the socket.io handshake: the same credentials as REST, and a cookie
        (Frappe requires one)."""
        headers = {"X-Frappe-Site-Name": self.site.name} if self.site.name else {}
        if self._credentials.uses_token:
            headers["Authorization"] = self._credentials.authorization
            headers["Cookie"] = TOKEN_AUTH_COOKIE
        elif self._sid is not None:
            headers["Cookie"] = f"sid={self._sid}"
        return headers

    async def whoami(self) -> FrappeUser:
        """Who the credentials belong to, and whether helpdesk counts them as an agent."""
        if not self._credentials.uses_token and self._sid is None:
            await self.sign_in()
        body = await self._call("GET", f"/api/method/{WHOAMI_METHOD}")
        info = body.get("message") if isinstance(body, Mapping) else None
        if not isinstance(info, Mapping) or not isinstance(info.get("user_id"), str):
            raise ProtocolViolation("the site's get_user answer has no user_id")
        user_id = str(info["user_id"])
        if user_id == "Guest":
            raise AuthFailed(
                "the site treated the credentials as a guest; sign in again", status=401
            )
        name = info.get("user_name")
        return FrappeUser(
            user_id=user_id,
            full_name=name if isinstance(name, str) and name else user_id,
            is_agent=info.get("is_agent") is True,
        )

    # ------------------------------------------------------------------ notifications

    async def list_rows(
        self,
        filters: Filters,
        *,
        fields: Sequence[str] = ROW_FIELDS,
        order_by: str = "creation asc, name asc",
    ) -> list[dict[str, Any]]:
        """Every matching ``HD Notification`` row, read in pages of :data:`PAGE_SIZE`."""
        rows: list[dict[str, Any]] = []
        start = 0
        while True:
            page = await self._list_page(filters, fields, order_by, start)
            rows.extend(page)
            if len(page) < PAGE_SIZE:
                return rows
            start += len(page)

    async def _list_page(
        self, filters: Filters, fields: Sequence[str], order_by: str, start: int
    ) -> list[dict[str, Any]]:
        body = await self._call(
            "GET",
            f"/api/resource/{quote(NOTIFICATION_DOCTYPE)}",
            params={
                "fields": json.dumps(list(fields)),
                "filters": json.dumps([list(f) for f in filters]),
                "order_by": order_by,
                "limit_start": start,
                "limit_page_length": PAGE_SIZE,
            },
        )
        return _data_list(body)

    async def count(self, filters: Mapping[str, Any]) -> int:
        body = await self._call(
            "GET",
            "/api/method/frappe.client.get_count",
            params={"doctype": NOTIFICATION_DOCTYPE, "filters": json.dumps(dict(filters))},
        )
        value = body.get("message") if isinstance(body, Mapping) else None
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ProtocolViolation("the site's get_count answer is not a count")
        return value

    async def set_read(self, name: str, read: bool) -> dict[str, Any]:
        body = await self._call(
            "PUT",
            f"/api/resource/{quote(NOTIFICATION_DOCTYPE)}/{quote(name, safe='')}",
            json={"read": int(read)},
        )
        data = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(data, dict):
            raise ProtocolViolation("the site's answer to a notification update has no data")
        return data

    # ------------------------------------------------------------------ lookups

    async def ticket_subjects(self, tickets: Sequence[str]) -> dict[str, str]:
        """Subjects of the tickets the agent may read (others are simply missing)."""
        rows = await self._lookup("HD Ticket", "subject", tickets)
        return {str(row["name"]): str(row.get("subject") or "") for row in rows}

    async def agent_names(self, users: Sequence[str]) -> dict[str, str]:
        """Display names of agents (``HD Agent.agent_name``), by user id."""
        rows = await self._lookup("HD Agent", "agent_name", users)
        return {str(row["name"]): str(row.get("agent_name") or "") for row in rows}

    async def _lookup(self, doctype: str, field: str, names: Sequence[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(names), 100):
            chunk = list(names[start : start + 100])
            body = await self._call(
                "GET",
                f"/api/resource/{quote(doctype)}",
                params={
                    "fields": json.dumps(["name", field]),
                    "filters": json.dumps([["name", "in", chunk]]),
                    "limit_page_length": len(chunk),
                },
            )
            found.extend(row for row in _data_list(body) if isinstance(row.get("name"), str))
        return found

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ plumbing

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._send(method, path, **kwargs)
        if response.status_code in (401, 403) and not self._credentials.uses_token:
            # An expired session: Frappe then sees a Guest. Sign in again, once.
            log.info("the Frappe session was refused (%s); signing in again", response.status_code)
            await self.sign_in()
            response = await self._send(method, path, **kwargs)
        return _body(response)

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Cookie": f"sid={self._sid}"} if self._sid is not None else None
        return await self._http.request(method, self.site.url + path, headers=headers, **kwargs)


def _body(response: httpx.Response) -> Any:
    return json_body(response, "the site sent a bad answer", _error_for, MAX_BODY_BYTES)


def _error_for(response: httpx.Response) -> BackendError:
    status = response.status_code
    text = _error_text(response)
    code = _exc_type(response) or "http_error"
    if status == 401:
        return AuthFailed(
            f"the site refused the credentials ({text}); check the API key and secret",
            status=status,
            code=code,
        )
    wait = asked_wait(response)
    if wait is not None:
        text = f"{text} (the site asks to wait {wait_words(wait)})"
    kind: type[BackendError] = {403: Forbidden, 404: NotFound}.get(status, BackendError)
    return kind(text, status=status, code=code, retry_after=wait)


def _decoded(response: httpx.Response) -> Mapping[str, Any]:
    try:
        body = decode_json(response.content)
    except WireError:
        return {}
    return body if isinstance(body, Mapping) else {}


def _exc_type(response: httpx.Response) -> str | None:
    value = _decoded(response).get("exc_type")
    return value[:64] if isinstance(value, str) and value else None


def _error_text(response: httpx.Response) -> str:
    """The human part of a Frappe error body, as one line of plain text (it goes into the
    status and the log: core.text.server_words)."""
    return server_words(_error_body_text(response)) or f"HTTP {response.status_code}"


def _error_body_text(response: httpx.Response) -> str:
    body = _decoded(response)
    messages = body.get("_server_messages")
    if isinstance(messages, str):
        try:
            first = json.loads(json.loads(messages)[0])
            if isinstance(first, Mapping) and isinstance(first.get("message"), str):
                return html_to_text(first["message"])[:MAX_MESSAGE_CHARS]
        except (ValueError, IndexError, TypeError):
            pass
    exception = body.get("exception")
    if isinstance(exception, str) and exception.partition(": ")[2]:
        # "frappe.exceptions.DoesNotExistError: HD Notification x not found" → the sentence.
        # An exception raised bare is its class name alone: no words for anyone, skipped.
        return exception.partition(": ")[2]
    message = body.get("message")
    if isinstance(message, str) and message:
        return message[:MAX_MESSAGE_CHARS]
    return response.reason_phrase or f"HTTP {response.status_code}"


def _data_list(body: Any) -> list[dict[str, Any]]:
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise ProtocolViolation("the site's list answer has no data list")
    return data
